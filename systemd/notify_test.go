package systemd_test

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/systemd"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// listen opens a datagram socket the test owns, as systemd would.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	for _, name := range []string{
		filepath.Join(t.TempDir(), "notify.sock"),
		"@stikadoo-edge-test-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000000"),
	} {
		t.Run(name[:1], func(t *testing.T) {
			c := listen(t, name)
			n, err := systemd.NotifierFromEnv(env(systemd.EnvNotifySocket, name))
			if err != nil {
				t.Fatal(err)
			}
			msg := systemd.Ready + "\n" + systemd.Status("serving\ndevices  at :8000")
			if err := n.Notify(msg); err != nil {
				t.Fatal(err)
			}
			if got, want := read(t, c), "READY=1\nSTATUS=serving devices at :8000"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestNotifierAbsent(t *testing.T) {
	n, err := systemd.NotifierFromEnv(env())
	if err != nil || n != nil {
		t.Fatalf("NotifierFromEnv without NOTIFY_SOCKET = %v, %v; want nil, nil", n, err)
	}
	if err := n.Notify(systemd.Ready); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
	if _, err := systemd.NotifierFromEnv(env(systemd.EnvNotifySocket, "relative.sock")); !errors.Is(err, systemd.ErrNoSocket) {
		t.Errorf("relative socket name: err %v, want ErrNoSocket", err)
	}
}

func TestNotifyNoListener(t *testing.T) {
	n, err := systemd.NewNotifier(filepath.Join(t.TempDir(), "gone.sock"))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(systemd.Watchdog)
	if err == nil || !strings.Contains(err.Error(), "notify systemd") {
		t.Errorf("err %v, want one naming the operation", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     func(string) string
		want    time.Duration
		wantErr bool
	}{
		{"none", env(), 0, false},
		{"30s", env(systemd.EnvWatchdogUSec, "30000000"), 15 * time.Second, false},
		{"our pid", env(systemd.EnvWatchdogUSec, "1000000", systemd.EnvWatchdogPID, "42"), 500 * time.Millisecond, false},
		{"other pid", env(systemd.EnvWatchdogUSec, "1000000", systemd.EnvWatchdogPID, "7"), 0, false},
		{"bad pid", env(systemd.EnvWatchdogUSec, "1000000", systemd.EnvWatchdogPID, "x"), 0, true},
		{"zero", env(systemd.EnvWatchdogUSec, "0"), 0, true},
		{"garbage", env(systemd.EnvWatchdogUSec, "30s"), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := systemd.WatchdogInterval(tc.env, 42)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
