package imagegen_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stikadoo/stikadoo-edge/imagegen"
)

func TestFilterDefaultList(t *testing.T) {
	f := imagegen.NewFilter(nil, true)
	tests := []struct {
		text string
		want string // the blocked word, "" for none
	}{
		// Blocked, in any case and with punctuation around.
		{"a GUN", "gun"},
		{"guns!", "gun"},
		{"the pirate's gun's handle", "gun"},
		{"Kill, kill, KILL", "kill"},
		{"a dragon killing a knight", "killing"},
		{"'murder'", "murder"},
		{"a (nazi) flag", "nazi"},
		{"a sexy robot", "sexy"},
		{"two bitches", "bitch"},
		{"asses", "ass"},
		{"dead bodies", "dead body"},
		{"self-harm", "self harm"},
		{"SELF   HARM", "self harm"},
		{"a strip-club sign", "strip club"},
		{"strip clubs", "strip club"},
		{"a drug dealer's car", "drug dealer"},
		{"holy shit.", "shit"},
		{"BOMBS!!!", "bomb"},
		{"cigarettes", "cigarette"},
		// Accents, combining marks and hidden characters do not hide a word.
		{"Fück", "fuck"},
		{"a Sëxy cat", "sexy"},
		{"se\u0301xy", "sexy"},
		{"k\u200bill", "kill"},
		{"ＧＵＮ", "gun"},
		// An allowed phrase lets its own words through, nothing more.
		{"a killer whale", ""},
		{"Killer-Whales", ""},
		{"a killer whale killing a seal", "killing"},
		{"a killer", "killer"},
		{"a water gun", ""},
		{"a water gun and a gun", "gun"},
		{"a gun and a water gun", "gun"},
		{"a bath bomb", ""},
		{"a bomb in the bath", "bomb"},
		// Words that contain a listed word, or look like one, are not blocked.
		{"our classroom", ""},
		{"a class of grasshoppers", ""},
		{"an assassin bug", ""},
		{"Essex, Sussex and Middlesex", ""},
		{"a map of Scunthorpe", ""},
		{"a cocktail umbrella", ""},
		{"the therapist", ""},
		{"pistachio ice cream", ""},
		{"a cockatoo", ""},
		{"Charles Dickens", ""},
		{"spices", ""},
		{"a raccoon in a cocoon", ""},
		{"skills", ""},
		{"it had begun", ""},
		{"Pakistan", ""},
		{"passion fruit", ""},
		{"a cucumber", ""},
		{"grapes and drapes", ""},
		{"Arsenal", ""},
		{"shiitake mushrooms", ""},
		{"a sextant", ""},
		{"document", ""},
		{"a knife and fork", ""},
		{"a knight with a sword", ""},
		{"a shooting star", ""},
		{"a blue tit", ""},
		{"a pussy cat", ""},
		{"a rooster", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			word, blocked := f.Check(tt.text)
			if blocked != (tt.want != "") || word != tt.want {
				t.Errorf("Check(%q) = %q, %v; want %q, %v", tt.text, word, blocked, tt.want, tt.want != "")
			}
		})
	}
}

func TestFilterExtraWords(t *testing.T) {
	f := imagegen.NewFilter([]string{"Broccoli", "  ", "Brussels sprout", "!brussels sprout soup", "Straße", "crème brûlée", "hell"}, false)
	if n := f.Len(); n != 5 {
		t.Errorf("Len = %d, want 5", n)
	}
	tests := []struct {
		text string
		want string
	}{
		{"BROCCOLI!", "broccoli"},
		{"broccolis", "broccoli"},
		{"brussels-sprouts", "brussels sprout"},
		{"Brussels sprout soup", ""},
		{"a brussels and a sprout", ""},
		{"the strasse", "strasse"},
		{"die Straße", "strasse"},
		{"creme brulee", "creme brulee"},
		{"CRÈME BRÛLÉE", "creme brulee"},
		{"HELL!", "hell"},
		{"he'll help", ""},
		{"he’ll help", ""},
		{"hello shell", ""},
		{"a gun", ""}, // the default list is off
		{"a donut", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			word, blocked := f.Check(tt.text)
			if blocked != (tt.want != "") || word != tt.want {
				t.Errorf("Check(%q) = %q, %v; want %q, %v", tt.text, word, blocked, tt.want, tt.want != "")
			}
		})
	}
}

func TestFilterEmpty(t *testing.T) {
	for name, f := range map[string]*imagegen.Filter{
		"nil":                  nil,
		"no words, no default": imagegen.NewFilter(nil, false),
		"blank words":          imagegen.NewFilter([]string{"", " ", "!", "...", "!water gun"}, false),
	} {
		t.Run(name, func(t *testing.T) {
			if f.Len() != 0 {
				t.Errorf("Len = %d, want 0", f.Len())
			}
			if word, blocked := f.Check("a gun and a water gun"); blocked {
				t.Errorf("Check blocked %q", word)
			}
		})
	}
}

// TestFilterListFile checks the shipped list itself: a sensible size, no
// duplicates, every word blocks itself and its plural, every allowed
// phrase passes.
func TestFilterListFile(t *testing.T) {
	data, err := os.ReadFile("words_default.txt")
	if err != nil {
		t.Fatal(err)
	}
	f := imagegen.NewFilter(nil, true)
	seen := map[string]bool{}
	blocked := 0
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if seen[line] {
			t.Errorf("%q is listed twice", line)
		}
		seen[line] = true
		if phrase, ok := strings.CutPrefix(line, "!"); ok {
			if word, b := f.Check("a " + phrase + " please"); b {
				t.Errorf("allowed phrase %q is blocked by %q", phrase, word)
			}
			continue
		}
		blocked++
		if line != strings.ToLower(line) {
			t.Errorf("%q is not lower case", line)
		}
		for _, text := range []string{line, "a " + line + "s please", strings.ToUpper(line) + "!"} {
			if word, b := f.Check(text); !b {
				t.Errorf("%q is listed but %q passes", line, text)
			} else if !strings.Contains(line, word) {
				t.Errorf("Check(%q) names %q", text, word)
			}
		}
	}
	if blocked < 100 || blocked > 155 {
		t.Errorf("the list holds %d words; keep it between 100 and 155", blocked)
	}
	if f.Len() != blocked {
		t.Errorf("Len = %d, the file lists %d", f.Len(), blocked)
	}
}

func ExampleFilter_Check() {
	f := imagegen.NewFilter([]string{"broccoli"}, true)
	for _, text := range []string{"a class of grasshoppers", "A GUN!", "a killer whale", "two broccolis"} {
		word, blocked := f.Check(text)
		fmt.Printf("%q: %v %q\n", text, blocked, word)
	}
	// Output:
	// "a class of grasshoppers": false ""
	// "A GUN!": true "gun"
	// "a killer whale": false ""
	// "two broccolis": true "broccoli"
}
