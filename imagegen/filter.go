package imagegen

import (
	_ "embed"
	"strings"
	"unicode"
)

// defaultWords is the shipped classroom list: one word or phrase per line,
// # starts a comment.
//
//go:embed words_default.txt
var defaultWords string

// Filter refuses requests that contain a listed word or phrase. It
// matches whole words in any case, ignoring punctuation and common Latin
// accents, and also catches the plural and possessive forms (gun, guns,
// gun's; bitch, bitches; boobies for booby); it never matches inside
// another word ("ass" does not match "class").
//
// An entry starting with ! is an allowed phrase: listed words inside a
// place where it matches do not block ("!killer whale" lets "a killer
// whale" through while "killer" alone still blocks).
//
// A Filter is safe for concurrent use; a nil *Filter blocks nothing.
type Filter struct {
	// blocked and allowed map the first token of each entry to the
	// entries that start with it.
	blocked map[string][]filterEntry
	allowed map[string][]filterEntry
	n       int
}

type filterEntry struct {
	text   string   // the entry as normalised tokens joined by spaces
	tokens []string // normalised tokens
}

// NewFilter builds a filter from the extra words and phrases and, with
// useDefault, the shipped classroom list. Blank entries are ignored.
func NewFilter(extra []string, useDefault bool) *Filter {
	f := &Filter{blocked: make(map[string][]filterEntry), allowed: make(map[string][]filterEntry)}
	if useDefault {
		for _, line := range strings.Split(defaultWords, "\n") {
			line, _, _ = strings.Cut(line, "#")
			f.add(line)
		}
	}
	for _, w := range extra {
		f.add(w)
	}
	return f
}

func (f *Filter) add(entry string) {
	entry = strings.TrimSpace(entry)
	allow := strings.HasPrefix(entry, "!")
	toks := filterTokens(strings.TrimPrefix(entry, "!"))
	if len(toks) == 0 {
		return
	}
	set := f.blocked
	if allow {
		set = f.allowed
	}
	text := strings.Join(toks, " ")
	for _, e := range set[toks[0]] {
		if e.text == text {
			return
		}
	}
	set[toks[0]] = append(set[toks[0]], filterEntry{text: text, tokens: toks})
	if !allow {
		f.n++
	}
}

// Len reports how many distinct words and phrases the filter blocks.
func (f *Filter) Len() int {
	if f == nil {
		return 0
	}
	return f.n
}

// Check reports whether text contains a listed word or phrase outside an
// allowed phrase, and which (in its normalised form: lower case, accents
// and punctuation removed).
func (f *Filter) Check(text string) (word string, blocked bool) {
	if f == nil || f.n == 0 {
		return "", false
	}
	toks := filterTokens(text)
	// allowed[i] is true when token i lies inside an allowed phrase.
	var allowed []bool
	if len(f.allowed) > 0 {
		allowed = make([]bool, len(toks))
		for i := range toks {
			if e, ok := f.matchAt(f.allowed, toks, i); ok {
				for j := range e.tokens {
					allowed[i+j] = true
				}
			}
		}
	}
	for i := range toks {
		for _, base := range baseForms(toks[i]) {
			for _, e := range f.blocked[base] {
				if matchesAt(toks[i:], e.tokens) && !covered(allowed, i, len(e.tokens)) {
					return e.text, true
				}
			}
		}
	}
	return "", false
}

// matchAt returns the longest entry of set that matches toks at i.
func (f *Filter) matchAt(set map[string][]filterEntry, toks []string, i int) (filterEntry, bool) {
	var best filterEntry
	found := false
	for _, base := range baseForms(toks[i]) {
		for _, e := range set[base] {
			if matchesAt(toks[i:], e.tokens) && (!found || len(e.tokens) > len(best.tokens)) {
				best, found = e, true
			}
		}
	}
	return best, found
}

// covered reports whether tokens i to i+n-1 all lie inside allowed phrases.
func covered(allowed []bool, i, n int) bool {
	if allowed == nil {
		return false
	}
	for j := i; j < i+n; j++ {
		if !allowed[j] {
			return false
		}
	}
	return true
}

