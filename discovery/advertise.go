package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"
)

// Service types advertised.
const (
	ServiceOTA  = "_xiaozhi._tcp" // the version check devices call at boot
	ServiceHTTP = "_http._tcp"    // the web interface
	domain      = "local."
)

// DefaultPoll is how often the interfaces are checked for new addresses.
const DefaultPoll = 30 * time.Second

// Config is what is advertised.
type Config struct {
	// Instance is the name people see (default "Stikadoo Edge (<hostname>)").
	Instance string
	// Interfaces, when not empty, are the only interfaces advertised on.
	// Empty: every interface that is up and multicast-capable except
	// loopback, docker*, veth*, br-* and similar virtual ones.
	Interfaces []string
	// ListenIP is the address the server listens on: nil or unspecified
	// for every address; a loopback one means nothing is advertised.
	ListenIP net.IP
	Port     int
	// OTAPath and WSPath go into the TXT records as path= and ws=.
	OTAPath string
	WSPath  string
	// ID identifies this server across restarts; Version is its version.
	ID      string
	Version string
	// Poll is how often the interfaces are checked (default DefaultPoll).
	Poll time.Duration
}

// DefaultInstance is the instance name used when none is configured.
func DefaultInstance() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	h, _, _ = strings.Cut(h, ".")
	return "Stikadoo Edge (" + h + ")"
}

// TXT returns the TXT records of the OTA service.
func (c Config) TXT() []string {
	return []string{"path=" + c.OTAPath, "ws=" + c.WSPath, "id=" + c.ID, "ver=" + c.Version}
}

// registration is one running advertisement; zeroconf's Server.
type registration interface{ Shutdown() }

// registerFunc registers one service; zeroconf.RegisterProxy in
// production.
type registerFunc func(instance, service string, port int, host string, ips []string, txt []string, ifaces []net.Interface) (registration, error)

func zeroconfRegister(instance, service string, port int, host string, ips []string, txt []string, ifaces []net.Interface) (registration, error) {
	s, err := zeroconf.RegisterProxy(instance, service, domain, port, host, ips, txt, ifaces)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Advertiser keeps the server advertised while Run runs.
type Advertiser struct {
	cfg  Config
	log  *slog.Logger
	host string

	// Settable by tests in this package.
	lister   Lister
	register registerFunc
	tick     <-chan time.Time // nil: a ticker of cfg.Poll

	current []registration
	key     string
	started bool
}

// NewAdvertiser checks cfg and returns an advertiser of it.
func NewAdvertiser(cfg Config, log *slog.Logger) (*Advertiser, error) {
	if cfg.Instance == "" {
		cfg.Instance = DefaultInstance()
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("advertise port %d: %w", cfg.Port, ErrBadConfig)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if log == nil {
		log = slog.Default()
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "stikadoo-edge"
	}
	host, _, _ = strings.Cut(host, ".")
	return &Advertiser{cfg: cfg, log: log, host: host, lister: SystemInterfaces{}, register: zeroconfRegister}, nil
}

// Run advertises until ctx is done, then withdraws the advertisement with
// a goodbye (records with TTL 0) and returns nil. It re-registers when the
// chosen interfaces or their addresses change. With a loopback listener it
// returns ErrLoopbackOnly at once. Having no interface now is not an
// error: it advertises as soon as one comes up.
func (a *Advertiser) Run(ctx context.Context) error {
	if a.cfg.ListenIP != nil && a.cfg.ListenIP.IsLoopback() {
		return fmt.Errorf("advertise on %s: %w", a.cfg.ListenIP, ErrLoopbackOnly)
	}
	tick := a.tick
	if tick == nil {
		t := time.NewTicker(a.cfg.Poll)
		defer t.Stop()
		tick = t.C
	}
	defer a.withdraw()
	a.refresh()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			a.refresh()
		}
	}
}

// refresh registers again when the choice of interfaces changed.
func (a *Advertiser) refresh() {
	all, err := a.lister.Interfaces()
	if err != nil {
		a.log.Warn("mdns: list interfaces", "err", err)
		return
	}
	c, err := choose(all, a.cfg.Interfaces, a.cfg.ListenIP)
	if err != nil {
		c = choice{}
	}
	k := c.key()
	if a.started && k == a.key {
		return
	}
	a.started = true
	a.withdraw()
	a.key = k
	if len(c.ifaces) == 0 {
		a.log.Warn("mdns: not advertising: no interface is up with an address", "err", err)
		return
	}
	ifaces := make([]net.Interface, len(c.ifaces))
	names := make([]string, len(c.ifaces))
	for i, it := range c.ifaces {
		ifaces[i] = net.Interface{Name: it.Name, Index: it.Index, Flags: it.Flags}
		names[i] = it.Name
	}
	ips := make([]string, len(c.ips))
	for i, ip := range c.ips {
		ips[i] = ip.String()
	}
	for _, svc := range []struct {
		name string
		txt  []string
	}{
		{ServiceOTA, a.cfg.TXT()},
		{ServiceHTTP, []string{"path=/"}},
	} {
		r, err := a.register(a.cfg.Instance, svc.name, a.cfg.Port, a.host, ips, svc.txt, ifaces)
		if err != nil {
			a.log.Warn("mdns: register", "service", svc.name, "interfaces", strings.Join(names, ","), "err", err)
			continue
		}
		a.current = append(a.current, r)
	}
	if len(a.current) > 0 {
		a.log.Info("mdns: advertising", "instance", a.cfg.Instance, "interfaces", strings.Join(names, ","),
			"addrs", strings.Join(ips, ","), "port", a.cfg.Port)
	}
}

// withdraw ends every registration; zeroconf sends the goodbye.
func (a *Advertiser) withdraw() {
	for _, r := range a.current {
		r.Shutdown()
	}
	a.current = nil
	a.key = ""
}
