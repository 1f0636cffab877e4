package models

import "errors"

var (
	// ErrUnknownModel: a name or a file is not in the catalogue.
	ErrUnknownModel = errors.New("model not in the catalogue")
	// ErrChecksum: a file's SHA-256 sum is not the catalogue's.
	ErrChecksum = errors.New("model file checksum mismatch")
	// ErrSize: the server's file is not the size the catalogue gives.
	ErrSize = errors.New("model file size mismatch")
	// ErrDownload: the server answered a download with an HTTP error, or
	// the connection failed more often than the retries allow.
	ErrDownload = errors.New("model download failed")
	// ErrStalled: no bytes arrived for the stall timeout.
	ErrStalled = errors.New("model download stalled")
	// ErrInvalid: a Model value or a download setting is unusable.
	ErrInvalid = errors.New("invalid model entry or download setting")
)
