package edge_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// activityLog records what the gateway tells its observer.
type activityLog struct {
	mu  sync.Mutex
	got []edge.Activity
}

func (l *activityLog) GatewayActivity(a edge.Activity) {
	l.mu.Lock()
	l.got = append(l.got, a)
	l.mu.Unlock()
}

func (l *activityLog) seen() []edge.Activity {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// waitActivity waits until the observer was told a, and returns everything
// it was told.
func (l *activityLog) wait(t *testing.T, a edge.Activity) []edge.Activity {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := l.seen()
		if len(s) > 0 && s[len(s)-1] == a {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("observer saw %v, never ending in %v", s, a)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func previews(dev *edgetest.Device) []string {
	var urls []string
	for _, s := range dev.Timeline() {
		if s.Name == "preview" {
			urls = append(urls, strings.Fields(s.Detail)[0])
		}
	}
	return urls
}

func TestObserverFollowsTurns(t *testing.T) {
	obs := &activityLog{}
	tr := &edgetest.Transcriber{Text: "a robot", Delay: 100 * time.Millisecond}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: tr, Images: &edgetest.ImageGenerator{}, Observer: obs})
	obs.wait(t, edge.ActivityReady)
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1})

	if err := dev.ListenStart(proto.ModeManual); err != nil {
		t.Fatal(err)
	}
	obs.wait(t, edge.ActivityListening)
	if ts.Activity() != edge.ActivityListening {
		t.Fatalf("Activity() = %v while the device listens", ts.Activity())
	}
	if err := dev.SendAudio(turnCtx(t), edgetest.Speech(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := dev.ListenStop(); err != nil {
		t.Fatal(err)
	}
	got := obs.wait(t, edge.ActivityReady)
	want := []edge.Activity{edge.ActivityReady, edge.ActivityListening, edge.ActivityBusy, edge.ActivityReady}
	if !slices.Equal(got, want) {
		t.Fatalf("activities %v, want %v", got, want)
	}
}

func TestObserverShowsMissingEngine(t *testing.T) {
	obs := &activityLog{}
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Observer: obs})
	obs.wait(t, edge.ActivityError)
	dev := connect(t, ts, &edgetest.Device{})
	// A typed request still makes a sticker; the light shows busy, then
	// goes back to the standing error.
	res, err := dev.RunTypedTurn(turnCtx(t), "a cat")
	if err != nil || !res.ImageDelivered {
		t.Fatalf("typed turn: %+v, %v", res, err)
	}
	got := obs.wait(t, edge.ActivityError)
	if !slices.Contains(got, edge.ActivityBusy) {
		t.Fatalf("activities %v: no busy during the turn", got)
	}
}

