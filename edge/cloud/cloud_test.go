package cloud_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/edge/cloud/cloudtest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/internal/testwait"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

func newClient(t *testing.T, gw *cloudtest.Gateway, cfg cloud.Config) *cloud.Client {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = gw.URL()
	}
	if cfg.APIKey == "" {
		cfg.APIKey = gw.APIKey
	}
	if cfg.RootCAs == nil {
		cfg.RootCAs = gw.RootCAs()
	}
	if cfg.Proxy == nil {
		cfg.Proxy = noProxy
	}
	cfg.Logger = quiet()
	c, err := cloud.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startGateway(t *testing.T, gw *cloudtest.Gateway) *cloudtest.Gateway {
	if gw == nil {
		gw = &cloudtest.Gateway{}
	}
	gw.Start()
	t.Cleanup(gw.Close)
	return gw
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestBackoff(t *testing.T) {
	b := cloud.Backoff{Min: time.Second, Max: 30 * time.Second, Jitter: 0.5}
	for _, tc := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{0, 0, time.Second}, {1, 0, 2 * time.Second}, {4, 0, 16 * time.Second},
		{5, 0, 30 * time.Second}, {60, 0, 30 * time.Second}, // capped, no overflow
		{0, 0.5, 750 * time.Millisecond}, {3, 0.999, 8*time.Second - time.Duration(0.999*0.5*float64(8*time.Second))},
	} {
		if got := b.Delay(tc.n, tc.r); got != tc.want {
			t.Errorf("Delay(%d, %v) = %s, want %s", tc.n, tc.r, got, tc.want)
		}
	}
	for n := 0; n < 10; n++ {
		if d := b.Delay(n, 0.9999); d < b.Delay(n, 0)/2 || d > b.Max {
			t.Errorf("Delay(%d) = %s outside [half the delay, max]", n, d)
		}
	}
}

func TestBreaker(t *testing.T) {
	clock := cloudtest.NewClock()
	b := cloud.NewBreaker(3, time.Minute, clock)
	for i := 0; i < 2; i++ {
		if !b.Allow() {
			t.Fatal("closed breaker refused")
		}
		b.Failure()
	}
	if b.State() != proto.BreakerClosed {
		t.Fatalf("state %s after 2 of 3 failures", b.State())
	}
	b.Success() // a success resets the count
	for i := 0; i < 3; i++ {
		b.Failure()
	}
	if b.State() != proto.BreakerOpen || b.Allow() {
		t.Fatalf("state %s after 3 failures, want open and refusing", b.State())
	}
	clock.Advance(59 * time.Second)
	if b.Allow() {
		t.Fatal("allowed before the cool-down ended")
	}
	clock.Advance(time.Second)
	if b.State() != proto.BreakerHalfOpen || !b.Allow() {
		t.Fatalf("state %s after the cool-down, want half-open allowing a trial", b.State())
	}
	if b.Allow() {
		t.Fatal("half-open allowed a second trial at once")
	}
	b.Failure()
	if b.State() != proto.BreakerOpen {
		t.Fatalf("failed trial left state %s, want open", b.State())
	}
	clock.Advance(time.Minute)
	if !b.Allow() {
		t.Fatal("no trial after the second cool-down")
	}
	b.Success()
	if b.State() != proto.BreakerClosed || !b.Allow() {
		t.Fatalf("good trial left state %s, want closed", b.State())
	}
}

