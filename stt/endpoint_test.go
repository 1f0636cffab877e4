package stt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/stt"
)

// seen is an event and the time, from the start of the stream, at the end
// of the chunk that reported it.
type seen struct {
	ev stt.Event
	at time.Duration
}

func (s seen) String() string { return fmt.Sprintf("%v at %v", s.ev, s.at) }

// feedChunks feeds s to e in chunks of n samples, as a device sends
// frames, and returns every event other than EventNone.
func feedChunks(e *stt.Endpointer, s []float32, n int) []seen {
	var out []seen
	for i := 0; i < len(s); i += n {
		end := min(i+n, len(s))
		if ev := e.Feed(s[i:end]); ev != stt.EventNone {
			out = append(out, seen{ev, samplesToDuration(int64(end))})
		}
	}
	return out
}

func samplesToDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / stt.SampleRate
}

// concat joins sample slices.
func concat(parts ...[]float32) []float32 {
	var out []float32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func seconds(d float64) int { return int(d * stt.SampleRate) }

var defaultCfg = stt.EndpointConfig{Threshold: 0.02, Silence: 800 * time.Millisecond, MinSpeech: 200 * time.Millisecond}

func TestEndpointerJFK(t *testing.T) {
	s := readJFK(t)
	e := stt.NewEndpointer(defaultCfg)
	if e.Speaking() {
		t.Fatal("Speaking before any audio")
	}
	var start, end time.Duration
	for i := 0; i < len(s); i += stt.FrameSamples {
		chunk := s[i:min(i+stt.FrameSamples, len(s))]
		at := samplesToDuration(int64(i + len(chunk)))
		switch ev := e.Feed(chunk); ev {
		case stt.EventNone:
		case stt.EventSpeechStart:
			if start != 0 {
				t.Fatalf("second EventSpeechStart at %v", at)
			}
			start = at
			if !e.Speaking() {
				t.Errorf("not Speaking after EventSpeechStart")
			}
		case stt.EventSpeechEnd:
			if end != 0 {
				t.Fatalf("second EventSpeechEnd at %v", at)
			}
			end = at
			if e.Speaking() {
				t.Errorf("Speaking after EventSpeechEnd")
			}
		default:
			t.Fatalf("unexpected %v at %v", ev, at)
		}
	}
	// The first words run from about 0.32 s to 2.27 s; the next begin at
	// about 3.27 s, more than 800 ms later.
	ss := samplesToDuration(e.SpeechStartSample())
	t.Logf("start reported at %v (speech from %v), end reported at %v", start, ss, end)
	if ss < 200*time.Millisecond || ss > 600*time.Millisecond {
		t.Errorf("speech starts at %v, want between 0.2 s and 0.6 s", ss)
	}
	if start == 0 || start > 900*time.Millisecond || start < ss+200*time.Millisecond {
		t.Errorf("EventSpeechStart at %v, want after MinSpeech of speech and before 0.9 s", start)
	}
	if end < 2500*time.Millisecond || end > 3300*time.Millisecond {
		t.Errorf("EventSpeechEnd at %v, want about 800 ms after the first words end (2.3 s)", end)
	}
}

func TestEndpointerChunkSizes(t *testing.T) {
	// The result does not depend on how the stream is cut.
	s := readJFK(t)[:seconds(4)]
	var wantStart int64
	for _, n := range []int{stt.FrameSamples, 1, 319, 320, 321, 4096, len(s)} {
		e := stt.NewEndpointer(defaultCfg)
		got := feedChunks(e, s, n)
		last := got[len(got)-1]
		if last.ev != stt.EventSpeechEnd {
			t.Fatalf("chunks of %d: events %v, want to end with EventSpeechEnd", n, got)
		}
		if n == len(s) && len(got) != 1 {
			t.Errorf("one Feed of everything reported %v, want only the most advanced event", got)
		}
		if wantStart == 0 {
			wantStart = e.SpeechStartSample()
		} else if e.SpeechStartSample() != wantStart {
			t.Errorf("chunks of %d: speech starts at sample %d, want %d", n, e.SpeechStartSample(), wantStart)
		}
	}
}

func TestEndpointer(t *testing.T) {
	tone := func(d float64) []float32 { return sine(seconds(d), 440, 0.3, stt.SampleRate) }
	quiet := func(d float64) []float32 { return noise(seconds(d), 0.002, 1) }
	click := func() []float32 {
		c := make([]float32, seconds(0.005))
		for i := range c {
			c[i] = 0.9
			if i%2 == 1 {
				c[i] = -0.9
			}
		}
		return c
	}
	var clicks []float32
	for range 10 {
		clicks = concat(clicks, click(), quiet(0.2))
	}
	withNoise := func(s []float32, rms float64) []float32 {
		n := noise(len(s), rms, 7)
		for i := range n {
			n[i] += s[i]
		}
		return n
	}
	tests := []struct {
		name   string
		cfg    stt.EndpointConfig
		audio  []float32
		want   []stt.Event
		within [][2]float64 // seconds each event is reported within
	}{
		{
			name:   "digital silence gives up after NoSpeech",
			cfg:    stt.EndpointConfig{Threshold: 0.02, NoSpeech: 3 * time.Second},
			audio:  make([]float32, seconds(5)),
			want:   []stt.Event{stt.EventNoSpeech},
			within: [][2]float64{{3, 3.06}},
		},
		{
			name:   "quiet room gives up after NoSpeech",
			cfg:    stt.EndpointConfig{Threshold: 0.02, NoSpeech: 2 * time.Second},
			audio:  quiet(4),
			want:   []stt.Event{stt.EventNoSpeech},
			within: [][2]float64{{2, 2.06}},
		},
		{
			name:  "zero NoSpeech never gives up",
			cfg:   defaultCfg,
			audio: quiet(20),
		},
		{
			name:  "steady noise at 0.05 RMS is not speech",
			cfg:   defaultCfg,
			audio: noise(seconds(10), 0.05, 3),
		},
		{
			name:   "steady noise then NoSpeech",
			cfg:    stt.EndpointConfig{Threshold: 0.02, NoSpeech: 5 * time.Second},
			audio:  noise(seconds(6), 0.05, 4),
			want:   []stt.Event{stt.EventNoSpeech},
			within: [][2]float64{{5, 5.06}},
		},
		{
			name:   "tone burst in silence",
			cfg:    defaultCfg,
			audio:  concat(make([]float32, seconds(1)), tone(1), make([]float32, seconds(2))),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{1.2, 1.3}, {2.8, 2.9}},
		},
		{
			name:   "tone burst in a quiet room",
			cfg:    defaultCfg,
			audio:  concat(quiet(1), tone(1), quiet(2)),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{1.2, 1.3}, {2.8, 2.9}},
		},
		{
			name:   "tone burst over steady noise",
			cfg:    defaultCfg,
			audio:  withNoise(concat(make([]float32, seconds(1)), tone(1), make([]float32, seconds(2))), 0.05),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{1.2, 1.3}, {2.8, 2.9}},
		},
		{
			name:   "speech from the first sample",
			cfg:    defaultCfg,
			audio:  concat(tone(1), quiet(2)),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{0.2, 0.3}, {1.8, 1.9}},
		},
		{
			name:  "a 5 ms click is not speech",
			cfg:   defaultCfg,
			audio: concat(quiet(1), click(), quiet(2)),
		},
		{
			name:  "a train of clicks is not speech",
			cfg:   defaultCfg,
			audio: concat(quiet(0.5), clicks),
		},
		{
			name:  "a tone shorter than MinSpeech is not speech",
			cfg:   defaultCfg,
			audio: concat(quiet(1), tone(0.1), quiet(2)),
		},
		{
			name:   "short pauses do not end speech",
			cfg:    defaultCfg,
			audio:  concat(quiet(0.5), tone(0.5), quiet(0.5), tone(0.5), quiet(0.7), tone(0.5), quiet(1)),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{0.7, 0.8}, {4, 4.1}},
		},
		{
			name:   "noise that begins after speech is learned and ends it",
			cfg:    defaultCfg,
			audio:  concat(quiet(1), tone(1), noise(seconds(10), 0.05, 11)),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{1.2, 1.3}, {2.8, 8}},
		},
		{
			name:   "noise that begins after digital silence is learned",
			cfg:    defaultCfg,
			audio:  concat(make([]float32, seconds(0.5)), noise(seconds(10), 0.05, 12)),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{0.7, 0.8}, {1, 7}},
		},
		{
			name:   "zero config takes the defaults",
			cfg:    stt.EndpointConfig{},
			audio:  concat(quiet(1), tone(1), quiet(2)),
			want:   []stt.Event{stt.EventSpeechStart, stt.EventSpeechEnd},
			within: [][2]float64{{1.2, 1.3}, {2.8, 2.9}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := stt.NewEndpointer(tt.cfg)
			got := feedChunks(e, tt.audio, stt.FrameSamples)
			t.Logf("events %v", got)
			if len(got) != len(tt.want) {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
			for i, g := range got {
				lo := time.Duration(tt.within[i][0] * float64(time.Second))
				hi := time.Duration(tt.within[i][1] * float64(time.Second))
				if g.ev != tt.want[i] || g.at < lo || g.at > hi {
					t.Errorf("event %d = %v at %v, want %v between %v and %v", i, g.ev, g.at, tt.want[i], lo, hi)
				}
			}
			if e.Speaking() {
				t.Error("still Speaking at the end")
			}
			if ev := e.Feed(tone(1)); len(tt.want) > 0 && ev != stt.EventNone {
				t.Errorf("Feed after %v = %v, want EventNone until Reset", tt.want[len(tt.want)-1], ev)
			}
		})
	}
}

