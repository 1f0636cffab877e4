package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/edge/cloud/cloudtest"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/internal/testwait"
)

// cloudAdapter is what cmd/stikadoo-edge wires: a cloud.Client as the
// gateway's Cloud.
type cloudAdapter struct{ *cloud.Client }

func (a cloudAdapter) Dial(ctx context.Context, d edge.CloudDevice) (edge.CloudLink, error) {
	c, err := a.Client.Dial(ctx, cloud.Device{ID: d.ID, ClientID: d.ClientID})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// noProxy keeps tests off any proxy the environment names.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// startCloud starts a fake cloud gateway and a client of it, probed once.
func startCloud(t *testing.T, gw *cloudtest.Gateway, cfg cloud.Config) (*cloudtest.Gateway, *cloud.Client) {
	t.Helper()
	if gw == nil {
		gw = &cloudtest.Gateway{}
	}
	gw.Start()
	t.Cleanup(gw.Close)
	if cfg.URL == "" {
		cfg.URL = gw.URL()
	}
	if cfg.APIKey == "" {
		cfg.APIKey = gw.APIKey
	}
	cfg.RootCAs, cfg.Proxy, cfg.Logger = gw.RootCAs(), noProxy, testLogger(t)
	c, err := cloud.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Check(ctx)
	return gw, c
}

// relayTurn runs a turn of a second of speech on dev and fails the test
// if the protocol broke (an alert is a result, not an error).
func relayTurn(t *testing.T, dev *edgetest.Device) *edgetest.TurnResult {
	t.Helper()
	res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func relayCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCloudServesTurnWithoutSpeechModel: no speech model on the Pi, the
// cloud reachable: the turn is served by the cloud and recorded as a
// fallback of the stt stage, for devices of both dialects.
func TestCloudServesTurnWithoutSpeechModel(t *testing.T) {
	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV1, proto.DialectOpusV3} {
		t.Run(dialect, func(t *testing.T) {
			gw, cl := startCloud(t, nil, cloud.Config{})
			images := &edgetest.ImageGenerator{}
			ts := startServer(t, edge.Config{}, edge.Deps{Images: images, Cloud: cloudAdapter{cl}})
			var mu sync.Mutex
			audioIn := 0
			dev := connect(t, ts, &edgetest.Device{Dialect: dialect, Frames: func(mt int, _ []byte) {
				if mt == websocket.BinaryMessage {
					mu.Lock()
					audioIn++
					mu.Unlock()
				}
			}})
			res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(2*time.Second))
			if err != nil {
				t.Fatalf("turn: %v", err)
			}
			if res.STT != cloudtest.DefaultTranscript || !res.ImageDelivered || res.ImageURL != gw.ImageURL() || len(res.Alerts) > 0 {
				t.Fatalf("turn shows stt %q, image %q delivered %v, alerts %v; want the cloud's", res.STT, res.ImageURL, res.ImageDelivered, res.Alerts)
			}
			if images.Calls() != 0 {
				t.Errorf("the local image generator was called %d times for a relayed turn", images.Calls())
			}
			_, turns := waitTurns(t, ts, dev.SessionID(), 1)
			tr := turns[0]
			if tr.Outcome != proto.OutcomeOK || tr.Cloud != "stt" || tr.Backend != proto.BackendCloud ||
				!strings.Contains(tr.Fallback, "stt relayed to the cloud") || tr.Transcript != cloudtest.DefaultTranscript {
				t.Errorf("turn recorded as %+v", tr)
			}
			st := gw.Stats()
			if st.Connections != 1 || st.MCPReplies != 1 || len(st.Hellos) != 1 {
				t.Errorf("cloud saw %d connections, %d MCP replies, %d hellos; want 1 each", st.Connections, st.MCPReplies, len(st.Hellos))
			}
			if st.MaxFrame >= cloudtest.MaxFrame/2 || st.Closes[websocket.CloseUnsupportedData] != 0 || st.Closes[websocket.CloseMessageTooBig] != 0 {
				t.Errorf("largest frame %d bytes, closes %v", st.MaxFrame, st.Closes)
			}
			if dialect == proto.DialectStikadoo {
				if st.PCMFrames == 0 || st.OpusPackets != 0 {
					t.Errorf("Stikadoo audio reached the cloud as %d PCM frames and %d Opus packets; want PCM only", st.PCMFrames, st.OpusPackets)
				}
			} else if st.OpusPackets == 0 || st.PCMFrames != 0 || st.Types["audio"] == 0 {
				t.Errorf("Opus audio reached the cloud as %d PCM frames and %d wrapped packets; want wrapped Opus only", st.PCMFrames, st.OpusPackets)
			}
			for k, want := range map[string]string{"x-api-key": gw.APIKey, "Device-Id": dev.ID, "Protocol-Version": "1", "Authorization": "Bearer " + gw.APIKey} {
				if got := st.Headers.Get(k); got != want {
					t.Errorf("cloud got %s %q, want %q", k, got, want)
				}
			}
			if st.Headers.Get("Client-Id") == "" {
				t.Error("cloud got no Client-Id")
			}
			// What the real Lambda sees: audio reaches it on $default,
			// and only the routed types have routes.
			for r := range st.Routes {
				if r != "$default" && !cloudtest.Routes[r] {
					t.Errorf("message routed to %q, which the real API has no route for", r)
				}
			}
			if st.Routes["$default"] == 0 || st.Routes[proto.TypeHello] != 1 || st.Routes[proto.TypeListen] == 0 {
				t.Errorf("routes %v: want hello and listen on their routes and audio on $default", st.Routes)
			}
			mu.Lock()
			n := audioIn
			mu.Unlock()
			if n < 2 {
				t.Errorf("device got %d binary audio frames of the cloud's tts, want 2", n)
			}
			if h := ts.Health(); h.Cloud == nil || h.Cloud.Relayed != 1 || !h.Cloud.Reachable || h.Cloud.Policy != proto.CloudLocalThenCloud {
				t.Errorf("health cloud = %+v", h.Cloud)
			}
			resp, err := http.Get(ts.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{"stikadoo_cloud_reachable 1", "stikadoo_cloud_relayed_turns_total 1", "stikadoo_cloud_breaker_state 0",
				"stikadoo_cloud_dials_total 1", "stikadoo_cloud_unreachable_since_seconds 0", `stikadoo_turns_total{outcome="ok"} 1`} {
				if !strings.Contains(string(metrics), want+"\n") {
					t.Errorf("metrics lack %q", want)
				}
			}
		})
	}
}

// TestCloudDrawsWhenImageModelIsDown: the image stage drew the local
// fallback sticker because the model is down; with the cloud reachable
// the cloud draws instead, and the turn says so.
func TestCloudDrawsWhenImageModelIsDown(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	images := &edgetest.ImageGenerator{Fallback: "image backend down: connection refused"}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: &edgetest.Transcriber{}, Images: images, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	res := relayTurn(t, dev)
	if res.ImageURL != gw.ImageURL() || !res.ImageDelivered {
		t.Fatalf("image %q delivered %v; want the cloud's", res.ImageURL, res.ImageDelivered)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if tr := turns[0]; tr.Cloud != "image" || !strings.Contains(tr.Fallback, "image backend down") || tr.Outcome != proto.OutcomeOK {
		t.Errorf("turn recorded as %+v", tr)
	}
}

// TestCloudUnreachableLocalAlert: no speech model and no cloud: the device
// gets the local alert, and the health report says why.
func TestCloudUnreachableLocalAlert(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	gw, cl := startCloud(t, nil, cloud.Config{URL: "wss://" + addr + "/prod"})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV1} {
		dev := connect(t, ts, &edgetest.Device{Dialect: dialect})
		res := relayTurn(t, dev)
		if len(res.Alerts) != 1 || res.Alerts[0].Status != "Can't listen yet" {
			t.Fatalf("%s: alerts %+v, want the local speech alert", dialect, res.Alerts)
		}
		_, turns := waitTurns(t, ts, dev.SessionID(), 1)
		if tr := turns[0]; tr.Outcome != proto.OutcomeSTTUnavailable || tr.Cloud != "" {
			t.Errorf("%s: turn recorded as %+v", dialect, tr)
		}
	}
	if gw.Stats().Attempts != 0 {
		t.Errorf("the unrelated fake saw %d attempts", gw.Stats().Attempts)
	}
	h := ts.Health()
	if h.Cloud == nil || h.Cloud.Reachable || h.Cloud.UnreachableSince.IsZero() || !strings.Contains(h.Cloud.LastError, "connect") || h.Status != "degraded" {
		t.Errorf("health = %s %+v", h.Status, h.Cloud)
	}
}

// TestCloudFlappingBreaker: connections to the cloud fail; after
// BreakerFailures the breaker opens and turns stop dialing; after the
// cool-down one trial goes through, succeeds and closes it.
func TestCloudFlappingBreaker(t *testing.T) {
	clock := cloudtest.NewClock()
	gw, cl := startCloud(t, nil, cloud.Config{BreakerFailures: 2, BreakerOpen: time.Minute, Clock: clock})
	gw.SetFaults(cloudtest.Faults{RefuseStatus: http.StatusServiceUnavailable})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	turn := func() *edgetest.TurnResult {
		t.Helper()
		res := relayTurn(t, dev)
		return res
	}
	for i := 1; i <= 3; i++ {
		res := turn()
		if len(res.Alerts) != 1 || res.Alerts[0].Status != "Can't listen yet" {
			t.Fatalf("turn %d: alerts %+v, want the local one", i, res.Alerts)
		}
		want := min(i, 2) // the third turn finds the breaker open and does not dial
		if got := gw.Stats().Attempts; got != want {
			t.Fatalf("after turn %d the cloud saw %d connection attempts, want %d", i, got, want)
		}
	}
	if h := ts.Health(); h.Cloud.Breaker != proto.BreakerOpen || h.Cloud.DialFailures != 2 {
		t.Fatalf("health cloud = %+v, want the breaker open after 2 failures", h.Cloud)
	}
	// A good probe does not hide why the connections failed.
	if err := cl.Check(relayCtx(t)); err != nil {
		t.Fatal(err)
	}
	if h := ts.Health(); !strings.Contains(h.Cloud.LastDialError, "503") || !slices.ContainsFunc(h.Problems, func(p string) bool { return strings.Contains(p, "breaker is open: ") && strings.Contains(p, "503") }) {
		t.Errorf("health after a good probe: cloud %+v, problems %q; want the 503 kept", h.Cloud, h.Problems)
	}
	gw.SetFaults(cloudtest.Faults{})
	clock.Advance(time.Minute)
	if s := cl.Breaker().State(); s != proto.BreakerHalfOpen {
		t.Fatalf("breaker %s after the cool-down, want half-open", s)
	}
	res := turn()
	if res.STT != cloudtest.DefaultTranscript || !res.ImageDelivered {
		t.Fatalf("the trial turn was not served by the cloud: %+v", res)
	}
	if s := cl.Breaker().State(); s != proto.BreakerClosed {
		t.Fatalf("breaker %s after a good connection, want closed", s)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 4)
	if turns[3].Cloud != "stt" || turns[3].Outcome != proto.OutcomeOK {
		t.Errorf("turn 4 recorded as %+v", turns[3])
	}
}

// TestCloudPolicyLocalNeverDials: with policy local the cloud is never
// contacted, even when a stage cannot serve and the cloud is reachable.
func TestCloudPolicyLocalNeverDials(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{Policy: proto.CloudLocal}},
		edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	res := relayTurn(t, dev)
	if len(res.Alerts) != 1 || res.Alerts[0].Status != "Can't listen yet" {
		t.Fatalf("alerts %+v, want the local one", res.Alerts)
	}
	if st := gw.Stats(); st.Attempts != 0 {
		t.Errorf("policy local: the cloud saw %d connection attempts", st.Attempts)
	}
}

