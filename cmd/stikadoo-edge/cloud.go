package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Environment variables of the cloud's secrets.
const (
	envCloudAPIKey     = "STIKADOO_CLOUD_API_KEY"
	envCloudAPIKeyFile = "STIKADOO_CLOUD_API_KEY_FILE"
	envCloudToken      = "STIKADOO_CLOUD_TOKEN"
	envCloudTokenFile  = "STIKADOO_CLOUD_TOKEN_FILE"
)

// cloudFile is the [cloud] section. The policy and the relay's turn
// timeouts go to the gateway (edge.Config.Cloud); the rest to the client.
type cloudFile struct {
	URL             string   `toml:"url"`
	Policy          string   `toml:"policy"`
	APIKey          string   `toml:"api_key"`
	Token           string   `toml:"token"`
	ProbeInterval   duration `toml:"probe_interval"`
	ProbeTimeout    duration `toml:"probe_timeout"`
	BackoffMin      duration `toml:"backoff_min"`
	BackoffMax      duration `toml:"backoff_max"`
	DialTimeout     duration `toml:"dial_timeout"`
	HelloTimeout    duration `toml:"hello_timeout"`
	TurnTimeout     duration `toml:"turn_timeout"`
	FirstEvent      duration `toml:"first_event_timeout"`
	PongTimeout     duration `toml:"pong_timeout"`
	IdleCheck       duration `toml:"idle_check"`
	Heartbeat       duration `toml:"heartbeat"`
	ReconnectBefore duration `toml:"reconnect_before"`
	BatchBytes      int      `toml:"batch_bytes"`
	BreakerFailures int      `toml:"breaker_failures"`
	BreakerOpen     duration `toml:"breaker_open"`
}

// resolve returns the client's settings with their defaults, and the
// gateway's.
func (f cloudFile) resolve() (cloud.Config, edge.CloudConfig) {
	c := cloud.Config{
		URL: f.URL, APIKey: f.APIKey, Token: f.Token,
		ProbeInterval: time.Duration(f.ProbeInterval), ProbeTimeout: time.Duration(f.ProbeTimeout),
		Backoff:     cloud.Backoff{Min: time.Duration(f.BackoffMin), Max: time.Duration(f.BackoffMax)},
		DialTimeout: time.Duration(f.DialTimeout), Heartbeat: time.Duration(f.Heartbeat),
		ReconnectBefore: time.Duration(f.ReconnectBefore), BatchBytes: f.BatchBytes,
		BreakerFailures: f.BreakerFailures, BreakerOpen: time.Duration(f.BreakerOpen),
		PongTimeout: time.Duration(f.PongTimeout), IdleCheck: time.Duration(f.IdleCheck),
	}.Defaults()
	g := edge.Config{Cloud: edge.CloudConfig{Policy: f.Policy, HelloTimeout: time.Duration(f.HelloTimeout),
		TurnTimeout: time.Duration(f.TurnTimeout), FirstEventTimeout: time.Duration(f.FirstEvent)}}.Defaults().Cloud
	return c, g
}

// cloudToFile returns the [cloud] section of a configuration.
func cloudToFile(c cloud.Config, g edge.CloudConfig, sec func(string) string) cloudFile {
	return cloudFile{
		URL: c.URL, Policy: g.Policy, APIKey: sec(c.APIKey), Token: sec(c.Token),
		ProbeInterval: duration(c.ProbeInterval), ProbeTimeout: duration(c.ProbeTimeout),
		BackoffMin: duration(c.Backoff.Min), BackoffMax: duration(c.Backoff.Max),
		DialTimeout: duration(c.DialTimeout), HelloTimeout: duration(g.HelloTimeout), TurnTimeout: duration(g.TurnTimeout),
		Heartbeat: duration(c.Heartbeat), ReconnectBefore: duration(c.ReconnectBefore),
		BatchBytes: c.BatchBytes, BreakerFailures: c.BreakerFailures, BreakerOpen: duration(c.BreakerOpen),
		FirstEvent: duration(g.FirstEventTimeout), PongTimeout: duration(c.PongTimeout), IdleCheck: duration(c.IdleCheck),
	}
}

// validateCloud checks the [cloud] section.
func validateCloud(c cloud.Config, g edge.CloudConfig) error {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"cloud.probe_interval", c.ProbeInterval}, {"cloud.probe_timeout", c.ProbeTimeout},
		{"cloud.backoff_min", c.Backoff.Min}, {"cloud.backoff_max", c.Backoff.Max},
		{"cloud.dial_timeout", c.DialTimeout}, {"cloud.hello_timeout", g.HelloTimeout},
		{"cloud.turn_timeout", g.TurnTimeout}, {"cloud.heartbeat", c.Heartbeat},
		{"cloud.reconnect_before", c.ReconnectBefore}, {"cloud.breaker_open", c.BreakerOpen},
		{"cloud.first_event_timeout", g.FirstEventTimeout}, {"cloud.pong_timeout", c.PongTimeout},
		{"cloud.idle_check", c.IdleCheck},
	} {
		if d.v <= 0 {
			return &edge.ConfigError{Field: d.field, Msg: fmt.Sprintf("%s must be positive", formatDuration(d.v))}
		}
	}
	if c.BreakerFailures < 1 {
		return &edge.ConfigError{Field: "cloud.breaker_failures", Msg: "must be at least 1"}
	}
	if c.URL == "" {
		if g.Policy == proto.CloudOnly || g.Policy == proto.CloudFirst {
			return &edge.ConfigError{Field: "cloud.policy", Msg: fmt.Sprintf("%q needs cloud.url", g.Policy)}
		}
		if c.APIKey != "" {
			return &edge.ConfigError{Field: "cloud.api_key", Msg: "is set but cloud.url is empty"}
		}
		return nil
	}
	if err := c.Validate(); err != nil {
		return &edge.ConfigError{Field: "cloud", Msg: err.Error()}
	}
	if c.APIKey == "" && g.Policy != proto.CloudLocal {
		return &edge.ConfigError{Field: "cloud.api_key", Msg: "the gateway refuses connections without an API key (set " + envCloudAPIKey + " or " + envCloudAPIKeyFile + ")"}
	}
	return nil
}

// cloudGateway is a cloud.Client as the gateway's edge.Cloud.
type cloudGateway struct{ *cloud.Client }

func (g cloudGateway) Dial(ctx context.Context, d edge.CloudDevice) (edge.CloudLink, error) {
	c, err := g.Client.Dial(ctx, cloud.Device{ID: d.ID, ClientID: d.ClientID})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// openCloud returns the cloud client, or nil when no cloud is configured
// or the policy is local (then nothing is ever dialed or probed).
func openCloud(c cloud.Config, g edge.CloudConfig, log *slog.Logger) (*cloud.Client, error) {
	if c.URL == "" || g.Policy == proto.CloudLocal {
		return nil, nil
	}
	c.Logger = log.With("component", "cloud")
	cl, err := cloud.New(c)
	if err != nil {
		return nil, &edge.ConfigError{Field: "cloud", Msg: err.Error()}
	}
	return cl, nil
}
