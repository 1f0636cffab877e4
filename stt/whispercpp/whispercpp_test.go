//go:build whispercpp

package whispercpp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ggerganov/whisper.cpp/bindings/go/pkg/whisper"

	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
)

// whisper.cpp's own test models (real header, mel filters and vocabulary,
// no weights) in the shared data beside the repository.
const sharedModels = "../../../shared/models"

func TestVersion(t *testing.T) {
	v := whispercpp.Version()
	// The Go bindings in go.mod match whisper.cpp 1.9.1 exactly.
	if !strings.HasPrefix(v, "whisper.cpp 1.9.1 (") {
		t.Errorf("Version() = %q, want the linked whisper.cpp 1.9.1", v)
	}
	if !strings.Contains(v, "CPU :") {
		t.Errorf("Version() = %q, want the CPU features whisper.cpp was built for", v)
	}
}

func TestModelLoads(t *testing.T) {
	tests := []struct {
		file         string
		multilingual bool
	}{
		{"for-tests-ggml-tiny.en.bin", false},
		{"for-tests-ggml-tiny.bin", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(sharedModels, tt.file)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("test model: %v (the shared data folder belongs beside the repository)", err)
			}
			model, err := whisper.New(path)
			if err != nil {
				t.Fatalf("whisper.New(%q): %v", path, err)
			}
			if got := model.IsMultilingual(); got != tt.multilingual {
				t.Errorf("IsMultilingual() = %v, want %v", got, tt.multilingual)
			}
			if err := model.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestModelMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-model.bin")
	if model, err := whisper.New(path); err == nil {
		model.Close()
		t.Fatalf("whisper.New(%q) loaded a model that does not exist", path)
	}
}

func ExampleVersion() {
	// "whisper.cpp 1.9.1 (...)" when built with -tags whispercpp, "" without.
	fmt.Println(whispercpp.Version() != "")
	// Output: true
}
