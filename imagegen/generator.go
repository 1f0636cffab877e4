package imagegen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// FallbackBackend is the Backend name recorded for a fallback sticker.
const FallbackBackend = "fallback"

// NoBackendReason is the Fallback reason when no backend is configured.
const NoBackendReason = "no image backend configured"

// maxFallbackReserve is the most time kept back from the backend, out of
// the caller's deadline, to draw a fallback sticker when it does not answer.
const maxFallbackReserve = 2 * time.Second

// maxReasonLen caps the reason recorded with a fallback sticker.
const maxReasonLen = 200

// Config configures a Generator. Start from DefaultConfig: the zero value
// has Fallback off.
type Config struct {
	// Backend is the image model; nil means none, and every sticker is a
	// fallback (or an error wrapping proto.ErrUnavailable without
	// Fallback).
	Backend *BackendConfig
	// Prompt turns the child's words into the backend's prompt.
	Prompt PromptConfig
	// Render shapes the printable image.
	Render RenderOptions
	// ClassroomMode refuses requests that contain a word of the shipped
	// classroom list or of BlockedWords, before any backend call.
	ClassroomMode bool
	// BlockedWords are refused too, with or without ClassroomMode. An
	// entry starting with ! is an allowed phrase (see Filter).
	BlockedWords []string
	// Fallback draws the child's words in a frame when the backend is
	// absent, fails or returns an image that cannot be decoded (true in
	// DefaultConfig).
	Fallback bool
}

// DefaultConfig is a configuration with no backend and Fallback on.
func DefaultConfig() Config {
	return Config{Fallback: true}
}

// Validate checks the configuration without contacting the backend. Its
// errors wrap ErrConfig.
func (c Config) Validate() error {
	if err := c.Prompt.Validate(); err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	if c.Backend != nil {
		if err := c.Backend.Validate(); err != nil {
			return fmt.Errorf("image config: %w", err)
		}
	}
	if err := c.Render.Validate(); err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	return nil
}

// Generator turns a child's words into a printable sticker. It is safe for
// concurrent use.
type Generator struct {
	cfg     Config
	backend Backend // nil: none configured
	prompt  *prompter
	filter  *Filter // nil: no word filter
	log     *slog.Logger
	desc    string
}

// New builds a Generator from the configuration, including its backend
// (no network traffic yet). A nil log discards. Errors wrap ErrConfig.
func New(cfg Config, log *slog.Logger) (*Generator, error) {
	var b Backend
	if cfg.Backend != nil {
		var err error
		if b, err = NewBackend(*cfg.Backend); err != nil {
			return nil, fmt.Errorf("new image generator: %w", err)
		}
	}
	return NewWithBackend(cfg, b, log)
}

