package imagegen

import (
	"fmt"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// DefaultTemplate turns the child's words into a prompt for art that
// survives 1-bit printing: bold outlines, a white background, no shading.
const DefaultTemplate = "A cute sticker of {{.Text}}. Bold thick black outlines, flat black and white line art, " +
	"pure white background, no shading, no gradients, no text, simple shapes a child can recognise, " +
	"centred, whole subject in frame."

// DefaultNegative is the negative prompt sent to backends that take one.
const DefaultNegative = "photo, realistic, shading, gradient, grey, colour fill, text, letters, watermark, " +
	"signature, frame, border, busy background, scary, violent"

// MaxTranscript is how many characters of the transcript reach the prompt;
// the rest is dropped.
const MaxTranscript = 300

// PromptConfig shapes the prompt sent to the image backend. The zero value
// uses DefaultTemplate and DefaultNegative.
type PromptConfig struct {
	// Template is a text/template with the child's words in {{.Text}}.
	Template string
	// Negative is the negative prompt, for backends that take one.
	Negative string
}

// promptData is what a template sees.
type promptData struct {
	Text string
}

// templateProbe stands in for the transcript when a template is checked:
// letters only, so that quoting or escaping functions keep it whole.
const templateProbe = "stikadootemplateprobe"

// Validate checks that the template parses, runs and uses {{.Text}}. Its
// errors wrap ErrConfig.
func (c PromptConfig) Validate() error {
	_, err := newPrompter(c)
	return err
}

// BuildPrompt cleans the transcript (control characters removed, spaces
// collapsed, at most MaxTranscript characters) and sets it in the
// template. It returns an error wrapping ErrConfig for an unusable
// template and ErrEmptyText when no words remain.
func BuildPrompt(cfg PromptConfig, transcript string) (prompt, negative string, err error) {
	p, err := newPrompter(cfg)
	if err != nil {
		return "", "", err
	}
	return p.build(transcript)
}

// prompter is a parsed PromptConfig, safe for concurrent use.
type prompter struct {
	tmpl     *template.Template
	negative string
}

func newPrompter(c PromptConfig) (*prompter, error) {
	src := c.Template
	if strings.TrimSpace(src) == "" {
		src = DefaultTemplate
	}
	neg := c.Negative
	if strings.TrimSpace(neg) == "" {
		neg = DefaultNegative
	}
	tmpl, err := template.New("prompt").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("prompt template: %w: %w", err, ErrConfig)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, promptData{Text: templateProbe}); err != nil {
		return nil, fmt.Errorf("prompt template: %w: %w", err, ErrConfig)
	}
	if !strings.Contains(b.String(), templateProbe) {
		return nil, fmt.Errorf("prompt template %q does not use {{.Text}}: %w", src, ErrConfig)
	}
	return &prompter{tmpl: tmpl, negative: strings.TrimSpace(neg)}, nil
}

func (p *prompter) build(transcript string) (prompt, negative string, err error) {
	text := capText(cleanText(transcript), MaxTranscript)
	if text == "" {
		return "", "", fmt.Errorf("build prompt: %w", ErrEmptyText)
	}
	var b strings.Builder
	if err := p.tmpl.Execute(&b, promptData{Text: text}); err != nil {
		return "", "", fmt.Errorf("build prompt: %w: %w", err, ErrConfig)
	}
	return strings.TrimSpace(b.String()), p.negative, nil
}

// cleanText drops invalid UTF-8, control and format characters (zero-width
// and bidirectional marks), turns every run of white space or control
// characters into one space and trims the ends.
func cleanText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			// invalid byte: dropped
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = true
		case unicode.Is(unicode.Cf, r):
			// zero-width and direction marks: dropped
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	return b.String()
}

// capText shortens s to at most n characters, at a space when one is near
// the end.
func capText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)[:n]
	cut := n
	for i := n - 1; i >= n*4/5; i-- {
		if runes[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimSpace(string(runes[:cut]))
}
