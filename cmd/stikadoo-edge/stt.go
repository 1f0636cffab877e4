package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/stt"
	"github.com/stikadoo/stikadoo-edge/stt/models"
	"github.com/stikadoo/stikadoo-edge/stt/remote"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
)

// Speech engines of [stt] engine.
const (
	engineAuto    = "auto"       // whisper.cpp when built in and a model is found, else none
	engineNone    = "none"       // no speech recognition: devices are told so
	engineWhisper = "whispercpp" // whisper.cpp on this machine
	engineRemote  = "remote"     // an OpenAI-compatible server on the LAN
)

// preferredModels are tried, in order, when engine is auto and no model
// is configured: English models first (faster, and the default language
// of the product's users), then multilingual ones.
var preferredModels = []string{"base.en", "base.en-q8_0", "base.en-q5_1", "small.en-q5_1", "tiny.en", "tiny.en-q8_0", "base", "base-q5_1", "small-q5_1", "tiny"}

// sttConfig is how speech becomes words.
type sttConfig struct {
	Engine       string
	Whisper      whispercpp.Config // ModelPath may be a catalogue name until resolved
	Remote       remote.Config
	ModelBaseURL string
}

type sttFile struct {
	Engine         string   `toml:"engine"`
	Model          string   `toml:"model"`
	Threads        int      `toml:"threads"`
	Language       string   `toml:"language"`
	InitialPrompt  string   `toml:"initial_prompt"`
	Temperature    float64  `toml:"temperature"`
	TemperatureInc float64  `toml:"temperature_inc"`
	AudioCtx       string   `toml:"audio_ctx"`
	VADModel       string   `toml:"vad_model"`
	QueueDepth     int      `toml:"queue_depth"`
	RemoteURL      string   `toml:"remote_url"`
	RemoteModel    string   `toml:"remote_model"`
	RemoteAPIKey   string   `toml:"remote_api_key"`
	RemoteTimeout  duration `toml:"remote_timeout"`
	ModelBaseURL   string   `toml:"model_base_url"`
}

// defaultTemperatureInc is whisper's own temperature fallback step.
const defaultTemperatureInc = 0.2

func (f sttFile) resolve() sttConfig {
	c := sttConfig{
		Engine: f.Engine,
		Whisper: whispercpp.Config{
			ModelPath: f.Model, Threads: f.Threads, Language: f.Language, InitialPrompt: f.InitialPrompt,
			Temperature: float32(f.Temperature), TemperatureInc: float32(f.TemperatureInc),
			AudioCtx: f.AudioCtx, VADModelPath: f.VADModel, QueueDepth: f.QueueDepth,
		},
		Remote: remote.Config{
			BaseURL: f.RemoteURL, Model: f.RemoteModel, APIKey: f.RemoteAPIKey, Language: f.Language,
			Prompt: f.InitialPrompt, Timeout: time.Duration(f.RemoteTimeout),
		},
		ModelBaseURL: f.ModelBaseURL,
	}
	if c.Engine == "" {
		c.Engine = engineAuto
	}
	if c.Whisper.Language == "" {
		c.Whisper.Language = "auto"
		c.Remote.Language = "auto"
	}
	if c.Whisper.AudioCtx == "" {
		c.Whisper.AudioCtx = whispercpp.AudioCtxAuto
	}
	if c.Whisper.TemperatureInc == 0 {
		c.Whisper.TemperatureInc = defaultTemperatureInc
	}
	if c.Whisper.QueueDepth == 0 {
		c.Whisper.QueueDepth = whispercpp.DefaultQueueDepth
	}
	if c.ModelBaseURL == "" {
		c.ModelBaseURL = models.DefaultBaseURL
	}
	if c.Remote.Timeout == 0 {
		c.Remote.Timeout = remote.DefaultTimeout
	}
	return c
}

func (c sttConfig) toFile(sec func(string) string) sttFile {
	return sttFile{
		Engine: c.Engine, Model: c.Whisper.ModelPath, Threads: c.Whisper.Threads, Language: c.Whisper.Language,
		InitialPrompt: c.Whisper.InitialPrompt, Temperature: float64(c.Whisper.Temperature),
		TemperatureInc: float64(c.Whisper.TemperatureInc), AudioCtx: c.Whisper.AudioCtx,
		VADModel: c.Whisper.VADModelPath, QueueDepth: c.Whisper.QueueDepth,
		RemoteURL: c.Remote.BaseURL, RemoteModel: c.Remote.Model, RemoteAPIKey: sec(c.Remote.APIKey),
		RemoteTimeout: duration(c.Remote.Timeout), ModelBaseURL: c.ModelBaseURL,
	}
}

