package stt_test

import (
	"math"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func TestResampleLength(t *testing.T) {
	tests := []struct {
		n, from, to, want int
	}{
		{48000, 48000, 16000, 16000},
		{44100, 44100, 16000, 16000},
		{22050, 22050, 16000, 16000},
		{24000, 24000, 16000, 16000},
		{8000, 8000, 16000, 16000},
		{1000, 48000, 16000, 333},
		{1, 8000, 16000, 2},
		{2, 48000, 16000, 0},
		{0, 44100, 16000, 0},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			got := stt.Resample(make([]float32, tt.n), tt.from, tt.to)
			if len(got) != tt.want {
				t.Errorf("Resample(%d samples, %d -> %d) = %d samples, want %d", tt.n, tt.from, tt.to, len(got), tt.want)
			}
		})
	}
}

func TestResampleIdentityAndInvalid(t *testing.T) {
	in := []float32{1, 2, 3}
	if got := stt.Resample(in, 16000, 16000); &got[0] != &in[0] || len(got) != 3 {
		t.Errorf("Resample at the same rate did not return its input")
	}
	for _, r := range [][2]int{{0, 16000}, {16000, 0}, {-1, 16000}} {
		if got := stt.Resample(in, r[0], r[1]); got != nil {
			t.Errorf("Resample(%d -> %d) = %v, want nil", r[0], r[1], got)
		}
	}
}

func TestResampleKeepsFrequency(t *testing.T) {
	for _, from := range []int{8000, 22050, 24000, 44100, 48000} {
		for _, freq := range []float64{220, 440, 1000, 3000} {
			in := sine(from, freq, 0.5, from) // one second
			out := stt.Resample(in, from, stt.SampleRate)
			// One second holds freq upward zero crossings, give or take
			// one at the edges.
			if zc := zeroCrossings(out); math.Abs(float64(zc)-freq) > 2 {
				t.Errorf("%v Hz sine at %d Hz -> 16 kHz: %d zero crossings, want %v", freq, from, zc, freq)
			}
			// The pass band keeps its level (linear interpolation dulls
			// tones near the old Nyquist frequency when it raises the rate).
			if freq > float64(from)/4 {
				continue
			}
			if r := rmsOf(out[100 : len(out)-100]); math.Abs(r-0.5/math.Sqrt2) > 0.03 {
				t.Errorf("%v Hz sine at %d Hz -> 16 kHz: RMS %.3f, want %.3f", freq, from, r, 0.5/math.Sqrt2)
			}
		}
	}
}

func TestResampleLowPass(t *testing.T) {
	// A tone above the new Nyquist frequency would alias to 4 kHz without
	// the low-pass; it must be mostly removed instead.
	for _, tc := range []struct {
		from int
		freq float64
	}{{48000, 12000}, {44100, 12100}, {24000, 10000}} {
		out := stt.Resample(sine(tc.from, tc.freq, 0.5, tc.from), tc.from, stt.SampleRate)
		if r := rmsOf(out[100 : len(out)-100]); r > 0.5/math.Sqrt2/10 {
			t.Errorf("%v Hz at %d Hz -> 16 kHz: RMS %.4f left, want at least 20 dB down", tc.freq, tc.from, r)
		}
	}
}

func TestResampleDC(t *testing.T) {
	in := make([]float32, 4410)
	for i := range in {
		in[i] = 0.25
	}
	for _, v := range stt.Resample(in, 44100, 16000) {
		if math.Abs(float64(v)-0.25) > 1e-4 {
			t.Fatalf("DC 0.25 resampled to %v", v)
		}
	}
}

func BenchmarkResample48k(b *testing.B) {
	in := sine(48000, 440, 0.5, 48000)
	b.SetBytes(int64(len(in) * 4))
	for b.Loop() {
		stt.Resample(in, 48000, stt.SampleRate)
	}
}
