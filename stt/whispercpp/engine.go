//go:build whispercpp

package whispercpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ggerganov/whisper.cpp/bindings/go/pkg/whisper"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// minProcessSamples: whisper.cpp does nothing with less than 100 ms and
// is unreliable with less than a second, so shorter clips that pass
// MinSamples are padded with silence to this length.
const minProcessSamples = SampleRate

// Engine transcribes utterances with one whisper model, loaded once and
// kept warm. Calls are served one at a time in arrival order (contexts of
// one model share its state); it is safe for concurrent use.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	q     *queue
	vad   *VAD // nil without Config.VADModelPath
	multi bool // the model is multilingual

	// Used only inside a queue job, or by Close after the queue closed.
	model whisper.Model
	wctx  whisper.Context

	closeOnce sync.Once
}

// New loads the model (and the VAD model, if configured) and returns an
// engine ready to transcribe. A nil log discards the engine's logs. Errors
// wrap ErrConfig for an unusable configuration and ErrModel for a model
// whisper.cpp cannot load.
func New(cfg Config, log *slog.Logger) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("start whisper.cpp engine: %w", err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	routeLogs(log)
	e := &Engine{cfg: cfg, log: log, q: newQueue(cfg.QueueDepth)}
	if _, err := os.Stat(cfg.ModelPath); err != nil {
		return nil, fmt.Errorf("load whisper model: %w", err)
	}
	start := time.Now()
	e.model, err = whisper.New(cfg.ModelPath)
	if err != nil {
		return nil, fmt.Errorf("load whisper model %q: %w: %w", cfg.ModelPath, err, ErrModel)
	}
	if err := e.setup(); err != nil {
		e.model.Close()
		return nil, fmt.Errorf("start whisper.cpp engine with %q: %w", cfg.ModelPath, err)
	}
	if cfg.VADModelPath != "" {
		if e.vad, err = NewVAD(cfg.VADModelPath); err != nil {
			e.model.Close()
			return nil, fmt.Errorf("start whisper.cpp engine: %w", err)
		}
	}
	log.Info("whisper model loaded", "model", cfg.ModelPath, "multilingual", e.multi,
		"language", e.language(), "threads", e.threads(), "audio_ctx", cfg.AudioCtx,
		"vad", cfg.VADModelPath != "", "ms", time.Since(start).Milliseconds())
	return e, nil
}

// setup makes the one decoding context and applies the configuration.
func (e *Engine) setup() error {
	var err error
	if e.wctx, err = e.model.NewContext(); err != nil {
		return fmt.Errorf("new context: %w: %w", err, ErrModel)
	}
	e.multi = e.model.IsMultilingual()
	switch {
	case e.multi:
		if err := e.wctx.SetLanguage(e.cfg.Language); err != nil {
			return fmt.Errorf("language %q: %w: %w", e.cfg.Language, err, ErrConfig)
		}
	case e.cfg.Language != "auto" && e.cfg.Language != "en":
		// whisper.cpp refuses SetLanguage on English-only models, even
		// for "en"; they transcribe English whatever is asked.
		e.log.Warn("English-only whisper model: transcribing English", "language", e.cfg.Language)
	}
	e.wctx.SetThreads(uint(e.threads()))
	e.wctx.SetTemperature(e.cfg.Temperature)
	if e.cfg.TemperatureInc != 0 {
		e.wctx.SetTemperatureFallback(e.cfg.TemperatureInc)
	}
	if e.cfg.InitialPrompt != "" {
		e.wctx.SetInitialPrompt(e.cfg.InitialPrompt)
	}
	return nil
}

// threads is the number of threads whisper runs with.
func (e *Engine) threads() int {
	if e.cfg.Threads > 0 {
		return e.cfg.Threads
	}
	return runtime.NumCPU()
}

// language is the configured language as the model will use it.
func (e *Engine) language() string {
	if !e.multi {
		return "en"
	}
	return e.cfg.Language
}

// Transcribe returns the words spoken in samples (16 kHz mono float32 in
// [-1, 1]). Audio shorter than Config.MinSamples, audio in which the VAD
// finds no speech, and audio whisper hears no words in give an error
// wrapping proto.ErrNoSpeech; a full queue or a closed engine an error
// wrapping proto.ErrUnavailable. A call whose ctx ends while it waits
// leaves the queue without running.
func (e *Engine) Transcribe(ctx context.Context, samples []float32) (string, error) {
	r, err := e.TranscribeResult(ctx, samples)
	return r.Text, err
}