func (c sttConfig) validate() error {
	switch c.Engine {
	case engineAuto, engineNone:
	case engineWhisper:
		if c.Whisper.ModelPath == "" {
			return &edge.ConfigError{Field: "stt.model", Msg: `engine "whispercpp" needs a model: a file, or a name such as "base.en" (stikadoo-edge model list)`}
		}
	case engineRemote:
		if c.Remote.BaseURL == "" {
			return &edge.ConfigError{Field: "stt.remote_url", Msg: `engine "remote" needs the server's address, e.g. "http://192.168.1.30:8000"`}
		}
		if _, err := remote.New(c.Remote); err != nil {
			return &edge.ConfigError{Field: "stt.remote_url", Msg: err.Error()}
		}
	default:
		return &edge.ConfigError{Field: "stt.engine", Msg: fmt.Sprintf("%q is not \"auto\", \"none\", \"whispercpp\" or \"remote\"", c.Engine)}
	}
	w := c.Whisper
	switch {
	case w.Threads < 0:
		return &edge.ConfigError{Field: "stt.threads", Msg: "must be 0 (every core) or more"}
	case w.AudioCtx != whispercpp.AudioCtxAuto && w.AudioCtx != whispercpp.AudioCtxFull:
		return &edge.ConfigError{Field: "stt.audio_ctx", Msg: fmt.Sprintf("%q is not \"auto\" or \"full\"", w.AudioCtx)}
	case w.Temperature < 0 || w.Temperature > 1:
		return &edge.ConfigError{Field: "stt.temperature", Msg: "must be between 0 and 1"}
	case w.TemperatureInc > 1:
		return &edge.ConfigError{Field: "stt.temperature_inc", Msg: "must be at most 1 (negative: never retry at a higher temperature)"}
	case w.QueueDepth < 0:
		return &edge.ConfigError{Field: "stt.queue_depth", Msg: "must not be negative"}
	case c.Remote.Timeout < 0:
		return &edge.ConfigError{Field: "stt.remote_timeout", Msg: "must not be negative"}
	}
	return nil
}

// modelsDir is where `model download` puts models and where names are
// looked up.
func modelsDir(stateDir string) string { return filepath.Join(stateDir, "models") }

// resolveModel turns a catalogue name into the file in the models
// folder; a path is returned as is.
func resolveModel(name, stateDir string) (string, error) {
	if strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ".bin") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("speech model %s: %w", name, err)
		}
		return name, nil
	}
	m, err := models.Find(name)
	if err != nil {
		return "", err
	}
	p := filepath.Join(modelsDir(stateDir), m.File)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("speech model %s is not downloaded yet (stikadoo-edge model download %s): %w", name, name, err)
	}
	return p, nil
}

// findDownloaded returns the first preferred model present in the
// models folder, or "".
func findDownloaded(stateDir string) string {
	for _, n := range preferredModels {
		if m, ok := models.Lookup(n); ok {
			if _, err := os.Stat(filepath.Join(modelsDir(stateDir), m.File)); err == nil {
				return n
			}
		}
	}
	return ""
}

// openTranscriber builds the configured speech engine. It returns nil
// (and no error) when there is none, with the reason in why.
func openTranscriber(c sttConfig, stateDir string, log *slog.Logger) (t edge.Transcriber, closeFn func(), why string, err error) {
	noop := func() {}
	switch c.Engine {
	case engineNone:
		return nil, noop, "speech recognition is switched off ([stt] engine = \"none\")", nil
	case engineRemote:
		cl, err := remote.New(c.Remote)
		if err != nil {
			return nil, noop, "", &edge.ConfigError{Field: "stt.remote_url", Msg: err.Error()}
		}
		log.Info("speech recognition", "engine", "remote", "server", cl.String())
		return cl, noop, "", nil
	}
	w := c.Whisper
	if w.ModelPath == "" { // auto
		w.ModelPath = findDownloaded(stateDir)
		if w.ModelPath == "" {
			return nil, noop, "no speech model yet: run `stikadoo-edge model download base.en` on the server", nil
		}
	}
	path, err := resolveModel(w.ModelPath, stateDir)
	if err != nil {
		if c.Engine == engineAuto {
			return nil, noop, err.Error(), nil
		}
		return nil, noop, "", fmt.Errorf("%w: %w", err, errConfig)
	}
	w.ModelPath = path
	if w.VADModelPath, err = resolveVAD(w.VADModelPath, stateDir); err != nil {
		return nil, noop, "", err
	}
	eng, err := whispercpp.New(w, log)
	if errors.Is(err, errors.ErrUnsupported) && c.Engine == engineAuto {
		return nil, noop, "this build has no whisper.cpp (build with `make build`)", nil
	}
	if err != nil {
		return nil, noop, "", fmt.Errorf("start speech recognition: %w", err)
	}
	log.Info("speech recognition", "engine", "whispercpp", "model", path, "vad_model", w.VADModelPath, "whisper", whispercpp.Version())
	return eng, func() { eng.Close() }, "", nil
}

