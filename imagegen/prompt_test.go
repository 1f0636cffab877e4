package imagegen_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/imagegen"
)

func TestBuildPromptDefault(t *testing.T) {
	prompt, negative, err := imagegen.BuildPrompt(imagegen.PromptConfig{}, "  a dragon eating ice cream ")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a dragon eating ice cream", "Bold thick black outlines", "white background", "no shading"} {
		if !strings.Contains(prompt, want) {
			t.Errorf("prompt %q lacks %q", prompt, want)
		}
	}
	if strings.Contains(prompt, "{{") {
		t.Errorf("prompt %q holds template syntax", prompt)
	}
	if negative != imagegen.DefaultNegative {
		t.Errorf("negative = %q, want the default", negative)
	}
}

func TestBuildPrompt(t *testing.T) {
	long := strings.Repeat("big red bus ", 100) // 1200 characters
	tests := []struct {
		name, template, negative, in string
		wantPrompt, wantNegative     string
	}{
		{"custom template and negative", "Line art of {{.Text}}!", "colour", "a cat", "Line art of a cat!", "colour"},
		{"blank template uses the default", "   ", "", "a cat", strings.Replace(imagegen.DefaultTemplate, "{{.Text}}", "a cat", 1), imagegen.DefaultNegative},
		{"control characters go", "{{.Text}}", "", "a\x00 cat\x1b[31m\x7f", "a cat [31m", imagegen.DefaultNegative},
		{"white space collapses", "{{.Text}}", "", "\ta\n\n  big\r\n cat \u00a0 ", "a big cat", imagegen.DefaultNegative},
		{"zero-width and direction marks go", "{{.Text}}", "", "ca\u200bt \u202edog", "cat dog", imagegen.DefaultNegative},
		{"invalid UTF-8 goes", "{{.Text}}", "", "ca\xfft", "cat", imagegen.DefaultNegative},
		{"accents stay", "{{.Text}}", "", "crème brûlée", "crème brûlée", imagegen.DefaultNegative},
		{"braces in the words are plain text", "<{{.Text}}>", "", "{{.Text}} {{printf}}", "<{{.Text}} {{printf}}>", imagegen.DefaultNegative},
		{"quoting template", `{{printf "%q" .Text}}`, "", "a cat", `"a cat"`, imagegen.DefaultNegative},
		{"conditional template", `{{if .Text}}{{.Text}}{{else}}none{{end}}`, "", "a cat", "a cat", imagegen.DefaultNegative},
		{"long transcript cut at a space", "{{.Text}}", "", long, strings.TrimSpace(long[:imagegen.MaxTranscript]), imagegen.DefaultNegative},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := imagegen.PromptConfig{Template: tt.template, Negative: tt.negative}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			prompt, negative, err := imagegen.BuildPrompt(cfg, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if prompt != tt.wantPrompt {
				t.Errorf("prompt = %q, want %q", prompt, tt.wantPrompt)
			}
			if negative != tt.wantNegative {
				t.Errorf("negative = %q, want %q", negative, tt.wantNegative)
			}
		})
	}
}

func TestBuildPromptCap(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("x", 1000),                  // no space to cut at
		strings.Repeat("dinosaur ", 200),           // spaces
		strings.Repeat("é", 1000),                  // two bytes a character
		strings.Repeat("🦖 ", 400) + "and a rocket", // four bytes a character
	} {
		prompt, _, err := imagegen.BuildPrompt(imagegen.PromptConfig{Template: "{{.Text}}"}, in)
		if err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(prompt); n > imagegen.MaxTranscript || n < imagegen.MaxTranscript*4/5 {
			t.Errorf("%.10q...: prompt has %d characters, want %d at most and not much fewer", in, n, imagegen.MaxTranscript)
		}
		if !utf8.ValidString(prompt) || !strings.HasPrefix(in, prompt) {
			t.Errorf("%.10q...: prompt %.20q... is not a clean prefix of the words", in, prompt)
		}
	}
}

func TestBuildPromptErrors(t *testing.T) {
	tests := []struct {
		name, template, in string
		want               error
	}{
		{"does not parse", "A sticker of {{.Text", "a cat", imagegen.ErrConfig},
		{"no words", "A sticker of a cat", "a cat", imagegen.ErrConfig},
		{"unknown field", "{{.Subject}} {{.Text}}", "a cat", imagegen.ErrConfig},
		{"unknown function", "{{shout .Text}}", "a cat", imagegen.ErrConfig},
		{"words only in a dead branch", "{{if false}}{{.Text}}{{end}}", "a cat", imagegen.ErrConfig},
		{"empty transcript", "", "", imagegen.ErrEmptyText},
		{"only control characters", "", " \x00\n\u200b ", imagegen.ErrEmptyText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := imagegen.PromptConfig{Template: tt.template}
			_, _, err := imagegen.BuildPrompt(cfg, tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("BuildPrompt error = %v, want %v", err, tt.want)
			}
			if tt.want == imagegen.ErrConfig {
				if err := cfg.Validate(); !errors.Is(err, imagegen.ErrConfig) {
					t.Errorf("Validate = %v, want ErrConfig", err)
				}
			}
		})
	}
}

func ExampleBuildPrompt() {
	prompt, negative, err := imagegen.BuildPrompt(imagegen.PromptConfig{
		Template: "Colouring-book line art of {{.Text}}, thick outlines, white background",
		Negative: "shading, text",
	}, "  a dragon\neating ice cream ")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(prompt)
	fmt.Println(negative)
	// Output:
	// Colouring-book line art of a dragon eating ice cream, thick outlines, white background
	// shading, text
}
