package stt_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

// jfkPath is 11 s of real speech, 16 kHz mono 16-bit, in the test data
// folder beside the checkout (tests run in the package's folder).
var jfkPath = filepath.Join("..", "..", "shared", "audio", "jfk.wav")

// readJFK reads jfk.wav or fails the test.
func readJFK(t testing.TB) []float32 {
	t.Helper()
	f, err := os.Open(jfkPath)
	if err != nil {
		t.Fatalf("open test speech: %v", err)
	}
	defer f.Close()
	s, rate, err := stt.ReadWAV(f)
	if err != nil {
		t.Fatalf("ReadWAV(%s): %v", jfkPath, err)
	}
	if rate != stt.SampleRate {
		t.Fatalf("ReadWAV(%s) rate = %d, want %d", jfkPath, rate, stt.SampleRate)
	}
	return s
}

// sine returns n samples of a sine of freq Hz and amplitude amp at rate.
func sine(n int, freq, amp float64, rate int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return s
}

// noise returns n samples of Gaussian noise of the given RMS level.
func noise(n int, rms float64, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * rms)
	}
	return s
}

// rmsOf is the RMS level of s.
func rmsOf(s []float32) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// zeroCrossings counts sign changes from negative to non-negative.
func zeroCrossings(s []float32) int {
	n := 0
	for i := 1; i < len(s); i++ {
		if s[i-1] < 0 && s[i] >= 0 {
			n++
		}
	}
	return n
}

// chunk is one RIFF chunk for wavBytes.
type chunk struct {
	id   string
	data []byte
	size *uint32 // size to write instead of len(data)
}

// wavBytes builds a RIFF/WAVE file from chunks, padding odd chunks.
func wavBytes(chunks ...chunk) []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	for _, c := range chunks {
		body.WriteString(c.id)
		size := uint32(len(c.data))
		if c.size != nil {
			size = *c.size
		}
		binary.Write(&body, binary.LittleEndian, size)
		body.Write(c.data)
		if len(c.data)%2 == 1 && c.size == nil {
			body.WriteByte(0)
		}
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

// fmtChunk is a plain fmt chunk.
func fmtChunk(tag, channels uint16, rate uint32, bits uint16) chunk {
	block := channels * bits / 8
	var b bytes.Buffer
	for _, v := range []any{tag, channels, rate, rate * uint32(block), block, bits} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	return chunk{id: "fmt ", data: b.Bytes()}
}

// ksSubformatTail ends the KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT GUIDs.
var ksSubformatTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// extensibleFmt is a WAVE_FORMAT_EXTENSIBLE fmt chunk wrapping sub.
func extensibleFmt(sub, channels uint16, rate uint32, bits uint16) chunk {
	block := channels * bits / 8
	var b bytes.Buffer
	for _, v := range []any{uint16(0xFFFE), channels, rate, rate * uint32(block), block, bits,
		uint16(22), bits, uint32(channels*2 - 1), sub} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.Write(ksSubformatTail)
	return chunk{id: "fmt ", data: b.Bytes()}
}

// pcm16 encodes interleaved samples as 16-bit little-endian PCM.
func pcm16(s ...int16) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, s)
	return b.Bytes()
}

// float32LE encodes interleaved samples as 32-bit little-endian floats.
func float32LE(s ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, s)
	return b.Bytes()
}

func u32(v uint32) *uint32 { return &v }
