package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/systemd"
)

// notifier sends sd_notify messages (systemd.Notifier).
type notifier interface {
	Notify(msg string) error
}

// service is what systemd asked of the daemon: where to send
// notifications and how often to feed the watchdog. The zero value is a
// daemon not run by systemd.
type service struct {
	notify   notifier      // nil: no NOTIFY_SOCKET
	watchdog time.Duration // 0: no watchdog
}

// serviceFromEnv reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID.
func serviceFromEnv(getenv func(string) string, pid int) (service, error) {
	n, err := systemd.NotifierFromEnv(getenv)
	if err != nil {
		return service{}, err
	}
	every, err := systemd.WatchdogInterval(getenv, pid)
	if err != nil {
		return service{}, err
	}
	var svc service
	if n != nil {
		svc.notify = n
		svc.watchdog = every
	}
	return svc, nil
}

// send sends msg when run by systemd, logging a failure: the service
// manager not listening is no reason to stop serving devices.
func (s service) send(log *slog.Logger, msg string) {
	if s.notify == nil {
		return
	}
	if err := s.notify.Notify(msg); err != nil {
		log.Warn("tell systemd", "msg", strings.ReplaceAll(msg, "\n", " "), "err", err)
	}
}

// healthTimeout bounds one health check's HTTP request.
const healthTimeout = 5 * time.Second

// checkHealth is the watchdog's test of the running daemon: its own HTTP
// endpoint answers on addr (the bound listener, reached over loopback)
// and the record takes a write. Missing speech recognition or image
// model makes the report "degraded", not a failure: the daemon still
// serves, and restarting would not help.
func (d *daemon) checkHealth(ctx context.Context, addr net.Addr) (edge.Health, error) {
	var h edge.Health
	u := "http://" + loopbackHostPort(addr) + "/api/v1/health"
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return h, fmt.Errorf("health check: %w", err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return h, fmt.Errorf("health check: the server does not answer on %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("health check: %s answered %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return h, fmt.Errorf("health check: read %s: %w", u, err)
	}
	// The write check is a synced commit: every few minutes, not at every
	// watchdog tick, to spare the Pi's SD card (about 300 a day, not
	// 6000). A failed check is tried again at the next tick.
	if now := time.Now(); d.storeChecked.IsZero() || now.Sub(d.storeChecked) >= storeCheckEvery {
		if err := d.store.Check(); err != nil {
			return h, fmt.Errorf("health check: the record does not take writes: %w", err)
		}
		d.storeChecked = now
	}
	return h, nil
}

// storeCheckEvery is how often the watchdog's health check writes to the
// record.
const storeCheckEvery = 5 * time.Minute

// loopbackHostPort is the address to reach a listener bound to addr from
// this machine: the loopback address in place of an unspecified one.
func loopbackHostPort(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		// Go's "[::]" listener takes IPv4 too; 127.0.0.1 exists where ::1
		// may not (containers without IPv6).
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// healthStatus is the STATUS= line for a healthy daemon.
func healthStatus(h edge.Health, where string) string {
	s := fmt.Sprintf("Serving devices at %s; %d connected", where, h.Sessions)
	if len(h.Problems) > 0 {
		s += "; degraded: " + strings.Join(h.Problems, "; ")
	}
	return s
}

// runWatchdog feeds systemd's watchdog at every tick while check passes,
// with a STATUS= line saying how things are; while it fails it withholds
// WATCHDOG=1 (systemd restarts the daemon when the failure outlasts
// WatchdogSec) and says why in STATUS=. It returns nil when ctx is done.
// Ticks come from the caller, so tests drive it without a clock.
func runWatchdog(ctx context.Context, ticks <-chan time.Time, svc service, log *slog.Logger, check func(context.Context) (string, error)) error {
	var failing error
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
		status, err := check(ctx)
		if ctx.Err() != nil {
			return nil // stopping: the check raced the shutdown
		}
		if err != nil {
			if failing == nil {
				log.Error("unhealthy: not feeding the systemd watchdog", "err", err)
			}
			failing = err
			svc.send(log, systemd.Status("Unhealthy, watchdog not fed: "+err.Error()))
			continue
		}
		if failing != nil {
			log.Info("healthy again: feeding the systemd watchdog")
			failing = nil
		}
		svc.send(log, systemd.Watchdog+"\n"+systemd.Status(status))
	}
}

// superviseService tells systemd the daemon is ready, feeds the watchdog
// while it is healthy, and says STOPPING=1 once ctx is done (a SIGTERM,
// or serving failed). It returns nil when ctx is done.
func (d *daemon) superviseService(ctx context.Context, svc service, addr net.Addr, where string) error {
	svc.send(d.log, systemd.Ready+"\n"+systemd.Status("Serving devices at "+where))
	if svc.watchdog > 0 {
		d.log.Debug("systemd watchdog", "every", svc.watchdog)
		t := time.NewTicker(svc.watchdog)
		defer t.Stop()
		_ = runWatchdog(ctx, t.C, svc, d.log, func(ctx context.Context) (string, error) {
			h, err := d.checkHealth(ctx, addr)
			if err != nil {
				return "", err
			}
			return healthStatus(h, where), nil
		})
	}
	<-ctx.Done()
	svc.send(d.log, systemd.Stopping+"\n"+systemd.Status("Stopping: telling devices and closing the record"))
	return nil
}
