package edgetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// Load run defaults.
const (
	defaultLoadUtterance   = 3 * time.Second
	defaultLoadStagger     = time.Second
	defaultLoadConcurrency = 16
	defaultLoadSettle      = 2 * time.Second
	// loadSampleGap separates the two health reads of a memory sample
	// when the gateway's garbage cannot be collected first.
	loadSampleGap = time.Second
	// loadDrainWait bounds the wait for the gateway to be back to its
	// baseline goroutines once every device has gone.
	loadDrainWait = 15 * time.Second
	// loadTurnTimeout bounds one device's turn after its utterance.
	loadTurnTimeout = 60 * time.Second
	// maxErrorSamples is how many error messages a report keeps.
	maxErrorSamples = 5
	// userHZ is the unit of the CPU times in /proc/PID/stat.
	userHZ = 100
)

// LoadConfig describes a load run: Devices simulated devices of one
// dialect connect to one gateway, sit idle, then all speak at once.
type LoadConfig struct {
	// OTAURL is the gateway's version check URL, such as
	// "http://127.0.0.1:8000/xiaozhi/ota/".
	OTAURL string
	// HealthURL is the gateway's health report, such as
	// "http://127.0.0.1:8000/api/v1/health".
	HealthURL string
	// ServerPID, if set, is the gateway's process id: its resident memory
	// is read from /proc/PID/status (Linux). Zero: not measured.
	ServerPID int
	// Devices is the number of simulated devices.
	Devices int
	// Dialect is the devices' dialect (default proto.DialectStikadoo).
	// Every dialect speaks in manual mode (listen start, the words, listen
	// stop), so that the end of the utterance is a moment the device knows.
	Dialect string
	// Utterance is how long each device speaks, at real time (default 3 s).
	// The words are encoded once for the dialect and every device sends
	// the same frames, so that the devices leave the CPU to the gateway:
	// the gateway still decodes every frame of every session.
	Utterance time.Duration
	// Stagger spreads the devices' first words evenly over this long, as
	// children do not all press the button in the same millisecond
	// (default 1 s). It must be shorter than Utterance, so that every
	// device is streaming at once in the middle of the run.
	Stagger time.Duration
	// Concurrency is how many devices boot and connect at once (default 16).
	Concurrency int
	// Settle is the wait after the last hello, for MCP discovery to end,
	// before idle memory is sampled (default 2 s).
	Settle time.Duration
	// CollectGarbage, if set, runs a garbage collection in the gateway's
	// process (and returns freed memory to the system); it is called before
	// each memory sample, so that samples count live memory. Nil: each
	// sample is the lower of two health reads taken 1 s apart.
	CollectGarbage func(context.Context) error
	// Logf, if set, receives one line per phase of the run.
	Logf func(format string, args ...any)
}

// Percentiles summarizes a set of durations.
type Percentiles struct {
	N    int           `json:"n"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	Max  time.Duration `json:"max"`
	Mean time.Duration `json:"mean"`
}

// NewPercentiles returns the nearest-rank percentiles of ds.
func NewPercentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Percentiles{
		N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99),
		Max: s[len(s)-1], Mean: sum / time.Duration(len(s)),
	}
}

// String formats p as "p50 / p90 / p99 / max" in milliseconds.
func (p Percentiles) String() string {
	if p.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("%s / %s / %s / %s ms", ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max))
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// LoadSample is the gateway's state at one moment of a load run.
type LoadSample struct {
	Phase      string `json:"phase"` // "baseline", "idle", "streaming", "after"
	Sessions   int64  `json:"sessions"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse_bytes"`
	StackInuse uint64 `json:"stack_inuse_bytes"`
	Sys        uint64 `json:"sys_bytes"`
	RSS        uint64 `json:"rss_bytes,omitempty"` // zero when not measured
}

// inuse is the Go memory the sample counts: heap spans and stacks in use.
func (s LoadSample) inuse() uint64 { return s.HeapInuse + s.StackInuse }

