//go:build whispercpp

package whispercpp

/*
#include <stdlib.h>
#include <whisper.h>

static struct whisper_vad_context *stikadoo_vad_init(const char *path) {
	struct whisper_vad_context_params p = whisper_vad_default_context_params();
	p.n_threads = 1;
	p.use_gpu = false;
	return whisper_vad_init_from_file_with_params(path, p);
}
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"
)

// VAD finds speech in audio with the Silero voice activity model through
// whisper.cpp's VAD API, on one thread. It is safe for concurrent use;
// calls run one at a time.
type VAD struct {
	mu     sync.Mutex
	ctx    *C.struct_whisper_vad_context // nil once closed
	params C.struct_whisper_vad_params
}

// NewVAD loads a Silero VAD model in whisper.cpp's format (such as
// ggml-silero-v6.2.0.bin). It uses whisper.cpp's default settings: speech
// above probability 0.5, at least 250 ms long, ended by 100 ms of silence,
// padded by 30 ms. Errors wrap ErrModel when whisper.cpp cannot load the
// file.
func NewVAD(path string) (*VAD, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("load VAD model: %w", err)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	routeLogsIfUnset()
	ctx := C.stikadoo_vad_init(cpath)
	if ctx == nil {
		return nil, fmt.Errorf("load VAD model %q: %w", path, ErrModel)
	}
	return &VAD{ctx: ctx, params: C.whisper_vad_default_params()}, nil
}

// Segments returns the stretches of speech in samples (16 kHz mono
// float32), in order; none for audio without speech. Errors wrap ErrClosed
// after Close and ErrFailed when whisper.cpp fails.
func (v *VAD) Segments(samples []float32) ([]Segment, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.segments(samples)
}

// TrySegments is Segments if no other call is running; ok is false, and
// nothing was done, if one is. Callers that must not wait (a device's
// reader) try again later or another VAD.
func (v *VAD) TrySegments(samples []float32) (segs []Segment, ok bool, err error) {
	if !v.mu.TryLock() {
		return nil, false, nil
	}
	defer v.mu.Unlock()
	segs, err = v.segments(samples)
	return segs, true, err
}

// segments runs the model; v.mu is held.
func (v *VAD) segments(samples []float32) ([]Segment, error) {
	if v.ctx == nil {
		return nil, fmt.Errorf("detect speech: %w", ErrClosed)
	}
	if len(samples) == 0 {
		return nil, nil
	}
	segs := C.whisper_vad_segments_from_samples(v.ctx, v.params, (*C.float)(unsafe.Pointer(&samples[0])), C.int(len(samples)))
	if segs == nil {
		return nil, fmt.Errorf("detect speech in %d samples: %w", len(samples), ErrFailed)
	}
	defer C.whisper_vad_free_segments(segs)
	n := int(C.whisper_vad_segments_n_segments(segs))
	out := make([]Segment, 0, n)
	for i := range n {
		// whisper.cpp reports times in centiseconds.
		t0 := float64(C.whisper_vad_segments_get_segment_t0(segs, C.int(i)))
		t1 := float64(C.whisper_vad_segments_get_segment_t1(segs, C.int(i)))
		out = append(out, Segment{
			Start: time.Duration(t0 * float64(10*time.Millisecond)),
			End:   time.Duration(t1 * float64(10*time.Millisecond)),
		})
	}
	return out, nil
}

// Close frees the model. Later calls to Segments fail with ErrClosed. It
// may be called more than once.
func (v *VAD) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ctx != nil {
		C.whisper_vad_free(v.ctx)
		v.ctx = nil
	}
	return nil
}
