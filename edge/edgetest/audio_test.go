package edgetest_test

import (
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// events feeds s to a default end-pointer in 60 ms frames and returns the
// sample index at which each event was reported.
func events(s []float32) map[stt.Event]int {
	ep := stt.NewEndpointer(stt.EndpointConfig{})
	got := map[stt.Event]int{}
	for off := 0; off < len(s); off += stt.FrameSamples {
		ev := ep.Feed(s[off:min(off+stt.FrameSamples, len(s))])
		if _, seen := got[ev]; ev != stt.EventNone && !seen {
			got[ev] = off
		}
	}
	return got
}

// opusRoundTrip encodes s as a device does and decodes it as the gateway
// does.
func opusRoundTrip(t *testing.T, s []float32) []float32 {
	t.Helper()
	enc, err := stt.NewOpusEncoder()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for off := 0; off < len(s); off += stt.FrameSamples {
		pkt, err := enc.Encode(s[off:min(off+stt.FrameSamples, len(s))])
		if err != nil {
			t.Fatal(err)
		}
		if out, err = dec.Decode(out, pkt); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestSpeechEndpoints(t *testing.T) {
	speech := edgetest.Speech(2 * time.Second)
	if len(speech) != 2*stt.SampleRate {
		t.Fatalf("Speech(2s) has %d samples", len(speech))
	}
	var peak float32
	for _, v := range speech {
		peak = max(peak, v, -v)
	}
	if peak < 0.2 || peak > 0.26 {
		t.Errorf("peak %.3f, want about 0.25", peak)
	}
	utterance := append(append(edgetest.Silence(300*time.Millisecond), speech...), edgetest.Silence(1500*time.Millisecond)...)
	for name, s := range map[string][]float32{"raw": utterance, "through Opus": opusRoundTrip(t, utterance)} {
		t.Run(name, func(t *testing.T) {
			got := events(s)
			start, ok := got[stt.EventSpeechStart]
			if !ok || start > stt.SampleRate {
				t.Errorf("speech start at sample %d (%v), want within the first second", start, ok)
			}
			end, ok := got[stt.EventSpeechEnd]
			// The words end at 2.3 s; the end-pointer waits 0.8 s of quiet.
			if !ok || end < 29*stt.SampleRate/10 || end > 34*stt.SampleRate/10 {
				t.Errorf("speech end at sample %d (%v), want about 0.8 s after the words end at 2.3 s", end, ok)
			}
		})
	}
	// Speech from the very first sample, as RunTurn sends it.
	if got := events(append(speech, edgetest.Silence(time.Second)...)); got[stt.EventSpeechEnd] == 0 {
		t.Errorf("speech without lead-in not end-pointed: %v", got)
	}
}

func TestSilence(t *testing.T) {
	s := edgetest.Silence(3 * time.Second)
	if len(s) != 3*stt.SampleRate {
		t.Fatalf("%d samples", len(s))
	}
	if got := events(s); len(got) != 0 {
		t.Errorf("silence gave end-pointer events %v", got)
	}
	if len(edgetest.Speech(0)) != 0 || len(edgetest.Silence(-time.Second)) != 0 {
		t.Errorf("zero and negative durations must give no samples")
	}
}