// NewWithBackend is New with a Backend built elsewhere (nil: none);
// cfg.Backend then only serves Describe.
func NewWithBackend(cfg Config, b Backend, log *slog.Logger) (*Generator, error) {
	p, err := newPrompter(cfg.Prompt)
	if err != nil {
		return nil, fmt.Errorf("new image generator: %w", err)
	}
	if err := cfg.Render.Validate(); err != nil {
		return nil, fmt.Errorf("new image generator: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Generator{cfg: cfg, backend: b, prompt: p, log: log}
	if cfg.ClassroomMode || len(cfg.BlockedWords) > 0 {
		g.filter = NewFilter(cfg.BlockedWords, cfg.ClassroomMode)
	}
	g.desc = g.describe()
	return g, nil
}

// Available reports whether Sticker can produce a sticker at all: a
// backend is configured or Fallback is on. It does not contact the
// backend.
func (g *Generator) Available() bool {
	return g.cfg.Fallback || g.backend != nil
}

// Describe says in one line what draws the stickers, for logs, e.g.
// "sdapi http://192.168.1.30:7860 (fallback on)". It never holds the API
// key.
func (g *Generator) Describe() string { return g.desc }

func (g *Generator) describe() string {
	var parts []string
	if g.backend == nil {
		parts = append(parts, "no image backend")
	} else {
		name := g.backend.Name()
		parts = append(parts, name)
		if bc := g.cfg.Backend; bc != nil {
			bc := bc.WithDefaults()
			if u := redactURL(bc.BaseURL); u != "" && !strings.Contains(name, u) {
				parts = append(parts, u)
			}
			if bc.Model != "" && !strings.Contains(name, bc.Model) {
				parts = append(parts, "model "+bc.Model)
			}
		}
	}
	var notes []string
	if g.cfg.Fallback {
		notes = append(notes, "fallback on")
	} else {
		notes = append(notes, "fallback off")
	}
	switch {
	case g.cfg.ClassroomMode:
		notes = append(notes, "classroom filter on, "+countWords(g.filter.Len()))
	case g.filter != nil:
		notes = append(notes, "word filter on, "+countWords(g.filter.Len()))
	}
	return strings.Join(parts, " ") + " (" + strings.Join(notes, ", ") + ")"
}

func countWords(n int) string {
	if n == 1 {
		return "1 word"
	}
	return fmt.Sprintf("%d words", n)
}

// Sticker turns the child's words into a printable sticker.
//
// A request the word filter blocks, or that the backend refuses by its
// content policy, returns an error wrapping proto.ErrRefused; the filter
// runs before any backend call. When no backend is configured, or it
// fails or returns an undecodable image, Sticker draws a fallback sticker
// (Backend "fallback", Fallback saying why) if Config.Fallback is on, and
// otherwise returns the error (wrapping proto.ErrUnavailable when no
// backend is configured or it cannot be reached). When ctx ends first its
// error is returned. With a deadline on ctx, a little of the time is kept
// back so that a fallback sticker can still be drawn.
func (g *Generator) Sticker(ctx context.Context, text string) (*proto.Sticker, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sticker: %w", context.Cause(ctx))
	}
	clean := cleanText(text)
	if clean == "" {
		return nil, fmt.Errorf("sticker: %w", ErrEmptyText)
	}
	if word, blocked := g.filter.Check(clean); blocked {
		return nil, fmt.Errorf("sticker: the word filter blocks %q: %w", word, proto.ErrRefused)
	}
	if g.backend == nil {
		if !g.cfg.Fallback {
			return nil, fmt.Errorf("sticker: %s: %w", NoBackendReason, proto.ErrUnavailable)
		}
		return g.fallback(start, clean, "", NoBackendReason, nil)
	}
	prompt, negative, err := g.prompt.build(clean)
	if err != nil {
		return nil, fmt.Errorf("sticker: %w", err)
	}

	name := g.backend.Name()
	bctx, cancel := g.backendContext(ctx)
	res, err := g.backend.Generate(bctx, Request{Prompt: prompt, NegativePrompt: negative})
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("sticker: %w", context.Cause(ctx))
	}
	if errors.Is(err, proto.ErrRefused) {
		return nil, fmt.Errorf("sticker: %w", err)
	}
	if err == nil && (res == nil || len(res.Data) == 0) {
		err = fmt.Errorf("%s: returned no image: %w", name, ErrBackend)
	}
	var r *Rendered
	if err == nil {
		if r, err = Render(res.Data, g.cfg.Render); err != nil {
			err = fmt.Errorf("%s: render its image: %w", name, err)
		}
	}
	if err != nil {
		if !g.cfg.Fallback {
			return nil, fmt.Errorf("sticker: %w", err)
		}
		label, reason := splitReason(err, name)
		return g.fallback(start, clean, prompt, "image backend "+label+" failed: "+reason, err)
	}

	ctype := res.ContentType
	if ctype == "" {
		ctype = http.DetectContentType(res.Data)
	}
	made := res.Backend // e.g. "openai:gpt-image-1"
	if made == "" {
		made = name
	}
	st := &proto.Sticker{
		PNG:          r.PNG,
		Original:     res.Data,
		OriginalType: ctype,
		Prompt:       prompt,
		Backend:      made,
	}
	g.log.Info("sticker", "backend", made, "ms", time.Since(start).Milliseconds(),
		"width", r.Width, "height", r.Height, "original_bytes", len(res.Data))
	return st, nil
}

// backendContext is ctx, less a reserve for drawing a fallback sticker
// when ctx has a deadline and Fallback is on: half the time left, at most
// maxFallbackReserve.
func (g *Generator) backendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || !g.cfg.Fallback {
		return context.WithCancel(ctx)
	}
	reserve := min(time.Until(deadline)/2, maxFallbackReserve)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// fallback draws the words in a frame. cause is the backend's error, if
// any, returned alongside when the fallback cannot be drawn either.
func (g *Generator) fallback(start time.Time, text, prompt, reason string, cause error) (*proto.Sticker, error) {
	r, err := Fallback(text, g.cfg.Render)
	if err != nil {
		if cause != nil {
			return nil, fmt.Errorf("sticker: %w; fallback sticker: %w", cause, err)
		}
		return nil, fmt.Errorf("sticker: fallback sticker: %w", err)
	}
	g.log.Info("sticker", "backend", FallbackBackend, "ms", time.Since(start).Milliseconds(),
		"fallback", reason, "width", r.Width, "height", r.Height)
	return &proto.Sticker{
		PNG:      r.PNG,
		Prompt:   prompt,
		Backend:  FallbackBackend,
		Fallback: reason,
	}, nil
}

// splitReason splits a backend error message into the label it starts
// with (the backend name, maybe followed by its address:
// "sdapi http://192.168.1.30:7860") and the rest, cut to maxReasonLen
// characters.
func splitReason(err error, name string) (label, reason string) {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	label, reason = name, msg
	if rest, ok := strings.CutPrefix(msg, name+": "); ok {
		reason = rest
	} else if rest, ok := strings.CutPrefix(msg, name+" "); ok {
		if addr, after, ok := strings.Cut(rest, ": "); ok && addr != "" && !strings.Contains(addr, " ") {
			label, reason = name+" "+addr, after
		}
	}
	if utf8.RuneCountInString(reason) > maxReasonLen {
		reason = string([]rune(reason)[:maxReasonLen-1]) + "…"
	}
	return label, reason
}

// redactURL hides a password in a URL and drops its query and fragment.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.Redacted()
}
