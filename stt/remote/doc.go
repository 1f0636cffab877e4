// Package remote is a speech-to-text engine that sends each utterance to a
// server on the LAN speaking the OpenAI audio transcription API
// (POST /v1/audio/transcriptions): faster-whisper-server, speaches,
// LocalAI, or whisper.cpp's server started with
// --inference-path /v1/audio/transcriptions. The Pi then needs no model of
// its own.
//
// A Client satisfies the gateway's Transcriber interface: errors wrap
// proto.ErrNoSpeech when the audio holds no words and proto.ErrUnavailable
// when the server cannot be reached, times out or fails on its side.
//
// Package remote imports edge/proto (for the shared sentinel errors) and
// stt (to write WAV) and nothing else of this module; it must never import
// the gateway (package edge).
package remote