// LoadReport is what a load run measured.
type LoadReport struct {
	Dialect     string        `json:"dialect"`
	Devices     int           `json:"devices"`   // asked for
	Connected   int           `json:"connected"` // completed the hello
	Turns       int           `json:"turns"`     // completed a turn with a sticker delivered
	Errors      int           `json:"errors"`    // devices that failed to connect or to complete the turn
	ErrorSample []string      `json:"error_sample,omitempty"`
	Utterance   time.Duration `json:"utterance"`
	Stagger     time.Duration `json:"stagger"`
	// ServerGC: memory was sampled after a collection in the gateway.
	// Otherwise samples include garbage not yet collected.
	ServerGC bool `json:"server_gc"`

	// Per session: Go heap and stacks in use, and resident memory (zero
	// when ServerPID was not given), over the baseline, divided by the
	// number of connected devices.
	IdleBytesPerSession      int64   `json:"idle_bytes_per_session"`
	IdleRSSPerSession        int64   `json:"idle_rss_per_session,omitempty"`
	StreamingBytesPerSession int64   `json:"streaming_bytes_per_session"`
	StreamingRSSPerSession   int64   `json:"streaming_rss_per_session,omitempty"`
	IdleGoroutinesPerSession float64 `json:"idle_goroutines_per_session"`

	// HelloRTT runs from sending the hello to receiving the server's.
	HelloRTT Percentiles `json:"hello_rtt"`
	// EOUToSTT runs from sending listen stop to receiving stt.
	EOUToSTT Percentiles `json:"eou_to_stt"`
	// EOUToEnd runs from sending listen stop to the end of the turn: the
	// sticker downloaded and shown, and the closing tts stop.
	EOUToEnd Percentiles `json:"eou_to_end"`
	// CPU use while the devices speak, from the first listen start to the
	// end of the last turn, in cores: the gateway's (zero when ServerPID
	// was not given) and the process running the devices'.
	ServerCPU  float64 `json:"server_cpu,omitempty"`
	DevicesCPU float64 `json:"devices_cpu,omitempty"`

	Baseline  LoadSample `json:"baseline"`
	Idle      LoadSample `json:"idle"`
	Streaming LoadSample `json:"streaming"`
	After     LoadSample `json:"after"` // once every device has gone
	// LeakedGoroutines is how many goroutines the gateway had over its
	// baseline once every device had gone and the sessions had ended.
	LeakedGoroutines int           `json:"leaked_goroutines"`
	Elapsed          time.Duration `json:"elapsed"`
}

// loadRun is the state of one RunLoad call.
type loadRun struct {
	cfg    LoadConfig
	health *http.Client
	rep    *LoadReport

	mu sync.Mutex // guards rep.Errors and rep.ErrorSample
}

