package cloud

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Limits of AWS API Gateway WebSocket APIs (PROTOCOL.md section 7).
const (
	GatewayMaxFrame   = 32 << 10
	GatewayMaxMessage = 128 << 10
	GatewayIdle       = 10 * time.Minute
	GatewayMaxAge     = 2 * time.Hour
)

// Config configures a Client. Zero fields get the defaults of Defaults.
type Config struct {
	// URL is the API Gateway WebSocket URL, wss://<id>.execute-api.<region>.amazonaws.com/<stage>.
	URL string
	// APIKey is sent as x-api-key on connect. Token, if set, is sent as
	// "Authorization: Bearer <token>"; otherwise the API key is.
	APIKey string
	Token  string

	// ProbeInterval is the time between probes while the cloud answers
	// (default 1 m); ProbeTimeout bounds one probe (default 5 s).
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// Backoff spaces probes while they fail (default 5 s doubling to
	// 5 m, half of each delay random).
	Backoff Backoff
	// DialTimeout bounds the WebSocket handshake (default 10 s);
	// WriteTimeout one frame write (default 10 s).
	DialTimeout  time.Duration
	WriteTimeout time.Duration
	// Heartbeat is how often an idle relay connection sends a small data
	// frame, well inside the gateway's 10-minute idle timeout (default 4 m).
	Heartbeat time.Duration
	// PongTimeout is how long a ping may wait for its pong (default
	// 2 s). A connection nothing was heard on for IdleCheck (default 5 s)
	// is pinged before it carries another turn, and given up on when no
	// pong comes: a network that died without a word (a router reboot)
	// sends no reset, and writes into it still succeed.
	PongTimeout time.Duration
	IdleCheck   time.Duration
	// ReconnectBefore retires a connection this long after it opened, well
	// before the gateway's 2-hour limit (default 1 h 50 m).
	ReconnectBefore time.Duration
	// BatchBytes bounds one wrapped audio frame, far below the 32 KB
	// frame limit (default 16 KiB).
	BatchBytes int
	// BreakerFailures consecutive failed connections open the breaker
	// (default 3) for BreakerOpen (default 1 m).
	BreakerFailures int
	BreakerOpen     time.Duration

	// RootCAs verifies the gateway's certificate; nil: the system roots.
	RootCAs *x509.CertPool
	// Proxy picks a proxy for a request; nil: HTTPS_PROXY and friends
	// (http.ProxyFromEnvironment).
	Proxy func(*http.Request) (*url.URL, error)
	// Clock drives the probe, the breaker and the heartbeat; nil: the
	// wall clock.
	Clock Clock
	// Rand returns a number in [0, 1) for jitter; nil: math/rand/v2.
	Rand func() float64
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	def(&c.ProbeInterval, time.Minute)
	def(&c.ProbeTimeout, 5*time.Second)
	def(&c.Backoff.Min, 5*time.Second)
	def(&c.Backoff.Max, 5*time.Minute)
	if c.Backoff.Jitter == 0 {
		c.Backoff.Jitter = 0.5
	}
	def(&c.DialTimeout, 10*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.Heartbeat, 4*time.Minute)
	def(&c.ReconnectBefore, 110*time.Minute)
	def(&c.PongTimeout, 2*time.Second)
	def(&c.IdleCheck, 5*time.Second)
	if c.BatchBytes == 0 {
		c.BatchBytes = 16 << 10
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 3
	}
	def(&c.BreakerOpen, time.Minute)
	return c
}

// Validate checks a configuration after Defaults.
func (c Config) Validate() error {
	if c.URL == "" {
		return ErrNoURL
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		return fmt.Errorf("%q: %w", c.URL, ErrBadURL)
	}
	if c.Heartbeat >= GatewayIdle {
		return fmt.Errorf("heartbeat %s must be well inside the gateway's %s idle timeout", c.Heartbeat, GatewayIdle)
	}
	if c.ReconnectBefore >= GatewayMaxAge {
		return fmt.Errorf("reconnect_before %s must be shorter than the gateway's %s connection limit", c.ReconnectBefore, GatewayMaxAge)
	}
	if c.BatchBytes < 1024 || c.BatchBytes > GatewayMaxFrame/2 {
		return fmt.Errorf("batch_bytes %d must be between 1024 and %d (half the gateway's frame limit)", c.BatchBytes, GatewayMaxFrame/2)
	}
	if c.Backoff.Min > c.Backoff.Max {
		return fmt.Errorf("backoff minimum %s is above its maximum %s", c.Backoff.Min, c.Backoff.Max)
	}
	return nil
}

// String describes the configuration with its secrets masked, so that a
// Config printed or logged by mistake gives nothing away.
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return "none"
		}
		return "****"
	}
	return fmt.Sprintf("cloud %s api_key=%s token=%s", c.URL, mask(c.APIKey), mask(c.Token))
}

// LogValue logs the configuration as String does.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }
