package stt

import (
	"math"
	"strconv"
	"time"
)

// EndpointConfig tunes the Endpointer. Zero Threshold, Silence and
// MinSpeech take the defaults below; zero NoSpeech never gives up.
type EndpointConfig struct {
	// Threshold is the RMS level (0..1) above which a window is speech
	// (default 0.02). The detector raises it to three times the noise
	// floor it measures, so steady background noise is not speech.
	Threshold float64
	// Silence is the quiet after speech that ends the utterance (default
	// 800 ms).
	Silence time.Duration
	// MinSpeech is the least voiced time that counts as speech (default
	// 200 ms), so that a click or a knock does not start an utterance.
	MinSpeech time.Duration
	// NoSpeech gives up when no speech has started after this much audio;
	// zero never gives up.
	NoSpeech time.Duration
}

// Defaults for the zero fields of EndpointConfig.
const (
	DefaultThreshold = 0.02
	DefaultSilence   = 800 * time.Millisecond
	DefaultMinSpeech = 200 * time.Millisecond
)

// Event is what Endpointer.Feed reports. Later events rank higher.
type Event int

// Events, in the order they happen in an utterance.
const (
	// EventNone: nothing new.
	EventNone Event = iota
	// EventSpeechStart: speech has begun (see SpeechStartSample).
	EventSpeechStart
	// EventSpeechEnd: speech began and has now been followed by Silence.
	EventSpeechEnd
	// EventNoSpeech: NoSpeech of audio passed and no speech began.
	EventNoSpeech
)

// String names the event for logs.
func (ev Event) String() string {
	switch ev {
	case EventNone:
		return "none"
	case EventSpeechStart:
		return "speech start"
	case EventSpeechEnd:
		return "speech end"
	case EventNoSpeech:
		return "no speech"
	}
	return "Event(" + strconv.Itoa(int(ev)) + ")"
}

// Endpointer internals.
const (
	// windowSamples is the analysis window: 20 ms at 16 kHz.
	windowSamples = SampleRate * 20 / 1000
	// floorRiseQuiet is how fast the noise floor may rise per quiet
	// window: tenfold in two seconds (10 dB/s), so that a steady noise is
	// learned quickly. Any quieter window lowers the floor at once.
	floorRiseQuiet = 1.0233
	// floorRiseVoiced is how fast it may rise per voiced window: 2 dB/s,
	// so that a long vowel or a loud voice over noise is not learned as
	// noise, while a noise that starts mid-utterance is learned within
	// seconds and lets the utterance end.
	floorRiseVoiced = 1.0046
	// floorMin keeps the floor positive through digital silence.
	floorMin = 1e-5
	// floorFactor: a window is voiced above floorFactor times the floor.
	floorFactor = 3
	// maxGapWindows is the longest quiet gap (60 ms) between voiced windows
	// that still counts as the same stretch of would-be speech.
	maxGapWindows = 3
)

// state of an Endpointer.
type epState int

const (
	epWaiting epState = iota
	epSpeaking
	epDone
)

// Endpointer finds the start and end of speech in a 16 kHz mono stream by
// its energy. It cuts the stream into 20 ms windows, measures each
// window's RMS level against max(Threshold, 3 × noise floor), and applies
// hysteresis: MinSpeech of voiced windows (with gaps of at most 60 ms)
// starts speech, Silence of consecutive quiet windows ends it.
//
// The noise floor is a minimum of recent levels: any quieter window lowers
// it at once, louder ones raise it slowly (10 dB/s while quiet, 2 dB/s
// while voiced). It starts at Threshold, so a steady noise below three
// times Threshold is never speech, even when it is there from the first
// sample; a louder noise that begins later is learned within seconds and
// ends the utterance it may have started.
//
// An Endpointer is not safe for concurrent use.
type Endpointer struct {
	threshold  float64
	minSpeech  int // windows
	silence    int // windows
	noSpeech   int // windows; 0: never
	minSpeechS int64

	state     epState
	sumSq     float64 // of the current partial window
	inWindow  int     // samples in the current partial window
	windows   int64   // complete windows since Reset
	floor     float64 // noise floor (RMS); starts at threshold
	voiced    int     // voiced windows in the current candidate stretch
	gap       int     // quiet windows since the candidate's last voiced one
	candStart int64   // first sample of the candidate stretch
	quiet     int     // consecutive quiet windows while speaking
	start     int64   // SpeechStartSample
}

