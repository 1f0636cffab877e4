package cloud

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Client is the cloud backend as one Pi sees it: the reachability
// probe's verdict, the circuit breaker, and relay connections. It is safe
// for concurrent use.
type Client struct {
	cfg     Config
	u       *url.URL
	log     *slog.Logger
	clock   Clock
	breaker *Breaker
	rand    func() float64

	// check is the probe; a field so tests can replace the network.
	check func(ctx context.Context) error

	mu        sync.Mutex
	probed    bool
	reachable bool
	lastProbe time.Time
	downSince time.Time
	lastErr   string // the probe's
	dialErr   string // the last failed dial's, until a connection works

	dials, dialFails, drops atomic.Int64
}

// New checks cfg (after Defaults) and returns a Client. It contacts
// nothing: call Run to probe in the background, or Check once.
func New(cfg Config) (*Client, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	u, _ := url.Parse(cfg.URL)
	c := &Client{cfg: cfg, u: u, log: cfg.Logger, clock: cfg.Clock, rand: cfg.Rand}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.clock == nil {
		c.clock = RealClock{}
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.cfg.Proxy == nil {
		c.cfg.Proxy = http.ProxyFromEnvironment
	}
	c.breaker = NewBreaker(cfg.BreakerFailures, cfg.BreakerOpen, c.clock)
	c.check = c.probe
	return c, nil
}

// Host is the cloud endpoint's host (for logs; it holds no secret).
func (c *Client) Host() string { return c.u.Host }

// Breaker returns the client's circuit breaker.
func (c *Client) Breaker() *Breaker { return c.breaker }

// Run probes the cloud until ctx is done: every ProbeInterval while it
// answers, with exponential back-off and jitter while it does not. It
// returns nil when ctx is done.
func (c *Client) Run(ctx context.Context) error {
	fails := 0
	for {
		wait := c.cfg.ProbeInterval
		if err := c.Check(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = c.cfg.Backoff.Delay(fails, c.rand())
			fails++
		} else {
			fails = 0
		}
		t := c.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// Check probes the cloud once, now, and records the verdict.
func (c *Client) Check(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
	err := c.check(pctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("probe %s: %w", c.u.Host, err)
	}
	c.record(err)
	return err
}

func (c *Client) record(err error) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.reachable
	first := !c.probed
	c.probed, c.lastProbe = true, now
	if err == nil {
		c.reachable, c.downSince, c.lastErr = true, time.Time{}, ""
		if !was {
			c.log.Info("cloud reachable", "host", c.u.Host)
		}
		return
	}
	c.reachable, c.lastErr = false, err.Error()
	if was || first {
		c.downSince = now
		c.log.Warn("cloud unreachable", "host", c.u.Host, "err", err)
	}
}

// Available reports whether a turn may be relayed now: the last probe
// reached the cloud and the breaker is not open.
func (c *Client) Available() bool {
	c.mu.Lock()
	ok := c.reachable
	c.mu.Unlock()
	return ok && c.breaker.State() != proto.BreakerOpen
}

// State reports reachability, the breaker and the connection counters.
// Policy is left for the gateway to fill in.
func (c *Client) State() proto.CloudState {
	c.mu.Lock()
	s := proto.CloudState{Host: c.u.Host, Reachable: c.reachable, LastProbe: c.lastProbe,
		UnreachableSince: c.downSince, LastError: c.lastErr, LastDialError: c.dialErr}
	c.mu.Unlock()
	s.Breaker = c.breaker.State()
	s.Dials, s.DialFailures, s.Drops = c.dials.Load(), c.dialFails.Load(), c.drops.Load()
	return s
}

// probe resolves the host and completes a TLS handshake with it (a TCP
// connection for ws:// URLs), through the proxy when one is configured.
// It sends no HTTP request and no ICMP.
func (c *Client) probe(ctx context.Context) error {
	host, port := c.u.Hostname(), c.u.Port()
	if port == "" {
		port = "443"
		if c.u.Scheme == "ws" {
			port = "80"
		}
	}
	addr := net.JoinHostPort(host, port)
	var d net.Dialer
	var conn net.Conn
	proxy, err := c.cfg.Proxy(&http.Request{Method: http.MethodGet, URL: c.httpURL(), Header: http.Header{}})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	if proxy != nil {
		conn, err = c.dialProxy(ctx, proxy, addr)
		if err != nil {
			return err
		}
	} else {
		if net.ParseIP(host) == nil {
			if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
				return fmt.Errorf("resolve: %w", err)
			}
		}
		conn, err = d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
	}
	defer conn.Close()
	if c.u.Scheme == "ws" {
		return nil
	}
	tc := tls.Client(conn, c.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	return nil
}

// httpURL is the cloud URL with an http scheme, which is what proxy
// selection looks at.
func (c *Client) httpURL() *url.URL {
	u := *c.u
	u.Scheme = "https"
	if c.u.Scheme == "ws" {
		u.Scheme = "http"
	}
	return &u
}

func (c *Client) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: c.u.Hostname(), RootCAs: c.cfg.RootCAs, MinVersion: tls.VersionTLS12}
}

// dialProxy opens a tunnel to addr through an HTTP proxy with CONNECT.
func (c *Client) dialProxy(ctx context.Context, proxy *url.URL, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", proxy.Host)
	if err != nil {
		return nil, fmt.Errorf("connect to proxy %s: %w", proxy.Host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if u := proxy.User; u != nil {
		p, _ := u.Password()
		req.SetBasicAuth(u.Username(), p)
		req.Header.Set("Proxy-Authorization", req.Header.Get("Authorization"))
		req.Header.Del("Authorization")
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: %w", proxy.Host, err)
	}
	// The answer is read through a limit: a proxy gets 16 KiB to say yes.
	resp, err := http.ReadResponse(bufio.NewReaderSize(io.LimitReader(conn, 16<<10), 4096), req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: %w", proxy.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: %s: %w", proxy.Host, resp.Status, ErrProxy)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}