// TestCloudDropsMidTurn: the cloud drops the connection after stt; the
// device is told and its session with the Pi stays open; the next turn
// reconnects.
func TestCloudDropsMidTurn(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	// A bystander with a cloud connection of its own, open throughout.
	bystander := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	if res, err := bystander.RunTurn(relayCtx(t), edgetest.Speech(time.Second)); err != nil || !res.ImageDelivered {
		t.Fatalf("bystander: %v %+v", err, res)
	}
	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV2} {
		gw.SetFaults(cloudtest.Faults{DropAfterSTT: true})
		dev := connect(t, ts, &edgetest.Device{Dialect: dialect})
		res := relayTurn(t, dev)
		if len(res.Alerts) != 1 || res.Alerts[0].Status != "Lost the cloud" {
			t.Fatalf("%s: alerts %+v, want the dropped-cloud alert", dialect, res.Alerts)
		}
		gw.SetFaults(cloudtest.Faults{})
		res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second))
		if err != nil {
			t.Fatalf("%s: the session did not survive the drop: %v", dialect, err)
		}
		if !res.ImageDelivered || len(res.Alerts) != 0 {
			t.Fatalf("%s: second turn %+v", dialect, res)
		}
		_, turns := waitTurns(t, ts, dev.SessionID(), 2)
		if turns[0].Outcome != proto.OutcomeCloudError || turns[0].Cloud != "stt" || turns[1].Outcome != proto.OutcomeOK {
			t.Errorf("%s: turns recorded as %+v / %+v", dialect, turns[0], turns[1])
		}
	}
	if res, err := bystander.RunTurn(relayCtx(t), edgetest.Speech(time.Second)); err != nil || !res.ImageDelivered {
		t.Fatalf("the bystander's session suffered from another's drop: %v %+v", err, res)
	}
	if st := gw.Stats(); st.Connections != 5 {
		t.Errorf("cloud saw %d connections; want 5 (bystander 1, each dialect 2)", st.Connections)
	}
}

