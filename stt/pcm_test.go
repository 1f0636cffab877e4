package stt_test

import (
	"math"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func TestAppendPCM16(t *testing.T) {
	dst := []float32{7}
	got := stt.AppendPCM16(dst, []int16{0, 16384, -16384, -32768, 32767, 1})
	want := []float32{7, 0, 0.5, -0.5, -1, 32767.0 / 32768, 1.0 / 32768}
	if len(got) != len(want) {
		t.Fatalf("AppendPCM16 = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("AppendPCM16[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if allocs := testing.AllocsPerRun(100, func() {
		got = stt.AppendPCM16(got[:0], make([]int16, 4)[:4:4])
	}); allocs > 1 { // the make is the one allocation
		t.Errorf("AppendPCM16 into a slice with room: %v allocations, want none", allocs-1)
	}
}

func TestFloatToPCM16(t *testing.T) {
	tests := []struct {
		in   float32
		want int16
	}{
		{0, 0},
		{0.5, 16384},
		{-0.5, -16384},
		{1, 32767},
		{-1, -32768},
		{1.5, 32767},
		{-7, -32768},
		{float32(math.Inf(1)), 32767},
		{float32(math.Inf(-1)), -32768},
		{float32(math.NaN()), 0},
		{0.4 / 32768, 0},
		{0.6 / 32768, 1},
		{-0.6 / 32768, -1},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			got := stt.FloatToPCM16([]int16{9}, []float32{tt.in})
			if len(got) != 2 || got[0] != 9 || got[1] != tt.want {
				t.Errorf("FloatToPCM16(%v) = %v, want [9 %d]", tt.in, got, tt.want)
			}
		})
	}
}

func TestPCMRoundTrip(t *testing.T) {
	var pcm []int16
	for v := -32768; v <= 32767; v += 7 {
		pcm = append(pcm, int16(v))
	}
	back := stt.FloatToPCM16(nil, stt.AppendPCM16(nil, pcm))
	for i := range pcm {
		if back[i] != pcm[i] {
			t.Fatalf("round trip of %d gave %d", pcm[i], back[i])
		}
	}
}
