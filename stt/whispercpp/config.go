package whispercpp

import (
	"fmt"
	"math"
	"time"
)

// SampleRate is the rate of the samples the engine and the VAD take.
const SampleRate = 16000

// Defaults for the zero fields of Config.
const (
	// DefaultQueueDepth is how many calls may wait behind the running one.
	DefaultQueueDepth = 8
	// DefaultMinSamples is the shortest audio worth transcribing (250 ms,
	// also the VAD's shortest stretch of speech).
	DefaultMinSamples = SampleRate / 4
)

// Values of Config.AudioCtx.
const (
	// AudioCtxAuto sizes the encoder window to the utterance.
	AudioCtxAuto = "auto"
	// AudioCtxFull always runs the full 30-second window.
	AudioCtxFull = "full"
)

// Encoder window sizing. Whisper's encoder sees 50 positions a second
// (100 mel frames halved by its strided convolution) and 1500 in all, 30
// seconds. A window sized to the utterance plus a margin costs a fraction
// of the full one for short clips; the margin keeps the end of speech off
// the window's edge, where a shortened window is least accurate.
const (
	positionsPerSecond = 50
	fullAudioCtx       = 1500
	audioCtxMargin     = 64 // positions, 1.28 s
)

// trimPad is kept on each side of the speech the VAD finds when the
// engine trims silence: whisper hears the start and end of words better
// with a little silence around them.
const trimPad = 200 * time.Millisecond

// Config selects the model and how it runs. Every field but ModelPath has
// a useful zero value.
type Config struct {
	// ModelPath is a ggml whisper model file (f16 or quantized; f32 files
	// are not supported).
	ModelPath string
	// Threads is the number of CPU threads whisper uses. Zero: every CPU.
	Threads int
	// Language is a language code ("en", "de", ...) or "auto" to detect
	// it for every utterance. Empty: "auto". English-only models (.en)
	// always transcribe English whatever this says.
	Language string
	// InitialPrompt is text that primes the decoder (names, spelling,
	// style). Empty: none.
	InitialPrompt string
	// Temperature is the sampling temperature of the first attempt, in
	// [0, 1]. Zero: greedy decoding.
	Temperature float32
	// TemperatureInc is how much the temperature rises on each retry when
	// a decoding fails whisper's quality checks. Zero: whisper.cpp's
	// default (0.2); negative: never retry.
	TemperatureInc float32
	// AudioCtx is "auto" (the encoder window sized to each utterance) or
	// "full" (always the 30-second window). Empty: "auto".
	AudioCtx string
	// VADModelPath is a Silero VAD model in whisper.cpp's format. When
	// set, leading and trailing silence is trimmed before transcription
	// and audio without speech is refused with proto.ErrNoSpeech without
	// running whisper. Empty: no VAD.
	VADModelPath string
	// QueueDepth is how many calls may wait while one runs; more are
	// refused with an error wrapping proto.ErrUnavailable. Zero:
	// DefaultQueueDepth.
	QueueDepth int
	// MinSamples is the shortest audio transcribed; shorter audio is
	// refused with proto.ErrNoSpeech. Zero: DefaultMinSamples.
	MinSamples int
}

// withDefaults fills the zero fields of c and checks it.
func (c Config) withDefaults() (Config, error) {
	if c.Language == "" {
		c.Language = "auto"
	}
	if c.AudioCtx == "" {
		c.AudioCtx = AudioCtxAuto
	}
	if c.QueueDepth == 0 {
		c.QueueDepth = DefaultQueueDepth
	}
	if c.MinSamples == 0 {
		c.MinSamples = DefaultMinSamples
	}
	switch {
	case c.ModelPath == "":
		return c, fmt.Errorf("model path is empty: %w", ErrConfig)
	case c.Threads < 0:
		return c, fmt.Errorf("threads = %d, want 0 (every CPU) or more: %w", c.Threads, ErrConfig)
	case c.AudioCtx != AudioCtxAuto && c.AudioCtx != AudioCtxFull:
		return c, fmt.Errorf("audio_ctx = %q, want %q or %q: %w", c.AudioCtx, AudioCtxAuto, AudioCtxFull, ErrConfig)
	case c.QueueDepth < 0:
		return c, fmt.Errorf("queue depth = %d, want 0 (default) or more: %w", c.QueueDepth, ErrConfig)
	case c.MinSamples < 0:
		return c, fmt.Errorf("min samples = %d, want 0 (default) or more: %w", c.MinSamples, ErrConfig)
	case math.IsNaN(float64(c.Temperature)) || c.Temperature < 0 || c.Temperature > 1:
		return c, fmt.Errorf("temperature = %v, want a value in [0, 1]: %w", c.Temperature, ErrConfig)
	case math.IsNaN(float64(c.TemperatureInc)) || c.TemperatureInc > 1:
		return c, fmt.Errorf("temperature increment = %v, want at most 1: %w", c.TemperatureInc, ErrConfig)
	}
	return c, nil
}

// audioCtxFor is the encoder window for n samples: sized to the audio
// plus a margin in auto mode, 0 (the model's full window) in full mode or
// when the audio fills the window anyway.
func audioCtxFor(n int, mode string) int {
	if mode == AudioCtxFull {
		return 0
	}
	positions := (n*positionsPerSecond + SampleRate - 1) / SampleRate
	if ctx := positions + audioCtxMargin; ctx < fullAudioCtx {
		return ctx
	}
	return 0
}

// Segment is a stretch of audio, from Start to End after its beginning.
type Segment struct {
	Start, End time.Duration
}

// samplesAt is the sample index at d, clamped to [0, n].
func samplesAt(d time.Duration, n int) int {
	i := int(d * SampleRate / time.Second)
	return max(0, min(i, n))
}

// trimBounds is the part of n samples to transcribe given the speech the
// VAD found: from the first segment's start to the last one's end, with
// trimPad on each side.
func trimBounds(segs []Segment, n int) (from, to int) {
	if len(segs) == 0 {
		return 0, n
	}
	return samplesAt(segs[0].Start-trimPad, n), samplesAt(segs[len(segs)-1].End+trimPad, n)
}

// Result is a transcription and how it was made.
type Result struct {
	// Text is the transcription, segments joined by spaces.
	Text string
	// Language is the language transcribed: the configured one, the
	// detected one in auto mode, or "en" for English-only models.
	Language string
	// Speech is the length of audio given to whisper, after trimming
	// silence and padding short clips.
	Speech time.Duration
	// AudioCtx is the encoder window used, in positions (50 a second).
	AudioCtx int
	// Wait is the time spent in the queue; Run the time whisper took.
	Wait, Run time.Duration
}

// Stats describe the engine's queue.
type Stats struct {
	// Queued is the number of calls waiting now; Running is 1 while
	// whisper runs and 0 otherwise.
	Queued, Running int
	// Served counts the calls that ran; Abandoned those that left the
	// queue because their context ended; Rejected those refused because
	// the queue was full or the engine closed.
	Served, Abandoned, Rejected int64
	// MeanWaitMs and MaxWaitMs are the mean and longest time the served
	// calls waited before running, in milliseconds.
	MeanWaitMs, MaxWaitMs float64
}
