package whispercpp

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{ModelPath: "m.bin"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{ModelPath: "m.bin", Language: "auto", AudioCtx: AudioCtxAuto,
		QueueDepth: DefaultQueueDepth, MinSamples: DefaultMinSamples}
	if c != want {
		t.Errorf("withDefaults() = %+v, want %+v", c, want)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no model", Config{}},
		{"negative threads", Config{ModelPath: "m", Threads: -1}},
		{"unknown audio_ctx", Config{ModelPath: "m", AudioCtx: "768"}},
		{"negative queue depth", Config{ModelPath: "m", QueueDepth: -1}},
		{"negative min samples", Config{ModelPath: "m", MinSamples: -5}},
		{"temperature above 1", Config{ModelPath: "m", Temperature: 1.5}},
		{"negative temperature", Config{ModelPath: "m", Temperature: -0.1}},
		{"NaN temperature", Config{ModelPath: "m", Temperature: float32(math.NaN())}},
		{"increment above 1", Config{ModelPath: "m", TemperatureInc: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.cfg.withDefaults(); !errors.Is(err, ErrConfig) {
				t.Errorf("withDefaults(%+v) = %v, want ErrConfig", tt.cfg, err)
			}
		})
	}
}

func TestAudioCtxFor(t *testing.T) {
	tests := []struct {
		name    string
		samples int
		mode    string
		want    int
	}{
		{"1 s", SampleRate, AudioCtxAuto, 50 + audioCtxMargin},
		{"3 s", 3 * SampleRate, AudioCtxAuto, 150 + audioCtxMargin},
		{"a sample over 3 s rounds up", 3*SampleRate + 1, AudioCtxAuto, 151 + audioCtxMargin},
		{"11 s", 11 * SampleRate, AudioCtxAuto, 550 + audioCtxMargin},
		{"window filled by the margin", 29 * SampleRate, AudioCtxAuto, 0},
		{"30 s", 30 * SampleRate, AudioCtxAuto, 0},
		{"longer than the window", 45 * SampleRate, AudioCtxAuto, 0},
		{"full mode", 3 * SampleRate, AudioCtxFull, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := audioCtxFor(tt.samples, tt.mode); got != tt.want {
				t.Errorf("audioCtxFor(%d, %q) = %d, want %d", tt.samples, tt.mode, got, tt.want)
			}
		})
	}
}

func TestTrimBounds(t *testing.T) {
	const n = 10 * SampleRate
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	tests := []struct {
		name     string
		segs     []Segment
		from, to int
	}{
		{"none: keep all", nil, 0, n},
		{"one in the middle", []Segment{{ms(2000), ms(3000)}}, 1800 * 16, 3200 * 16},
		{"first and last", []Segment{{ms(1000), ms(2000)}, {ms(5000), ms(6000)}}, 800 * 16, 6200 * 16},
		{"clamped at both ends", []Segment{{ms(100), ms(9900)}}, 0, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := trimBounds(tt.segs, n)
			if from != tt.from || to != tt.to {
				t.Errorf("trimBounds = [%d, %d), want [%d, %d)", from, to, tt.from, tt.to)
			}
		})
	}
}