func TestEndpointerSpeechStartSample(t *testing.T) {
	s := concat(noise(seconds(1.5), 0.002, 9), sine(seconds(1), 440, 0.3, stt.SampleRate), make([]float32, seconds(1)))
	e := stt.NewEndpointer(defaultCfg)
	feedChunks(e, s, stt.FrameSamples)
	// Speech begins at 1.5 s; windows are 20 ms.
	if got, want := e.SpeechStartSample(), int64(seconds(1.5)); got < want-320 || got > want+320 {
		t.Errorf("SpeechStartSample = %d, want %d within a window", got, want)
	}
	// After Reset the count starts again.
	e.Reset()
	if e.SpeechStartSample() != 0 || e.Speaking() {
		t.Fatalf("after Reset: SpeechStartSample %d, Speaking %v", e.SpeechStartSample(), e.Speaking())
	}
	got := feedChunks(e, s[seconds(1):], stt.FrameSamples)
	if len(got) != 2 || got[0].ev != stt.EventSpeechStart || got[1].ev != stt.EventSpeechEnd {
		t.Fatalf("after Reset: events %v, want start and end", got)
	}
	if got, want := e.SpeechStartSample(), int64(seconds(0.5)); got < want-320 || got > want+320 {
		t.Errorf("after Reset: SpeechStartSample = %d, want %d within a window", got, want)
	}
}

func TestEndpointerFeedAllocations(t *testing.T) {
	e := stt.NewEndpointer(defaultCfg)
	frame := noise(stt.FrameSamples, 0.1, 5)
	if allocs := testing.AllocsPerRun(100, func() { e.Feed(frame) }); allocs != 0 {
		t.Errorf("Feed allocates %v times, want 0", allocs)
	}
}

func TestEventString(t *testing.T) {
	for ev, want := range map[stt.Event]string{
		stt.EventNone: "none", stt.EventSpeechStart: "speech start", stt.EventSpeechEnd: "speech end",
		stt.EventNoSpeech: "no speech", stt.Event(42): "Event(42)",
	} {
		if got := ev.String(); got != want {
			t.Errorf("Event(%d).String() = %q, want %q", int(ev), got, want)
		}
	}
}

func BenchmarkEndpointerFeed(b *testing.B) {
	e := stt.NewEndpointer(defaultCfg)
	frame := noise(stt.FrameSamples, 0.01, 5)
	b.SetBytes(stt.FrameSamples * 4)
	b.ReportAllocs()
	for b.Loop() {
		e.Feed(frame)
	}
}
