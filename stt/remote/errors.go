package remote

import "errors"

var (
	// ErrConfig: the configuration is unusable (wrapped with the field).
	ErrConfig = errors.New("remote transcriber configuration error")
	// ErrRejected: the server refused the request (a 4xx answer other
	// than 408 and 429), e.g. a wrong API key or an unknown model. The
	// message holds the server's own words.
	ErrRejected = errors.New("transcription server rejected the request")
	// ErrBadAnswer: the server answered 2xx with a body that is not the
	// API's JSON.
	ErrBadAnswer = errors.New("transcription server answer is not valid")
	// ErrTooLarge: the server's answer exceeds Config.MaxResponseBytes.
	ErrTooLarge = errors.New("transcription server answer too large")
)
