package discovery

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"
)

// Found is one server found on the LAN.
type Found struct {
	Instance string
	Host     string
	Port     int
	IPs      []net.IP
	TXT      map[string]string
}

// OTAURLs are the version-check URLs a device could be given, one per
// address.
func (f Found) OTAURLs() []string {
	path := f.TXT["path"]
	if path == "" {
		path = "/"
	}
	urls := make([]string, 0, len(f.IPs))
	for _, ip := range f.IPs {
		urls = append(urls, "http://"+net.JoinHostPort(ip.String(), strconv.Itoa(f.Port))+path)
	}
	return urls
}

// Browse looks for OTA services (_xiaozhi._tcp) on every multicast
// interface for the given time and returns what answered, sorted by name.
func Browse(ctx context.Context, wait time.Duration) ([]Found, error) {
	r, err := zeroconf.NewResolver(nil)
	if err != nil {
		return nil, fmt.Errorf("browse: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	entries := make(chan *zeroconf.ServiceEntry, 16)
	if err := r.Browse(ctx, ServiceOTA, domain, entries); err != nil {
		return nil, fmt.Errorf("browse %s: %w", ServiceOTA, err)
	}
	byName := map[string]*Found{}
	for {
		select {
		case e, ok := <-entries:
			if !ok {
				return collect(byName), nil
			}
			merge(byName, e)
		case <-ctx.Done():
			// The resolver closes entries when ctx ends; drain what it
			// already has.
			for e := range entries {
				merge(byName, e)
			}
			return collect(byName), nil
		}
	}
}

// maxFound bounds what one browse keeps, against a LAN that answers
// with endless names.
const maxFound = 256

func merge(byName map[string]*Found, e *zeroconf.ServiceEntry) {
	if e == nil {
		return
	}
	name := unescape(e.Instance)
	f, ok := byName[name]
	if !ok {
		if len(byName) >= maxFound {
			return
		}
		f = &Found{Instance: name, Host: strings.TrimSuffix(e.HostName, "."), Port: e.Port, TXT: map[string]string{}}
		byName[name] = f
	}
	for _, t := range e.Text {
		k, v, _ := strings.Cut(t, "=")
		f.TXT[k] = v
	}
	for _, ip := range append(slices.Clone(e.AddrIPv4), e.AddrIPv6...) {
		if !slices.ContainsFunc(f.IPs, ip.Equal) {
			f.IPs = append(f.IPs, ip)
		}
	}
}

func collect(byName map[string]*Found) []Found {
	out := make([]Found, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Found) int { return strings.Compare(a.Instance, b.Instance) })
	return out
}

// unescape undoes the DNS presentation escapes of an instance name
// ("Stikadoo\ Edge\ \(pi\)" -> "Stikadoo Edge (pi)", "\226" -> byte 226).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n, _ := strconv.Atoi(s[i+1 : i+4])
			if n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
