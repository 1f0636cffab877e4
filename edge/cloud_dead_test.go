package edge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/edge/cloud/cloudtest"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/internal/testwait"
)

// TestCloudDeadLinkReplaced: the network under the session's cloud link
// dies without a word (no reset: a router reboot). The next relayed turn
// does not wait out the turn timeout on the dead link: the link is
// pinged, given up on, and the turn carries on without the cloud.
func TestCloudDeadLinkReplaced(t *testing.T) {
	gw := &cloudtest.Gateway{}
	gw.Start()
	t.Cleanup(gw.Close)
	fz, err := cloudtest.NewFreezer(gw.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fz.Close)
	_, cl := startCloud(t, gw, cloud.Config{URL: "wss://" + fz.Addr() + "/prod", IdleCheck: time.Millisecond, PongTimeout: 500 * time.Millisecond})
	// The turn timeout is longer than the test may run: only the ping
	// can end the second turn in time.
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{TurnTimeout: 10 * time.Minute, HelloTimeout: 2 * time.Second}},
		edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}}) // no speech model: stt relayed
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	if res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second)); err != nil || !res.ImageDelivered {
		t.Fatalf("first turn: %v %+v", err, res)
	}
	fz.Freeze()
	res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second))
	if err != nil {
		t.Fatalf("second turn over a dead link: %v", err)
	}
	if len(res.Alerts) != 1 || res.Alerts[0].Status != "Can't listen yet" {
		t.Errorf("alerts %+v, want the local one", res.Alerts)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 2)
	if tr := turns[1]; tr.Outcome != proto.OutcomeSTTUnavailable || !strings.Contains(tr.Error, "cloud fallback failed") {
		t.Errorf("second turn recorded as %s %q", tr.Outcome, tr.Error)
	}
	if st := cl.State(); st.Drops != 1 {
		t.Errorf("drops %d, want the dead link counted", st.Drops)
	}
}

// TestCloudFirstEventTimeout: a cloud that takes the input and never
// begins the turn is given up on after first_event_timeout, not the turn
// timeout, and counts as a failed connection.
func TestCloudFirstEventTimeout(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{BreakerFailures: 1})
	gw.SetFaults(cloudtest.Faults{Silent: true})
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{TurnTimeout: 10 * time.Minute, FirstEventTimeout: 300 * time.Millisecond}},
		edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	res := relayTurn(t, dev)
	if len(res.Alerts) != 1 || res.Alerts[0].Status != "The cloud is slow" {
		t.Errorf("alerts %+v", res.Alerts)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if tr := turns[0]; tr.Outcome != proto.OutcomeCloudError || !strings.Contains(tr.Error, "did not begin") {
		t.Errorf("turn recorded as %s %q", tr.Outcome, tr.Error)
	}
	testwait.For(t, "the abort reaching the cloud", func() bool { return gw.Stats().Routes[proto.TypeAbort] == 1 })
	if s := cl.Breaker().State(); s != proto.BreakerOpen {
		t.Errorf("breaker %s, want open after the silent cloud", s)
	}
}

// TestCloudAbortDuringHelloNoFailure: a device that aborts its own turn
// while the cloud has not yet said hello does not count against the
// cloud: the breaker, shared by every device, stays closed.
func TestCloudAbortDuringHelloNoFailure(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{BreakerFailures: 1})
	gw.SetFaults(cloudtest.Faults{NoHello: true})
	ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{HelloTimeout: 10 * time.Minute}}, edge.Deps{Cloud: cloudAdapter{cl}}) // no image model
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
	if err := dev.Detect("a whale"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "a hello at the cloud", func() bool { return len(gw.Stats().Hellos) == 1 })
	if err := dev.Abort("wake_word_detected"); err != nil {
		t.Fatal(err)
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if turns[0].Outcome != proto.OutcomeAborted {
		t.Errorf("turn recorded as %+v", turns[0])
	}
	if st := cl.State(); st.Breaker != proto.BreakerClosed || st.DialFailures != 0 {
		t.Errorf("after the device's own abort: breaker %s, %d failed dials; want closed, 0", st.Breaker, st.DialFailures)
	}
}

