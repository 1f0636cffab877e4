package discovery

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

const upMC = net.FlagUp | net.FlagMulticast

func machine() []Interface {
	return []Interface{
		{Name: "lo", Index: 1, Flags: upMC | net.FlagLoopback, Addrs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}},
		{Name: "eth0", Index: 2, Flags: upMC, Addrs: []net.IP{net.ParseIP("192.168.1.20"), net.ParseIP("fe80::1"), net.ParseIP("2001:db8::20")}},
		{Name: "wlan0", Index: 3, Flags: upMC, Addrs: []net.IP{net.ParseIP("10.0.0.5")}},
		{Name: "docker0", Index: 4, Flags: upMC, Addrs: []net.IP{net.ParseIP("172.17.0.1")}},
		{Name: "veth12ab", Index: 5, Flags: upMC, Addrs: []net.IP{net.ParseIP("fe80::2")}},
		{Name: "br-5f3a", Index: 6, Flags: upMC, Addrs: []net.IP{net.ParseIP("172.18.0.1")}},
		{Name: "eth1", Index: 7, Flags: net.FlagMulticast, Addrs: []net.IP{net.ParseIP("192.168.2.1")}},              // down
		{Name: "tun0", Index: 8, Flags: net.FlagUp | net.FlagPointToPoint, Addrs: []net.IP{net.ParseIP("10.8.0.2")}}, // no multicast
	}
}

func names(c choice) []string {
	var n []string
	for _, it := range c.ifaces {
		n = append(n, it.Name)
	}
	return n
}

func ipStrings(ips []net.IP) []string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return s
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name       string
		configured []string
		listen     net.IP
		wantIfaces []string
		wantIPs    []string
		wantErr    error
	}{
		{"every address, dual stack", nil, net.ParseIP("::"), []string{"eth0", "wlan0"}, []string{"192.168.1.20", "2001:db8::20", "10.0.0.5"}, nil},
		{"nil listen is every address", nil, nil, []string{"eth0", "wlan0"}, []string{"192.168.1.20", "2001:db8::20", "10.0.0.5"}, nil},
		{"0.0.0.0 serves IPv4 only", nil, net.ParseIP("0.0.0.0"), []string{"eth0", "wlan0"}, []string{"192.168.1.20", "10.0.0.5"}, nil},
		{"one address", nil, net.ParseIP("10.0.0.5"), []string{"wlan0"}, []string{"10.0.0.5"}, nil},
		{"configured list overrides the filter", []string{"docker0", "wlan0"}, nil, []string{"wlan0", "docker0"}, []string{"10.0.0.5", "172.17.0.1"}, nil},
		{"configured interface down", []string{"eth1"}, nil, nil, nil, ErrNoInterface},
		{"loopback listener", nil, net.ParseIP("127.0.0.1"), nil, nil, ErrLoopbackOnly},
		{"IPv6 loopback listener", nil, net.ParseIP("::1"), nil, nil, ErrLoopbackOnly},
		{"address of no interface", nil, net.ParseIP("192.0.2.9"), nil, nil, ErrNoInterface},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := choose(machine(), tc.configured, tc.listen)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := names(c); !slices.Equal(got, tc.wantIfaces) {
				t.Errorf("interfaces = %v, want %v", got, tc.wantIfaces)
			}
			if got := ipStrings(c.ips); !slices.Equal(got, tc.wantIPs) {
				t.Errorf("addresses = %v, want %v", got, tc.wantIPs)
			}
		})
	}
}

// fakeLister returns whatever ifaces holds at the time.
type fakeLister struct {
	mu     sync.Mutex
	ifaces []Interface
	err    error
}

func (f *fakeLister) Interfaces() ([]Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ifaces), f.err
}

func (f *fakeLister) set(ifs []Interface) {
	f.mu.Lock()
	f.ifaces = ifs
	f.mu.Unlock()
}

type reg struct {
	instance, service string
	port              int
	ips, txt          []string
	ifaces            []string
	shut              bool
}

// fakeRegistry records registrations instead of sending multicast.
type fakeRegistry struct {
	mu   sync.Mutex
	regs []*reg
}

type fakeRegistration struct {
	r  *reg
	fr *fakeRegistry
}

func (f fakeRegistration) Shutdown() {
	f.fr.mu.Lock()
	f.r.shut = true
	f.fr.mu.Unlock()
}

func (f *fakeRegistry) register(instance, service string, port int, host string, ips []string, txt []string, ifaces []net.Interface) (registration, error) {
	r := &reg{instance: instance, service: service, port: port, ips: ips, txt: txt}
	for _, it := range ifaces {
		r.ifaces = append(r.ifaces, it.Name)
	}
	f.mu.Lock()
	f.regs = append(f.regs, r)
	f.mu.Unlock()
	return fakeRegistration{r, f}, nil
}

// live returns copies of the registrations not shut down, and the count
// of all.
func (f *fakeRegistry) live() ([]reg, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []reg
	for _, r := range f.regs {
		if !r.shut {
			out = append(out, *r)
		}
	}
	return out, len(f.regs)
}

