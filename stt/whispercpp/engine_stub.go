//go:build !whispercpp

package whispercpp

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Engine is the whisper.cpp engine; this build has none.
type Engine struct{}

// New reports that this build has no whisper.cpp: the error wraps
// ErrUnsupported (and so errors.ErrUnsupported).
func New(cfg Config, log *slog.Logger) (*Engine, error) {
	return nil, fmt.Errorf("start whisper.cpp engine: %w", ErrUnsupported)
}

// Transcribe fails with an error wrapping ErrUnsupported and
// proto.ErrUnavailable.
func (e *Engine) Transcribe(ctx context.Context, samples []float32) (string, error) {
	return "", fmt.Errorf("transcribe: %w: %w", ErrUnsupported, proto.ErrUnavailable)
}

// TranscribeResult fails like Transcribe.
func (e *Engine) TranscribeResult(ctx context.Context, samples []float32) (Result, error) {
	return Result{}, fmt.Errorf("transcribe: %w: %w", ErrUnsupported, proto.ErrUnavailable)
}

// Stats reports an empty queue.
func (e *Engine) Stats() Stats { return Stats{} }

// Close does nothing.
func (e *Engine) Close() error { return nil }

// VAD is the Silero voice activity detector; this build has none.
type VAD struct{}

// NewVAD reports that this build has no whisper.cpp: the error wraps
// ErrUnsupported.
func NewVAD(path string) (*VAD, error) {
	return nil, fmt.Errorf("load VAD model: %w", ErrUnsupported)
}

// Segments fails with an error wrapping ErrUnsupported.
func (v *VAD) Segments(samples []float32) ([]Segment, error) {
	return nil, fmt.Errorf("detect speech: %w", ErrUnsupported)
}

// TrySegments fails with an error wrapping ErrUnsupported.
func (v *VAD) TrySegments(samples []float32) ([]Segment, bool, error) {
	return nil, true, fmt.Errorf("detect speech: %w", ErrUnsupported)
}

// Close does nothing.
func (v *VAD) Close() error { return nil }
