package stt

import (
	"errors"
	"time"
)

// Segment is a stretch of speech, as offsets from the start of the audio
// a SpeechFinder was given.
type Segment struct {
	Start, End time.Duration
}

// SpeechFinder finds the stretches of speech in 16 kHz mono samples, in
// order; none for audio without speech. The Silero model of
// stt/whispercpp is one; it must be safe for concurrent use when one
// finder serves many VADEndpointers, and it should not wait for a busy
// model: an error wrapping ErrFinderBusy makes the VADEndpointer look
// again with the next samples.
type SpeechFinder func(samples []float32) ([]Segment, error)

// VAD end-pointing settings.
const (
	// vadEvery is how much new audio (300 ms) the VADEndpointer waits for
	// before it asks the finder again: the end of speech is heard at most
	// this late, and the finder runs a few times a second per device.
	vadEvery = SampleRate * 3 / 10
	// vadContext is the speech kept in view in front of the Silence
	// window, so the model sees the end of a word as well as the quiet
	// after it. The view is Silence + vadContext long (2 s by default),
	// which bounds each call's cost whatever the utterance's length.
	vadContext = 1200 * time.Millisecond
)

// VADEndpointer finds the start and end of speech with a voice activity
// model instead of the energy alone: a door slam or a fan is not speech
// to it, and a quiet voice is. Every 300 ms of new audio it asks the
// SpeechFinder about the last Silence + 1.2 s: a segment of at least
// MinSpeech starts speech, and Silence without any segment after speech
// ends it.
//
// It feeds an energy Endpointer alongside: if the finder fails, it says
// so once (FinderErr) and the energy detector's events stand for the rest
// of the utterance; while the finder is busy (ErrFinderBusy), they stand
// until it is free. NoSpeech gives up as the energy detector does.
//
// A VADEndpointer is not safe for concurrent use; its finder may be
// shared.
type VADEndpointer struct {
	find      SpeechFinder
	energy    *Endpointer
	silence   time.Duration
	minSpeech time.Duration
	noSpeech  int64 // samples; 0: never

	view    []float32 // the last len(view) samples, oldest first; cap is the view size
	pending int       // samples fed since the last look
	total   int64     // samples since Reset
	state   epState
	start   int64 // SpeechStartSample
	failed  error // the finder's error, once it failed
}

// NewVADEndpointer returns a VADEndpointer that asks find. cfg's zero
// fields take the Endpointer's defaults; Threshold tunes the energy
// fallback only.
func NewVADEndpointer(find SpeechFinder, cfg EndpointConfig) *VADEndpointer {
	if cfg.Silence <= 0 {
		cfg.Silence = DefaultSilence
	}
	if cfg.MinSpeech <= 0 {
		cfg.MinSpeech = DefaultMinSpeech
	}
	size := int((cfg.Silence + vadContext).Seconds() * SampleRate)
	v := &VADEndpointer{
		find:      find,
		energy:    NewEndpointer(cfg),
		silence:   cfg.Silence,
		minSpeech: cfg.MinSpeech,
		view:      make([]float32, 0, size),
	}
	if cfg.NoSpeech > 0 {
		v.noSpeech = int64(cfg.NoSpeech.Seconds() * SampleRate)
	}
	return v
}

// Reset forgets everything fed so far, ready for a new utterance. A
// finder that failed is asked again.
func (v *VADEndpointer) Reset() {
	v.energy.Reset()
	v.view = v.view[:0]
	v.pending = 0
	v.total = 0
	v.state = epWaiting
	v.start = 0
	v.failed = nil
}

// Speaking reports whether speech has started and not yet ended.
func (v *VADEndpointer) Speaking() bool {
	if v.failed != nil {
		return v.energy.Speaking()
	}
	return v.state == epSpeaking
}

// SpeechStartSample is the index, counted from the last Reset, of the
// first sample of speech; 0 before speech starts.
func (v *VADEndpointer) SpeechStartSample() int64 {
	if v.failed != nil {
		return v.energy.SpeechStartSample()
	}
	return v.start
}

// FinderErr is the error that made the VADEndpointer fall back to energy
// for this utterance, or nil.
func (v *VADEndpointer) FinderErr() error { return v.failed }

// Feed processes samples and reports the most advanced event that
// happened within them. After EventSpeechEnd or EventNoSpeech it reports
// EventNone until Reset.
func (v *VADEndpointer) Feed(samples []float32) Event {
	energyEv := v.energy.Feed(samples)
	if v.failed != nil {
		return energyEv
	}
	if v.state == epDone {
		return EventNone
	}
	v.keep(samples)
	v.total += int64(len(samples))
	v.pending += len(samples)
	if v.pending < vadEvery {
		return EventNone
	}
	segs, err := v.find(v.view)
	if errors.Is(err, ErrFinderBusy) {
		// Every model is busy with other devices: look again with the
		// next samples rather than wait. Meanwhile what the energy
		// detector hears stands.
		switch energyEv {
		case EventSpeechStart:
			if v.state == epWaiting {
				v.state = epSpeaking
				v.start = v.energy.SpeechStartSample()
				return EventSpeechStart
			}
		case EventSpeechEnd, EventNoSpeech:
			v.state = epDone
			return energyEv
		}
		return EventNone
	}
	v.pending = 0
	if err != nil {
		v.failed = err
		// The energy detector has seen every sample: from here on its
		// state is the truth. Report where it stands now.
		switch {
		case energyEv != EventNone:
			return energyEv
		case v.energy.Speaking() && v.state == epWaiting:
			return EventSpeechStart
		}
		return EventNone
	}
	return v.look(segs)
}

// keep appends samples to the view, dropping the oldest beyond its size.
func (v *VADEndpointer) keep(samples []float32) {
	size := cap(v.view)
	if len(samples) >= size {
		v.view = append(v.view[:0], samples[len(samples)-size:]...)
		return
	}
	if over := len(v.view) + len(samples) - size; over > 0 {
		n := copy(v.view, v.view[over:])
		v.view = v.view[:n]
	}
	v.view = append(v.view, samples...)
}

// look decides on the segments the finder found in the view.
func (v *VADEndpointer) look(segs []Segment) Event {
	viewLen := time.Duration(len(v.view)) * time.Second / SampleRate
	viewStart := v.total - int64(len(v.view)) // sample index of view[0]
	switch v.state {
	case epWaiting:
		for _, s := range segs {
			if s.End-s.Start >= v.minSpeech {
				v.state = epSpeaking
				v.start = max(0, viewStart+int64(s.Start.Seconds()*SampleRate))
				// Speech may already have ended within the view.
				if viewLen-segs[len(segs)-1].End >= v.silence {
					v.state = epDone
					return EventSpeechEnd
				}
				return EventSpeechStart
			}
		}
		if v.noSpeech > 0 && v.total >= v.noSpeech {
			v.state = epDone
			return EventNoSpeech
		}
	case epSpeaking:
		quiet := viewLen
		if len(segs) > 0 {
			quiet = viewLen - segs[len(segs)-1].End
		}
		if quiet >= v.silence {
			v.state = epDone
			return EventSpeechEnd
		}
	}
	return EventNone
}
