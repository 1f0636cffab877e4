package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// errUsage marks a mistake on the command line; main exits 2 on it.
var errUsage = errors.New("usage error")

// errNoOutcome: a turn ended with neither a sticker nor an alert, which
// leaves the user with nothing to see.
var errNoOutcome = errors.New("turn ended without a sticker or an alert")

const (
	defaultOTAURL   = "http://127.0.0.1:8000/xiaozhi/ota/"
	defaultSpeech   = 2 * time.Second
	defaultSimLimit = 60 * time.Second
)

// simOptions are the simulate command's settings.
type simOptions struct {
	ota      string
	dialect  string
	wav      string
	text     string
	typed    bool // --text was given
	token    string
	apiKey   string
	deviceID string
	timeout  time.Duration
	realtime bool
	count    int
	json     bool
}

// runSimulate plays one simulated device against a server: the version
// check, the WebSocket session and one or more turns, printing a timeline
// of what the device sent and saw. It returns an error when the protocol
// broke (no hello, a dropped connection, a timeout), not when the server
// answered honestly with an alert.
func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opt, err := parseSimulate(args, stdout, stderr)
	if err != nil {
		return err
	}
	samples, source, err := simAudio(opt)
	if err != nil {
		return err
	}
	d := &edgetest.Device{
		Dialect:  opt.dialect,
		OTAURL:   opt.ota,
		ID:       opt.deviceID,
		Token:    opt.token,
		APIKey:   opt.apiKey,
		Realtime: opt.realtime,
	}
	defer d.Close()
	p := &simPrinter{w: stdout, json: opt.json}
	if !opt.json {
		fmt.Fprintf(stdout, "simulating a device (dialect %s) against %s: %s\n", opt.dialect, opt.ota, source)
	}

	cctx, cancel := context.WithTimeout(ctx, opt.timeout)
	err = simConnect(cctx, d)
	cancel()
	p.steps(d.Timeline())
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	for i := range opt.count {
		if opt.count > 1 && !opt.json {
			fmt.Fprintf(stdout, "-- turn %d of %d\n", i+1, opt.count)
		}
		tctx, cancel := context.WithTimeout(ctx, opt.timeout)
		var res *edgetest.TurnResult
		if opt.typed {
			res, err = d.RunTypedTurn(tctx, opt.text)
		} else {
			res, err = d.RunTurn(tctx, samples)
		}
		cancel()
		if res != nil {
			if perr := p.turn(res, d.Timeline(), err == nil); perr != nil {
				return perr
			}
		}
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("simulate: turn %d: no end of turn within %s: %w", i+1, opt.timeout, err)
			}
			return fmt.Errorf("simulate: turn %d: %w", i+1, err)
		}
		if !res.ImageDelivered && len(res.Alerts) == 0 {
			return fmt.Errorf("simulate: turn %d: %w", i+1, errNoOutcome)
		}
	}
	return nil
}

// parseSimulate reads and checks the command line.
func parseSimulate(args []string, stdout, stderr io.Writer) (simOptions, error) {
	var opt simOptions
	fs := newFlags("simulate", "[--ota URL] [--dialect D] [--wav FILE | --text TEXT] [--token T] [--api-key K] [--device-id MAC] [--timeout D] [--realtime] [--count N] [--json]")
	fs.StringVar(&opt.ota, "ota", defaultOTAURL, "the server's OTA (version check) URL, as configured in a device")
	fs.StringVar(&opt.dialect, "dialect", proto.DialectStikadoo, "the client to imitate: stikadoo, opus-v1, opus-v2, opus-v3 or browser")
	fs.StringVar(&opt.wav, "wav", "", "a WAV file to say (any rate, mono or stereo; default: 2 s of synthetic speech)")
	fs.StringVar(&opt.text, "text", "", "a typed request, sent as listen detect instead of audio")
	fs.StringVar(&opt.token, "token", "", "a device token to use instead of the one the OTA answer gives")
	fs.StringVar(&opt.apiKey, "api-key", "", "an API key (the Stikadoo printer sends it as x-api-key, other clients as their token)")
	fs.StringVar(&opt.deviceID, "device-id", "", "the device's MAC, such as 94:a9:90:12:34:56 (default: a random one)")
	fs.DurationVar(&opt.timeout, "timeout", defaultSimLimit, "how long connecting, and then each turn, may take")
	fs.BoolVar(&opt.realtime, "realtime", false, "send audio at real time, one 60 ms frame every 60 ms")
	fs.IntVar(&opt.count, "count", 1, "how many turns to run on the one connection")
	fs.BoolVar(&opt.json, "json", false, "print each turn's result as JSON instead of a timeline")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return opt, err
	}
	if len(pos) > 0 {
		return opt, fmt.Errorf("simulate: unexpected argument %q: %w", pos[0], errUsage)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "text" {
			opt.typed = true
		}
	})
	switch opt.dialect {
	case proto.DialectStikadoo, proto.DialectOpusV1, proto.DialectOpusV2, proto.DialectOpusV3, proto.DialectBrowser:
	default:
		return opt, fmt.Errorf("simulate: --dialect %q is not stikadoo, opus-v1, opus-v2, opus-v3 or browser: %w", opt.dialect, errUsage)
	}
	u, err := url.Parse(opt.ota)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return opt, fmt.Errorf("simulate: --ota %q is not an http:// or https:// URL: %w", opt.ota, errUsage)
	}
	switch {
	case opt.typed && opt.wav != "":
		return opt, fmt.Errorf("simulate: --wav and --text exclude each other: %w", errUsage)
	case opt.typed && strings.TrimSpace(opt.text) == "":
		return opt, fmt.Errorf("simulate: --text is empty: %w", errUsage)
	case opt.timeout <= 0:
		return opt, fmt.Errorf("simulate: --timeout %s is not positive: %w", opt.timeout, errUsage)
	case opt.count < 1:
		return opt, fmt.Errorf("simulate: --count %d is less than 1: %w", opt.count, errUsage)
	}
	return opt, nil
}