// vadOff in [stt] vad_model switches the voice activity model off.
const vadOff = "off"

// vadContexts is how many Silero contexts end utterances at once (each on
// one thread, well under a megabyte).
const vadContexts = 2

// resolveVAD finds the voice activity model: the configured file or
// catalogue name ("silero-v6.2.0"), or, with none configured, a VAD model
// downloaded into the models folder. It returns "" when there is none or
// it is switched off, and an error (a configuration error) when the
// configured one is missing.
func resolveVAD(name, stateDir string) (string, error) {
	switch name = strings.TrimSpace(name); name {
	case vadOff:
		return "", nil
	case "":
		for _, m := range models.Catalogue() {
			p := filepath.Join(modelsDir(stateDir), m.File)
			if _, err := os.Stat(p); m.VAD && err == nil {
				return p, nil
			}
		}
		return "", nil
	}
	p, err := resolveModel(name, stateDir)
	if err != nil {
		return "", fmt.Errorf("[stt] vad_model: %w: %w", err, errConfig)
	}
	return p, nil
}

// openSpeechFinder loads the voice activity model that ends utterances
// in auto and realtime modes. It returns nil, and the gateway keeps its
// energy detector, when there is no model or this build has no
// whisper.cpp.
func openSpeechFinder(c sttConfig, stateDir string, log *slog.Logger) (stt.SpeechFinder, func(), error) {
	noop := func() {}
	path, err := resolveVAD(c.Whisper.VADModelPath, stateDir)
	if err != nil || path == "" {
		return nil, noop, err
	}
	// A few model contexts, each used by one caller at a time; a device
	// whose look finds them all busy looks again with its next frame
	// rather than wait behind other devices.
	var pool []*whispercpp.VAD
	closeAll := func() {
		for _, v := range pool {
			v.Close()
		}
	}
	for range vadContexts {
		v, err := whispercpp.NewVAD(path)
		if errors.Is(err, errors.ErrUnsupported) {
			log.Warn("a voice activity model is there, but this build has no whisper.cpp to run it: the end of speech is found by its loudness", "vad_model", path)
			return nil, noop, nil
		}
		if err != nil {
			closeAll()
			return nil, noop, fmt.Errorf("load voice activity model: %w", err)
		}
		pool = append(pool, v)
	}
	log.Info("end of speech", "detector", "voice activity model", "vad_model", path, "contexts", len(pool))
	find := func(samples []float32) ([]stt.Segment, error) {
		for _, v := range pool {
			segs, ok, err := v.TrySegments(samples)
			if !ok {
				continue
			}
			if err != nil {
				return nil, err
			}
			out := make([]stt.Segment, len(segs))
			for i, s := range segs {
				out[i] = stt.Segment{Start: s.Start, End: s.End}
			}
			return out, nil
		}
		return nil, stt.ErrFinderBusy
	}
	return find, closeAll, nil
}

// whisperStats reads the whisper.cpp queue's numbers of t, or is nil when
// t is not whisper.cpp (nor a stand-in that may become it).
func whisperStats(t edge.Transcriber) func() whispercpp.Stats {
	switch t := t.(type) {
	case *whispercpp.Engine:
		return t.Stats
	case *pendingTranscriber:
		return func() whispercpp.Stats {
			if eng, ok := t.current().(*whispercpp.Engine); ok {
				return eng.Stats()
			}
			return whispercpp.Stats{}
		}
	}
	return nil
}