// NewEndpointer returns an Endpointer for 16 kHz mono samples.
func NewEndpointer(cfg EndpointConfig) *Endpointer {
	if cfg.Threshold <= 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Silence <= 0 {
		cfg.Silence = DefaultSilence
	}
	if cfg.MinSpeech <= 0 {
		cfg.MinSpeech = DefaultMinSpeech
	}
	e := &Endpointer{
		threshold:  cfg.Threshold,
		floor:      cfg.Threshold,
		minSpeech:  windowsIn(cfg.MinSpeech),
		silence:    windowsIn(cfg.Silence),
		minSpeechS: int64(cfg.MinSpeech.Seconds() * SampleRate),
	}
	if cfg.NoSpeech > 0 {
		e.noSpeech = windowsIn(cfg.NoSpeech)
	}
	return e
}

// windowsIn is how many windows cover d, at least one.
func windowsIn(d time.Duration) int {
	w := time.Duration(windowSamples) * time.Second / SampleRate
	return int(max(1, (d+w-1)/w))
}

// Reset forgets everything fed so far, ready for a new utterance. The
// sample count of SpeechStartSample starts again at zero.
func (e *Endpointer) Reset() {
	*e = Endpointer{
		threshold:  e.threshold,
		floor:      e.threshold,
		minSpeech:  e.minSpeech,
		silence:    e.silence,
		noSpeech:   e.noSpeech,
		minSpeechS: e.minSpeechS,
	}
}

// Speaking reports whether speech has started and not yet ended.
func (e *Endpointer) Speaking() bool { return e.state == epSpeaking }

// SpeechStartSample is the index, counted from the last Reset, of the
// first sample of speech: the start of the first voiced window of the
// stretch that confirmed it, which lies at least MinSpeech before the
// point where EventSpeechStart was reported. It is 0 before speech starts.
func (e *Endpointer) SpeechStartSample() int64 { return e.start }

// Feed processes samples, carrying an incomplete window over to the next
// call, and reports the most advanced event that happened within them.
// After EventSpeechEnd or EventNoSpeech it reports EventNone until Reset.
// It allocates nothing.
func (e *Endpointer) Feed(samples []float32) Event {
	ev := EventNone
	for _, s := range samples {
		if e.state == epDone {
			break
		}
		e.sumSq += float64(s) * float64(s)
		e.inWindow++
		if e.inWindow < windowSamples {
			continue
		}
		rms := math.Sqrt(e.sumSq / windowSamples)
		e.sumSq, e.inWindow = 0, 0
		ev = max(ev, e.window(rms))
	}
	return ev
}

// window advances the detector by one complete window of level rms.
func (e *Endpointer) window(rms float64) Event {
	first := e.windows * windowSamples // first sample of this window
	e.windows++
	voiced := rms > max(e.threshold, floorFactor*e.floor)
	rate := floorRiseQuiet
	if voiced {
		rate = floorRiseVoiced
	}
	// Below threshold/floorFactor the floor changes no decision, so it may
	// rise there at once: the limited rise applies only where it matters,
	// and noise after digital silence is learned quickly.
	rise := max(e.floor*rate, e.threshold/floorFactor)
	e.floor = max(floorMin, min(rms, rise))
	switch e.state {
	case epWaiting:
		if voiced {
			if e.voiced == 0 {
				e.candStart = first
			}
			e.voiced++
			e.gap = 0
			if e.voiced >= e.minSpeech {
				e.state = epSpeaking
				e.quiet = 0
				// The stretch holds at least MinSpeech of voiced windows,
				// so its start is at least that far back.
				e.start = max(0, min(e.candStart, e.windows*windowSamples-e.minSpeechS))
				return EventSpeechStart
			}
		} else if e.voiced > 0 {
			e.gap++
			if e.gap > maxGapWindows {
				e.voiced, e.gap = 0, 0
			}
		}
		if e.voiced == 0 && e.noSpeech > 0 && e.windows >= int64(e.noSpeech) {
			e.state = epDone
			return EventNoSpeech
		}
	case epSpeaking:
		if voiced {
			e.quiet = 0
			return EventNone
		}
		e.quiet++
		if e.quiet >= e.silence {
			e.state = epDone
			return EventSpeechEnd
		}
	}
	return EventNone
}