// TranscribeResult is Transcribe with the details of the run.
func (e *Engine) TranscribeResult(ctx context.Context, samples []float32) (Result, error) {
	var r Result
	if len(samples) < e.cfg.MinSamples {
		return r, fmt.Errorf("transcribe %d ms of audio (under %d ms): %w",
			len(samples)*1000/SampleRate, e.cfg.MinSamples*1000/SampleRate, proto.ErrNoSpeech)
	}
	if e.vad != nil {
		segs, err := e.vad.Segments(samples)
		switch {
		case errors.Is(err, ErrClosed):
			return r, fmt.Errorf("transcribe: %w", err)
		case err != nil:
			// Transcribing the whole clip still serves the user.
			e.log.Warn("VAD failed; transcribing without trimming", "err", err)
		case len(segs) == 0:
			return r, fmt.Errorf("transcribe %d ms of audio: VAD found no speech: %w",
				len(samples)*1000/SampleRate, proto.ErrNoSpeech)
		default:
			from, to := trimBounds(segs, len(samples))
			samples = samples[from:to]
		}
	}
	if len(samples) < minProcessSamples {
		padded := make([]float32, minProcessSamples)
		copy(padded, samples)
		samples = padded
	}
	r.Speech = time.Duration(len(samples)) * time.Second / SampleRate
	r.AudioCtx = audioCtxFor(len(samples), e.cfg.AudioCtx)
	var text []string
	wait, err := e.q.do(ctx, func() error {
		start := time.Now()
		defer func() { r.Run = time.Since(start) }()
		if e.wctx == nil {
			return ErrClosed
		}
		var err error
		text, r.Language, err = e.process(ctx, samples, r.AudioCtx)
		return err
	})
	r.Wait = wait
	if r.AudioCtx == 0 {
		r.AudioCtx = fullAudioCtx
	}
	if err != nil {
		return r, fmt.Errorf("transcribe %v of audio: %w", r.Speech, err)
	}
	r.Text = strings.Join(text, " ")
	e.log.Debug("transcribed", "speech_ms", r.Speech.Milliseconds(), "audio_ctx", r.AudioCtx,
		"wait_ms", r.Wait.Milliseconds(), "run_ms", r.Run.Milliseconds(), "language", r.Language,
		"chars", len(r.Text))
	if r.Text == "" {
		return r, fmt.Errorf("transcribe %v of audio: whisper heard no words: %w", r.Speech, proto.ErrNoSpeech)
	}
	return r, nil
}

// processMu serializes whisper runs across engines: the Go bindings keep
// their callbacks in package-level maps that each run writes without a
// lock. Engines share the CPU anyway, so this costs nothing real.
var processMu sync.Mutex

// process runs whisper on samples with the encoder window audioCtx (0:
// the full window) and returns the text of each segment and the language.
// It runs only inside a queue job.
func (e *Engine) process(ctx context.Context, samples []float32, audioCtx int) ([]string, string, error) {
	processMu.Lock()
	defer processMu.Unlock()
	e.wctx.SetAudioCtx(uint(audioCtx))
	// The last chance to give up: once the encoder starts, whisper runs
	// to its end. When this says no, whisper stops without an error and
	// without text.
	begin := func() bool { return ctx.Err() == nil }
	err := e.wctx.Process(samples, begin, nil, nil)
	switch {
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case err != nil:
		return nil, "", fmt.Errorf("%w: %w", err, ErrFailed)
	}
	var text []string
	for {
		seg, err := e.wctx.NextSegment()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("read segment: %w: %w", err, ErrFailed)
		}
		if t := cleanSegment(seg.Text); t != "" {
			text = append(text, t)
		}
	}
	lang := e.language()
	if e.multi && lang == "auto" {
		lang = e.wctx.DetectedLanguage()
	}
	return text, lang, nil
}

// cleanSegment returns a segment's text without what is not speech:
// bytes that are not UTF-8 (a token can end inside a character) and
// annotations whisper writes for sounds, such as "[BLANK_AUDIO]" or
// "(music)", when they make up the whole segment.
func cleanSegment(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	if len(s) >= 2 && ((s[0] == '[' && s[len(s)-1] == ']') || (s[0] == '(' && s[len(s)-1] == ')')) &&
		strings.Count(s, string(s[0])) == 1 {
		return ""
	}
	return s
}

// Stats reports the queue's depth and waits.
func (e *Engine) Stats() Stats { return e.q.stats() }

// Close refuses new calls, sends waiting ones away with ErrClosed, waits
// for the running one and frees the models. It may be called more than
// once.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.q.close()
		e.wctx = nil
		e.model.Close()
		if e.vad != nil {
			e.vad.Close()
		}
	})
	return nil
}