// RunLoad measures a gateway under cfg.Devices simulated devices. It
// reads the gateway's health report (and its resident memory, given its
// process id) before any device connects; boots, connects and says hello
// with every device, timing each hello; samples memory once every device
// is idle; has every device speak for cfg.Utterance at real time in
// manual mode, samples memory while all of them stream, then sends listen
// stop and times the stt that answers it and the end of the turn; then
// closes every device and waits for the gateway to be back to its
// baseline goroutines.
//
// Devices that fail are counted in the report's Errors, with a sample of
// the messages; an error is returned only when the run itself cannot go
// on (a bad config, an unreadable health report, ctx ending).
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	start := time.Now()
	r := &loadRun{
		cfg: cfg,
		// A fresh connection for every health read, so that no idle
		// keep-alive connection is counted in the gateway's goroutines.
		health: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		rep:    &LoadReport{Dialect: cfg.Dialect, Devices: cfg.Devices, Utterance: cfg.Utterance, Stagger: cfg.Stagger, ServerGC: cfg.CollectGarbage != nil},
	}
	rep := r.rep
	var err error
	if rep.Baseline, err = r.sample(ctx, "baseline"); err != nil {
		return nil, err
	}
	r.logf("load %s: baseline %s", cfg.Dialect, rep.Baseline)

	// Devices share one HTTP transport for the version check and the
	// sticker downloads; its idle connections are closed between phases.
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}

	devs := r.connectAll(ctx, client)
	tr.CloseIdleConnections()
	defer closeAll(devs)
	rep.Connected = len(devs)
	r.logf("load %s: %d of %d devices connected; hello %s", cfg.Dialect, len(devs), cfg.Devices, rep.HelloRTT)
	if len(devs) == 0 {
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	if err := sleep(ctx, cfg.Settle); err != nil {
		return nil, fmt.Errorf("load run: %w", err)
	}
	if rep.Idle, err = r.sample(ctx, "idle"); err != nil {
		return nil, err
	}
	n := int64(len(devs))
	rep.IdleBytesPerSession = diff(rep.Idle.inuse(), rep.Baseline.inuse()) / n
	rep.IdleRSSPerSession = diff(rep.Idle.RSS, rep.Baseline.RSS) / n
	rep.IdleGoroutinesPerSession = float64(rep.Idle.Goroutines-rep.Baseline.Goroutines) / float64(n)
	r.logf("load %s: idle %s", cfg.Dialect, rep.Idle)

	if err := r.speakAll(ctx, devs); err != nil {
		return nil, err
	}
	rep.StreamingBytesPerSession = diff(rep.Streaming.inuse(), rep.Baseline.inuse()) / n
	rep.StreamingRSSPerSession = diff(rep.Streaming.RSS, rep.Baseline.RSS) / n
	r.logf("load %s: streaming %s; %d turns; eou→stt %s", cfg.Dialect, rep.Streaming, rep.Turns, rep.EOUToSTT)

	closeAll(devs)
	tr.CloseIdleConnections()
	if err := r.drain(ctx); err != nil {
		return nil, err
	}
	r.logf("load %s: after %s", cfg.Dialect, rep.After)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// fill checks cfg and fills its defaults.
func (cfg *LoadConfig) fill() error {
	if cfg.OTAURL == "" || cfg.HealthURL == "" {
		return errors.New("load run: OTAURL and HealthURL are required")
	}
	if cfg.Devices <= 0 {
		return fmt.Errorf("load run: %d devices", cfg.Devices)
	}
	if cfg.Dialect == "" {
		cfg.Dialect = proto.DialectStikadoo
	}
	if cfg.Utterance <= 0 {
		cfg.Utterance = defaultLoadUtterance
	}
	if cfg.Stagger <= 0 {
		cfg.Stagger = min(defaultLoadStagger, cfg.Utterance/3)
	}
	if cfg.Stagger >= cfg.Utterance {
		return fmt.Errorf("load run: stagger %s is not shorter than the utterance %s", cfg.Stagger, cfg.Utterance)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = defaultLoadConcurrency
	}
	if cfg.Settle <= 0 {
		cfg.Settle = defaultLoadSettle
	}
	return nil
}

func (r *loadRun) logf(format string, args ...any) {
	if r.cfg.Logf != nil {
		r.cfg.Logf(format, args...)
	}
}

// fail counts one failed device.
func (r *loadRun) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.Errors++
	if len(r.rep.ErrorSample) < maxErrorSamples {
		r.rep.ErrorSample = append(r.rep.ErrorSample, err.Error())
	}
}

// connectAll boots, connects and says hello with every device, at most
// cfg.Concurrency at a time, and returns the devices that made it.
func (r *loadRun) connectAll(ctx context.Context, client *http.Client) []*Device {
	cfg := r.cfg
	var (
		mu   sync.Mutex
		devs []*Device
		rtts []time.Duration
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, cfg.Concurrency)
	for i := range cfg.Devices {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			r.fail(fmt.Errorf("device %d: %w", i, ctx.Err()))
			continue
		}
		wg.Add(1)
		go func() { // ends when the device has said hello or failed
			defer wg.Done()
			defer func() { <-sem }()
			d := &Device{Dialect: cfg.Dialect, OTAURL: cfg.OTAURL, HTTPClient: client}
			rtt, err := d.connectTimed(ctx)
			if err != nil {
				d.Close()
				r.fail(fmt.Errorf("device %d: %w", i, err))
				return
			}
			mu.Lock()
			devs = append(devs, d)
			rtts = append(rtts, rtt)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.rep.HelloRTT = NewPercentiles(rtts)
	return devs
}

// connectTimed boots, connects and says hello, and returns the time from
// sending the hello to the arrival of the server's, as the reader saw it.
func (d *Device) connectTimed(ctx context.Context) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := d.Boot(cctx); err != nil {
		return 0, err
	}
	if err := d.Connect(cctx); err != nil {
		return 0, err
	}
	sent := d.since()
	if _, err := d.Hello(cctx); err != nil {
		return 0, err
	}
	at, ok := d.stepAfter("hello", sent)
	if !ok {
		return 0, fmt.Errorf("hello: no hello step in the timeline: %w", ErrProtocol)
	}
	return at - sent, nil
}