// TestCloudAlertPassedThrough: a turn the cloud fails with an alert shows
// the cloud's alert only, and is recorded as a cloud error.
func TestCloudAlertPassedThrough(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	gw.SetFaults(cloudtest.Faults{AlertMessage: "The cloud can't draw right now."})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	res := relayTurn(t, dev)
	if len(res.Alerts) != 1 || res.Alerts[0].Message != "The cloud can't draw right now." {
		t.Fatalf("alerts %+v, want the cloud's alone", res.Alerts)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Outcome != proto.OutcomeCloudError {
		t.Errorf("turn recorded as %+v", turns[0])
	}
}

// TestCloudFirstTypedTurn: policy cloud-first sends a typed request to the
// cloud although every local stage works.
func TestCloudFirstTypedTurn(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	images := &edgetest.ImageGenerator{}
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{Policy: proto.CloudFirst}},
		edge.Deps{Transcriber: &edgetest.Transcriber{}, Images: images, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectBrowser})
	res, err := dev.RunTypedTurn(relayCtx(t), "a robot with a kite")
	if err != nil {
		t.Fatal(err)
	}
	if !res.ImageDelivered || res.ImageURL != gw.ImageURL() {
		t.Fatalf("turn %+v", res)
	}
	if d := gw.Stats().Detected; len(d) != 1 || d[0] != "a robot with a kite" {
		t.Errorf("cloud got detects %q", d)
	}
	if images.Calls() != 0 {
		t.Errorf("local images called %d times under cloud-first", images.Calls())
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Cloud != "turn" {
		t.Errorf("turn recorded as %+v", turns[0])
	}
}

