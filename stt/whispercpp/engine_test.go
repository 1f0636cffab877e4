//go:build whispercpp

package whispercpp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp/whispertest"
)

// realModelEnv names a real whisper model (with weights) for the test
// that checks words; without it that test is skipped.
const realModelEnv = "STIKADOO_WHISPER_MODEL"

// The synthetic models' seeds are fixed, so their nonsense is too: these
// seeds make models that say something (rather than nothing) on the test
// speech.
const (
	englishSeed      = 1
	multilingualSeed = 1
)

// synthetic writes a small synthetic model for the test. Its decoder
// window is 128 tokens rather than 448, so that a decoding that never
// meets the end-of-text token stops after 64.
func synthetic(t *testing.T, multilingual bool) string {
	t.Helper()
	seed := uint64(englishSeed)
	if multilingual {
		seed = multilingualSeed
	}
	return whispertest.ModelFile(t, whispertest.ModelOptions{Multilingual: multilingual, Seed: seed, TextCtx: 128})
}

// checkText fails unless r holds some valid text.
func checkText(t *testing.T, r whispercpp.Result) {
	t.Helper()
	if strings.TrimSpace(r.Text) == "" || !utf8.ValidString(r.Text) {
		t.Errorf("Text = %q, want some valid UTF-8 text", r.Text)
	}
}

func TestTranscribeSynthetic(t *testing.T) {
	speech := edgetest.Speech(2 * time.Second)
	english, multi := synthetic(t, false), synthetic(t, true)
	quantized := whispertest.ModelFile(t, whispertest.ModelOptions{FType: whispertest.Q8_0, Seed: englishSeed, TextCtx: 128})
	tests := []struct {
		name     string
		cfg      whispercpp.Config
		audioCtx int
		language string // "" : any detected language
	}{
		{"english auto window", whispercpp.Config{ModelPath: english}, 100 + 64, "en"},
		{"q8_0 weights", whispercpp.Config{ModelPath: quantized}, 164, "en"},
		{"english full window", whispercpp.Config{ModelPath: english, AudioCtx: whispercpp.AudioCtxFull}, 1500, "en"},
		// English-only models ignore another language rather than fail.
		{"english model asked for German", whispercpp.Config{ModelPath: english, Language: "de"}, 164, "en"},
		{"english model asked for English", whispercpp.Config{ModelPath: english, Language: "en"}, 164, "en"},
		{"english with prompt and fallback", whispercpp.Config{ModelPath: english, InitialPrompt: "Stickers of cats.",
			Temperature: 0.1, TemperatureInc: 0.3}, 164, "en"},
		{"multilingual detecting", whispercpp.Config{ModelPath: multi}, 164, ""},
		{"multilingual in German", whispercpp.Config{ModelPath: multi, Language: "de"}, 164, "de"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.cfg)
			r, err := e.TranscribeResult(context.Background(), speech)
			if err != nil {
				t.Fatalf("TranscribeResult(2 s of speech): %v", err)
			}
			checkText(t, r)
			if r.AudioCtx != tt.audioCtx {
				t.Errorf("AudioCtx = %d, want %d", r.AudioCtx, tt.audioCtx)
			}
			if r.Speech != 2*time.Second {
				t.Errorf("Speech = %v, want 2s (no VAD, no padding)", r.Speech)
			}
			if tt.language != "" && r.Language != tt.language || r.Language == "" || r.Language == "auto" {
				t.Errorf("Language = %q, want %q", r.Language, tt.language)
			}
			if r.Run <= 0 {
				t.Errorf("Run = %v, want the time whisper took", r.Run)
			}
			text, err := e.Transcribe(context.Background(), speech)
			switch {
			case err != nil:
				t.Errorf("second Transcribe: %v", err)
			case tt.cfg.TemperatureInc <= 0 && text != r.Text:
				// Greedy decoding without retries is deterministic.
				t.Errorf("second Transcribe = %q, want %q as before (same model, same audio)", text, r.Text)
			}
			if s := e.Stats(); s.Served != 2 || s.Queued != 0 || s.Running != 0 {
				t.Errorf("Stats = %+v, want 2 served", s)
			}
		})
	}
}

