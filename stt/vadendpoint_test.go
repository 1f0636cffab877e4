package stt_test

import (
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/stt"
)

// loudFinder is a SpeechFinder for tests: speech is wherever the samples
// are louder than 0.1, in 10 ms steps. It counts its calls and the
// longest view it was given.
type loudFinder struct {
	calls   atomic.Int64
	longest atomic.Int64
	err     error // returned from the errAfter'th call on
	errFrom int64
}

func (f *loudFinder) find(s []float32) ([]stt.Segment, error) {
	n := f.calls.Add(1)
	if int64(len(s)) > f.longest.Load() {
		f.longest.Store(int64(len(s)))
	}
	if f.err != nil && n >= f.errFrom {
		return nil, f.err
	}
	const step = stt.SampleRate / 100
	var segs []stt.Segment
	in := false
	for i := 0; i+step <= len(s); i += step {
		loud := false
		for _, x := range s[i : i+step] {
			if math.Abs(float64(x)) > 0.1 {
				loud = true
				break
			}
		}
		at := samplesToDuration(int64(i))
		switch {
		case loud && !in:
			segs = append(segs, stt.Segment{Start: at})
			in = true
		case !loud && in:
			segs[len(segs)-1].End = at
			in = false
		}
	}
	if in {
		segs[len(segs)-1].End = samplesToDuration(int64(len(s)))
	}
	return segs, nil
}

// feedVAD feeds s to v in 60 ms frames and returns the events.
func feedVAD(v *stt.VADEndpointer, s []float32) []seen {
	var out []seen
	for i := 0; i < len(s); i += stt.FrameSamples {
		end := min(i+stt.FrameSamples, len(s))
		if ev := v.Feed(s[i:end]); ev != stt.EventNone {
			out = append(out, seen{ev, samplesToDuration(int64(end))})
		}
	}
	return out
}

func TestVADEndpointerStartAndEnd(t *testing.T) {
	var f loudFinder
	v := stt.NewVADEndpointer(f.find, defaultCfg)
	// 1 s quiet, 1.5 s "speech", 2 s quiet.
	s := concat(make([]float32, seconds(1)), sine(seconds(1.5), 300, 0.5, stt.SampleRate), make([]float32, seconds(2)))
	got := feedVAD(v, s)
	if len(got) != 2 || got[0].ev != stt.EventSpeechStart || got[1].ev != stt.EventSpeechEnd {
		t.Fatalf("events = %v, want speech start then speech end", got)
	}
	// Speech starts at 1 s; the finder is asked every 300 ms, so it is
	// heard between 1.2 s (MinSpeech) and 1.2 s + 300 ms + a frame.
	if got[0].at < 1200*time.Millisecond || got[0].at > 1560*time.Millisecond {
		t.Errorf("speech start reported at %v, want within 1.2 s .. 1.56 s", got[0].at)
	}
	if start := samplesToDuration(v.SpeechStartSample()); start < 990*time.Millisecond || start > 1010*time.Millisecond {
		t.Errorf("SpeechStartSample = %v, want 1 s", start)
	}
	// Speech ends at 2.5 s; Silence (800 ms) later is 3.3 s, heard within
	// one look (300 ms) and a frame.
	if got[1].at < 3300*time.Millisecond || got[1].at > 3660*time.Millisecond {
		t.Errorf("speech end reported at %v, want within 3.3 s .. 3.66 s", got[1].at)
	}
	if v.Speaking() {
		t.Error("Speaking after the end of speech")
	}
	// The finder never sees more than Silence + 1.2 s, however long the
	// stream.
	if max := int64(seconds(2)); f.longest.Load() > max {
		t.Errorf("longest view = %d samples, want at most %d", f.longest.Load(), max)
	}
}

func TestVADEndpointerIgnoresShortNoise(t *testing.T) {
	var f loudFinder
	v := stt.NewVADEndpointer(f.find, stt.EndpointConfig{Silence: 800 * time.Millisecond, MinSpeech: 200 * time.Millisecond, NoSpeech: 3 * time.Second})
	// A 100 ms click every second: never MinSpeech long.
	var s []float32
	for range 4 {
		s = concat(s, sine(seconds(0.1), 1000, 0.9, stt.SampleRate), make([]float32, seconds(0.9)))
	}
	got := feedVAD(v, s)
	if len(got) != 1 || got[0].ev != stt.EventNoSpeech {
		t.Fatalf("events = %v, want only no speech", got)
	}
	if got[0].at < 3*time.Second || got[0].at > 3400*time.Millisecond {
		t.Errorf("no speech reported at %v, want soon after 3 s", got[0].at)
	}
}

