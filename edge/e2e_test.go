package edge_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/stikadoo/stikadoo-edge/storage"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

var dialects = []string{proto.DialectStikadoo, proto.DialectOpusV1, proto.DialectOpusV2, proto.DialectOpusV3, proto.DialectBrowser}

// connect boots, connects and says hello as a device of the dialect.
func connect(t *testing.T, ts *testServer, dev *edgetest.Device) *edgetest.Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if dev.OTAURL == "" {
		dev.OTAURL = ts.OTAURL()
	}
	if _, err := dev.Boot(ctx); err != nil {
		t.Fatalf("boot: %v", err)
	}
	if err := dev.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { dev.Close() })
	if _, err := dev.Hello(ctx); err != nil {
		t.Fatalf("hello: %v", err)
	}
	return dev
}

func turnCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitTurns polls the store until the session has n turns recorded.
func waitTurns(t *testing.T, ts *testServer, sessionID string, n int) (proto.Session, []proto.Turn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, turns, err := ts.Store.Session(sessionID)
		if err == nil && len(turns) >= n {
			return s, turns
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s: %d turns recorded (err %v), want %d", sessionID, len(turns), err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitClosed polls the store until the session is recorded as ended.
func waitClosed(t *testing.T, ts *testServer, sessionID string) proto.Session {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _, err := ts.Store.Session(sessionID)
		if err == nil && !s.End.IsZero() {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s not recorded as ended: %+v %v", sessionID, s, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTurnEveryDialect(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			stt := &edgetest.Transcriber{}
			img := &edgetest.ImageGenerator{}
			cfg := edge.Config{}
			if strings.HasPrefix(dialect, "opus-v") {
				cfg.ProtocolVersion = int(dialect[len(dialect)-1] - '0')
			}
			ts := startServer(t, cfg, edge.Deps{Transcriber: stt, Images: img})
			dev := connect(t, ts, &edgetest.Device{Dialect: dialect, ToolsPageSize: 2})
			speech := edgetest.Speech(1500 * time.Millisecond)
			res, err := dev.RunTurn(turnCtx(t), speech)
			if err != nil {
				t.Fatalf("turn: %v (timeline %v)", err, dev.Timeline())
			}
			if res.STT != edgetest.DefaultTranscript || !res.ImageDelivered || len(res.Alerts) != 0 {
				t.Fatalf("turn result %+v", res)
			}
			if res.ImageWidth != edgetest.StickerWidth || !strings.HasPrefix(res.ImageURL, ts.URL+"/stickers/") {
				t.Errorf("image %dx%d at %s", res.ImageWidth, res.ImageHeight, res.ImageURL)
			}
			if len(res.TTS) == 0 || res.TTS[len(res.TTS)-1] != "Here is your sticker!" {
				t.Errorf("tts sentences %q", res.TTS)
			}
			if got := img.Texts(); len(got) != 1 || got[0] != edgetest.DefaultTranscript {
				t.Errorf("image generator asked for %q", got)
			}
			// The whole utterance reached the transcriber, decoded to 16 kHz.
			if n := stt.Samples(); n < len(speech)*9/10 || n > len(speech)+16000*2 {
				t.Errorf("transcriber got %d samples for %d of speech", n, len(speech))
			}
			sess, turns := waitTurns(t, ts, dev.SessionID(), 1)
			tr := turns[0]
			if tr.Outcome != proto.OutcomeOK || tr.Transcript != edgetest.DefaultTranscript || tr.ImageID == "" ||
				tr.Source != proto.SourceVoice || tr.TimingsMs["stt"] < 0 || tr.TimingsMs["deliver"] <= 0 && tr.TimingsMs["total"] <= 0 {
				t.Errorf("turn record %+v", tr)
			}
			if sess.Dialect != dialect || sess.DeviceID == "" {
				t.Errorf("session record %+v", sess)
			}
			if len(sess.Tools) != len(edgetest.DefaultTools()) {
				t.Errorf("tools recorded %v, want all %d across pages", sess.Tools, len(edgetest.DefaultTools()))
			}
			// The session stays usable for a second turn.
			if res, err := dev.RunTurn(turnCtx(t), speech); err != nil || !res.ImageDelivered {
				t.Fatalf("second turn: %+v %v", res, err)
			}
		})
	}
}

func TestTypedRequestFromBrowser(t *testing.T) {
	stt := &edgetest.Transcriber{}
	img := &edgetest.ImageGenerator{}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: stt, Images: img})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectBrowser})
	res, err := dev.RunTypedTurn(turnCtx(t), "a dragon eating ice cream")
	if err != nil || !res.ImageDelivered || res.STT != "a dragon eating ice cream" {
		t.Fatalf("typed turn %+v %v", res, err)
	}
	if stt.Calls() != 0 {
		t.Errorf("typed text went through the transcriber")
	}
	// The wake phrase the page sends on connect never made a sticker.
	if got := img.Texts(); len(got) != 1 || got[0] != "a dragon eating ice cream" {
		t.Errorf("stickers made for %q", got)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Source != proto.SourceTyped {
		t.Errorf("turn source %q", turns[0].Source)
	}
}