// simAudio returns the audio to say and describes it.
func simAudio(opt simOptions) ([]float32, string, error) {
	if opt.typed {
		return nil, fmt.Sprintf("typed %q", opt.text), nil
	}
	if opt.wav == "" {
		return edgetest.Speech(defaultSpeech), fmt.Sprintf("%s of synthetic speech", defaultSpeech), nil
	}
	f, err := os.Open(opt.wav)
	if err != nil {
		return nil, "", fmt.Errorf("simulate: %w", err)
	}
	defer f.Close()
	samples, rate, err := stt.ReadWAV(f)
	if err != nil {
		return nil, "", fmt.Errorf("simulate: read %s: %w", opt.wav, err)
	}
	if len(samples) == 0 || rate <= 0 {
		return nil, "", fmt.Errorf("simulate: %s holds no audio", opt.wav)
	}
	desc := fmt.Sprintf("%s (%.2f s at %d Hz)", opt.wav, float64(len(samples))/float64(rate), rate)
	if rate != stt.SampleRate {
		samples = stt.Resample(samples, rate, stt.SampleRate)
		desc += ", resampled to 16 kHz"
	}
	return samples, desc, nil
}

// simConnect boots the device, connects and says hello.
func simConnect(ctx context.Context, d *edgetest.Device) error {
	if _, err := d.Boot(ctx); err != nil {
		return err
	}
	if err := d.Connect(ctx); err != nil {
		return err
	}
	_, err := d.Hello(ctx)
	return err
}

// simPrinter prints the timeline as it grows, or turn results as JSON.
type simPrinter struct {
	w       io.Writer
	json    bool
	printed int // timeline steps printed so far
}

// steps prints the timeline steps not printed yet.
func (p *simPrinter) steps(tl []edgetest.Step) {
	if p.json {
		return
	}
	for _, s := range tl[min(p.printed, len(tl)):] {
		line := fmt.Sprintf("%5dms  %-13s %s", s.At.Milliseconds(), s.Name, s.Detail)
		fmt.Fprintln(p.w, strings.TrimRight(line, " "))
	}
	p.printed = max(p.printed, len(tl))
}

// turn prints one turn: the device's steps not printed yet and, for a
// turn that ended, a summary line; or the turn's JSON.
func (p *simPrinter) turn(res *edgetest.TurnResult, tl []edgetest.Step, ended bool) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("simulate: write result: %w", err)
		}
		return nil
	}
	p.steps(tl)
	if ended {
		fmt.Fprintln(p.w, summary(res))
	}
	return nil
}

// summary is the one-line outcome of a turn.
func summary(res *edgetest.TurnResult) string {
	var took string
	if n := len(res.Timeline); n > 0 {
		took = fmt.Sprintf(" in %s", (res.Timeline[n-1].At - res.Timeline[0].At).Round(time.Millisecond))
	}
	switch {
	case res.ImageDelivered:
		return fmt.Sprintf("sticker delivered%s: %s (%dx%d PNG, %d bytes), heard %q", took, res.ImageURL, res.ImageWidth, res.ImageHeight, res.ImageBytes, res.STT)
	case len(res.Alerts) > 0:
		return "alert: " + res.Alerts[len(res.Alerts)-1].Message
	case res.ImageURL != "":
		return fmt.Sprintf("sticker not delivered: %s: %s", res.ImageURL, res.ImageError)
	}
	return "no sticker and no alert"
}
