package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/systemd"
)

// recorder is a notifier that keeps what it was sent.
type recorder struct {
	mu   sync.Mutex
	msgs []string
	sent chan struct{}
}

func newRecorder() *recorder { return &recorder{sent: make(chan struct{}, 100)} }

func (r *recorder) Notify(msg string) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
	r.sent <- struct{}{}
	return nil
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// TestRunWatchdog drives the watchdog loop tick by tick: fed while
// healthy, withheld with a reason while not, fed again on recovery.
func TestRunWatchdog(t *testing.T) {
	rec := newRecorder()
	ticks := make(chan time.Time)
	results := []error{nil, errors.New("health check: the record does not take writes: disk full"), nil}
	i := 0
	check := func(context.Context) (string, error) {
		err := results[i]
		i++
		if err != nil {
			return "", err
		}
		return "Serving devices at http://192.0.2.7:8000/xiaozhi/ota/; 0 connected", nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { // ends when ctx is cancelled below
		done <- runWatchdog(ctx, ticks, service{notify: rec, watchdog: time.Second}, slog.New(slog.DiscardHandler), check)
	}()
	for range results {
		ticks <- time.Time{}
		<-rec.sent
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runWatchdog: %v", err)
	}
	want := []string{
		"WATCHDOG=1\nSTATUS=Serving devices at http://192.0.2.7:8000/xiaozhi/ota/; 0 connected",
		"STATUS=Unhealthy, watchdog not fed: health check: the record does not take writes: disk full",
		"WATCHDOG=1\nSTATUS=Serving devices at http://192.0.2.7:8000/xiaozhi/ota/; 0 connected",
	}
	if got := rec.all(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sent\n%q\nwant\n%q", got, want)
	}
}

func TestHealthStatus(t *testing.T) {
	h := edge.Health{Sessions: 2, Problems: []string{"speech recognition is not set up: no transcriber configured"}}
	got := healthStatus(h, "http://192.0.2.7:8000/xiaozhi/ota/")
	want := "Serving devices at http://192.0.2.7:8000/xiaozhi/ota/; 2 connected; degraded: speech recognition is not set up: no transcriber configured"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoopbackHostPort(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8000}, "127.0.0.1:8000"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8000}, "127.0.0.1:8000"},
		{&net.TCPAddr{Port: 8000}, "127.0.0.1:8000"},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 80}, "192.0.2.7:80"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8000}, "[::1]:8000"},
	} {
		if got := loopbackHostPort(tc.addr); got != tc.want {
			t.Errorf("loopbackHostPort(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestServiceFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	svc, err := serviceFromEnv(env(nil), 42)
	if err != nil || svc.notify != nil || svc.watchdog != 0 {
		t.Errorf("no systemd: %+v, %v", svc, err)
	}
	// A watchdog without a socket to feed it through is no watchdog.
	svc, err = serviceFromEnv(env(map[string]string{"WATCHDOG_USEC": "30000000"}), 42)
	if err != nil || svc.watchdog != 0 {
		t.Errorf("watchdog without socket: %+v, %v", svc, err)
	}
	svc, err = serviceFromEnv(env(map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"}), 42)
	if err != nil || svc.notify == nil || svc.watchdog != 15*time.Second {
		t.Errorf("socket and watchdog: %+v, %v", svc, err)
	}
	if _, err := serviceFromEnv(env(map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "soon"}), 42); err == nil {
		t.Error("malformed WATCHDOG_USEC accepted")
	}
}

// The daemon process of TestServiceNotifications: this test binary,
// started again with envDaemonArgs set, runs main with those arguments.
const envDaemonArgs = "STIKADOO_EDGE_TEST_DAEMON_ARGS"

func TestServiceDaemonProcess(t *testing.T) {
	args := os.Getenv(envDaemonArgs)
	if args == "" {
		t.Skip("runs only as the daemon process of TestServiceNotifications")
	}
	var list []string
	if err := json.Unmarshal([]byte(args), &list); err != nil {
		t.Fatal(err)
	}
	os.Args = append([]string{"stikadoo-edge"}, list...)
	main() // exits
}

// TestServiceNotifications starts the daemon as systemd would, with
// NOTIFY_SOCKET naming a socket the test owns, a watchdog and stderr as
// the journal stream; it must say READY=1, feed the watchdog, say
// STOPPING=1 on SIGTERM and exit 0, with priority-prefixed log lines.
func TestServiceNotifications(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(stderr.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	// The daemon's environment: this one's, less what would change it.
	var environ []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "STIKADOO_") && k != envStateDirectory &&
			k != systemd.EnvNotifySocket && !strings.HasPrefix(k, "WATCHDOG_") && k != systemd.EnvJournalStream {
			environ = append(environ, kv)
		}
	}
	daemon := func(args ...string) *exec.Cmd {
		b, _ := json.Marshal(args)
		cmd := exec.Command(os.Args[0], "-test.run=^TestServiceDaemonProcess$")
		cmd.Env = append(append([]string{}, environ...), envDaemonArgs+"="+string(b))
		return cmd
	}
	args := []string{"serve", "--config", writeConfig(t, ""), "--listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state")}
	// Tests send no multicast: turn mDNS advertising off where the
	// command has it.
	help, err := daemon("serve", "-h").Output()
	if !strings.Contains(string(help), "-listen") {
		t.Fatalf("serve -h: %v, no usage in %q", err, help)
	}
	if strings.Contains(string(help), "-no-mdns") {
		args = append(args, "--no-mdns")
	}
	cmd := daemon(args...)
	cmd.Stdout = io.Discard
	cmd.Stderr = stderr
	cmd.Env = append(cmd.Env,
		systemd.EnvNotifySocket+"="+sock,
		systemd.EnvWatchdogUSec+"=400000", // fed every 200 ms
		fmt.Sprintf("%s=%d:%d", systemd.EnvJournalStream, st.Dev, st.Ino),
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	exited := make(chan struct{})
	go func() { exitErr = cmd.Wait(); close(exited) }() // ends when the daemon exits (killed below on failure)
	defer func() {
		cmd.Process.Kill() // after a failure; does nothing to an ended process
		<-exited
	}()
	logs := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }

	// next returns the next notification, failing after a generous wait
	// (the daemon is under -race on a busy machine).
	next := func(what string) string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v\nlogs:\n%s", what, err, logs())
		}
		return string(buf[:n])
	}
	ready := next("READY=1")
	if !strings.HasPrefix(ready, "READY=1\nSTATUS=Serving devices at http://127.0.0.1:") {
		t.Fatalf("first notification %q, want READY=1 with a status", ready)
	}
	wd := next("WATCHDOG=1")
	if !strings.HasPrefix(wd, "WATCHDOG=1\nSTATUS=Serving devices at ") || !strings.Contains(wd, "; 0 connected") {
		t.Fatalf("second notification %q, want WATCHDOG=1 with the health in STATUS", wd)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		m := next("STOPPING=1")
		if strings.HasPrefix(m, "STOPPING=1\n") {
			break
		}
		if !strings.HasPrefix(m, "WATCHDOG=1\n") {
			t.Fatalf("unexpected notification %q while stopping", m)
		}
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Fatalf("daemon exit: %v\nlogs:\n%s", exitErr, logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon still running 30 s after SIGTERM\nlogs:\n%s", logs())
	}
	out := logs()
	// Serving only on loopback is a warning; serving and stopping are info.
	for _, want := range []string{"<6>level=INFO msg=\"serving devices\"", "<4>level=WARN msg=\"only this machine can connect", "<6>level=INFO msg=stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "level=") {
			t.Errorf("log line without priority: %q", line)
		}
	}
}
