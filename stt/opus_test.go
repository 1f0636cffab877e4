package stt_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

// encodeAll encodes s as consecutive 60 ms packets, the last one padded.
func encodeAll(t testing.TB, s []float32) [][]byte {
	t.Helper()
	enc, err := stt.NewOpusEncoder()
	if err != nil {
		t.Fatalf("NewOpusEncoder: %v", err)
	}
	var pkts [][]byte
	for i := 0; i < len(s); i += stt.FrameSamples {
		p, err := enc.Encode(s[i:min(i+stt.FrameSamples, len(s))])
		if err != nil {
			t.Fatalf("Encode frame %d: %v", i/stt.FrameSamples, err)
		}
		pkts = append(pkts, p)
	}
	return pkts
}

func TestOpusRoundTrip(t *testing.T) {
	in := sine(stt.SampleRate, 440, 0.3, stt.SampleRate) // 1 s
	pkts := encodeAll(t, in)
	if len(pkts) != 17 {
		t.Fatalf("1 s encoded to %d packets, want 17", len(pkts))
	}
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		t.Fatalf("NewOpusDecoder: %v", err)
	}
	var out []float32
	for i, p := range pkts {
		if len(p) == 0 || len(p) > 1275 {
			t.Fatalf("packet %d has %d bytes", i, len(p))
		}
		n := len(out)
		if out, err = dec.Decode(out, p); err != nil {
			t.Fatalf("Decode packet %d: %v", i, err)
		}
		if len(out)-n != stt.FrameSamples {
			t.Fatalf("packet %d decoded to %d samples, want %d", i, len(out)-n, stt.FrameSamples)
		}
	}
	// Skip the codec's start-up; compare the steady part.
	steady := out[2*stt.FrameSamples : 16*stt.FrameSamples]
	want := 0.3 / math.Sqrt2
	if r := rmsOf(steady); r < want*0.7 || r > want*1.3 {
		t.Errorf("decoded RMS = %.3f, want about %.3f", r, want)
	}
	// 14 frames of 60 ms = 0.84 s of 440 Hz.
	wantZC := 440 * 0.84
	if zc := float64(zeroCrossings(steady)); math.Abs(zc-wantZC) > wantZC*0.05 {
		t.Errorf("decoded %v zero crossings, want about %v", zc, wantZC)
	}
	for _, v := range out {
		if v < -1 || v >= 1 {
			t.Fatalf("decoded sample %v outside [-1, 1)", v)
		}
	}
}

func TestOpusEncoderFrames(t *testing.T) {
	enc, err := stt.NewOpusEncoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(make([]float32, stt.FrameSamples+1)); err == nil {
		t.Error("Encode of a 961-sample frame: no error")
	}
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 320, stt.FrameSamples} {
		p, err := enc.Encode(sine(n, 440, 0.3, stt.SampleRate))
		if err != nil {
			t.Fatalf("Encode(%d samples): %v", n, err)
		}
		out, err := dec.Decode(nil, p)
		if err != nil || len(out) != stt.FrameSamples {
			t.Fatalf("Decode of a padded %d-sample frame = %d samples, %v; want %d", n, len(out), err, stt.FrameSamples)
		}
	}
	// Packets are fresh slices, not views of a reused buffer.
	a, _ := enc.Encode(sine(stt.FrameSamples, 300, 0.5, stt.SampleRate))
	keep := bytes.Clone(a)
	if _, err := enc.Encode(sine(stt.FrameSamples, 900, 0.1, stt.SampleRate)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, keep) {
		t.Error("a second Encode changed the first packet")
	}
}

func TestOpusCorruptPackets(t *testing.T) {
	in := sine(stt.SampleRate/2, 440, 0.3, stt.SampleRate)
	pkts := encodeAll(t, in)
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for _, p := range pkts[:3] {
		if out, err = dec.Decode(out, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		packet []byte
	}{
		{"empty", nil},
		{"code 3 without a frame count", []byte{0xFF}},
		{"code 3 with zero frames", []byte{0xFF, 0x00}},
		{"code 2 with a length past the end", []byte{0x02, 0xFC, 0xFF}},
		{"code 3 with frames longer than 120 ms", []byte{0x1B, 0x3F, 0x01}},
	}
	good := pkts[3:]
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(out)
			got, err := dec.Decode(out, tt.packet)
			if !errors.Is(err, stt.ErrOpus) {
				t.Fatalf("Decode(% x) error = %v, want ErrOpus", tt.packet, err)
			}
			if len(got) != before {
				t.Errorf("a failed Decode appended %d samples", len(got)-before)
			}
			// The decoder still works on the rest of the stream.
			next := len(out)
			if out, err = dec.Decode(out, good[i]); err != nil || len(out)-next != stt.FrameSamples {
				t.Fatalf("Decode after a corrupt packet: %d samples, %v", len(out)-next, err)
			}
			if r := rmsOf(out[next:]); r < 0.1 {
				t.Errorf("Decode after a corrupt packet: RMS %.3f, want the tone back", r)
			}
		})
	}
}

func TestOpus120msPacket(t *testing.T) {
	pkts := encodeAll(t, sine(stt.FrameSamples, 440, 0.3, stt.SampleRate))
	p := pkts[0]
	if p[0]&3 != 0 {
		t.Fatalf("encoder packet has frame count code %d, want 0", p[0]&3)
	}
	// Code 1: two frames of equal size, here the same 60 ms frame twice.
	double := append([]byte{p[0] | 1}, p[1:]...)
	double = append(double, p[1:]...)
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	out, err := dec.Decode(nil, double)
	if err != nil || len(out) != 2*stt.FrameSamples {
		t.Fatalf("Decode of a 120 ms packet = %d samples, %v; want %d", len(out), err, 2*stt.FrameSamples)
	}
}

func TestOpusDecodeAllocations(t *testing.T) {
	pkts := encodeAll(t, sine(stt.SampleRate, 440, 0.3, stt.SampleRate))
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 0, stt.FrameSamples)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		var err error
		if dst, err = dec.Decode(dst[:0], pkts[i%len(pkts)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %v times per packet, want 0", allocs)
	}
}

func BenchmarkOpusDecode(b *testing.B) {
	pkts := encodeAll(b, sine(stt.SampleRate, 440, 0.3, stt.SampleRate))
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 0, stt.FrameSamples)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if dst, err = dec.Decode(dst[:0], pkts[i%len(pkts)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkOpusEncode(b *testing.B) {
	enc, err := stt.NewOpusEncoder()
	if err != nil {
		b.Fatal(err)
	}
	frame := sine(stt.FrameSamples, 440, 0.3, stt.SampleRate)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.Encode(frame); err != nil {
			b.Fatal(err)
		}
	}
}
