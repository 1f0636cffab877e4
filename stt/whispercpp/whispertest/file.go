package whispertest

import (
	"os"
	"path/filepath"
	"testing"
)

// Shared returns the path of rel inside the test data folder that sits
// beside the module's checkout (../shared from the folder holding go.mod),
// such as "models/for-tests-ggml-tiny.en.bin" or "audio/jfk.wav", or ""
// when the file is not there.
func Shared(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", filepath.FromSlash(rel))
			if _, err := os.Stat(p); err != nil {
				return ""
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Weightless test models shipped with whisper.cpp: real header, mel filters
// and vocabulary, no weights.
const (
	sharedEnglish      = "models/for-tests-ggml-tiny.en.bin"
	sharedMultilingual = "models/for-tests-ggml-tiny.bin"
)

// ModelFile writes the synthetic model opts describe into a temporary
// folder of tb and returns its path. Without opts.Source it copies the
// mel filters and vocabulary from whisper.cpp's weightless test model of
// the same family (tiny.en, or tiny when opts.Multilingual) when Shared
// finds it and the model has 80 mel bands, and computes them otherwise. It fails tb on error.
func ModelFile(tb testing.TB, opts ModelOptions) string {
	tb.Helper()
	if opts.Source == "" && (opts.Mels == 0 || opts.Mels == 80) {
		rel := sharedEnglish
		if opts.Multilingual {
			rel = sharedMultilingual
		}
		opts.Source = Shared(rel)
	}
	path := filepath.Join(tb.TempDir(), "ggml-synthetic.bin")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatalf("create synthetic model: %v", err)
	}
	if err := WriteModel(f, opts); err != nil {
		f.Close()
		tb.Fatalf("%v", err)
	}
	if err := f.Close(); err != nil {
		tb.Fatalf("close synthetic model: %v", err)
	}
	return path
}