// whisperMetrics are the speech queue's numbers, read at each scrape.
func whisperMetrics(stats func() whispercpp.Stats) []prometheus.Collector {
	gauge := func(name, help string, f func(whispercpp.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	counter := func(name, help string, f func(whispercpp.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	return []prometheus.Collector{
		gauge("stikadoo_stt_queue_waiting", "Utterances waiting for whisper now.", func(s whispercpp.Stats) float64 { return float64(s.Queued) }),
		gauge("stikadoo_stt_running", "1 while whisper runs.", func(s whispercpp.Stats) float64 { return float64(s.Running) }),
		counter("stikadoo_stt_served_total", "Utterances whisper transcribed.", func(s whispercpp.Stats) float64 { return float64(s.Served) }),
		counter("stikadoo_stt_abandoned_total", "Utterances that left the queue because their turn ended.", func(s whispercpp.Stats) float64 { return float64(s.Abandoned) }),
		counter("stikadoo_stt_rejected_total", "Utterances refused because the queue was full.", func(s whispercpp.Stats) float64 { return float64(s.Rejected) }),
		gauge("stikadoo_stt_wait_mean_seconds", "Mean time served utterances waited in the queue.", func(s whispercpp.Stats) float64 { return s.MeanWaitMs / 1000 }),
		gauge("stikadoo_stt_wait_max_seconds", "Longest time a served utterance waited in the queue.", func(s whispercpp.Stats) float64 { return s.MaxWaitMs / 1000 }),
	}
}

// cmdModel runs `model list|download|verify`.
func cmdModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "model", args, stdout, stderr, map[string]commandFunc{
		"list":     cmdModelList,
		"download": cmdModelDownload,
		"verify":   cmdModelVerify,
	})
}

// modelFlags is a flag set with --config and --state-dir.
func modelFlags(name, synopsis string) (fs *flag.FlagSet, cfgFile, stateDir *string) {
	fs = newFlags(name, synopsis)
	cfgFile = fs.String("config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
	stateDir = fs.String("state-dir", "", "state directory (default from the configuration)")
	return fs, cfgFile, stateDir
}

func cmdModelList(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, file, stateDir := modelFlags("model list", "[--config FILE] [--state-dir DIR]")
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	c, err := loadConfig(configPath(*file), flagOverrides{StateDir: *stateDir}, os.Getenv)
	if err != nil {
		return err
	}
	return models.WriteList(stdout, modelsDir(c.StateDir))
}

func cmdModelDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, file, stateDir := modelFlags("model download", "[--config FILE] [--state-dir DIR] [--retries N] NAME")
	retries := fs.Int("retries", models.DefaultRetries, "failed attempts in a row retried before giving up (0: none)")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 1, "NAME"); err != nil {
		return err
	}
	c, err := loadConfig(configPath(*file), flagOverrides{StateDir: *stateDir}, os.Getenv)
	if err != nil {
		return err
	}
	m, err := models.Find(pos[0])
	if err != nil {
		return err
	}
	d := models.Downloader{BaseURL: c.STT.ModelBaseURL, Retries: *retries}
	if *retries <= 0 {
		d.Retries = -1 // the Downloader's "none"; its zero is the default
	}
	path, err := d.Download(ctx, m, modelsDir(c.StateDir), stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, path)
	return nil
}

func cmdModelVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model verify", "FILE")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 1, "FILE"); err != nil {
		return err
	}
	m, err := models.Verify(pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s is %s (sha256 %s)\n", pos[0], m.Name, m.SHA256)
	return nil
}

// cmdTranscribe transcribes a WAV file, or the Opus packets of a turn the
// server kept ([retention] keep_audio), with the configured engine and
// prints the text and timings.
func cmdTranscribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, file, stateDir := modelFlags("transcribe", "FILE [--config FILE] [--state-dir DIR]")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 1, "FILE"); err != nil {
		return err
	}
	c, err := loadConfig(configPath(*file), flagOverrides{StateDir: *stateDir}, os.Getenv)
	if err != nil {
		return err
	}
	start := time.Now()
	samples, bad, err := readAudioFile(pos[0])
	if err != nil {
		return err
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "%s: %d undecodable Opus packets skipped\n", pos[0], bad)
	}
	decoded := time.Since(start)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start = time.Now()
	t, closeFn, why, err := openTranscriber(c.STT, c.StateDir, log)
	if err != nil {
		return err
	}
	defer closeFn()
	if t == nil {
		return fmt.Errorf("no speech engine: %s", why)
	}
	loaded := time.Since(start)
	start = time.Now()
	text, err := t.Transcribe(ctx, samples)
	if err != nil {
		return fmt.Errorf("transcribe %s: %w", pos[0], err)
	}
	fmt.Fprintln(stdout, text)
	fmt.Fprintf(stderr, "audio %.2f s; read %s, engine ready %s, transcribed %s\n",
		float64(len(samples))/stt.SampleRate, decoded.Round(time.Millisecond), loaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return nil
}