func TestReprintLast(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: &edgetest.Transcriber{}, Images: &edgetest.ImageGenerator{}})
	ctx := turnCtx(t)
	if _, err := ts.ReprintLast(ctx); !errors.Is(err, edge.ErrNothingToReprint) {
		t.Fatalf("reprint before any sticker: %v, want ErrNothingToReprint", err)
	}

	maker := connect(t, ts, &edgetest.Device{ID: "aa:bb:cc:00:00:01"})
	other := connect(t, ts, &edgetest.Device{ID: "aa:bb:cc:00:00:02"})
	res, err := maker.RunTypedTurn(ctx, "a dragon")
	if err != nil || !res.ImageDelivered {
		t.Fatalf("turn: %+v, %v", res, err)
	}
	r, err := ts.ReprintLast(ctx)
	if err != nil {
		t.Fatalf("reprint: %v", err)
	}
	if r.Device != "aa:bb:cc:00:00:01" || r.ImageID == "" {
		t.Errorf("reprint %+v", r)
	}
	if p := previews(maker); len(p) != 2 || p[0] != p[1] || !strings.Contains(p[1], r.ImageID) {
		t.Errorf("maker was asked to print %v, want the same sticker twice", p)
	}
	if p := previews(other); len(p) != 0 {
		t.Errorf("another device was asked to print %v", p)
	}

	// The printer is out of paper: the error says so.
	maker.SetFaults(true, false)
	if _, err := ts.ReprintLast(ctx); !errors.Is(err, edge.ErrDeviceRefused) {
		t.Errorf("reprint on a refusing device: %v, want ErrDeviceRefused", err)
	}
	maker.SetFaults(false, false)

	// The device reconnects: the reprint goes to its new session.
	maker.Close()
	waitClosed(t, ts, maker.SessionID())
	if _, err := ts.ReprintLast(ctx); !errors.Is(err, edge.ErrDeviceOffline) {
		t.Fatalf("reprint with the device gone: %v, want ErrDeviceOffline", err)
	}
	again := connect(t, ts, &edgetest.Device{ID: "aa:bb:cc:00:00:01"})
	if _, err := ts.ReprintLast(ctx); err != nil {
		t.Fatalf("reprint after reconnect: %v", err)
	}
	if p := previews(again); len(p) != 1 || !strings.Contains(p[0], r.ImageID) {
		t.Errorf("reconnected device was asked to print %v", p)
	}

	// After a power cut: a new server on the same record still knows the
	// last sticker, and prints it on the printer when it is back.
	ts2 := startServer(t, edge.Config{}, edge.Deps{Store: ts.Store, Transcriber: &edgetest.Transcriber{}, Images: &edgetest.ImageGenerator{}})
	back := connect(t, ts2, &edgetest.Device{ID: "aa:bb:cc:00:00:01"})
	r2, err := ts2.ReprintLast(ctx)
	if err != nil {
		t.Fatalf("reprint after a restart: %v", err)
	}
	if r2.ImageID != r.ImageID || r2.Device != r.Device {
		t.Errorf("after a restart reprinted %+v, want %+v", r2, r)
	}
	if p := previews(back); len(p) != 1 || !strings.Contains(p[0], r.ImageID) {
		t.Errorf("after a restart the printer was asked to print %v", p)
	}
}