// matchesAt reports whether the entry's tokens match the start of toks.
func matchesAt(toks, entry []string) bool {
	if len(toks) < len(entry) {
		return false
	}
	for j, w := range entry {
		if !tokenMatches(toks[j], w) {
			return false
		}
	}
	return true
}

// tokenMatches reports whether token t is the listed word w or its plural:
// w+s; w+es after s, x, z, ch, sh or o; w-y+ies after a consonant.
func tokenMatches(t, w string) bool {
	switch {
	case t == w, t == w+"s":
		return true
	case t == w+"es":
		for _, end := range []string{"s", "x", "z", "ch", "sh", "o"} {
			if strings.HasSuffix(w, end) {
				return true
			}
		}
	case len(w) > 1 && strings.HasSuffix(w, "y") && t == w[:len(w)-1]+"ies":
		return true
	}
	return false
}

// baseForms lists the words a token could be the plural of (itself first);
// tokenMatches decides which really are.
func baseForms(t string) []string {
	forms := []string{t}
	if strings.HasSuffix(t, "s") && len(t) > 1 {
		forms = append(forms, t[:len(t)-1])
		if strings.HasSuffix(t, "es") && len(t) > 2 {
			forms = append(forms, t[:len(t)-2])
		}
		if strings.HasSuffix(t, "ies") && len(t) > 3 {
			forms = append(forms, t[:len(t)-3]+"y")
		}
	}
	return forms
}

// filterTokens splits text into normalised words: lower case, Latin
// accents and full-width letters folded, combining marks and format characters dropped, a
// possessive 's removed. An apostrophe inside a word separates it (he'll is
// "he" and "ll", so it cannot match "hell"); any other character that is
// not a letter or digit separates words too.
func filterTokens(text string) []string {
	var toks []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			toks = append(toks, splitToken(string(cur))...)
			cur = cur[:0]
		}
	}
	for _, r := range text {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0 // full-width ASCII
		}
		switch {
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r):
			// combining accents, zero-width and direction marks: dropped
		case isApostrophe(r):
			if len(cur) > 0 {
				cur = append(cur, '\'')
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
			if f, ok := foldTable[r]; ok {
				cur = append(cur, []rune(f)...)
			} else {
				cur = append(cur, r)
			}
		default:
			flush()
		}
	}
	flush()
	return toks
}

// splitToken removes a possessive ('s or a trailing ') and splits what
// is left at apostrophes.
func splitToken(s string) []string {
	s = strings.TrimSuffix(s, "'s")
	s = strings.TrimRight(s, "'")
	var out []string
	for _, part := range strings.Split(s, "'") {
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', '‘', 'ʼ', '`', '´':
		return true
	}
	return false
}

// foldTable folds lower-case Latin letters with accents to plain ASCII.
var foldTable = func() map[rune]string {
	m := make(map[rune]string)
	for plain, accented := range map[string]string{
		"a":  "àáâãäåāăąǎȁȃȧạảấầẩẫậắằẳẵặ",
		"c":  "çćĉċč",
		"d":  "ďđð",
		"e":  "èéêëēĕėęěȅȇẹẻẽếềểễệ",
		"g":  "ĝğġģ",
		"h":  "ĥħ",
		"i":  "ìíîïĩīĭįıǐȉȋịỉ",
		"j":  "ĵ",
		"k":  "ķ",
		"l":  "ĺļľŀł",
		"n":  "ñńņňŉ",
		"o":  "òóôõöøōŏőǒȍȏọỏốồổỗộớờởỡợơ",
		"r":  "ŕŗř",
		"s":  "śŝşšș",
		"t":  "ţťŧț",
		"u":  "ùúûüũūŭůűųǔưụủứừửữự",
		"w":  "ŵ",
		"y":  "ýÿŷỳỹ",
		"z":  "źżž",
		"ss": "ß",
		"ae": "æ",
		"oe": "œ",
		"th": "þ",
	} {
		for _, r := range accented {
			m[r] = plain
		}
	}
	return m
}()
