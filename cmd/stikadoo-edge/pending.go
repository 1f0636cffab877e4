package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// modelPoll is how often a server without a speech model looks for one.
const modelPoll = 10 * time.Second

var (
	_ edge.Transcriber = (*pendingTranscriber)(nil)
	_ edge.Readiness   = (*pendingTranscriber)(nil)
)

// pendingTranscriber stands in for whisper.cpp while no speech model is
// downloaded ([stt] engine = "auto" without a model): it answers that
// speech is unavailable, and watch loads the first model that appears in
// the models folder, so `stikadoo-edge model download base.en` is enough,
// without a restart.
type pendingTranscriber struct {
	cfg      sttConfig
	stateDir string
	log      *slog.Logger

	mu    sync.Mutex
	t     edge.Transcriber // nil until a model is loaded
	close func()
	why   string // while t is nil
	bad   string // the model file that failed to load: path, size and time
}

func newPendingTranscriber(cfg sttConfig, stateDir, why string, log *slog.Logger) *pendingTranscriber {
	return &pendingTranscriber{cfg: cfg, stateDir: stateDir, why: why, log: log, close: func() {}}
}

// Transcribe transcribes with the loaded model, or fails with an error
// wrapping proto.ErrUnavailable while there is none.
func (p *pendingTranscriber) Transcribe(ctx context.Context, samples []float32) (string, error) {
	p.mu.Lock()
	t, why := p.t, p.why
	p.mu.Unlock()
	if t == nil {
		return "", fmt.Errorf("%s: %w", why, proto.ErrUnavailable)
	}
	return t.Transcribe(ctx, samples)
}

// NotReady says why there is no speech recognition yet, or "".
func (p *pendingTranscriber) NotReady() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.t != nil {
		return ""
	}
	return p.why
}

// current is the loaded engine, or nil.
func (p *pendingTranscriber) current() edge.Transcriber {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.t
}

// watch looks for a model every interval until one loads or ctx is done.
func (p *pendingTranscriber) watch(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for !p.tryLoad() {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}

// tryLoad loads a downloaded model, if there is one, and reports whether
// speech recognition is ready.
//
// A file that failed to load is tried again only once it changes (a new
// download replaced it): loading reads the whole model, tens to hundreds
// of megabytes, and a damaged file would otherwise be read every poll.
func (p *pendingTranscriber) tryLoad() bool {
	name := findDownloaded(p.stateDir)
	if name == "" {
		return false
	}
	key := name
	if path, err := resolveModel(name, p.stateDir); err == nil {
		if fi, err := os.Stat(path); err == nil {
			key = fmt.Sprintf("%s %d %s", path, fi.Size(), fi.ModTime())
		}
	}
	p.mu.Lock()
	bad := p.bad
	p.mu.Unlock()
	if key == bad {
		return false
	}
	t, closeFn, why, err := openTranscriber(p.cfg, p.stateDir, p.log)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		p.bad = key
		p.log.Warn("a speech model is there but does not load; download it again", "model", name, "err", err)
		p.why = "the speech model " + name + " does not load (download it again): " + err.Error()
		return false
	case t == nil:
		p.why = why
		return false
	}
	p.t, p.close = t, closeFn
	p.log.Info("speech recognition is ready: a downloaded model was found")
	return true
}

// Close frees the engine, if one was loaded.
func (p *pendingTranscriber) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.close()
	p.close = func() {}
	p.t = nil
}
