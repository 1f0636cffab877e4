// Package whispertest writes small whisper models for tests: files in the
// ggml format that whisper.cpp's model loader reads (the "ggml" magic,
// hyperparameters, mel filters, vocabulary, then every tensor by name),
// with the tensor names, shapes and types whisper.cpp expects and weights
// drawn from a seeded random source. Such a model loads, encodes and
// decodes like a real one at a fraction of the size and cost, and
// transcribes any audio into nonsense: tests that use it assert the
// structure of what comes back, never the words.
//
// The mel filters and vocabulary are copied from a real model file when
// one is named (ModelOptions.Source; ModelFile defaults to whisper.cpp's
// own weightless test model when it is on disk), and computed otherwise:
// Slaney-style mel filters as librosa builds them, and a byte-level
// vocabulary of the right size holding every single byte, " " included.
//
// Shared finds the test data kept beside the checkout (../shared): audio,
// whisper.cpp's test models and the Silero VAD model.
//
// Nothing here is used by the daemon's production paths. The package
// uses the standard library only and must not import any package of this
// module.
package whispertest
