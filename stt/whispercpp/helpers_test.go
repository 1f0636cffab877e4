//go:build whispercpp

package whispercpp_test

import (
	"os"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp/whispertest"
)

// Test data beside the checkout (../shared).
const (
	jfkWAV      = "audio/jfk.wav" // 11 s of speech, 16 kHz mono
	sileroModel = "models/ggml-silero-v6.2.0.bin"
	tinyEnModel = "models/for-tests-ggml-tiny.en.bin" // real sizes, no weights
	baseEnModel = "models/for-tests-ggml-base.en.bin"
)

// shared returns the path of a file of the shared test data or fails.
func shared(tb testing.TB, rel string) string {
	tb.Helper()
	p := whispertest.Shared(rel)
	if p == "" {
		tb.Fatalf("test data %s not found (the shared folder belongs beside the checkout)", rel)
	}
	return p
}

// readJFK returns jfk.wav's samples.
func readJFK(tb testing.TB) []float32 {
	tb.Helper()
	f, err := os.Open(shared(tb, jfkWAV))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	s, rate, err := stt.ReadWAV(f)
	if err != nil {
		tb.Fatalf("read jfk.wav: %v", err)
	}
	if rate != whispercpp.SampleRate {
		tb.Fatalf("jfk.wav is %d Hz, want %d", rate, whispercpp.SampleRate)
	}
	return s
}

// newEngine starts an engine on cfg or fails, and closes it with the test.
// Unless cfg says otherwise it runs on one thread, which keeps the tests
// steady on a machine whose other cores are busy (ggml's threads wait for
// each other by spinning), and never retries at a higher temperature: a
// synthetic model's nonsense fails whisper's quality checks on every
// attempt, so retries only make a test slow and its results random.
func newEngine(tb testing.TB, cfg whispercpp.Config) *whispercpp.Engine {
	tb.Helper()
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	if cfg.TemperatureInc == 0 {
		cfg.TemperatureInc = -1
	}
	e, err := whispercpp.New(cfg, nil)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}
