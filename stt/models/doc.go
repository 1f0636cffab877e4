// Package models manages the whisper.cpp model files of Stikadoo Edge:
// the catalogue of the ggml models the Pi can run (tiny, base and small,
// multilingual and English-only, full and quantized) with their exact
// sizes and SHA-256 sums, downloads with resume and checksum
// verification, and verification of a file already on disk.
//
// It does not load models; the engine (stt/whispercpp) does. It imports
// nothing of this module and must never import the gateway (package edge).
package models
