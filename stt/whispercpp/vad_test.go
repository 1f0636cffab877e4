//go:build whispercpp

package whispercpp_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/stt"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp/whispertest"
)

func newVAD(t *testing.T) *whispercpp.VAD {
	t.Helper()
	v, err := whispercpp.NewVAD(shared(t, sileroModel))
	if err != nil {
		t.Fatalf("NewVAD: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func TestVADSpeech(t *testing.T) {
	v := newVAD(t)
	got, err := v.Segments(readJFK(t))
	if err != nil {
		t.Fatalf("Segments(jfk.wav): %v", err)
	}
	t.Logf("speech in jfk.wav: %v", got)
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	want := []whispercpp.Segment{
		{Start: sec(0.32), End: sec(2.27)},
		{Start: sec(3.27), End: sec(4.41)},
		{Start: sec(5.38), End: sec(7.68)},
		{Start: sec(8.16), End: sec(10.62)},
	}
	if len(got) != len(want) {
		t.Fatalf("Segments(jfk.wav) = %v, want %d segments near %v", got, len(want), want)
	}
	const tol = 150 * time.Millisecond
	near := func(a, b time.Duration) bool { return (a - b).Abs() <= tol }
	for i := range want {
		if !near(got[i].Start, want[i].Start) || !near(got[i].End, want[i].End) {
			t.Errorf("segment %d = %v-%v, want %v-%v within %v", i, got[i].Start, got[i].End, want[i].Start, want[i].End, tol)
		}
	}
	// The same context serves the next call from a clean state.
	again, err := v.Segments(readJFK(t))
	if err != nil || len(again) != len(got) || again[0] != got[0] {
		t.Errorf("second Segments(jfk.wav) = %v, %v; want %v", again, err, got)
	}
}

func TestVADNoSpeech(t *testing.T) {
	v := newVAD(t)
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]float32, 3*whispercpp.SampleRate)
	for i := range noise {
		noise[i] = float32(r.NormFloat64() * 0.003)
	}
	hum := make([]float32, 3*whispercpp.SampleRate)
	for i := range hum {
		hum[i] = float32(0.05 * math.Sin(2*math.Pi*50*float64(i)/whispercpp.SampleRate))
	}
	tests := []struct {
		name    string
		samples []float32
	}{
		{"empty", nil},
		{"one sample", []float32{0.1}},
		{"5 s of silence", make([]float32, 5*whispercpp.SampleRate)},
		{"3 s of faint noise", noise},
		{"3 s of mains hum", hum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Segments(tt.samples)
			if err != nil {
				t.Fatalf("Segments: %v", err)
			}
			if len(got) != 0 {
				t.Errorf("Segments found speech: %v", got)
			}
		})
	}
}

func TestVADErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.bin")
	if err := os.WriteFile(junk, []byte("this is not a model at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := whispercpp.NewVAD(filepath.Join(dir, "missing.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewVAD(missing file) = %v, want os.ErrNotExist", err)
	}
	if _, err := whispercpp.NewVAD(junk); !errors.Is(err, whispercpp.ErrModel) {
		t.Errorf("NewVAD(junk) = %v, want ErrModel", err)
	}
	v := newVAD(t)
	v.Close()
	v.Close()
	if _, err := v.Segments(make([]float32, 1600)); !errors.Is(err, whispercpp.ErrClosed) {
		t.Errorf("Segments after Close = %v, want ErrClosed", err)
	}
}

// Find the stretches of speech in a recording.
func ExampleVAD_Segments() {
	v, err := whispercpp.NewVAD(whispertest.Shared(sileroModel))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	f, err := os.Open(whispertest.Shared(jfkWAV))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	samples, _, err := stt.ReadWAV(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	segs, err := v.Segments(samples)
	fmt.Println(len(segs), "stretches of speech;", err)
	// Output: 4 stretches of speech; <nil>
}
