package stt

import "errors"

// Errors from reading WAV files.
var (
	// ErrNotWAV: the bytes are not a RIFF/WAVE file.
	ErrNotWAV = errors.New("not a RIFF/WAVE file")
	// ErrWAVFormat: the WAV file is damaged or holds an audio format this
	// package does not read (it reads 16-bit PCM and 32-bit float, mono or
	// stereo).
	ErrWAVFormat = errors.New("unsupported or damaged WAV audio")
	// ErrTooLong: the audio is longer than MaxWAVDuration.
	ErrTooLong = errors.New("audio too long")
)

// ErrOpus: an Opus packet could not be encoded or decoded.
var ErrOpus = errors.New("opus codec error")

// ErrFinderBusy: a SpeechFinder had no model free to look now; the
// VADEndpointer looks again with the next samples.
var ErrFinderBusy = errors.New("speech finder busy")
