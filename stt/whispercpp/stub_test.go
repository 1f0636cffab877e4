//go:build !whispercpp

package whispercpp_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
)

func TestStub(t *testing.T) {
	if v := whispercpp.Version(); v != "" {
		t.Errorf("Version() = %q without whisper.cpp, want \"\"", v)
	}
	if !errors.Is(whispercpp.ErrUnsupported, errors.ErrUnsupported) {
		t.Errorf("ErrUnsupported = %v, does not wrap errors.ErrUnsupported", whispercpp.ErrUnsupported)
	}
}

func ExampleVersion() {
	// "" when built without the whispercpp tag.
	fmt.Printf("%q\n", whispercpp.Version())
	// Output: ""
}