// stepAfter returns the time of the first step called name at or after
// from.
func (d *Device) stepAfter(name string, from time.Duration) (time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.timeline {
		if s.Name == name && s.At >= from {
			return s.At, true
		}
	}
	return 0, false
}

// loadTurn is one device's timed turn.
type loadTurn struct {
	eouToSTT, eouToEnd time.Duration
	err                error
}

// speakAll has every device speak, staggered, samples the gateway while
// all of them stream, and collects the turns.
func (r *loadRun) speakAll(ctx context.Context, devs []*Device) error {
	cfg := r.cfg
	frames, err := encodeUtterance(cfg.Dialect, Speech(cfg.Utterance)) // read-only, shared by every device
	if err != nil {
		return err
	}
	serverCPU0, devicesCPU0 := r.cpu()
	start := time.Now()
	turns := make([]loadTurn, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		offset := cfg.Stagger * time.Duration(i) / time.Duration(len(devs))
		wg.Add(1)
		go func() { // ends when the device's turn has ended or failed
			defer wg.Done()
			if err := sleep(ctx, time.Until(start.Add(offset))); err != nil {
				turns[i].err = err
				return
			}
			turns[i] = d.timedTurn(ctx, frames)
		}()
	}
	// Every device streams between the last start and the first stop:
	// sample in the middle of that window.
	window := cfg.Utterance - cfg.Stagger
	gap := time.Duration(0)
	if cfg.CollectGarbage == nil {
		gap = min(loadSampleGap, window/2)
	}
	at := start.Add(cfg.Stagger + (window-gap)/2)
	if err = sleep(ctx, time.Until(at)); err == nil {
		r.rep.Streaming, err = r.sampleGap(ctx, "streaming", gap)
	}
	wg.Wait()
	if err != nil {
		return err
	}
	wall := time.Since(start).Seconds()
	serverCPU1, devicesCPU1 := r.cpu()
	if serverCPU0 >= 0 && serverCPU1 >= 0 {
		r.rep.ServerCPU = (serverCPU1 - serverCPU0) / wall
	}
	if devicesCPU0 >= 0 && devicesCPU1 >= 0 {
		r.rep.DevicesCPU = (devicesCPU1 - devicesCPU0) / wall
	}
	var toSTT, toEnd []time.Duration
	for i, t := range turns {
		if t.err != nil {
			r.fail(fmt.Errorf("device %d (session %s): %w", i, devs[i].SessionID(), t.err))
			continue
		}
		r.rep.Turns++
		toSTT = append(toSTT, t.eouToSTT)
		toEnd = append(toEnd, t.eouToEnd)
	}
	r.rep.EOUToSTT, r.rep.EOUToEnd = NewPercentiles(toSTT), NewPercentiles(toEnd)
	return nil
}

// loadFrame is one frame of audio as the device sends it.
type loadFrame struct {
	messageType int
	data        []byte
}

// encodeUtterance encodes samples once, frame by frame, as a device of
// the dialect sends them.
func encodeUtterance(dialect string, samples []float32) ([]loadFrame, error) {
	d := &Device{Dialect: dialect}
	if err := d.setup(); err != nil {
		return nil, err
	}
	if d.dialect != proto.DialectStikadoo {
		enc, err := stt.NewOpusEncoder()
		if err != nil {
			return nil, fmt.Errorf("load run: encode the utterance: %w", err)
		}
		d.enc = enc
	}
	var frames []loadFrame
	for off := 0; off < len(samples); off += stt.FrameSamples {
		mt, data, err := d.encodeFrame(samples[off:min(off+stt.FrameSamples, len(samples))])
		if err != nil {
			return nil, fmt.Errorf("load run: encode the utterance: %w", err)
		}
		frames = append(frames, loadFrame{mt, data})
	}
	return frames, nil
}