func TestRealtimeModeKeepsListening(t *testing.T) {
	stt := &edgetest.Transcriber{}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: stt, Images: &edgetest.ImageGenerator{}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	ctx := turnCtx(t)
	if err := dev.ListenStart(proto.ModeRealtime); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		// Two utterances, one listen start: realtime devices keep streaming.
		audio := append(edgetest.Speech(time.Second), edgetest.Silence(1500*time.Millisecond)...)
		if err := dev.SendAudio(ctx, audio); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.WaitFor(ctx, func(e edgetest.Event) bool { return e.Type == "tts" && e.State == "stop" }); err != nil {
			t.Fatalf("utterance %d: %v", i, err)
		}
	}
	if stt.Calls() != 2 {
		t.Errorf("transcriber calls %d, want 2", stt.Calls())
	}
}

// TestTurnFailures runs each way a turn can fail and checks the user is
// told in words, the device is returned to idle, the failure is recorded,
// and the next turn on the same session works.
func TestTurnFailures(t *testing.T) {
	cases := []struct {
		name    string
		dialect string
		setup   func(*edgetest.Transcriber, *edgetest.ImageGenerator, *edgetest.Device)
		noSTT   bool // no transcriber configured
		noImg   bool // no image generator configured
		audio   []float32
		outcome string
		alert   string
	}{
		{name: "no speech from the engine", setup: func(s *edgetest.Transcriber, _ *edgetest.ImageGenerator, _ *edgetest.Device) {
			s.Err = fmt.Errorf("whisper: %w", proto.ErrNoSpeech)
		}, outcome: proto.OutcomeNoSpeech, alert: "didn't hear"},
		{name: "empty transcript", setup: func(s *edgetest.Transcriber, _ *edgetest.ImageGenerator, _ *edgetest.Device) { s.Text = "  " },
			outcome: proto.OutcomeNoSpeech, alert: "didn't hear"},
		{name: "too short", audio: edgetest.Speech(100 * time.Millisecond), outcome: proto.OutcomeNoSpeech, alert: "didn't hear"},
		{name: "silence in auto mode", dialect: proto.DialectBrowser, audio: edgetest.Silence(2 * time.Second),
			outcome: proto.OutcomeNoSpeech, alert: "didn't hear"},
		{name: "speech engine not configured", noSTT: true, outcome: proto.OutcomeSTTUnavailable, alert: "isn't set up"},
		{name: "speech engine error", setup: func(s *edgetest.Transcriber, _ *edgetest.ImageGenerator, _ *edgetest.Device) {
			s.Err = errors.New("model file vanished")
		}, outcome: proto.OutcomeSTTError, alert: "went wrong"},
		{name: "image backend not configured", noImg: true, outcome: proto.OutcomeImageUnavailable, alert: "isn't set up"},
		{name: "image backend error", dialect: proto.DialectOpusV2, setup: func(_ *edgetest.Transcriber, g *edgetest.ImageGenerator, _ *edgetest.Device) {
			g.Err = errors.New("sdapi: 500 CUDA out of memory")
		}, outcome: proto.OutcomeImageError, alert: "couldn't draw"},
		{name: "request refused", setup: func(_ *edgetest.Transcriber, g *edgetest.ImageGenerator, _ *edgetest.Device) {
			g.Err = fmt.Errorf("classroom filter: %w", proto.ErrRefused)
		}, outcome: proto.OutcomeRefused, alert: "can't make that"},
		{name: "device refused the image", setup: func(_ *edgetest.Transcriber, _ *edgetest.ImageGenerator, d *edgetest.Device) {
			d.RefuseImage = true
		}, outcome: proto.OutcomeDeviceRefused, alert: "couldn't be shown"},
		{name: "device never answers", dialect: proto.DialectOpusV1, setup: func(_ *edgetest.Transcriber, _ *edgetest.ImageGenerator, d *edgetest.Device) {
			d.NoMCPReply = true
		}, outcome: proto.OutcomeDeviceTimeout, alert: "too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.dialect == "" {
				c.dialect = proto.DialectStikadoo
			}
			if c.audio == nil {
				c.audio = edgetest.Speech(time.Second)
			}
			stt, img := &edgetest.Transcriber{}, &edgetest.ImageGenerator{}
			deps := edge.Deps{Transcriber: stt, Images: img}
			if c.noSTT {
				deps.Transcriber = nil
			}
			if c.noImg {
				deps.Images = nil
			}
			ts := startServer(t, edge.Config{MCPTimeout: 500 * time.Millisecond, PreviewTimeout: 500 * time.Millisecond}, deps)
			dev := &edgetest.Device{Dialect: c.dialect}
			if c.setup != nil {
				c.setup(stt, img, dev)
			}
			connect(t, ts, dev)
			res, err := dev.RunTurn(turnCtx(t), c.audio)
			if err != nil {
				t.Fatalf("turn: %v", err)
			}
			if len(res.Alerts) != 1 || !strings.Contains(res.Alerts[0].Message, c.alert) || res.Alerts[0].Status == "" || res.Alerts[0].Emotion == "" {
				t.Fatalf("alerts %+v, want one containing %q", res.Alerts, c.alert)
			}
			_, turns := waitTurns(t, ts, dev.SessionID(), 1)
			if turns[0].Outcome != c.outcome || turns[0].Error == "" {
				t.Errorf("recorded outcome %q error %q, want %q", turns[0].Outcome, turns[0].Error, c.outcome)
			}
			if c.noSTT || c.noImg {
				return
			}
			// Put things right: the same session serves the next turn.
			stt.Lock()
			stt.Err, stt.Text = nil, ""
			stt.Unlock()
			img.Lock()
			img.Err = nil
			img.Unlock()
			dev.SetFaults(false, false)
			res, err = dev.RunTurn(turnCtx(t), edgetest.Speech(time.Second))
			if err != nil || !res.ImageDelivered || len(res.Alerts) != 0 {
				t.Fatalf("next turn: %+v %v", res, err)
			}
		})
	}
}

