package edgetest

import (
	"slices"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func TestPadOpus(t *testing.T) {
	enc, err := stt.NewOpusEncoder()
	if err != nil {
		t.Fatal(err)
	}
	speech := Speech(600 * time.Millisecond)
	for _, size := range []int{300, 1900, 2000, 2300, 4000} {
		t.Run("", func(t *testing.T) {
			plain, _ := stt.NewOpusDecoder()
			padded, _ := stt.NewOpusDecoder()
			var want, got []float32
			for off := 0; off < len(speech); off += stt.FrameSamples {
				pkt, err := enc.Encode(speech[off : off+stt.FrameSamples])
				if err != nil {
					t.Fatal(err)
				}
				p := padOpus(pkt, size)
				if len(p) < size-2 || len(p) > size {
					t.Fatalf("padded %d-byte packet to %d bytes, want about %d", len(pkt), len(p), size)
				}
				if want, err = plain.Decode(want, pkt); err != nil {
					t.Fatal(err)
				}
				if got, err = padded.Decode(got, p); err != nil {
					t.Fatalf("padded packet does not decode: %v", err)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("padding changed the audio")
			}
		})
	}
	if p := padOpus([]byte{0xfb, 1, 2}, 2); len(p) != 3 {
		t.Errorf("a packet longer than size was changed")
	}
	if p := padOpus([]byte{0xfb | 1, 1, 2}, 2000); len(p) != 3 {
		t.Errorf("a code 1 packet was changed")
	}
}