// sendFramesPaced sends encoded frames one every 60 ms, as a microphone
// produces them, until done or ctx ends.
func (d *Device) sendFramesPaced(ctx context.Context, frames []loadFrame) error {
	tick := time.NewTicker(60 * time.Millisecond)
	defer tick.Stop()
	n := 0
	defer func() {
		d.step("audio", "%.2f s in %d frames", float64(n*stt.FrameSamples)/stt.SampleRate, n)
	}()
	for _, f := range frames {
		if n > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return fmt.Errorf("send audio: %w", ctx.Err())
			}
		}
		if err := d.writeMessage(f.messageType, f.data); err != nil {
			return fmt.Errorf("send audio: %w", err)
		}
		n++
	}
	return nil
}

// timedTurn runs one manual-mode turn: listen start, the words at real
// time, listen stop; it times the stt and the end of the turn from the
// moment listen stop is sent. A turn that ends without a delivered
// sticker, or with an alert, is an error.
func (d *Device) timedTurn(ctx context.Context, frames []loadFrame) loadTurn {
	mark, err := d.beginTurn()
	if err != nil {
		return loadTurn{err: err}
	}
	if err := d.ListenStart(proto.ModeManual); err != nil {
		d.finish(mark, nil)
		return loadTurn{err: err}
	}
	if err := d.sendFramesPaced(ctx, frames); err != nil {
		d.finish(mark, nil)
		return loadTurn{err: err}
	}
	stop := d.since()
	if err := d.ListenStop(); err != nil {
		d.finish(mark, nil)
		return loadTurn{err: err}
	}
	tctx, cancel := context.WithTimeout(ctx, loadTurnTimeout)
	defer cancel()
	res, err := d.collect(tctx, mark, nil)
	end := d.since()
	res = d.finish(mark, res)
	if err != nil {
		return loadTurn{err: err}
	}
	switch {
	case len(res.Alerts) > 0:
		return loadTurn{err: fmt.Errorf("turn ended with alert %s: %s", res.Alerts[0].Status, res.Alerts[0].Message)}
	case res.STT == "":
		return loadTurn{err: errors.New("turn ended without stt")}
	case !res.ImageDelivered:
		return loadTurn{err: fmt.Errorf("turn ended without a sticker delivered (%s)", res.ImageError)}
	}
	at, ok := d.stepAfter("stt", stop)
	if !ok {
		return loadTurn{err: fmt.Errorf("no stt step after listen stop: %w", ErrProtocol)}
	}
	return loadTurn{eouToSTT: at - stop, eouToEnd: end - stop}
}

// closeAll drops every device's connection, in parallel.
func closeAll(devs []*Device) {
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func() { defer wg.Done(); d.Close() }() // ends when the device's reader has ended
	}
	wg.Wait()
}

// drain waits for the gateway to have no sessions and no more goroutines
// than at the baseline, up to loadDrainWait, and records the last sample.
func (r *loadRun) drain(ctx context.Context) error {
	deadline := time.Now().Add(loadDrainWait)
	for {
		s, err := r.read(ctx, "after")
		if err != nil {
			return err
		}
		r.rep.After = s
		r.rep.LeakedGoroutines = max(0, s.Goroutines-r.rep.Baseline.Goroutines)
		if s.Sessions == 0 && r.rep.LeakedGoroutines == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("load run: %w", err)
		}
	}
	// The memory left behind, counted the way the other samples are.
	s, err := r.sample(ctx, "after")
	if err != nil {
		return err
	}
	s.Goroutines, s.Sessions = r.rep.After.Goroutines, r.rep.After.Sessions
	r.rep.After = s
	return nil
}

// sample reads the gateway's state for a memory measurement: after a
// collection in the gateway when cfg.CollectGarbage is set, otherwise the
// lower of two reads loadSampleGap apart.
func (r *loadRun) sample(ctx context.Context, phase string) (LoadSample, error) {
	gap := time.Duration(0)
	if r.cfg.CollectGarbage == nil {
		gap = loadSampleGap
	}
	return r.sampleGap(ctx, phase, gap)
}

