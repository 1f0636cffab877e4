package cloudtest

import (
	"net"
	"sync"
	"sync/atomic"
)

// Freezer is a TCP forwarder on 127.0.0.1 in front of a server that can
// be frozen: it then silently stops forwarding in both directions, with
// no FIN and no RST, as a network does when a router reboots or the ISP
// reconnects. Writes into a frozen connection still succeed.
type Freezer struct {
	ln     net.Listener
	target string
	frozen atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// NewFreezer starts a forwarder to target (host:port).
func NewFreezer(target string) (*Freezer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &Freezer{ln: ln, target: target}
	f.wg.Add(1)
	go f.accept() // ends when Close closes the listener
	return f, nil
}

// Addr is the forwarder's host:port.
func (f *Freezer) Addr() string { return f.ln.Addr().String() }

// Freeze stops forwarding, silently; Thaw resumes it.
func (f *Freezer) Freeze() { f.frozen.Store(true) }

// Thaw resumes forwarding.
func (f *Freezer) Thaw() { f.frozen.Store(false) }

// Close stops the forwarder and closes its connections.
func (f *Freezer) Close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *Freezer) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, u)
		f.mu.Unlock()
		f.wg.Add(2)
		go f.pipe(u, c) // ends when either side is closed
		go f.pipe(c, u) // ends when either side is closed
	}
}

func (f *Freezer) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !f.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