func TestTranscribeShortAudio(t *testing.T) {
	e := newEngine(t, whispercpp.Config{ModelPath: synthetic(t, false)})
	tests := []struct {
		name    string
		samples []float32
	}{
		{"nil", nil},
		{"empty", []float32{}},
		{"one sample", []float32{0.5}},
		{"100 ms", edgetest.Speech(100 * time.Millisecond)},
		{"just under the minimum", edgetest.Speech(time.Second)[:whispercpp.DefaultMinSamples-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Transcribe(context.Background(), tt.samples)
			if !errors.Is(err, proto.ErrNoSpeech) {
				t.Errorf("Transcribe(%d samples) = %v, want proto.ErrNoSpeech", len(tt.samples), err)
			}
		})
	}
	// None of them reached whisper: nothing went through the queue.
	if s := e.Stats(); s.Served != 0 || s.Abandoned != 0 || s.Rejected != 0 {
		t.Errorf("Stats = %+v, want nothing queued", s)
	}
	// Audio at the minimum is padded to a second and transcribed.
	r, err := e.TranscribeResult(context.Background(), edgetest.Speech(time.Second)[:whispercpp.DefaultMinSamples])
	if err != nil && !errors.Is(err, proto.ErrNoSpeech) {
		t.Fatalf("Transcribe(minimum length): %v", err)
	}
	if r.Speech != time.Second || e.Stats().Served != 1 {
		t.Errorf("minimum length: Speech = %v, served %d; want 1s padded, 1 served", r.Speech, e.Stats().Served)
	}
}

func TestTranscribeWithVAD(t *testing.T) {
	e := newEngine(t, whispercpp.Config{ModelPath: synthetic(t, false), VADModelPath: shared(t, sileroModel)})
	t.Run("silence", func(t *testing.T) {
		_, err := e.Transcribe(context.Background(), edgetest.Silence(3*time.Second))
		if !errors.Is(err, proto.ErrNoSpeech) {
			t.Errorf("Transcribe(3 s of silence) = %v, want proto.ErrNoSpeech", err)
		}
		if s := e.Stats(); s.Served != 0 {
			t.Errorf("Stats = %+v: silence reached whisper", s)
		}
	})
	t.Run("speech with silence around it", func(t *testing.T) {
		jfk := readJFK(t)
		audio := append(append(edgetest.Silence(2*time.Second), jfk...), edgetest.Silence(3*time.Second)...)
		r, err := e.TranscribeResult(context.Background(), audio)
		if err != nil && !errors.Is(err, proto.ErrNoSpeech) {
			t.Fatalf("TranscribeResult: %v", err)
		}
		// Speech runs from 2.32 s to 12.62 s; 200 ms are kept either side.
		if want := 10700 * time.Millisecond; (r.Speech - want).Abs() > 300*time.Millisecond {
			t.Errorf("Speech = %v of %v, want about %v after trimming", r.Speech, 16*time.Second, want)
		}
		if want := (int(r.Speech.Seconds()*50+0.999) + 64); r.AudioCtx != want {
			t.Errorf("AudioCtx = %d, want %d for the trimmed audio", r.AudioCtx, want)
		}
	})
}