func TestAdvertiserFollowsAddresses(t *testing.T) {
	lister := &fakeLister{ifaces: machine()[:2]} // lo, eth0
	registry := &fakeRegistry{}
	a, err := NewAdvertiser(Config{
		Instance: "Stikadoo Edge (test)", Port: 8000, OTAPath: "/xiaozhi/ota/", WSPath: "/xiaozhi/v1/",
		ID: "abc123", Version: "1.2.3", ListenIP: net.ParseIP("0.0.0.0"),
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tick := make(chan time.Time)
	a.lister, a.register, a.tick = lister, registry.register, tick
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }() // ends when ctx is cancelled

	// The run loop handles a tick only after the first registration, so
	// each send below also waits for the work before it.
	tick <- time.Time{}
	live, total := registry.live()
	if len(live) != 2 || total != 2 {
		t.Fatalf("after start: %d live of %d registrations, want 2 of 2", len(live), total)
	}
	byService := map[string]reg{}
	for _, r := range live {
		byService[r.service] = r
	}
	ota, web := byService[ServiceOTA], byService[ServiceHTTP]
	if ota.instance != "Stikadoo Edge (test)" || ota.port != 8000 {
		t.Errorf("OTA registration = %+v", ota)
	}
	if want := []string{"path=/xiaozhi/ota/", "ws=/xiaozhi/v1/", "id=abc123", "ver=1.2.3"}; !slices.Equal(ota.txt, want) {
		t.Errorf("OTA TXT = %v, want %v", ota.txt, want)
	}
	if !slices.Equal(ota.ips, []string{"192.168.1.20"}) || !slices.Equal(ota.ifaces, []string{"eth0"}) {
		t.Errorf("OTA on %v with %v, want eth0 with 192.168.1.20", ota.ifaces, ota.ips)
	}
	if web.port != 8000 || !slices.Equal(web.txt, []string{"path=/"}) {
		t.Errorf("web registration = %+v", web)
	}

	// Nothing changed: no new registration.
	tick <- time.Time{}
	tick <- time.Time{}
	if _, total := registry.live(); total != 2 {
		t.Fatalf("unchanged interfaces registered again: %d registrations", total)
	}

	// DHCP hands out a new address: the old advertisement goes, a new one
	// comes.
	changed := machine()[:2]
	changed[1].Addrs = []net.IP{net.ParseIP("192.168.1.77")}
	lister.set(changed)
	tick <- time.Time{}
	tick <- time.Time{}
	live, total = registry.live()
	if total != 4 || len(live) != 2 {
		t.Fatalf("after address change: %d live of %d, want 2 of 4", len(live), total)
	}
	for _, r := range live {
		if !slices.Equal(r.ips, []string{"192.168.1.77"}) {
			t.Errorf("%s advertises %v, want the new address", r.service, r.ips)
		}
	}

	// The cable is pulled: nothing is advertised.
	lister.set(machine()[:1])
	tick <- time.Time{}
	tick <- time.Time{}
	if live, _ := registry.live(); len(live) != 0 {
		t.Fatalf("with no interface up, %d registrations live", len(live))
	}

	// Back again, then shutdown withdraws everything.
	lister.set(machine()[:2])
	tick <- time.Time{}
	tick <- time.Time{}
	if live, _ := registry.live(); len(live) != 2 {
		t.Fatalf("after the interface came back: %d live, want 2", len(live))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if live, _ := registry.live(); len(live) != 0 {
		t.Fatalf("after shutdown %d registrations live", len(live))
	}
}

func TestAdvertiserLoopbackOnly(t *testing.T) {
	registry := &fakeRegistry{}
	a, err := NewAdvertiser(Config{Port: 8000, ListenIP: net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.lister, a.register = &fakeLister{ifaces: machine()}, registry.register
	if err := a.Run(context.Background()); !errors.Is(err, ErrLoopbackOnly) {
		t.Fatalf("Run = %v, want ErrLoopbackOnly", err)
	}
	if _, total := registry.live(); total != 0 {
		t.Fatalf("a loopback listener registered %d services", total)
	}
}

func TestNewAdvertiserDefaults(t *testing.T) {
	if _, err := NewAdvertiser(Config{}, nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("no port: %v, want ErrBadConfig", err)
	}
	a, err := NewAdvertiser(Config{Port: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.Instance != DefaultInstance() || a.cfg.Poll != DefaultPoll {
		t.Fatalf("defaults: instance %q poll %v", a.cfg.Instance, a.cfg.Poll)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`Stikadoo\ Edge\ \(pi\)`: "Stikadoo Edge (pi)",
		`plain`:                  "plain",
		`caf\195\169`:            "café",
		`dot\.name`:              "dot.name",
		`trailing\`:              `trailing\`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOTAURLs(t *testing.T) {
	f := Found{Port: 8000, IPs: []net.IP{net.ParseIP("10.77.0.1"), net.ParseIP("fd00::1")}, TXT: map[string]string{"path": "/xiaozhi/ota/"}}
	want := []string{"http://10.77.0.1:8000/xiaozhi/ota/", "http://[fd00::1]:8000/xiaozhi/ota/"}
	if got := f.OTAURLs(); !slices.Equal(got, want) {
		t.Fatalf("OTAURLs = %v, want %v", got, want)
	}
}

// FuzzUnescape: instance names come from anyone on the LAN.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`Stikadoo\ Edge\ \(pi\)`, `caf\195\169`, `\`, `\999`, `a\.b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := unescape(s); len(got) > len(s) {
			t.Fatalf("unescape(%q) = %q, longer than its input", s, got)
		}
	})
}