func TestAbortCancelsTheTurn(t *testing.T) {
	stt := &edgetest.Transcriber{Delay: 10 * time.Second}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: stt, Images: &edgetest.ImageGenerator{}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	ctx := turnCtx(t)
	_ = dev.ListenStart(proto.ModeManual)
	_ = dev.SendAudio(ctx, edgetest.Speech(time.Second))
	_ = dev.ListenStop()
	deadline := time.Now().Add(5 * time.Second)
	for stt.Calls() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := dev.Abort("wake_word_detected"); err != nil {
		t.Fatal(err)
	}
	ev, err := dev.WaitFor(ctx, func(e edgetest.Event) bool { return e.Type == "tts" && e.State == "stop" || e.Type == "alert" })
	if err != nil || ev.Type != "tts" {
		t.Fatalf("after abort: %+v %v", ev, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("abort took %v: the transcription was not cancelled", d)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Outcome != proto.OutcomeAborted {
		t.Errorf("outcome %q", turns[0].Outcome)
	}
}

func TestMaxUtteranceCutsAndTells(t *testing.T) {
	stt := &edgetest.Transcriber{}
	ts := startServer(t, edge.Config{MaxUtterance: time.Second}, edge.Deps{Transcriber: stt, Images: &edgetest.ImageGenerator{}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	res, err := dev.RunTurn(turnCtx(t), edgetest.Speech(3*time.Second))
	if err != nil || !res.ImageDelivered {
		t.Fatalf("turn %+v %v", res, err)
	}
	if len(res.Alerts) != 1 || !strings.Contains(res.Alerts[0].Message, "first 1 seconds") {
		t.Errorf("alerts %+v", res.Alerts)
	}
	if stt.Samples() != 16000 {
		t.Errorf("transcriber got %d samples, want exactly 1 s", stt.Samples())
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if !turns[0].Truncated || turns[0].AudioMs != 1000 {
		t.Errorf("turn %+v", turns[0])
	}
}

func TestSessionEnds(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	t.Run("goodbye", func(t *testing.T) {
		dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
		_ = dev.Goodbye()
		s := waitClosed(t, ts, dev.SessionID())
		if s.CloseCode != 1000 || s.CloseReason != "goodbye" {
			t.Errorf("session %+v", s)
		}
	})
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("abrupt drop reset=%v", reset), func(t *testing.T) {
			dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
			if reset {
				_ = dev.Reset()
			} else {
				_ = dev.Close()
			}
			s := waitClosed(t, ts, dev.SessionID())
			if s.CloseCode != 1006 || !strings.Contains(s.CloseReason, "dropped") {
				t.Errorf("session %+v, want 1006 (abnormal closure)", s)
			}
		})
	}
	t.Run("reconnect replaces", func(t *testing.T) {
		old := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo, ID: "aa:bb:cc:dd:00:77"})
		connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo, ID: "aa:bb:cc:dd:00:77"})
		s := waitClosed(t, ts, old.SessionID())
		if s.CloseCode != 1000 || !strings.Contains(s.CloseReason, "replaced") {
			t.Errorf("old session %+v", s)
		}
	})
}