func TestTranscribeConcurrent(t *testing.T) {
	e := newEngine(t, whispercpp.Config{ModelPath: synthetic(t, false)})
	// Another engine in the same process, running at the same time.
	other := newEngine(t, whispercpp.Config{ModelPath: synthetic(t, true), Language: "en"})
	speech := edgetest.Speech(2 * time.Second)
	want, err := e.Transcribe(context.Background(), speech)
	if err != nil {
		t.Fatal(err)
	}
	const callers = 6
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(2)
		// Ends when its transcription returns.
		go func() {
			defer wg.Done()
			got, err := e.Transcribe(context.Background(), speech)
			if err != nil || got != want {
				t.Errorf("caller %d: %q, %v; want %q", i, got, err, want)
			}
		}()
		// Ends when its transcription returns.
		go func() {
			defer wg.Done()
			if _, err := other.Transcribe(context.Background(), speech); err != nil && !errors.Is(err, proto.ErrNoSpeech) {
				t.Errorf("other engine, caller %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	s := e.Stats()
	if s.Served != callers+1 || s.Queued != 0 || s.Running != 0 {
		t.Errorf("Stats = %+v, want %d served", s, callers+1)
	}
	if s.MaxWaitMs <= 0 || s.MeanWaitMs <= 0 || s.MeanWaitMs > s.MaxWaitMs {
		t.Errorf("Stats = %+v, want the waits of callers that queued", s)
	}
}

func TestTranscribeCancelled(t *testing.T) {
	e := newEngine(t, whispercpp.Config{ModelPath: synthetic(t, false)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Transcribe(ctx, edgetest.Speech(2*time.Second)); !errors.Is(err, context.Canceled) {
		t.Errorf("Transcribe with a cancelled context = %v, want context.Canceled", err)
	}
	if s := e.Stats(); s.Served != 0 || s.Abandoned != 1 {
		t.Errorf("Stats = %+v, want 1 abandoned and none served", s)
	}
}

func TestClose(t *testing.T) {
	e, err := whispercpp.New(whispercpp.Config{ModelPath: synthetic(t, false), Threads: 1,
		VADModelPath: shared(t, sileroModel)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = e.Transcribe(context.Background(), readJFK(t))
	if !errors.Is(err, whispercpp.ErrClosed) || !errors.Is(err, proto.ErrUnavailable) {
		t.Errorf("Transcribe after Close = %v, want ErrClosed and proto.ErrUnavailable", err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.bin")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a model "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	english, multi := synthetic(t, false), synthetic(t, true)
	tests := []struct {
		name string
		cfg  whispercpp.Config
		want error
	}{
		{"no model", whispercpp.Config{}, whispercpp.ErrConfig},
		{"bad audio_ctx", whispercpp.Config{ModelPath: english, AudioCtx: "half"}, whispercpp.ErrConfig},
		{"missing model", whispercpp.Config{ModelPath: filepath.Join(dir, "none.bin")}, os.ErrNotExist},
		{"not a model", whispercpp.Config{ModelPath: junk}, whispercpp.ErrModel},
		{"unknown language", whispercpp.Config{ModelPath: multi, Language: "xx"}, whispercpp.ErrConfig},
		{"missing VAD model", whispercpp.Config{ModelPath: english, VADModelPath: filepath.Join(dir, "none.bin")}, os.ErrNotExist},
		{"VAD model not a model", whispercpp.Config{ModelPath: english, VADModelPath: junk}, whispercpp.ErrModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := whispercpp.New(tt.cfg, nil)
			if err == nil {
				e.Close()
				t.Fatalf("New(%+v) succeeded", tt.cfg)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("New(%+v) = %v, want %v", tt.cfg, err, tt.want)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogs(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := whispercpp.New(whispercpp.Config{ModelPath: synthetic(t, false), Threads: 1}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out := buf.String()
	// whisper.cpp's own lines arrive whole through slog, not on stderr.
	for _, want := range []string{`msg="whisper model loaded"`, `msg=whisper.cpp line="whisper_model_load: n_vocab       = 51864"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

// TestRealModel transcribes jfk.wav with the real model named by
// STIKADOO_WHISPER_MODEL.
func TestRealModel(t *testing.T) {
	path := os.Getenv(realModelEnv)
	if path == "" {
		t.Skipf("set %s to a ggml whisper model with weights to run this test", realModelEnv)
	}
	jfk := readJFK(t)
	for _, mode := range []string{whispercpp.AudioCtxAuto, whispercpp.AudioCtxFull} {
		t.Run(mode, func(t *testing.T) {
			// Whisper's own temperature fallback, as in production.
			e := newEngine(t, whispercpp.Config{ModelPath: path, AudioCtx: mode, TemperatureInc: 0.2,
				VADModelPath: shared(t, sileroModel)})
			r, err := e.TranscribeResult(context.Background(), jfk)
			if err != nil {
				t.Fatalf("TranscribeResult(jfk.wav): %v", err)
			}
			t.Logf("%q (audio_ctx %d, %v)", r.Text, r.AudioCtx, r.Run)
			if !strings.Contains(strings.ToLower(r.Text), "ask not") {
				t.Errorf("Text = %q, want the words \"ask not\"", r.Text)
			}
		})
	}
}

// Transcribe an utterance with a model loaded once. The model here is a
// synthetic one, so the words are nonsense.
func ExampleEngine_Transcribe() {
	dir, err := os.MkdirTemp("", "whisper-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.bin")
	f, err := os.Create(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = whispertest.WriteModel(f, whispertest.ModelOptions{Seed: englishSeed})
	f.Close()
	if err != nil {
		fmt.Println(err)
		return
	}

	e, err := whispercpp.New(whispercpp.Config{ModelPath: path, Threads: 1, TemperatureInc: -1}, nil) // nil: no logs
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	text, err := e.Transcribe(context.Background(), edgetest.Speech(2*time.Second))
	fmt.Println(text != "", err)
	// Output: true <nil>
}
