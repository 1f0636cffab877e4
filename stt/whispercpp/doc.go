// Package whispercpp transcribes speech on the device itself with
// whisper.cpp, linked statically through cgo and the Go bindings
// (github.com/ggerganov/whisper.cpp/bindings/go).
//
// The engine is built only with the build tag whispercpp, against the
// static libraries that `make` builds into .cache/whisper with
// scripts/whisper.sh; the Makefile hands their folders to cgo in
// CGO_CFLAGS and CGO_LDFLAGS. Without the tag the package keeps the same API
// in a stub: Version reports "" and everything that would need whisper.cpp
// returns an error wrapping ErrUnsupported, so the pure-Go packages build
// and test without a C++ toolchain.
//
// Package whispercpp takes 16 kHz mono float32 samples as produced by
// package stt. It imports at most stt and edge/proto of this module and
// must never import the gateway (package edge).
package whispercpp