// TestCloudFallbackNotes: a local sticker printed because the cloud could
// not be reached says so in the turn's record; under cloud-first a turn
// whose dial failed does not dial again when a local stage then fails,
// and keeps its first note.
func TestCloudFallbackNotes(t *testing.T) {
	t.Run("local sticker", func(t *testing.T) {
		gw, cl := startCloud(t, nil, cloud.Config{})
		gw.SetFaults(cloudtest.Faults{RefuseStatus: 503})
		images := &edgetest.ImageGenerator{Fallback: "image backend down: connection refused"}
		ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: &edgetest.Transcriber{}, Images: images, Cloud: cloudAdapter{cl}})
		dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
		if res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second)); err != nil || !res.ImageDelivered {
			t.Fatalf("turn: %v %+v", err, res)
		}
		_, turns := waitTurns(t, ts, dev.SessionID(), 1)
		if tr := turns[0]; !strings.Contains(tr.Fallback, "image backend down") || !strings.Contains(tr.Fallback, "cloud fallback failed") || !strings.Contains(tr.Fallback, "503") {
			t.Errorf("turn fallback %q: want the local reason and the cloud's error", tr.Fallback)
		}
	})
	t.Run("cloud-first", func(t *testing.T) {
		gw, cl := startCloud(t, nil, cloud.Config{})
		gw.SetFaults(cloudtest.Faults{RefuseStatus: 503})
		ts := startServer(t, edge.Config{Cloud: edge.CloudConfig{Policy: proto.CloudFirst}},
			edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}}) // no speech model
		dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})
		res := relayTurn(t, dev)
		if len(res.Alerts) != 1 || res.Alerts[0].Status != "Can't listen yet" {
			t.Errorf("alerts %+v, want the local one", res.Alerts)
		}
		_, turns := waitTurns(t, ts, dev.SessionID(), 1)
		tr := turns[0]
		if !strings.HasPrefix(tr.Fallback, "cloud-first: served locally") || !strings.Contains(tr.Error, "cloud not reached") {
			t.Errorf("turn recorded with fallback %q, error %q", tr.Fallback, tr.Error)
		}
		if n := gw.Stats().Attempts; n != 1 {
			t.Errorf("the cloud was dialed %d times in one turn, want 1", n)
		}
	})
}

// TestCloudStickerReprinted: after a relayed turn, the reprint button
// prints the sticker the cloud drew, not the Pi's older one.
func TestCloudStickerReprinted(t *testing.T) {
	gw, cl := startCloud(t, nil, cloud.Config{})
	images := &edgetest.ImageGenerator{}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: &edgetest.Transcriber{}, Images: images, Cloud: cloudAdapter{cl}})
	dev := connect(t, ts, &edgetest.Device{ID: "aa:bb:cc:00:00:07", Dialect: proto.DialectStikadoo})
	if res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second)); err != nil || !res.ImageDelivered {
		t.Fatalf("local turn: %v %+v", err, res)
	}
	images.Lock()
	images.Fallback = "image backend down: connection refused"
	images.Unlock()
	res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second))
	if err != nil || res.ImageURL != gw.ImageURL() || !res.ImageDelivered {
		t.Fatalf("relayed turn: %v %+v", err, res)
	}
	r, err := ts.ReprintLast(relayCtx(t))
	if err != nil {
		t.Fatalf("reprint: %v", err)
	}
	p := previews(dev)
	if len(p) != 3 || p[2] != gw.ImageURL() || r.URL != gw.ImageURL() || r.Device != "aa:bb:cc:00:00:07" {
		t.Errorf("reprint %+v; device was asked to print %v, want the cloud's sticker last", r, p)
	}
}
