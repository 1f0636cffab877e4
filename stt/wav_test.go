package stt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func TestWAVRoundTrip(t *testing.T) {
	for _, rate := range []int{8000, 16000, 44100, 48000} {
		in := sine(rate/2, 440, 0.5, rate)
		in = append(in, 1, -1, 2, -2, float32(math.NaN())) // clamped on write
		var buf bytes.Buffer
		if err := stt.WriteWAV(&buf, in, rate); err != nil {
			t.Fatalf("WriteWAV: %v", err)
		}
		if got, want := buf.Len(), 44+2*len(in); got != want {
			t.Fatalf("WriteWAV wrote %d bytes, want %d", got, want)
		}
		out, gotRate, err := stt.ReadWAV(&buf)
		if err != nil {
			t.Fatalf("ReadWAV: %v", err)
		}
		if gotRate != rate || len(out) != len(in) {
			t.Fatalf("ReadWAV = %d samples at %d Hz, want %d at %d", len(out), gotRate, len(in), rate)
		}
		for i, v := range in[:len(in)-5] {
			if d := math.Abs(float64(out[i] - v)); d > 1.0/32768 {
				t.Fatalf("sample %d = %v, want %v", i, out[i], v)
			}
		}
		tail := out[len(out)-5:]
		want := []float32{32767.0 / 32768, -1, 32767.0 / 32768, -1, 0}
		for i := range want {
			if tail[i] != want[i] {
				t.Errorf("clamped sample %d = %v, want %v", i, tail[i], want[i])
			}
		}
	}
}

func TestWriteWAVHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := stt.WriteWAV(&buf, []float32{0.5, -0.5}, 16000); err != nil {
		t.Fatal(err)
	}
	want := wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(16384, -16384)})
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteWAV =\n% x\nwant\n% x", buf.Bytes(), want)
	}
	for _, rate := range []int{0, -1} {
		if err := stt.WriteWAV(io.Discard, nil, rate); err == nil {
			t.Errorf("WriteWAV at %d Hz: no error", rate)
		}
	}
}

func TestReadJFK(t *testing.T) {
	s := readJFK(t)
	if len(s) < 170000 || len(s) > 180000 {
		t.Errorf("jfk.wav has %d samples, want about 176000 (11 s)", len(s))
	}
	if r := rmsOf(s); r < 0.05 || r > 0.5 {
		t.Errorf("jfk.wav RMS = %.3f, want speech level", r)
	}
}

