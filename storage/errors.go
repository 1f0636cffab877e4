package storage

import "errors"

var (
	// ErrLocked: another process (normally another stikadoo-edge) holds the
	// store file's lock, and it was not released within Options.LockTimeout.
	ErrLocked = errors.New("store file is locked")
	// ErrSchema: the store file was written by a newer stikadoo-edge whose
	// layout this build does not know, or it is not a store file at all.
	ErrSchema = errors.New("unsupported store schema")
	// ErrInvalid: a record cannot be stored as given (an empty or overlong
	// ID, an image without data).
	ErrInvalid = errors.New("invalid record")
	// ErrTooLarge: an image is larger than MaxImageBytes.
	ErrTooLarge = errors.New("image too large")
)
