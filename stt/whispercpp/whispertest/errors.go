package whispertest

import "errors"

var (
	// ErrOptions: the ModelOptions describe a model whisper.cpp cannot
	// load (wrapped with the field at fault).
	ErrOptions = errors.New("unusable model options")
	// ErrSource: the source model file is not a ggml whisper model whose
	// mel filters and vocabulary can be copied.
	ErrSource = errors.New("unusable source model")
)
