//go:build whispercpp

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp/whispertest"
)

// TestPendingTranscriberPicksUpADownload starts with no model, as a fresh
// Pi does, then puts one where `model download tiny.en` would.
func TestPendingTranscriberPicksUpADownload(t *testing.T) {
	stateDir := t.TempDir()
	cfg := testConfig(t, "").STT
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, _, why, err := openTranscriber(cfg, stateDir, log)
	if err != nil || why == "" {
		t.Fatalf("openTranscriber with no model: why %q, err %v", why, err)
	}
	p := newPendingTranscriber(cfg, stateDir, why, log)
	defer p.Close()
	speech := make([]float32, 2*stt.SampleRate)
	if _, err := p.Transcribe(context.Background(), speech); !errors.Is(err, proto.ErrUnavailable) {
		t.Fatalf("Transcribe before a model: %v, want ErrUnavailable", err)
	}
	if got := p.NotReady(); !strings.Contains(got, "model download") {
		t.Errorf("NotReady = %q, want what to do", got)
	}
	if p.tryLoad() {
		t.Fatal("tryLoad found a model in an empty folder")
	}

	// watch ends with its context while there is still nothing to load.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.watch(ctx, time.Hour) }() // ends when ctx is cancelled
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not end with its context")
	}

	// A damaged download is tried once, not at every poll.
	dir := modelsDir(stateDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(dir, "ggml-tiny.en.bin")
	if err := os.WriteFile(damaged, []byte("not a model"), 0o640); err != nil {
		t.Fatal(err)
	}
	if p.tryLoad() || !strings.Contains(p.NotReady(), "does not load") {
		t.Fatalf("a damaged model: ready %q", p.NotReady())
	}
	p.mu.Lock()
	p.why = "marker"
	p.mu.Unlock()
	if p.tryLoad() || p.NotReady() != "marker" {
		t.Fatal("the same damaged file was loaded again")
	}
	past := time.Now().Add(-time.Minute)
	if err := os.Chtimes(damaged, past, past); err != nil {
		t.Fatal(err)
	}

	model := whispertest.ModelFile(t, whispertest.ModelOptions{})
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, b, 0o640); err != nil { // a new download replaces it
		t.Fatal(err)
	}
	if err := p.watch(context.Background(), time.Hour); err != nil { // returns once loaded
		t.Fatal(err)
	}
	if got := p.NotReady(); got != "" {
		t.Fatalf("NotReady after the download = %q", got)
	}
	// A synthetic model may hear nothing; it must not be "unavailable".
	if _, err := p.Transcribe(context.Background(), speech); errors.Is(err, proto.ErrUnavailable) {
		t.Errorf("Transcribe after the download: %v", err)
	}
	if whisperStats(p)().Served != 1 {
		t.Errorf("the queue's numbers do not show the call: %+v", whisperStats(p)())
	}
}
