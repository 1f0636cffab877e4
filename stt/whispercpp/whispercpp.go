//go:build whispercpp

package whispercpp

// The libraries are those of the Go bindings, which link them.

/*
#cgo LDFLAGS: -lwhisper -lggml -lggml-base -lggml-cpu -lm -lstdc++
#include <whisper.h>
*/
import "C"

import (
	"strings"

	whisper "github.com/ggerganov/whisper.cpp/bindings/go"
)

// Version reports the linked whisper.cpp: its version and the CPU
// features it was built for, as in
// "whisper.cpp 1.9.1 (WHISPER : COREML = 0 | OPENVINO = 0 | CPU : SSE3 = 1 | ...)".
func Version() string {
	info := strings.Join(strings.Fields(whisper.Whisper_print_system_info()), " ")
	return "whisper.cpp " + C.GoString(C.whisper_version()) + " (" + info + ")"
}
