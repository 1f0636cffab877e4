package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/discovery"
	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/panel"
)

// The appliance settings: [mdns] and [gpio].

// mdnsConfig says how the server is advertised on the LAN.
type mdnsConfig struct {
	Enabled    bool
	Name       string   // instance name; "" for "Stikadoo Edge (<hostname>)"
	Interfaces []string // nil: chosen automatically
}

type mdnsFile struct {
	Enabled    *bool    `toml:"enabled"`
	Name       string   `toml:"name"`
	Interfaces []string `toml:"interfaces"`
}

type gpioFile struct {
	LED             string   `toml:"led"`
	Button          string   `toml:"button"`
	LEDActiveLow    bool     `toml:"led_active_low"`
	ButtonActiveLow *bool    `toml:"button_active_low"`
	LongPress       duration `toml:"long_press"`
}

func (m mdnsFile) resolve() mdnsConfig {
	c := mdnsConfig{Enabled: true, Name: m.Name}
	if m.Enabled != nil {
		c.Enabled = *m.Enabled
	}
	if len(m.Interfaces) > 0 {
		c.Interfaces = slices.Clone(m.Interfaces)
	}
	return c
}

func (c mdnsConfig) toFile() mdnsFile {
	on := c.Enabled
	ifs := slices.Clone(c.Interfaces)
	if ifs == nil {
		ifs = []string{}
	}
	return mdnsFile{Enabled: &on, Name: c.Name, Interfaces: ifs}
}

func (c mdnsConfig) validate() error {
	for i, n := range c.Interfaces {
		if strings.TrimSpace(n) == "" {
			return &edge.ConfigError{Field: "mdns.interfaces", Msg: fmt.Sprintf("interface %d is empty", i+1)}
		}
	}
	if len(c.Name) > 63 {
		return &edge.ConfigError{Field: "mdns.name", Msg: "must be at most 63 bytes (a DNS label)"}
	}
	return nil
}

func (g gpioFile) resolve() panel.Config {
	c := panel.Config{
		LED: g.LED, Button: g.Button, LEDActiveLow: g.LEDActiveLow, ButtonActiveLow: true,
		LongPress: time.Duration(g.LongPress),
	}
	if g.ButtonActiveLow != nil {
		c.ButtonActiveLow = *g.ButtonActiveLow
	}
	if c.LongPress == 0 {
		c.LongPress = panel.DefaultLongPress
	}
	return c
}

func gpioToFile(c panel.Config) gpioFile {
	low := c.ButtonActiveLow
	return gpioFile{LED: c.LED, Button: c.Button, LEDActiveLow: c.LEDActiveLow, ButtonActiveLow: &low, LongPress: duration(c.LongPress)}
}

func validateGPIO(c panel.Config) error {
	if c.LongPress < 0 {
		return &edge.ConfigError{Field: "gpio.long_press", Msg: fmt.Sprintf("%s must not be negative", formatDuration(c.LongPress))}
	}
	if c.LED != "" && c.LED == c.Button {
		return &edge.ConfigError{Field: "gpio.button", Msg: fmt.Sprintf("%q is also the LED's pin", c.Button)}
	}
	return nil
}

// serverID identifies this installation in the mDNS TXT record: stable
// across restarts, derived from the token key so nothing else is stored,
// and revealing nothing about it.
func serverID(tokenKey []byte) string {
	h := sha256.Sum256(append([]byte("stikadoo-edge server id\x00"), tokenKey...))
	return hex.EncodeToString(h[:6])
}

// advertise keeps the server advertised over mDNS until ctx is done. A
// failure is logged, never fatal: devices can still be pointed at the
// server by address.
func (d *daemon) advertise(ctx context.Context, addr net.Addr) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return
	}
	if tcp.IP.IsLoopback() {
		d.log.Info("mdns: not advertising: the server listens on loopback only", "addr", addr.String())
		return
	}
	g := d.cfg.Gateway
	adv, err := discovery.NewAdvertiser(discovery.Config{
		Instance: d.cfg.MDNS.Name, Interfaces: d.cfg.MDNS.Interfaces, ListenIP: tcp.IP, Port: tcp.Port,
		OTAPath: g.OTAPath, WSPath: g.WSPath, ID: d.serverID, Version: buildVersion(),
	}, d.log)
	if err == nil {
		err = adv.Run(ctx)
	}
	if err != nil && !errors.Is(err, discovery.ErrLoopbackOnly) {
		d.log.Warn("mdns: not advertising", "err", err)
	}
}

// panelObserver shows the gateway's activity on the status light.
type panelObserver struct{ p *panel.Panel }

func (o panelObserver) GatewayActivity(a edge.Activity) {
	switch a {
	case edge.ActivityReady:
		o.p.Show(panel.Ready)
	case edge.ActivityListening:
		o.p.Show(panel.Listening)
	case edge.ActivityBusy:
		o.p.Show(panel.Busy)
	case edge.ActivityError:
		o.p.Show(panel.Error)
	}
}

// gatewayActions are the button's actions on the gateway. srv is set once
// the gateway exists (the panel is made first, to observe it).
type gatewayActions struct {
	srv *edge.Server
	log *slog.Logger
}

func (g *gatewayActions) Reprint(ctx context.Context) error {
	if g.srv == nil {
		return edge.ErrNothingToReprint
	}
	r, err := g.srv.ReprintLast(ctx)
	if err == nil {
		g.log.Info("button: sticker reprinted", "device", r.Device, "image", r.ImageID, "cloud_url", r.URL, "made", r.Made.Format(time.TimeOnly))
	}
	return err
}

func (g *gatewayActions) Enroll() error {
	if g.srv == nil {
		return edge.ErrEnrollmentOff
	}
	until, err := g.srv.OpenEnrollment()
	if err == nil {
		g.log.Info("button: new devices may enroll", "until", until.Format(time.TimeOnly))
	}
	return err
}