func TestKeepAliveWithinDeviceWindow(t *testing.T) {
	ts := startServer(t, edge.Config{KeepAlive: 200 * time.Millisecond}, edge.Deps{})
	// This device gives up after 700 ms without a data frame; the server
	// must send one well within that while the session is idle.
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo, ChannelTimeout: 700 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := 0
	for ctx.Err() == nil {
		ev, err := dev.Next(ctx)
		if err != nil {
			break
		}
		if ev.Type == "keepalive" {
			n++
		}
	}
	if _, _, closed := dev.CloseInfo(); closed {
		t.Fatal("the idle session was closed")
	}
	if n < 4 {
		t.Errorf("%d keep-alive frames in 2 s at a 200 ms interval", n)
	}
}

func TestSessionCap(t *testing.T) {
	ts := startServer(t, edge.Config{MaxSessions: 2}, edge.Deps{})
	connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	third := &edgetest.Device{Dialect: proto.DialectStikadoo, OTAURL: ts.OTAURL()}
	ctx := turnCtx(t)
	if _, err := third.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	err := third.Connect(ctx)
	if edgetest.DialStatus(err) != 503 {
		t.Fatalf("third session: %v, want 503", err)
	}
	if h := ts.Health(); h.SessionsRefused != 1 || h.Sessions != 2 {
		t.Errorf("health %+v", h)
	}
}

func TestShutdownClosesSessions(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV3})
	ts.stop()
	select {
	case <-dev.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("device still connected after shutdown")
	}
	if code, _, ok := dev.CloseInfo(); !ok || code != 1001 {
		t.Errorf("close %d %v, want 1001", code, ok)
	}
}

// TestRequestFlood sends a burst of typed requests while a sticker is
// being drawn: each supersedes the last, but at most one waits behind the
// turn that is stopping, so the session holds a bounded number of
// goroutines and records only the turns that started; the last request
// is the one served.
func TestRequestFlood(t *testing.T) {
	images := &edgetest.ImageGenerator{Delay: 200 * time.Millisecond}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: &edgetest.Transcriber{}, Images: images})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectBrowser})
	if _, err := dev.RunTypedTurn(turnCtx(t), "warm up"); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	const n = 400
	peak := 0
	for i := range n {
		if err := dev.Detect(fmt.Sprintf("request %d %s", i, strings.Repeat("x", 4000))); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			peak = max(peak, runtime.NumGoroutine()-before)
		}
	}
	// The last request is drawn and delivered.
	want := fmt.Sprintf("request %d ", n-1)
	var turns []proto.Turn
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, turns, _ = ts.Store.Session(dev.SessionID())
		if k := len(turns); k > 0 && strings.HasPrefix(turns[k-1].Transcript, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(turns) == 0 {
		t.Fatal("no turn recorded")
	}
	last := turns[len(turns)-1]
	if !strings.HasPrefix(last.Transcript, fmt.Sprintf("request %d ", n-1)) || last.Outcome != proto.OutcomeOK {
		t.Errorf("last turn %q %s, want request %d delivered", last.Transcript[:min(20, len(last.Transcript))], last.Outcome, n-1)
	}
	if len(turns) > n/2 {
		t.Errorf("%d turns recorded for %d requests: requests replaced before they started were recorded", len(turns), n)
	}
	if peak > 40 {
		t.Errorf("goroutines grew by %d during the flood, want a bounded few", peak)
	}
}

// stubbornTranscriber is a transcription that cannot be interrupted once
// it has begun, as whisper's encoder: it ignores ctx for d.
type stubbornTranscriber struct {
	d       time.Duration
	started chan struct{}
}

func (s *stubbornTranscriber) Transcribe(ctx context.Context, _ []float32) (string, error) {
	close(s.started)
	time.Sleep(s.d)
	return "a cat", ctx.Err()
}

// TestShutdownRecordsTurnInFlight stops the server while a transcription
// that cannot be interrupted runs: Serve waits for it, so the turn is in
// the record before the store would be closed. It takes longer than the
// HTTP deadline (5 s), as base.en can on a Pi.
func TestShutdownRecordsTurnInFlight(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "edge.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tr := &stubbornTranscriber{d: 5500 * time.Millisecond, started: make(chan struct{})}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: tr, Images: &edgetest.ImageGenerator{}, Store: st})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	go dev.RunTurn(turnCtx(t), edgetest.Speech(time.Second)) // ends when the server closes the connection
	<-tr.started
	ts.stop() // returns once Serve has; the test's store stays open
	_, turns, err := st.Session(dev.SessionID())
	if err != nil || len(turns) != 1 {
		t.Fatalf("after Serve returned: %d turns, %v; want the turn in flight recorded", len(turns), err)
	}
	if turns[0].Outcome != proto.OutcomeClosed {
		t.Errorf("turn outcome %s, want %s", turns[0].Outcome, proto.OutcomeClosed)
	}
}