func TestEnrollmentWindow(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	// A printer keeps its Client-Id (a UUID in flash) across boots.
	bootAs := func(ts *testServer, id, clientID string) string {
		t.Helper()
		dev := &edgetest.Device{ID: id, ClientID: clientID, OTAURL: ts.OTAURL()}
		ans, err := dev.Boot(turnCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return ans.WebSocket.Token
	}
	boot := func(ts *testServer, id string) string {
		t.Helper()
		return bootAs(ts, id, "client-of-"+id)
	}

	t.Run("open by default", func(t *testing.T) {
		ts := startServer(t, edge.Config{Auth: edge.AuthConfig{Required: true, TokenSecret: secret}}, edge.Deps{})
		if boot(ts, "aa:00:00:00:00:01") == "" {
			t.Fatal("a new device got no token with enrollment open")
		}
		if _, err := ts.OpenEnrollment(); !errors.Is(err, edge.ErrEnrollmentOff) {
			t.Fatalf("OpenEnrollment with enrollment open: %v, want ErrEnrollmentOff", err)
		}
	})

	t.Run("auth off", func(t *testing.T) {
		ts := startServer(t, edge.Config{Auth: edge.AuthConfig{Enrollment: edge.EnrollWindow}}, edge.Deps{})
		if _, err := ts.OpenEnrollment(); !errors.Is(err, edge.ErrEnrollmentOff) {
			t.Fatalf("OpenEnrollment with auth off: %v, want ErrEnrollmentOff", err)
		}
	})

	t.Run("window", func(t *testing.T) {
		cfg := edge.Config{Auth: edge.AuthConfig{Required: true, TokenSecret: secret, Enrollment: edge.EnrollWindow}}
		ts := startServer(t, cfg, edge.Deps{})
		const first = "aa:00:00:00:00:01"
		if tok := boot(ts, first); tok != "" {
			t.Fatal("a new device got a token with the window closed")
		}
		if ts.EnrollmentOpen() {
			t.Fatal("window open before anyone opened it")
		}
		until, err := ts.OpenEnrollment()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(until); d <= 4*time.Minute || d > 5*time.Minute {
			t.Fatalf("window closes in %v, want the default 5 minutes", d)
		}
		if boot(ts, first) == "" {
			t.Fatal("a new device got no token during the window")
		}
		// (The window closing is tested on mayIssue, without waiting.)
		d, err := ts.Store.Device(first)
		if err != nil || d.Enrolled.IsZero() {
			t.Fatalf("enrolled device record %+v, %v", d, err)
		}
	})

	t.Run("approval enrolls", func(t *testing.T) {
		cfg := edge.Config{Auth: edge.AuthConfig{Required: true, TokenSecret: secret, Enrollment: edge.EnrollWindow}}
		ts := startServer(t, cfg, edge.Deps{})
		const id = "aa:00:00:00:00:03"
		if boot(ts, id) != "" {
			t.Fatal("a new device got a token with the window closed")
		}
		if _, err := ts.ApproveDevice(id); err != nil {
			t.Fatal(err)
		}
		if boot(ts, id) == "" {
			t.Fatal("an approved device got no token")
		}
	})

	t.Run("a copied MAC gets nothing", func(t *testing.T) {
		cfg := edge.Config{Auth: edge.AuthConfig{Required: true, TokenSecret: secret, Enrollment: edge.EnrollWindow}}
		ts := startServer(t, cfg, edge.Deps{})
		const id = "aa:00:00:00:00:04"
		if _, err := ts.OpenEnrollment(); err != nil {
			t.Fatal(err)
		}
		if boot(ts, id) == "" {
			t.Fatal("a new device got no token during the window")
		}
		// The window closed: a new server on the same record.
		ts2 := startServer(t, cfg, edge.Deps{Store: ts.Store})
		if bootAs(ts2, id, "another-client") != "" {
			t.Fatal("a device claiming an enrolled MAC with another Client-Id got a token outside a window")
		}
		if d, _ := ts2.Store.Device(id); d.ClientID != "client-of-"+id {
			t.Errorf("the impostor's Client-Id %q replaced the printer's", d.ClientID)
		}
		if boot(ts2, id) == "" {
			t.Fatal("the enrolled printer got no token after the impostor tried")
		}
		// Reflashed, the printer has a new Client-Id: an operator's
		// approval lets it in with the one it sends next.
		if _, err := ts2.ApproveDevice(id); err != nil {
			t.Fatal(err)
		}
		for boot := range 2 { // the first boot records the new Client-Id, the second is known by it
			if bootAs(ts2, id, "after-reflash") == "" {
				t.Fatalf("boot %d: an approved, reflashed printer got no token", boot+1)
			}
		}
		if bootAs(ts2, id, "client-of-"+id) != "" {
			t.Fatal("after the approval, the old Client-Id still gets a token outside a window")
		}
	})
}

// waitingTranscriber is in place but not ready until ready is set, as a
// speech engine waiting for its model is.
type waitingTranscriber struct {
	edgetest.Transcriber
	mu    sync.Mutex
	ready bool
}

func (w *waitingTranscriber) NotReady() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ready {
		return ""
	}
	return "no model yet"
}

func TestActivityFollowsReadiness(t *testing.T) {
	tr := &waitingTranscriber{}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: tr, Images: &edgetest.ImageGenerator{}})
	if a := ts.Activity(); a != edge.ActivityError {
		t.Fatalf("activity %v with speech recognition not ready, want error", a)
	}
	tr.mu.Lock()
	tr.ready = true
	tr.mu.Unlock()
	if a := ts.Activity(); a != edge.ActivityReady {
		t.Fatalf("activity %v once ready, want ready", a)
	}
}
