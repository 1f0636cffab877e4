package imagegen

import "errors"

var (
	// ErrBackend: the backend answered with an error (wrapped with details).
	ErrBackend = errors.New("image backend error")
	// ErrTooLarge: a response body or image exceeds the configured limits.
	ErrTooLarge = errors.New("image response too large")
	// ErrDecode: the image bytes could not be decoded.
	ErrDecode = errors.New("image could not be decoded")
	// ErrConfig: the configuration is unusable (wrapped with the field).
	ErrConfig = errors.New("image configuration error")
)

// ErrEmptyText: the request holds no words to draw.
var ErrEmptyText = errors.New("nothing to draw: the text is empty")
