package stt_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func FuzzReadWAV(f *testing.F) {
	var w bytes.Buffer
	if err := stt.WriteWAV(&w, sine(64, 440, 0.5, 16000), 16000); err != nil {
		f.Fatal(err)
	}
	f.Add(w.Bytes())
	f.Add(wavBytes(fmtChunk(1, 2, 44100, 16), chunk{id: "LIST", data: []byte("INFOabc")}, chunk{id: "data", data: pcm16(1, 2, 3, 4)}))
	f.Add(wavBytes(fmtChunk(3, 1, 48000, 32), chunk{id: "data", data: float32LE(0.5, -0.5), size: u32(0)}))
	f.Add(wavBytes(extensibleFmt(3, 2, 24000, 32), chunk{id: "data", data: float32LE(0.5, -0.5), size: u32(0xFFFFFFFF)}))
	f.Add(wavBytes(extensibleFmt(1, 1, 8000, 16), chunk{id: "data", data: pcm16(7), size: u32(0x7FFFFFFF)}))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, rate, err := stt.ReadWAV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, stt.ErrNotWAV) && !errors.Is(err, stt.ErrWAVFormat) && !errors.Is(err, stt.ErrTooLong) {
				t.Fatalf("ReadWAV error %v wraps no sentinel", err)
			}
			if s != nil || rate != 0 {
				t.Fatalf("ReadWAV returned %d samples at %d Hz with an error", len(s), rate)
			}
			return
		}
		if rate < 1000 || rate > 384000 {
			t.Fatalf("ReadWAV accepted a rate of %d Hz", rate)
		}
		// Every sample comes from at least two bytes of input, so the
		// output cannot outgrow the input.
		if len(s) > len(data)/2 || cap(s) > 2*len(data)+64 {
			t.Fatalf("%d bytes read as %d samples (capacity %d)", len(data), len(s), cap(s))
		}
		for i, v := range s {
			if math.IsNaN(float64(v)) || v < -1 || v > 1 {
				t.Fatalf("sample %d = %v, outside [-1, 1]", i, v)
			}
		}
	})
}