func (r *loadRun) sampleGap(ctx context.Context, phase string, gap time.Duration) (LoadSample, error) {
	if r.cfg.CollectGarbage != nil {
		if err := r.cfg.CollectGarbage(ctx); err != nil {
			return LoadSample{}, fmt.Errorf("load run: %s sample: collect garbage: %w", phase, err)
		}
		return r.read(ctx, phase)
	}
	a, err := r.read(ctx, phase)
	if err != nil || gap <= 0 {
		return a, err
	}
	if err := sleep(ctx, gap); err != nil {
		return a, fmt.Errorf("load run: %w", err)
	}
	b, err := r.read(ctx, phase)
	if err != nil {
		return a, err
	}
	if b.inuse() < a.inuse() {
		a.HeapInuse, a.StackInuse = b.HeapInuse, b.StackInuse
	}
	if b.RSS < a.RSS {
		a.RSS = b.RSS
	}
	a.Sys = min(a.Sys, b.Sys)
	return a, nil
}

// healthReport is the part of the gateway's health report a load run reads.
type healthReport struct {
	Sessions int64 `json:"sessions"`
	Runtime  struct {
		Goroutines int    `json:"goroutines"`
		HeapInuse  uint64 `json:"heap_inuse_bytes"`
		StackInuse uint64 `json:"stack_inuse_bytes"`
		Sys        uint64 `json:"sys_bytes"`
	} `json:"runtime"`
}

// read reads the health report and the gateway's resident memory once.
func (r *loadRun) read(ctx context.Context, phase string) (LoadSample, error) {
	s := LoadSample{Phase: phase}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.HealthURL, nil)
	if err != nil {
		return s, fmt.Errorf("load run: read health %s: %w", r.cfg.HealthURL, err)
	}
	resp, err := r.health.Do(req)
	if err != nil {
		return s, fmt.Errorf("load run: read health %s: %w", r.cfg.HealthURL, err)
	}
	defer resp.Body.Close()
	var h healthReport
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("load run: read health %s: HTTP %d", r.cfg.HealthURL, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return s, fmt.Errorf("load run: read health %s: %w", r.cfg.HealthURL, err)
	}
	if h.Runtime.HeapInuse == 0 {
		return s, fmt.Errorf("load run: read health %s: no runtime section", r.cfg.HealthURL)
	}
	s.Sessions, s.Goroutines = h.Sessions, h.Runtime.Goroutines
	s.HeapInuse, s.StackInuse, s.Sys = h.Runtime.HeapInuse, h.Runtime.StackInuse, h.Runtime.Sys
	if r.cfg.ServerPID > 0 {
		if s.RSS, err = processRSS(r.cfg.ServerPID); err != nil {
			return s, fmt.Errorf("load run: %w", err)
		}
	}
	return s, nil
}

// processRSS reads the resident memory of process pid from /proc.
func processRSS(pid int) (uint64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read resident memory: %w", err)
	}
	defer f.Close()
	rss, err := parseVmRSS(f)
	if err != nil {
		return 0, fmt.Errorf("read resident memory %s: %w", path, err)
	}
	return rss, nil
}

// cpu returns the CPU seconds used so far by the gateway (given its pid)
// and by this process; -1 for what cannot be read.
func (r *loadRun) cpu() (server, devices float64) {
	server, devices = -1, -1
	if r.cfg.ServerPID > 0 {
		if v, err := processCPU(fmt.Sprintf("/proc/%d/stat", r.cfg.ServerPID)); err == nil {
			server = v
		}
	}
	if v, err := processCPU("/proc/self/stat"); err == nil {
		devices = v
	}
	return server, devices
}

// processCPU reads the user and system CPU seconds of a process from its
// /proc stat file.
func processCPU(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	v, err := parseStatCPU(string(b))
	if err != nil {
		return 0, fmt.Errorf("read CPU time %s: %w", path, err)
	}
	return v, nil
}

// parseStatCPU returns utime + stime, in seconds, from the contents of a
// /proc/PID/stat file. The fields are counted after the command name,
// which is in parentheses and may hold spaces.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 { // state is field 3; utime and stime are 14 and 15
		return 0, fmt.Errorf("%d fields after the command name", len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(utime+stime) / userHZ, nil
}

