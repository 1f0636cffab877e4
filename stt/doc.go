// Package stt is the audio front end of Stikadoo Edge: it turns what a
// device sends (Opus packets or 16-bit PCM) into 16 kHz mono float32
// samples in [-1, 1], reads and writes WAV files, resamples other rates
// to 16 kHz, and finds the end of speech with an energy end-pointer for
// the auto and realtime listening modes.
//
// Transcription engines live in subpackages (such as stt/whispercpp) and
// take the samples this package produces.
//
// Package stt imports at most edge/proto of this module and must never
// import the gateway (package edge), which imports it. The Opus code
// links libopus through cgo; build with -tags nolibopusfile.
package stt
