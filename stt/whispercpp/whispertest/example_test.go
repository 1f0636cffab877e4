package whispertest_test

import (
	"bytes"
	"fmt"

	"github.com/stikadoo/stikadoo-edge/stt/whispercpp/whispertest"
)

// A one-layer English-only model of width 64 with f16 weights; without a
// Source the mel filters and vocabulary are computed.
func ExampleWriteModel() {
	var b bytes.Buffer
	if err := whispertest.WriteModel(&b, whispertest.ModelOptions{Seed: 1}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q, %d bytes\n", b.Bytes()[:4], b.Len())
	// Output: "lmgg", 7887473 bytes
}