// TestProbeBackoff drives the probe loop with a fake clock: while the
// check fails the waits grow as the back-off says; when it succeeds they
// return to the interval; the state follows.
func TestProbeBackoff(t *testing.T) {
	clock := cloudtest.NewClock()
	c, err := cloud.New(cloud.Config{URL: "wss://cloud.invalid/prod", ProbeInterval: time.Minute,
		Backoff: cloud.Backoff{Min: 5 * time.Second, Max: 40 * time.Second, Jitter: 0.5},
		Clock:   clock, Rand: func() float64 { return 0.5 }, Proxy: noProxy, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	fail.Store(true)
	var checks atomic.Int32
	c.SetCheck(func(context.Context) error {
		checks.Add(1)
		if fail.Load() {
			return errors.New("no route to host")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }() // ends when ctx is cancelled
	start := clock.Now()
	// Jitter 0.5 at r=0.5 takes a quarter off each delay.
	for i, want := range []time.Duration{3750 * time.Millisecond, 7500 * time.Millisecond, 15 * time.Second, 30 * time.Second, 30 * time.Second} {
		if !clock.WaitTimers(1, 5*time.Second) {
			t.Fatalf("probe %d: no timer set", i+1)
		}
		if p := clock.Pending(); len(p) != 1 || p[0] != want {
			t.Fatalf("after failed probe %d the wait is %v, want %s", i+1, p, want)
		}
		st := c.State()
		if st.Reachable || !st.UnreachableSince.Equal(start) || !strings.Contains(st.LastError, "no route to host") {
			t.Fatalf("state after failure %d: %+v", i+1, st)
		}
		if i == 4 {
			fail.Store(false)
		}
		clock.Advance(want)
	}
	if !clock.WaitTimers(1, 5*time.Second) {
		t.Fatal("no timer after the good probe")
	}
	if p := clock.Pending(); len(p) != 1 || p[0] != time.Minute {
		t.Fatalf("after a good probe the wait is %v, want the 1m interval", p)
	}
	if st := c.State(); !st.Reachable || !st.UnreachableSince.IsZero() || st.LastError != "" || !c.Available() {
		t.Fatalf("state after recovery: %+v", st)
	}
	if n := checks.Load(); n != 6 {
		t.Errorf("%d checks, want 6", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// TestProbeReal probes over the network: a TLS handshake with the fake
// gateway succeeds with its roots, fails with the system's, and a closed
// port fails to connect.
func TestProbeReal(t *testing.T) {
	gw := startGateway(t, nil)
	if err := newClient(t, gw, cloud.Config{}).Check(ctxT(t)); err != nil {
		t.Fatalf("probe of the fake: %v", err)
	}
	c, err := cloud.New(cloud.Config{URL: gw.URL(), Proxy: noProxy, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctxT(t)); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("probe with system roots of a self-signed server: %v, want a TLS error", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c = newClient(t, gw, cloud.Config{URL: "wss://" + addr + "/x"})
	if err := c.Check(ctxT(t)); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("probe of a closed port: %v", err)
	}
	if gw.Stats().Attempts != 0 {
		t.Error("a probe made a WebSocket request")
	}
}

// connectProxy is an HTTP CONNECT proxy on 127.0.0.1 that counts tunnels.
func connectProxy(t *testing.T) (*url.URL, *atomic.Int32) {
	var n atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() { // ends when the listener is closed
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { // ends when either side closes
				defer wg.Done()
				defer conn.Close()
				br := bufio.NewReader(conn)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect || !strings.HasPrefix(req.Host, "127.0.0.1:") {
					io.WriteString(conn, "HTTP/1.1 403 Forbidden\r\n\r\n")
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					return
				}
				defer up.Close()
				n.Add(1)
				io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() { io.Copy(up, br); up.Close() }() // ends when the client side closes
				io.Copy(conn, up)
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, &n
}

// TestProxy: the probe and the relay go through the configured proxy.
func TestProxy(t *testing.T) {
	gw := startGateway(t, nil)
	pu, tunnels := connectProxy(t)
	c := newClient(t, gw, cloud.Config{Proxy: func(*http.Request) (*url.URL, error) { return pu, nil }})
	if err := c.Check(ctxT(t)); err != nil {
		t.Fatalf("probe through the proxy: %v", err)
	}
	conn, err := c.Dial(ctxT(t), cloud.Device{ID: "aa:bb"})
	if err != nil {
		t.Fatalf("dial through the proxy: %v", err)
	}
	conn.Close()
	if n := tunnels.Load(); n != 2 {
		t.Errorf("the proxy carried %d tunnels, want 2", n)
	}
}

func TestDialKey(t *testing.T) {
	gw := startGateway(t, &cloudtest.Gateway{APIKey: "right-key"})
	c := newClient(t, gw, cloud.Config{APIKey: "wrong-key"})
	if _, err := c.Dial(ctxT(t), cloud.Device{}); !errors.Is(err, cloud.ErrUnauthorized) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("wrong key: %v, want 403 unauthorized", err)
	}
	if strings.Contains(c.State().LastError, "wrong-key") {
		t.Error("the key appears in the state's error")
	}
	// Without a key the fake answers 401, as API Gateway does.
	d := websocket.Dialer{TLSClientConfig: tlsFor(gw)}
	_, resp, err := d.Dial(gw.URL(), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no key: %v %v, want 401", err, resp)
	}
}

// TestGatewayEnforcesLimits: the fake closes with 1003 on a binary frame
// and 1009 beyond 32 KB, as API Gateway does, and with 1001 when idle.
func TestGatewayEnforcesLimits(t *testing.T) {
	gw := startGateway(t, &cloudtest.Gateway{IdleTimeout: 300 * time.Millisecond})
	dial := func() *websocket.Conn {
		d := websocket.Dialer{TLSClientConfig: tlsFor(gw)}
		ws, _, err := d.Dial(gw.URL(), http.Header{"X-Api-Key": {gw.APIKey}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	closeCode := func(ws *websocket.Conn) int {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return ce.Code
				}
				return -1
			}
		}
	}
	ws := dial()
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	if code := closeCode(ws); code != websocket.CloseUnsupportedData {
		t.Errorf("binary frame: close %d, want 1003", code)
	}
	ws = dial()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","x":"`+strings.Repeat("a", 40<<10)+`"}`))
	if code := closeCode(ws); code != websocket.CloseMessageTooBig {
		t.Errorf("40 KB frame: close %d, want 1009", code)
	}
	ws = dial() // says nothing
	if code := closeCode(ws); code != websocket.CloseGoingAway {
		t.Errorf("idle: close %d, want 1001", code)
	}
}

// TestGatewayMaxAge: the fake ends a busy connection at its maximum age,
// as API Gateway does at two hours.
func TestGatewayMaxAge(t *testing.T) {
	gw := startGateway(t, &cloudtest.Gateway{MaxAge: 300 * time.Millisecond})
	c := newClient(t, gw, cloud.Config{})
	conn, err := c.Dial(ctxT(t), cloud.Device{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := ctxT(t)
	for {
		select {
		case <-conn.Done():
			var ce *websocket.CloseError
			if !errors.As(conn.Err(), &ce) || ce.Code != websocket.CloseGoingAway {
				t.Fatalf("connection ended with %v, want close 1001", conn.Err())
			}
			if c.State().Drops != 1 {
				t.Errorf("drops %d, want 1", c.State().Drops)
			}
			return
		case <-time.After(50 * time.Millisecond):
			_ = conn.Send(ctx, []byte(`{"type":"heartbeat"}`)) // busy, never idle
		case <-ctx.Done():
			t.Fatal("connection not ended at the maximum age")
		}
	}
}

// TestSendOpusBatches: Opus packets go as text, batched under the limit.
func TestSendOpusBatches(t *testing.T) {
	gw := startGateway(t, nil)
	c := newClient(t, gw, cloud.Config{BatchBytes: 8 << 10})
	conn, err := c.Dial(ctxT(t), cloud.Device{ID: "aa:bb"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pk := make([][]byte, 200)
	for i := range pk {
		pk[i] = make([]byte, 1000)
	}
	if err := conn.SendOpus(ctxT(t), pk); err != nil {
		t.Fatal(err)
	}
	if err := conn.SendOpus(ctxT(t), [][]byte{make([]byte, 9000)}); !errors.Is(err, cloud.ErrTooBig) {
		t.Errorf("a packet larger than a batch: %v, want ErrTooBig", err)
	}
	if err := conn.Send(ctxT(t), make([]byte, 33<<10)); !errors.Is(err, cloud.ErrTooBig) {
		t.Errorf("a 33 KB message: %v, want ErrTooBig", err)
	}
	testwait.For(t, "200 Opus packets at the cloud", func() bool { return gw.Stats().OpusPackets == 200 })
	st := gw.Stats()
	if st.MaxFrame > 8<<10 || st.Types["audio"] < 25 || st.Routes["audio"] != 0 || len(st.Closes) != 0 {
		t.Errorf("largest frame %d, %d audio messages, closes %v", st.MaxFrame, st.Types["audio"], st.Closes)
	}
}

// TestHeartbeatAndRetire: an idle connection sends a heartbeat every
// Heartbeat, and is retired once older than ReconnectBefore.
func TestHeartbeatAndRetire(t *testing.T) {
	gw := startGateway(t, nil)
	clock := cloudtest.NewClock()
	c := newClient(t, gw, cloud.Config{Clock: clock, Heartbeat: 4 * time.Minute, ReconnectBefore: 10 * time.Minute})
	conn, err := c.Dial(ctxT(t), cloud.Device{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 1; i <= 2; i++ {
		if !clock.WaitTimers(1, 5*time.Second) {
			t.Fatal("no heartbeat timer")
		}
		clock.Advance(4 * time.Minute)
		testwait.For(t, fmt.Sprintf("heartbeat %d", i), func() bool { return gw.Stats().Types["heartbeat"] == i })
	}
	if st := gw.Stats(); st.Routes["heartbeat"] != 0 || st.Routes["$default"] != 2 {
		t.Errorf("routes %v: heartbeats have no route of their own and reach $default", st.Routes)
	}
	if !conn.Fresh() {
		t.Fatal("not fresh at 8 minutes")
	}
	if !clock.WaitTimers(1, 5*time.Second) {
		t.Fatal("no heartbeat timer")
	}
	clock.Advance(4 * time.Minute)
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not retired after ReconnectBefore")
	}
	if conn.Fresh() || !errors.Is(conn.Err(), cloud.ErrClosed) {
		t.Fatalf("retired connection: fresh %v err %v", conn.Fresh(), conn.Err())
	}
	if st := c.State(); st.Drops != 0 {
		t.Errorf("a retirement counted as %d drops", st.Drops)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  cloud.Config
		want string
	}{
		{cloud.Config{}, "no URL"},
		{cloud.Config{URL: "https://x/y"}, "wss://"},
		{cloud.Config{URL: "wss://x/y", Heartbeat: 10 * time.Minute}, "idle"},
		{cloud.Config{URL: "wss://x/y", ReconnectBefore: 2 * time.Hour}, "2h"},
		{cloud.Config{URL: "wss://x/y", BatchBytes: 20 << 10}, "batch_bytes"},
	} {
		_, err := cloud.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
}

// helloed dials the cloud, says hello and reads its answer: a connection
// that has worked.
func helloed(t *testing.T, c *cloud.Client) *cloud.Conn {
	t.Helper()
	conn, err := c.Dial(ctxT(t), cloud.Device{})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Send(ctxT(t), []byte(`{"type":"hello","version":1}`)); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	if _, _, err := conn.Recv(ctxT(t)); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return conn
}

func TestConfigMasksSecrets(t *testing.T) {
	c := cloud.Config{URL: "wss://x/prod", APIKey: "sk-very-secret", Token: "tok-secret"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "cloud", c)
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v", c, c), b.String()} {
		if strings.Contains(s, "secret") {
			t.Errorf("secret shown: %s", s)
		}
	}
}

// BenchmarkSendOpus measures wrapping and sending 10 s of Opus (167
// packets of 120 bytes, a typical voice bit rate) to the fake gateway.
func BenchmarkSendOpus(b *testing.B) {
	gw := &cloudtest.Gateway{}
	gw.Start()
	defer gw.Close()
	c, err := cloud.New(cloud.Config{URL: gw.URL(), APIKey: gw.APIKey, RootCAs: gw.RootCAs(), Proxy: noProxy, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := c.Dial(context.Background(), cloud.Device{})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	pk := make([][]byte, 167)
	for i := range pk {
		pk[i] = make([]byte, 120)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := conn.SendOpus(context.Background(), pk); err != nil {
			b.Fatal(err)
		}
	}
}

// A refused key stays in the state while the breaker is open, even when
// probes (which send no key) succeed; a working connection clears it.
func TestDialErrorOutlivesProbe(t *testing.T) {
	gw := startGateway(t, nil)
	gw.SetFaults(cloudtest.Faults{RefuseStatus: http.StatusForbidden})
	clock := cloudtest.NewClock()
	c := newClient(t, gw, cloud.Config{BreakerFailures: 1, BreakerOpen: time.Minute, Clock: clock})
	if _, err := c.Dial(ctxT(t), cloud.Device{}); !errors.Is(err, cloud.ErrUnauthorized) {
		t.Fatalf("refused key: %v", err)
	}
	if err := c.Check(ctxT(t)); err != nil {
		t.Fatalf("probe: %v", err)
	}
	st := c.State()
	if !st.Reachable || st.LastError != "" || st.Breaker != proto.BreakerOpen || !strings.Contains(st.LastDialError, "403") {
		t.Fatalf("after a refused dial and a good probe: %+v; want reachable, breaker open, the 403 kept", st)
	}
	gw.SetFaults(cloudtest.Faults{})
	clock.Advance(time.Minute)
	conn := helloed(t, c)
	defer conn.Close()
	if st := c.State(); st.LastDialError != "" || st.Breaker != proto.BreakerClosed {
		t.Errorf("after a working connection: %+v; want the dial error cleared", st)
	}
}

// A connection whose network died without a word is found out by the
// ping before it is reused, and counts as lost.
func TestCheckFindsDeadConnection(t *testing.T) {
	gw := startGateway(t, nil)
	fz, err := cloudtest.NewFreezer(gw.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fz.Close)
	clock := cloudtest.NewClock()
	c := newClient(t, gw, cloud.Config{URL: "wss://" + fz.Addr() + "/prod", Clock: clock, BreakerFailures: 1})
	conn := helloed(t, c)
	defer conn.Close()
	// Just heard from: no ping needed.
	if err := conn.Check(ctxT(t)); err != nil {
		t.Fatalf("check right after the hello: %v", err)
	}
	// Idle, but alive: the ping gets its pong.
	clock.Advance(6 * time.Second)
	if err := conn.Check(ctxT(t)); err != nil {
		t.Fatalf("check of a live idle connection: %v", err)
	}
	clock.Advance(6 * time.Second)
	fz.Freeze()
	errc := make(chan error, 1)
	go func() { errc <- conn.Check(ctxT(t)) }() // ends when the check's timer fires
	if !clock.WaitTimers(2, 5*time.Second) {    // the heartbeat's and the pong's
		t.Fatal("no pong timer")
	}
	clock.Advance(2 * time.Second)
	if err := <-errc; !errors.Is(err, cloud.ErrNoPong) {
		t.Fatalf("check of a frozen connection: %v, want ErrNoPong", err)
	}
	if conn.Fresh() {
		t.Error("a dead connection is still fresh")
	}
	if st := c.State(); st.Drops != 1 || st.Breaker != proto.BreakerOpen {
		t.Errorf("state %+v: want the dead connection counted as lost", st)
	}
}

// A caller that gives up (its turn aborted) holds nothing against the
// cloud: neither a cancelled dial nor a connection abandoned before the
// cloud answered opens the breaker, and a half-open trial is released.
func TestCallerGivingUpIsNoFailure(t *testing.T) {
	gw := startGateway(t, nil)
	gw.SetFaults(cloudtest.Faults{NoHello: true})
	clock := cloudtest.NewClock()
	c := newClient(t, gw, cloud.Config{Clock: clock, BreakerFailures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Dial(ctx, cloud.Device{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled dial: %v", err)
	}
	if st := c.State(); st.Breaker != proto.BreakerClosed || st.DialFailures != 0 {
		t.Fatalf("after a cancelled dial: %+v, want the breaker closed", st)
	}
	conn, err := c.Dial(ctxT(t), cloud.Device{})
	if err != nil {
		t.Fatal(err)
	}
	conn.Abandon()
	if st := c.State(); st.Breaker != proto.BreakerClosed || st.DialFailures != 0 {
		t.Fatalf("after an abandoned connection: %+v, want the breaker closed", st)
	}
	// A connection given up on by its own timeout still counts.
	conn, err = c.Dial(ctxT(t), cloud.Device{})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if st := c.State(); st.Breaker != proto.BreakerOpen || st.DialFailures != 1 {
		t.Fatalf("after no hello: %+v, want the breaker open", st)
	}
	clock.Advance(time.Minute)
	conn, err = c.Dial(ctxT(t), cloud.Device{}) // the half-open trial
	if err != nil {
		t.Fatal(err)
	}
	conn.Abandon()
	conn, err = c.Dial(ctxT(t), cloud.Device{})
	if err != nil {
		t.Fatalf("after an abandoned trial: %v, want another trial let through", err)
	}
	conn.Abandon()
}
