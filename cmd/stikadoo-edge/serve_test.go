package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/storage"
)

// logLines collects the JSON log records of a daemon under test.
type logLines struct {
	mu      sync.Mutex
	records []map[string]any
	serving chan string // receives the address of the "serving devices" record
}

// newLogLines returns a logger writing JSON records into l, and a function
// that closes the logger's pipe once the daemon has returned.
func newLogLines() (*logLines, *slog.Logger, func()) {
	pr, pw := io.Pipe()
	l := &logLines{serving: make(chan string, 1)}
	go func() { // ends when the pipe's writer is closed
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			l.mu.Lock()
			l.records = append(l.records, m)
			l.mu.Unlock()
			if m["msg"] == "serving devices" {
				l.serving <- m["addr"].(string)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	log := slog.New(slog.NewJSONHandler(pw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return l, log, func() { pw.Close() }
}

func (l *logLines) find(msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// startRun runs the daemon in the background and returns the address it
// serves on and a function that stops it and returns run's result.
func startRun(t *testing.T, cfg daemonConfig) (string, *logLines, func() error) {
	t.Helper()
	lines, log, closeLog := newLogLines()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { // ends when ctx is cancelled and run has shut down
		done <- run(ctx, cfg, log)
		closeLog()
	}()
	var addr string
	select {
	case addr = <-lines.serving:
	case err := <-done:
		cancel()
		t.Fatalf("run returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("daemon did not start serving within 10 s")
	}
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(15 * time.Second):
				result = errors.New("run did not return within 15 s of cancel")
			}
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return addr, lines, stop
}

// testConfig is a daemon configuration on loopback with a fresh state
// directory.
func testConfig(t *testing.T, text string) daemonConfig {
	t.Helper()
	p := ""
	if text != "" {
		p = writeConfig(t, text)
	}
	// mDNS off: tests never advertise outside a network namespace of their own.
	cfg, err := loadConfig(p, flagOverrides{Listen: "127.0.0.1:0", StateDir: filepath.Join(t.TempDir(), "state"), NoMDNS: true}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRunServesAndStops(t *testing.T) {
	cfg := testConfig(t, "[auth]\nrequired = true\n")
	addr, lines, stop := startRun(t, cfg)
	base := "http://" + addr

	resp, err := http.Get(base + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status string `json:"status"`
		STT    string `json:"stt"`
		Images string `json:"images"`
		Auth   string `json:"auth"`
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health: HTTP %d, %v", resp.StatusCode, err)
	}
	if h.Status != "degraded" || h.STT != "unavailable" || h.Images != "available" || h.Auth != "required" {
		t.Errorf("health %+v: want degraded with no speech engine, stickers (drawn on the Pi) available and auth required", h)
	}

	// The version check records the device and hands out a token signed
	// with the key from the state directory.
	req, _ := http.NewRequest(http.MethodPost, base+"/xiaozhi/ota/", strings.NewReader(`{"application":{"version":"1.2.3"}}`))
	req.Header.Set("Device-Id", "AA:BB:CC:DD:EE:01")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ota struct {
		WebSocket struct {
			URL   string `json:"url"`
			Token string `json:"token"`
		} `json:"websocket"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ota)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := "ws://" + addr + "/xiaozhi/v1/"; ota.WebSocket.URL != want || ota.WebSocket.Token == "" {
		t.Errorf("OTA answer websocket %+v, want url %s and a token", ota.WebSocket, want)
	}

	if r := lines.find("serving devices"); r == nil || !strings.Contains(r["ota_urls"].(string), "http://"+addr+"/xiaozhi/ota/") {
		t.Errorf("serving log record %v does not give the OTA URL", r)
	}
	for _, msg := range []string{"speech recognition is not configured", "no image model is configured"} {
		if lines.findPrefix(msg) == nil {
			t.Errorf("no warning %q", msg)
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting connections after run returned")
	}

	// The store was closed (it opens at once) and holds the device.
	st, err := storage.Open(filepath.Join(cfg.StateDir, storeFile), storage.Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("store not released after run: %v", err)
	}
	defer st.Close()
	if d, err := st.Device("aa:bb:cc:dd:ee:01"); err != nil || d.FirmwareVersion != "1.2.3" {
		t.Errorf("device after OTA: %+v, %v", d, err)
	}

	fi, err := os.Stat(filepath.Join(cfg.StateDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token key mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&0o027 != 0 {
		t.Errorf("state directory mode %v, want 0750 or stricter", di.Mode().Perm())
	}
}

func (l *logLines) findPrefix(prefix string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if m, _ := r["msg"].(string); strings.HasPrefix(m, prefix) {
			return r
		}
	}
	return nil
}

func TestRunSecondInstanceFailsFast(t *testing.T) {
	cfg := testConfig(t, "")
	startRun(t, cfg)

	start := time.Now()
	err := run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second run: %v, want the store lock error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("second run took %v to fail", took)
	}
	msg := err.Error()
	if !strings.Contains(msg, filepath.Join(cfg.StateDir, storeFile)) || !strings.Contains(msg, "another stikadoo-edge") {
		t.Errorf("error %q does not name the file and say another stikadoo-edge has it", msg)
	}
	if exitCode(err) != exitError {
		t.Errorf("exit code %d, want %d", exitCode(err), exitError)
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t, "")
	cfg.Listen = ln.Addr().String()
	err = run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("run on a busy port: %v", err)
	}
	// The store was closed on the way out.
	st, err := storage.Open(filepath.Join(cfg.StateDir, storeFile), storage.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("store left locked: %v", err)
	}
	st.Close()
}

func TestTokenKey(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	p := filepath.Join(t.TempDir(), tokenKeyFile)
	k1, err := loadTokenKey(p, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Fatalf("key of %d bytes", len(k1))
	}
	b, _ := os.ReadFile(p)
	if strings.TrimSpace(string(b)) != hex.EncodeToString(k1) {
		t.Errorf("file holds %q, want the key in hex", b)
	}
	k2, err := loadTokenKey(p, log)
	if err != nil || string(k2) != string(k1) {
		t.Errorf("second load: %x, %v; want the same key", k2, err)
	}
	if err := os.WriteFile(p, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadTokenKey(p, log); !errors.Is(err, errConfig) || !strings.Contains(err.Error(), p) {
		t.Errorf("corrupt key: %v, want a configuration error naming the file", err)
	}
}

func TestOTAURLs(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr *net.TCPAddr
		want []string
		lan  bool
	}{
		{"loopback", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}, []string{"http://127.0.0.1:8000/xiaozhi/ota/"}, false},
		{"one address", &net.TCPAddr{IP: net.IPv4(192, 168, 1, 20), Port: 8000}, []string{"http://192.168.1.20:8000/xiaozhi/ota/"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, lan := otaURLs(tc.addr, "/xiaozhi/ota/")
			if strings.Join(got, " ") != strings.Join(tc.want, " ") || lan != tc.lan {
				t.Errorf("otaURLs = %q, %v; want %q, %v", got, lan, tc.want, tc.lan)
			}
		})
	}
	t.Run("every interface", func(t *testing.T) {
		got, lan := otaURLs(&net.TCPAddr{IP: net.IPv6unspecified, Port: 8123}, "/xiaozhi/ota/")
		if len(got) == 0 {
			t.Fatal("no URL at all")
		}
		for _, u := range got {
			if !strings.HasPrefix(u, "http://") || !strings.HasSuffix(u, ":8123/xiaozhi/ota/") {
				t.Errorf("URL %q", u)
			}
			if lan && (strings.Contains(u, "127.0.0.1") || strings.Contains(u, "[::1]")) {
				t.Errorf("LAN URL list holds loopback %q", u)
			}
		}
	})
}