func TestReadWAVVariants(t *testing.T) {
	const q = 1.0 / 32768
	tests := []struct {
		name string
		file []byte
		rate int
		want []float32
	}{
		{"mono 16-bit", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(0, 16384, -32768, 32767)}),
			16000, []float32{0, 0.5, -1, 32767 * q}},
		{"stereo 16-bit is down-mixed", wavBytes(fmtChunk(1, 2, 44100, 16), chunk{id: "data", data: pcm16(16384, 0, -16384, -16384, 100, -100)}),
			44100, []float32{0.25, -0.5, 0}},
		{"mono float", wavBytes(fmtChunk(3, 1, 48000, 32), chunk{id: "data", data: float32LE(0.25, -0.75, 1.5, float32(math.NaN()))}),
			48000, []float32{0.25, -0.75, 1, 0}},
		{"stereo float", wavBytes(fmtChunk(3, 2, 22050, 32), chunk{id: "data", data: float32LE(0.5, 0.25, -1, 1)}),
			22050, []float32{0.375, 0}},
		{"extensible PCM", wavBytes(extensibleFmt(1, 2, 16000, 16), chunk{id: "data", data: pcm16(8192, 8192)}),
			16000, []float32{0.25}},
		{"extensible float", wavBytes(extensibleFmt(3, 1, 24000, 32), chunk{id: "data", data: float32LE(-0.125)}),
			24000, []float32{-0.125}},
		{"unknown chunks skipped", wavBytes(
			chunk{id: "JUNK", data: make([]byte, 28)},
			fmtChunk(1, 1, 16000, 16),
			chunk{id: "LIST", data: []byte("INFOISFT\x05\x00\x00\x00Lavf\x00")},
			chunk{id: "fact", data: []byte{1, 0, 0, 0}},
			chunk{id: "data", data: pcm16(16384)}),
			16000, []float32{0.5}},
		{"odd-sized chunk is padded", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "odd ", data: []byte{1, 2, 3}}, chunk{id: "data", data: pcm16(-16384)}),
			16000, []float32{-0.5}},
		{"fmt chunk with cbSize 0", wavBytes(chunk{id: "fmt ", data: append(fmtChunk(1, 1, 8000, 16).data, 0, 0)}, chunk{id: "data", data: pcm16(16384)}),
			8000, []float32{0.5}},
		{"streamed data size 0", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(1, 2, 3), size: u32(0)}),
			16000, []float32{1 * q, 2 * q, 3 * q}},
		{"streamed data size 0xFFFFFFFF", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(4, 5), size: u32(0xFFFFFFFF)}),
			16000, []float32{4 * q, 5 * q}},
		{"streamed with partial frame", wavBytes(fmtChunk(1, 2, 16000, 16), chunk{id: "data", data: append(pcm16(4, 4), 9, 9), size: u32(0)}),
			16000, []float32{4 * q}},
		{"chunks after data ignored", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(16384)}, chunk{id: "LIST", data: []byte("xxxx")}),
			16000, []float32{0.5}},
		{"empty data", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data"}),
			16000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rate, err := stt.ReadWAV(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatalf("ReadWAV: %v", err)
			}
			if rate != tt.rate {
				t.Errorf("rate = %d, want %d", rate, tt.rate)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("samples = %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("samples = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestReadWAVErrors(t *testing.T) {
	good := wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(1, 2, 3, 4)})
	badFmt := func(mutate func(b []byte)) []byte {
		c := fmtChunk(1, 1, 16000, 16)
		mutate(c.data)
		return wavBytes(c, chunk{id: "data", data: pcm16(1)})
	}
	le := binary.LittleEndian
	badGUID := extensibleFmt(1, 1, 16000, 16)
	badGUID.data[len(badGUID.data)-1] ^= 0xFF
	shortExt := extensibleFmt(1, 1, 16000, 16)
	shortExt.data = shortExt.data[:24]
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, stt.ErrNotWAV},
		{"short header", []byte("RIFF\x00\x00"), stt.ErrNotWAV},
		{"not RIFF", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), stt.ErrNotWAV},
		{"RIFF but not WAVE", []byte("RIFF\x04\x00\x00\x00AVI "), stt.ErrNotWAV},
		{"no chunks", []byte("RIFF\x04\x00\x00\x00WAVE"), stt.ErrWAVFormat},
		{"truncated chunk header", good[:16], stt.ErrWAVFormat},
		{"truncated fmt", good[:30], stt.ErrWAVFormat},
		{"truncated data", good[:len(good)-1], stt.ErrWAVFormat},
		{"no data chunk", wavBytes(fmtChunk(1, 1, 16000, 16)), stt.ErrWAVFormat},
		{"data before fmt", wavBytes(chunk{id: "data", data: pcm16(1)}, fmtChunk(1, 1, 16000, 16)), stt.ErrWAVFormat},
		{"two fmt chunks", wavBytes(fmtChunk(1, 1, 16000, 16), fmtChunk(1, 1, 16000, 16), chunk{id: "data"}), stt.ErrWAVFormat},
		{"fmt too short", wavBytes(chunk{id: "fmt ", data: make([]byte, 14)}, chunk{id: "data"}), stt.ErrWAVFormat},
		{"fmt huge", wavBytes(chunk{id: "fmt ", data: make([]byte, 16), size: u32(0xFFFFFFF0)}), stt.ErrWAVFormat},
		{"24-bit PCM", wavBytes(fmtChunk(1, 1, 16000, 24), chunk{id: "data", data: make([]byte, 3)}), stt.ErrWAVFormat},
		{"8-bit PCM", wavBytes(fmtChunk(1, 1, 16000, 8), chunk{id: "data", data: make([]byte, 2)}), stt.ErrWAVFormat},
		{"64-bit float", wavBytes(fmtChunk(3, 1, 16000, 64), chunk{id: "data", data: make([]byte, 8)}), stt.ErrWAVFormat},
		{"A-law", wavBytes(fmtChunk(6, 1, 8000, 8), chunk{id: "data", data: make([]byte, 2)}), stt.ErrWAVFormat},
		{"three channels", wavBytes(fmtChunk(1, 3, 16000, 16), chunk{id: "data", data: make([]byte, 6)}), stt.ErrWAVFormat},
		{"zero channels", badFmt(func(b []byte) { le.PutUint16(b[2:], 0) }), stt.ErrWAVFormat},
		{"rate 0", badFmt(func(b []byte) { le.PutUint32(b[4:], 0) }), stt.ErrWAVFormat},
		{"rate huge", badFmt(func(b []byte) { le.PutUint32(b[4:], 0xFFFFFFFF) }), stt.ErrWAVFormat},
		{"block align wrong", badFmt(func(b []byte) { le.PutUint16(b[12:], 0) }), stt.ErrWAVFormat},
		{"extensible unknown subformat", wavBytes(badGUID, chunk{id: "data", data: pcm16(1)}), stt.ErrWAVFormat},
		{"extensible too short", wavBytes(shortExt, chunk{id: "data", data: pcm16(1)}), stt.ErrWAVFormat},
		{"unknown chunk larger than file", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "LIST", data: []byte("INFO"), size: u32(0xFFFFFFFE)}), stt.ErrWAVFormat},
		{"data size over 10 minutes", wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(1), size: u32(0xFFFFFFFE)}), stt.ErrTooLong},
		{"data size just over 10 minutes", wavBytes(fmtChunk(1, 1, 8000, 16), chunk{id: "data", data: pcm16(1), size: u32(600*8000*2 + 2)}), stt.ErrTooLong},
		{"streamed over 10 minutes", wavBytes(fmtChunk(1, 1, 1000, 16), chunk{id: "data", data: make([]byte, 2*(600*1000+1)), size: u32(0)}), stt.ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, _, err := stt.ReadWAV(bytes.NewReader(tt.file))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadWAV error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("ReadWAV returned %d samples with an error", len(got))
			}
			// A hostile size must not turn into an allocation: the
			// reader allocates for what it reads (float32 samples grown
			// by append: a few times the file), not what it is told.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(tt.file))+1<<20 {
				t.Errorf("ReadWAV allocated %d bytes for a %d-byte file", alloc, len(tt.file))
			}
		})
	}
}

func TestReadWAVTenMinutes(t *testing.T) {
	// Exactly ten minutes is accepted, at the lowest rate to stay quick.
	n := 600 * 1000
	file := wavBytes(fmtChunk(1, 1, 1000, 16), chunk{id: "data", data: make([]byte, 2*n)})
	s, rate, err := stt.ReadWAV(bytes.NewReader(file))
	if err != nil || rate != 1000 || len(s) != n {
		t.Fatalf("ReadWAV = %d samples at %d Hz, %v; want %d at 1000 Hz", len(s), rate, err, n)
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadWAVReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	file := wavBytes(fmtChunk(1, 1, 16000, 16), chunk{id: "data", data: pcm16(1, 2, 3)})
	_, _, err := stt.ReadWAV(&errReader{data: file[:len(file)-2], err: boom})
	if !errors.Is(err, boom) {
		t.Errorf("ReadWAV error = %v, want %v", err, boom)
	}
}