// TestCloudOnlyUnavailable: policy cloud-only with the cloud down tells
// the device the cloud cannot be reached, and never runs a local stage.
func TestCloudOnlyUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, cl := startCloud(t, nil, cloud.Config{URL: "wss://" + addr + "/prod"})
	stt := &edgetest.Transcriber{}
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{Policy: proto.CloudOnly}},
		edge.Deps{Transcriber: stt, Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	res := relayTurn(t, dev)
	if len(res.Alerts) != 1 || res.Alerts[0].Status != "Can't reach the cloud" || stt.Calls() != 0 {
		t.Fatalf("alerts %+v, local stt calls %d", res.Alerts, stt.Calls())
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Outcome != proto.OutcomeCloudUnavailable {
		t.Errorf("turn recorded as %+v", turns[0])
	}
}

// TestCloudKeyNeverReachesDevice: the cloud's API key appears in nothing
// a device receives: the version check, any frame, the sticker, the
// health report.
func TestCloudKeyNeverReachesDevice(t *testing.T) {
	const key = "sk-cloud-SECRET-0123456789"
	gw, cl := startCloud(t, &cloudtest.Gateway{APIKey: key}, cloud.Config{APIKey: key})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	var mu sync.Mutex
	var seen []byte
	dev := &edgetest.Device{Dialect: proto.DialectStikadoo, OTAURL: ts.OTAURL(), Frames: func(_ int, b []byte) {
		mu.Lock()
		seen = append(seen, b...)
		mu.Unlock()
	}}
	ctx := relayCtx(t)
	ota, err := dev.Boot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	otaJSON, _ := json.Marshal(ota)
	if !strings.HasPrefix(ota.WebSocket.URL, "ws://"+ts.Addr+"/") {
		t.Errorf("the version check sent the device to %q, not to the Pi", ota.WebSocket.URL)
	}
	if err := dev.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, err := dev.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := dev.RunTurn(ctx, edgetest.Speech(time.Second))
	if err != nil || !res.ImageDelivered {
		t.Fatalf("turn: %v %+v", err, res)
	}
	if gw.Stats().Connections != 1 {
		t.Fatal("the turn was not relayed")
	}
	resp, err := http.Get(ts.URL + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	for what, b := range map[string][]byte{"version check": otaJSON, "frames": seen, "sticker": res.Image, "health": health} {
		if strings.Contains(string(b), key) || strings.Contains(string(b), "SECRET") {
			t.Errorf("the cloud API key reached the device in the %s", what)
		}
	}
	if !strings.Contains(string(health), `"cloud"`) {
		t.Errorf("health has no cloud section: %s", health)
	}
	if _, page := get(t, ts.URL+"/"); !strings.Contains(page, "Stikadoo cloud (local-then-cloud)") || !strings.Contains(page, "reachable; requests it served: 1") || strings.Contains(page, "SECRET") {
		t.Errorf("status page cloud line missing or showing the key:\n%s", page)
	}
}

// TestCloudSlowTurn: a cloud that never finishes the turn is told to
// abort after the turn timeout, and the device is told.
func TestCloudSlowTurn(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	gw.SetFaults(cloudtest.Faults{Silent: true})
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{TurnTimeout: 300 * time.Millisecond}},
		edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	res := relayTurn(t, dev)
	if len(res.Alerts) != 1 || res.Alerts[0].Status != "The cloud is slow" {
		t.Fatalf("alerts %+v", res.Alerts)
	}
	testwait.For(t, "the abort reaching the cloud", func() bool { return gw.Stats().Routes[proto.TypeAbort] == 1 })
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Outcome != proto.OutcomeCloudError {
		t.Errorf("turn recorded as %+v", turns[0])
	}
	// The quiet connection is not trusted again: the next turn opens a
	// new one.
	gw.SetFaults(cloudtest.Faults{})
	if res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second)); err != nil || !res.ImageDelivered {
		t.Fatalf("next turn: %v %+v", err, res)
	}
	if n := gw.Stats().Connections; n != 2 {
		t.Errorf("cloud saw %d connections, want 2", n)
	}
}