// parseVmRSS finds the "VmRSS: N kB" line of a /proc status file.
func parseVmRSS(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", f[0], err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line")
}

// diff is a - b as a signed number.
func diff(a, b uint64) int64 { return int64(a) - int64(b) }

// String is a one-line summary of the sample.
func (s LoadSample) String() string {
	out := fmt.Sprintf("%d sessions, %d goroutines, heap %s, stacks %s", s.Sessions, s.Goroutines, kib(int64(s.HeapInuse)), kib(int64(s.StackInuse)))
	if s.RSS > 0 {
		out += ", rss " + kib(int64(s.RSS))
	}
	return out
}

// kib formats a byte count in KiB, or MiB from 10 MiB up.
func kib(n int64) string {
	if n >= 10<<20 || n <= -10<<20 {
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
}

// Table is LoadTable(r).
func (r *LoadReport) Table() string { return LoadTable(r) }

// LoadTable formats reports as a Markdown table, one column per report.
func LoadTable(reports ...*LoadReport) string {
	var b strings.Builder
	b.WriteString("| |")
	for _, r := range reports {
		fmt.Fprintf(&b, " %s |", r.Dialect)
	}
	b.WriteString("\n|---|")
	for range reports {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	row := func(name string, cell func(r *LoadReport) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, r := range reports {
			fmt.Fprintf(&b, " %s |", cell(r))
		}
		b.WriteString("\n")
	}
	memNote := "lower of two reads 1 s apart"
	if len(reports) > 0 && reports[0].ServerGC {
		memNote = "after GC"
	}
	row("devices connected / turns completed / errors", func(r *LoadReport) string {
		return fmt.Sprintf("%d / %d / %d of %d", r.Connected, r.Turns, r.Errors, r.Devices)
	})
	row("utterance (starts spread over)", func(r *LoadReport) string {
		return fmt.Sprintf("%s (%s)", r.Utterance, r.Stagger)
	})
	row("memory per idle session: Go heap + stacks ("+memNote+")", func(r *LoadReport) string { return kib(r.IdleBytesPerSession) })
	row("memory per idle session: resident", func(r *LoadReport) string { return rssCell(r, r.IdleRSSPerSession) })
	row("memory per streaming session: Go heap + stacks", func(r *LoadReport) string { return kib(r.StreamingBytesPerSession) })
	row("memory per streaming session: resident", func(r *LoadReport) string { return rssCell(r, r.StreamingRSSPerSession) })
	row("goroutines per idle session", func(r *LoadReport) string {
		return strconv.FormatFloat(r.IdleGoroutinesPerSession, 'f', 1, 64)
	})
	row("hello round trip p50 / p90 / p99 / max", func(r *LoadReport) string { return r.HelloRTT.String() })
	row("end of utterance → `stt` p50 / p90 / p99 / max", func(r *LoadReport) string { return r.EOUToSTT.String() })
	row("end of utterance → sticker delivered, turn over", func(r *LoadReport) string { return r.EOUToEnd.String() })
	row("CPU while streaming, in cores: gateway / devices", func(r *LoadReport) string {
		if r.Baseline.RSS == 0 {
			return fmt.Sprintf("not measured / %.2f", r.DevicesCPU)
		}
		return fmt.Sprintf("%.2f / %.2f", r.ServerCPU, r.DevicesCPU)
	})
	row("gateway goroutines: before → with sessions → after", func(r *LoadReport) string {
		return fmt.Sprintf("%d → %d → %d", r.Baseline.Goroutines, r.Idle.Goroutines, r.After.Goroutines)
	})
	row("gateway resident memory: before → streaming → after", func(r *LoadReport) string {
		if r.Baseline.RSS == 0 {
			return "not measured"
		}
		return fmt.Sprintf("%s → %s → %s", kib(int64(r.Baseline.RSS)), kib(int64(r.Streaming.RSS)), kib(int64(r.After.RSS)))
	})
	return b.String()
}

func rssCell(r *LoadReport, v int64) string {
	if r.Baseline.RSS == 0 {
		return "not measured"
	}
	return kib(v)
}
