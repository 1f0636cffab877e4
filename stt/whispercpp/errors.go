package whispercpp

import (
	"errors"
	"fmt"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// ErrUnsupported is returned by the build without whisper.cpp (no
// whispercpp build tag) wherever the engine would be needed. It wraps
// errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("whisper.cpp support not built in (build with -tags whispercpp): %w", errors.ErrUnsupported)

// Errors of the engine and the VAD.
var (
	// ErrConfig: the Config is unusable (wrapped with the field at fault).
	ErrConfig = errors.New("whisper.cpp engine configuration error")
	// ErrModel: whisper.cpp could not load a model file.
	ErrModel = errors.New("whisper.cpp could not load the model")
	// ErrBusy: the queue is full. It wraps proto.ErrUnavailable.
	ErrBusy = fmt.Errorf("transcription queue full: %w", proto.ErrUnavailable)
	// ErrClosed: the engine or VAD was closed. It wraps
	// proto.ErrUnavailable.
	ErrClosed = fmt.Errorf("whisper.cpp engine closed: %w", proto.ErrUnavailable)
	// ErrFailed: whisper.cpp failed on one utterance.
	ErrFailed = errors.New("whisper.cpp failed on the utterance")
)
