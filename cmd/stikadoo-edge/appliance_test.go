package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/stikadoo/stikadoo-edge/discovery"
	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/internal/testwait"
	"github.com/stikadoo/stikadoo-edge/panel"
	"github.com/stikadoo/stikadoo-edge/storage"
)

// TestPanelReachesGateway wires a panel on fake pins to a real gateway as
// serve does: the light follows the gateway's activity, a long press
// opens enrollment, and a short press with nothing to reprint is
// harmless.
func TestPanelReachesGateway(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "edge.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	led := &gpiotest.Pin{N: "GPIO17"}
	btn := &gpiotest.Pin{N: "GPIO27", EdgesChan: make(chan gpio.Level), Clock: clockwork.NewRealClock()}
	fc := clockwork.NewFakeClock()
	log := slog.New(slog.DiscardHandler)
	acts := &gatewayActions{log: log}
	pnl := panel.New(panel.Config{LED: "GPIO17", Button: "GPIO27", ButtonActiveLow: true}, led, btn, acts, fc, log)
	srv, err := edge.NewServer(edge.Config{Auth: edge.AuthConfig{Required: true, TokenSecret: make([]byte, 32), Enrollment: edge.EnrollWindow}},
		edge.Deps{Store: st, Logger: log, Observer: panelObserver{pnl}})
	if err != nil {
		t.Fatal(err)
	}
	acts.srv = srv

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pnl.Run(ctx) }() // ends when ctx is cancelled
	defer func() {
		cancel()
		<-done
	}()

	// No engines: the gateway reports an error, which the light shows as
	// its two-flash pattern (it waits on the clock; steady states do not).
	panelObserver{pnl}.GatewayActivity(srv.Activity())
	testwait.For(t, "the error pattern", func() bool { return led.Read() == gpio.High })
	blocked := make(chan struct{})
	go func() { fc.BlockUntil(1); close(blocked) }() // ends when the pattern's timer is armed
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("the light shows no blinking pattern for the gateway's error")
	}
	panelObserver{pnl}.GatewayActivity(edge.ActivityReady)
	fc.Advance(time.Hour)
	testwait.For(t, "steady on", func() bool { return led.Read() == gpio.High })

	press := func(d time.Duration) {
		btn.EdgesChan <- gpio.Low
		btn.EdgesChan <- gpio.Low // returns once the press is handled
		fc.Advance(d)
		btn.EdgesChan <- gpio.High
		btn.EdgesChan <- gpio.High
	}
	press(200 * time.Millisecond) // nothing to reprint yet: logged, no harm
	if srv.EnrollmentOpen() {
		t.Fatal("enrollment open before a long press")
	}
	btn.EdgesChan <- gpio.Low
	btn.EdgesChan <- gpio.Low
	fc.Advance(panel.DefaultLongPress)
	testwait.For(t, "enrollment open", srv.EnrollmentOpen)
	btn.EdgesChan <- gpio.High
	btn.EdgesChan <- gpio.High

	if err := acts.Reprint(context.Background()); !errors.Is(err, edge.ErrNothingToReprint) {
		t.Errorf("reprint with no sticker: %v", err)
	}
}

func TestServerID(t *testing.T) {
	a, b := serverID(make([]byte, 32)), serverID([]byte("another key of thirty-two bytes!"))
	if len(a) != 12 || a == b || serverID(make([]byte, 32)) != a {
		t.Fatalf("server ids %q %q: want 12 hex digits, stable per key, different across keys", a, b)
	}
}

// TestPrintFound lists a server as discover does, with what a hostile
// LAN could put in a name kept away from the terminal.
func TestPrintFound(t *testing.T) {
	var b strings.Builder
	printFound(&b, []discovery.Found{{
		Instance: "Stikadoo Edge (pi)\x1b[2J", Host: "pi.local", Port: 8000,
		IPs: []net.IP{net.ParseIP("192.168.1.20"), net.ParseIP("192.168.2.20")},
		TXT: map[string]string{"path": "/xiaozhi/ota/", "ws": "/xiaozhi/v1/", "id": "0123456789ab", "ver": "1.2.3"},
	}}, false)
	want := "Stikadoo Edge (pi)\uFFFD[2J\n" +
		"  host:     pi.local port 8000\n" +
		"  id:       0123456789ab\n" +
		"  version:  1.2.3\n" +
		"  ota url:  http://192.168.1.20:8000/xiaozhi/ota/ http://192.168.2.20:8000/xiaozhi/ota/\n" +
		"  ws path:  /xiaozhi/v1/\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printFound(&b, []discovery.Found{{Instance: "x", Port: 1, TXT: map[string]string{}}}, true)
	if !strings.Contains(b.String(), `"instance":"x"`) || !strings.HasSuffix(b.String(), "}\n") {
		t.Errorf("JSON line %q", b.String())
	}
}

// TestDevicesEnroll opens an enrollment window on a running daemon from
// the command line: a new device then gets a token.
func TestDevicesEnroll(t *testing.T) {
	clearSecretEnv(t)
	otaToken := func(base, id string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/xiaozhi/ota/", strings.NewReader(`{}`))
		req.Header.Set("Device-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			WebSocket struct {
				Token string `json:"token"`
			} `json:"websocket"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
			t.Fatal(err)
		}
		return ans.WebSocket.Token
	}

	addr, _, _ := startRun(t, testConfig(t, "[auth]\nrequired = true\nenrollment = \"window\"\n"))
	base := "http://" + addr
	if otaToken(base, "aa:bb:cc:00:00:10") != "" {
		t.Fatal("a new device got a token before any window")
	}
	code, out, errOut := cli(t, "devices", "enroll", "--server", base)
	if code != exitOK || !strings.Contains(out, "new devices get a token at their next start until ") {
		t.Fatalf("devices enroll: exit %d, %q %q", code, out, errOut)
	}
	if otaToken(base, "aa:bb:cc:00:00:10") == "" {
		t.Fatal("a new device got no token during the window")
	}

	open, _, _ := startRun(t, testConfig(t, ""))
	code, _, errOut = cli(t, "devices", "enroll", "--server", "http://"+open)
	if code != exitError || !strings.Contains(errOut, "not in use") || !strings.Contains(errOut, "HTTP 409") {
		t.Fatalf("enroll with enrollment open: exit %d, %q", code, errOut)
	}
}

// TestApproveOfflineEnrolls: approving a device in the record file (no
// server running) enrolls it too.
func TestApproveOfflineEnrolls(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "edge.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.UpdateDevice("aa:bb:cc:00:00:11", func(d *proto.Device) error { d.FirstSeen = time.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	d, err := storeRecords{st}.Approve(context.Background(), "aa:bb:cc:00:00:11")
	if err != nil || d.Enrolled.IsZero() {
		t.Fatalf("approved offline: %+v, %v", d, err)
	}
}
