package discovery

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// Interface is one network interface and its unicast addresses.
type Interface struct {
	Name  string
	Index int
	Flags net.Flags
	Addrs []net.IP
}

// Lister lists the machine's interfaces. The real one reads them from
// the kernel; tests hand in their own.
type Lister interface {
	Interfaces() ([]Interface, error)
}

// SystemInterfaces lists the machine's interfaces.
type SystemInterfaces struct{}

// Interfaces implements Lister.
func (SystemInterfaces) Interfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifi := range ifs {
		it := Interface{Name: ifi.Name, Index: ifi.Index, Flags: ifi.Flags}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue // the interface went away while listing
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				it.Addrs = append(it.Addrs, ipn.IP)
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// virtualPrefixes name interfaces that lead to containers and bridges of
// this machine, never to the LAN the devices are on.
var virtualPrefixes = []string{"docker", "veth", "br-", "virbr", "cni", "flannel", "vnet", "tailscale", "zt"}

// automatic reports whether an interface is advertised on when no list is
// configured: up, multicast-capable, not loopback and not virtual.
func automatic(it Interface) bool {
	if it.Flags&net.FlagUp == 0 || it.Flags&net.FlagMulticast == 0 || it.Flags&net.FlagLoopback != 0 {
		return false
	}
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(it.Name, p) {
			return false
		}
	}
	return true
}

// choice is the interfaces and addresses an advertisement uses.
type choice struct {
	ifaces []Interface
	ips    []net.IP
}

// key identifies a choice, to notice when it changes.
func (c choice) key() string {
	var b strings.Builder
	for _, it := range c.ifaces {
		fmt.Fprintf(&b, "%s/%d;", it.Name, it.Index)
	}
	for _, ip := range c.ips {
		b.WriteString(ip.String())
		b.WriteByte(';')
	}
	return b.String()
}

// choose picks the interfaces to advertise on and the addresses to
// announce. configured, when not empty, names the interfaces (they must
// still be up and multicast-capable). listen is the IP the server listens
// on: unspecified (nil, 0.0.0.0 or ::) for every address, or one address,
// which is then the only one announced. A 0.0.0.0 listener serves IPv4
// only, so only IPv4 addresses are announced for it.
func choose(all []Interface, configured []string, listen net.IP) (choice, error) {
	if listen != nil && listen.IsLoopback() {
		return choice{}, ErrLoopbackOnly
	}
	v4only := listen != nil && listen.To4() != nil
	var c choice
	for _, it := range all {
		if len(configured) > 0 {
			if !slices.Contains(configured, it.Name) || it.Flags&net.FlagUp == 0 || it.Flags&net.FlagMulticast == 0 {
				continue
			}
		} else if !automatic(it) {
			continue
		}
		var ips []net.IP
		for _, ip := range it.Addrs {
			switch {
			case ip.IsLoopback() || ip.IsMulticast() || ip.IsUnspecified():
			case listen != nil && !listen.IsUnspecified():
				if ip.Equal(listen) {
					ips = append(ips, ip)
				}
			case ip.To4() != nil:
				ips = append(ips, ip.To4())
			case !v4only && !ip.IsLinkLocalUnicast():
				ips = append(ips, ip)
			}
		}
		if len(ips) == 0 {
			continue
		}
		c.ifaces = append(c.ifaces, it)
		c.ips = append(c.ips, ips...)
	}
	if len(c.ifaces) == 0 {
		if len(configured) > 0 {
			return choice{}, fmt.Errorf("none of the interfaces %s is up with an address: %w", strings.Join(configured, ", "), ErrNoInterface)
		}
		return choice{}, ErrNoInterface
	}
	return c, nil
}