// TestCloudAbortForwarded: the device's abort during a relayed turn
// reaches the cloud and ends the turn.
func TestCloudAbortForwarded(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	gw.SetFaults(cloudtest.Faults{Silent: true})
	ts := startServer(t, edge.Config{}, edge.Deps{Cloud: cloudAdapter{cl}}) // no image model
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	if err := dev.Detect("a whale"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "a turn at the cloud", func() bool { return gw.Stats().Turns == 1 })
	if err := dev.Abort("wake_word_detected"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the abort reaching the cloud", func() bool { return gw.Stats().Routes[proto.TypeAbort] == 1 })
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Outcome != proto.OutcomeAborted || turns[0].Cloud != "image" {
		t.Errorf("turn recorded as %+v", turns[0])
	}
}

// BenchmarkRelayedTurn measures a voice turn relayed to the fake cloud
// over loopback (TLS): the replay of 2 s of Stikadoo PCM, the cloud's
// script, the device's download of the sticker, end to end.
func BenchmarkRelayedTurn(b *testing.B) {
	gw := &cloudtest.Gateway{}
	gw.Start()
	defer gw.Close()
	cl, err := cloud.New(cloud.Config{URL: gw.URL(), APIKey: gw.APIKey, RootCAs: gw.RootCAs(), Proxy: noProxy, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	if err := cl.Check(context.Background()); err != nil {
		b.Fatal(err)
	}
	ts := startServer(b, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := &edgetest.Device{Dialect: proto.DialectStikadoo, OTAURL: ts.OTAURL()}
	ctx := context.Background()
	if _, err := dev.Boot(ctx); err != nil {
		b.Fatal(err)
	}
	if err := dev.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	if _, err := dev.Hello(ctx); err != nil {
		b.Fatal(err)
	}
	speech := edgetest.Speech(2 * time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := dev.RunTurn(ctx, speech)
		if err != nil || !res.ImageDelivered {
			b.Fatalf("turn %d: %v %+v", i, err, res)
		}
	}
}

// TestCloudMessagesFiltered: what the cloud must not make a device do
// stays with the Pi: a reboot, a tts without state (firmware would
// crash), a second hello, text that is not JSON.
func TestCloudMessagesFiltered(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	gw.SetFaults(cloudtest.Faults{Inject: [][]byte{
		[]byte(`{"type":"system","command":"reboot"}`), []byte(`{"type":"tts"}`), []byte(`{"type":"tts","state":""}`),
		[]byte(`{"type":"hello","transport":"websocket","session_id":"x"}`), []byte(`not json`), []byte(`{"type":"heartbeat"}`),
		[]byte(`{"type":"mcp","payload":{"jsonrpc":"2.0","id":99,"result":{}}}`),
	}})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	var mu sync.Mutex
	var got []string
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo, Frames: func(mt int, b []byte) {
		if mt == websocket.TextMessage {
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
		}
	}})
	res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second))
	if err != nil || !res.ImageDelivered {
		t.Fatalf("turn: %v %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, f := range got {
		var m struct {
			Type    string  `json:"type"`
			State   *string `json:"state"`
			Payload struct {
				ID *int64 `json:"id"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(f), &m); err != nil {
			t.Errorf("device got a frame that is not JSON: %q", f)
			continue
		}
		switch {
		case m.Type == proto.TypeSystem, m.Type == "heartbeat",
			m.Type == proto.TypeTTS && (m.State == nil || *m.State == ""),
			m.Type == proto.TypeHello && strings.Contains(f, `"x"`),
			m.Type == proto.TypeMCP && m.Payload.ID != nil && *m.Payload.ID == 99:
			t.Errorf("the cloud's %q reached the device", f)
		}
	}
}

// TestCloudLargePCMFrame: a Stikadoo frame larger than the cloud's 32 KB
// frame limit (devices may send up to 64 KiB) is replayed in 60 ms pieces.
func TestCloudLargePCMFrame(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	speech := edgetest.Speech(1500 * time.Millisecond) // 24000 samples: 64000 base64 characters
	pcm := make([]int16, len(speech))
	for i, s := range speech {
		pcm[i] = int16(s * 32767)
	}
	frame := proto.EncodePCMText(pcm)
	if len(frame) <= cloudtest.MaxFrame {
		t.Fatalf("test frame of %d bytes is within the cloud's limit", len(frame))
	}
	if err := dev.ListenStart(proto.ModeManual); err != nil {
		t.Fatal(err)
	}
	if err := dev.SendRaw(websocket.TextMessage, frame); err != nil {
		t.Fatal(err)
	}
	if err := dev.ListenStop(); err != nil {
		t.Fatal(err)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Outcome != proto.OutcomeOK || turns[0].Cloud != "stt" {
		t.Fatalf("turn recorded as %+v", turns[0])
	}
	st := gw.Stats()
	if st.PCMFrames != 25 || st.PCMBytes != 2*len(pcm) || st.MaxFrame > cloudtest.MaxFrame || len(st.Closes) != 0 {
		t.Errorf("cloud got %d PCM frames (%d bytes), largest %d, closes %v; want 25 frames of 60 ms", st.PCMFrames, st.PCMBytes, st.MaxFrame, st.Closes)
	}
}

// TestCloudLateEndOfTurnIgnored: a late tts stop of the cloud's previous
// turn, arriving after the new turn was sent, does not end the new turn.
func TestCloudLateEndOfTurnIgnored(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	gw.SetFaults(cloudtest.Faults{Inject: [][]byte{
		[]byte(`{"type":"tts","state":"sentence_start","text":"Here is your last sticker!"}`),
		[]byte(`{"type":"tts","state":"stop"}`), []byte(`{"type":"thinking","status":"stop"}`),
	}})
	ts := startServer(t, edge.Config{}, edge.Deps{Cloud: cloudAdapter{cl}}) // no image model
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	if err := dev.Detect("a whale"); err != nil {
		t.Fatal(err)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if tr := turns[0]; tr.Outcome != proto.OutcomeOK || tr.Transcript != cloudtest.DefaultTranscript || tr.Cloud != "image" {
		t.Errorf("turn recorded as %+v; it ended at the late tts stop", tr)
	}
}

// TestCloudServesWhileModelDownloads: speech recognition that is set up
// but not ready (a model still downloading answers ErrUnavailable) is
// relayed like a missing one.
func TestCloudServesWhileModelDownloads(t *testing.T) {
	_, cl := startCloud(t, nil, cloud.Config{})
	stt := &edgetest.Transcriber{Err: fmt.Errorf("model base.en still downloading: %w", proto.ErrUnavailable)}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: stt, Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV3})
	res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second))
	if err != nil || !res.ImageDelivered || res.STT != cloudtest.DefaultTranscript {
		t.Fatalf("turn: %v %+v", err, res)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if tr := turns[0]; tr.Cloud != "stt" || !strings.Contains(tr.Fallback, "still downloading") || stt.Calls() != 1 {
		t.Errorf("turn recorded as %+v (local stt calls %d)", tr, stt.Calls())
	}
}

// TestCloudNoHelloOpensBreaker: a cloud that accepts connections but
// never says hello is a failing cloud: the turns get the local alert and,
// after BreakerFailures, no more connections are tried.
func TestCloudNoHelloOpensBreaker(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{BreakerFailures: 2, Clock: cloudtest.NewClock()})
	gw.SetFaults(cloudtest.Faults{NoHello: true})
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{HelloTimeout: 200 * time.Millisecond}},
		edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	for i := 1; i <= 3; i++ {
		res := relayTurn(t, dev)
		if len(res.Alerts) != 1 || res.Alerts[0].Status != "Can't listen yet" {
			t.Fatalf("turn %d: alerts %+v, want the local one", i, res.Alerts)
		}
	}
	if st := gw.Stats(); st.Connections != 2 {
		t.Errorf("cloud saw %d connections, want 2 before the breaker opened", st.Connections)
	}
	if s := cl.Breaker().State(); s != proto.BreakerOpen {
		t.Errorf("breaker %s, want open", s)
	}
}