func TestVADEndpointerQuietSpeech(t *testing.T) {
	// Speech the energy detector would miss (below its threshold) but the
	// model hears: the finder decides, not the level.
	var f loudFinder
	cfg := defaultCfg
	cfg.Threshold = 0.9
	v := stt.NewVADEndpointer(f.find, cfg)
	s := concat(make([]float32, seconds(0.5)), sine(seconds(1), 300, 0.3, stt.SampleRate), make([]float32, seconds(1.5)))
	got := feedVAD(v, s)
	if len(got) != 2 || got[0].ev != stt.EventSpeechStart || got[1].ev != stt.EventSpeechEnd {
		t.Fatalf("events = %v, want speech start then speech end", got)
	}
}

func TestVADEndpointerFallsBackToEnergy(t *testing.T) {
	boom := errors.New("model failed")
	f := loudFinder{err: boom, errFrom: 3}
	v := stt.NewVADEndpointer(f.find, defaultCfg)
	s := concat(make([]float32, seconds(0.5)), sine(seconds(1.5), 300, 0.5, stt.SampleRate), make([]float32, seconds(1.5)))
	got := feedVAD(v, s)
	if !errors.Is(v.FinderErr(), boom) {
		t.Fatalf("FinderErr = %v, want %v", v.FinderErr(), boom)
	}
	// The finder failed on its third look (0.9 s), after it had heard the
	// start; the energy detector carries the utterance to its end.
	var evs []stt.Event
	for _, g := range got {
		evs = append(evs, g.ev)
	}
	if len(evs) == 0 || evs[len(evs)-1] != stt.EventSpeechEnd {
		t.Fatalf("events = %v, want the utterance to end (energy fallback)", got)
	}
	calls := f.calls.Load()
	feedVAD(v, make([]float32, seconds(1)))
	if f.calls.Load() != calls {
		t.Error("the finder was asked again after it failed, before Reset")
	}
	// Reset gives the finder another chance.
	f.err = nil
	v.Reset()
	if v.FinderErr() != nil {
		t.Error("FinderErr after Reset")
	}
	got = feedVAD(v, s)
	if len(got) != 2 || got[1].ev != stt.EventSpeechEnd {
		t.Fatalf("after Reset: events = %v, want speech start then end", got)
	}
}

func TestVADEndpointerSpeechInOneLook(t *testing.T) {
	// A whole short utterance between two looks is still one utterance:
	// a single frame far larger than the view.
	var f loudFinder
	v := stt.NewVADEndpointer(f.find, defaultCfg)
	s := concat(make([]float32, seconds(3)), sine(seconds(0.5), 300, 0.5, stt.SampleRate), make([]float32, seconds(1)))
	if ev := v.Feed(s); ev != stt.EventSpeechEnd {
		t.Fatalf("Feed(4.5 s at once) = %v, want speech end", ev)
	}
	if ev := v.Feed(make([]float32, seconds(1))); ev != stt.EventNone {
		t.Errorf("Feed after the end = %v, want none until Reset", ev)
	}
}

func BenchmarkVADEndpointerFeed(b *testing.B) {
	// The end-pointer's own cost per 60 ms frame, with a finder that
	// costs nothing: the model's cost is in stt/whispercpp's BenchmarkVAD.
	v := stt.NewVADEndpointer(func([]float32) ([]stt.Segment, error) { return nil, nil }, defaultCfg)
	frame := sine(stt.FrameSamples, 300, 0.5, stt.SampleRate)
	for b.Loop() {
		v.Feed(frame)
	}
}

func TestVADEndpointerBusyFinder(t *testing.T) {
	// A finder that is busy every other call: the end-pointer looks again
	// with the next frame instead of waiting, and still ends the utterance.
	var f loudFinder
	var n atomic.Int64
	busy := func(s []float32) ([]stt.Segment, error) {
		if n.Add(1)%2 == 1 {
			return nil, stt.ErrFinderBusy
		}
		return f.find(s)
	}
	v := stt.NewVADEndpointer(busy, defaultCfg)
	s := concat(make([]float32, seconds(0.5)), sine(seconds(1), 300, 0.5, stt.SampleRate), make([]float32, seconds(1.5)))
	got := feedVAD(v, s)
	if len(got) != 2 || got[0].ev != stt.EventSpeechStart || got[1].ev != stt.EventSpeechEnd {
		t.Fatalf("events = %v, want speech start then speech end", got)
	}
	if v.FinderErr() != nil {
		t.Errorf("a busy finder counted as a failed one: %v", v.FinderErr())
	}
	// Always busy: the energy detector's end of speech stands.
	v = stt.NewVADEndpointer(func([]float32) ([]stt.Segment, error) { return nil, stt.ErrFinderBusy }, defaultCfg)
	got = feedVAD(v, s)
	if len(got) == 0 || got[len(got)-1].ev != stt.EventSpeechEnd {
		t.Fatalf("with the model always busy: events = %v, want the energy detector's end", got)
	}
}
