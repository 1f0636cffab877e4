package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/storage"
)

// t0 is when the recorded sessions of the tests start.
var t0 = time.Now().Add(-2 * time.Hour).Truncate(time.Second)

// fillStore writes a record of three sessions (s1 oldest, s3 newest) and
// two devices into a store file in stateDir.
func fillStore(t *testing.T, stateDir string) {
	t.Helper()
	st, err := storage.Open(filepath.Join(stateDir, storeFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, id := range []string{"aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"} {
		_, err := st.UpdateDevice(id, func(d *proto.Device) error {
			d.FirstSeen = t0
			d.LastSeen = t0.Add(time.Duration(i) * time.Minute)
			d.SerialNumber = fmt.Sprintf("SN-%d", i+1)
			d.Board = "stikadoo-s3"
			d.FirmwareVersion = "1.0.0"
			d.Activation.Verified = i == 1 // the second waits for approval
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		s := proto.Session{
			ID: fmt.Sprintf("s%d", i), DeviceID: "aa:bb:cc:dd:ee:01", Dialect: proto.DialectStikadoo,
			RemoteAddr: "192.168.1.50:40000", Start: t0.Add(time.Duration(i) * 10 * time.Minute),
			End: t0.Add(time.Duration(i)*10*time.Minute + 90*time.Second), CloseCode: 1000, CloseReason: "normal",
			Turns: 1, Tools: []string{"self.screen.preview_image"},
		}
		if err := st.PutSession(s); err != nil {
			t.Fatal(err)
		}
		turn := proto.Turn{
			ID: fmt.Sprintf("t%d", i), SessionID: s.ID, DeviceID: s.DeviceID, Seq: 1,
			Start: s.Start.Add(time.Second), End: s.Start.Add(4 * time.Second), Source: proto.SourceVoice,
			Mode: "manual", AudioMs: 2300, Transcript: fmt.Sprintf("a cat number %d", i),
			Outcome: proto.OutcomeImageError, Error: "image backend timed out",
			TimingsMs: map[string]int64{"stt": 120, "image": 2000},
		}
		if err := st.PutTurn(turn); err != nil {
			t.Fatal(err)
		}
	}
}

// cli runs the command line and returns its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runMain(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// checkRecordCommands runs the record commands and checks what each shows, whether the
// record is read from the file or through the running daemon.
func checkRecordCommands(t *testing.T, loc []string) {
	t.Run("sessions list", func(t *testing.T) {
		code, out, errOut := cli(t, append([]string{"sessions", "list"}, loc...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("table:\n%s", out)
		}
		for i, id := range []string{"s3", "s2", "s1"} {
			f := strings.Fields(lines[i+1])
			if f[0] != id || f[1] != "aa:bb:cc:dd:ee:01" || f[2] != "stikadoo" || !strings.Contains(lines[i+1], "1m30s") || !strings.Contains(lines[i+1], "1000 normal") {
				t.Errorf("row %d: %q", i+1, lines[i+1])
			}
		}
	})
	t.Run("sessions list json limit", func(t *testing.T) {
		code, out, errOut := cli(t, append([]string{"sessions", "list", "--json", "--limit", "2"}, loc...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var list []proto.Session
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if len(list) != 2 || list[0].ID != "s3" || list[1].ID != "s2" {
			t.Errorf("sessions %+v, want s3 and s2", list)
		}
	})
	t.Run("sessions show", func(t *testing.T) {
		code, out, errOut := cli(t, append([]string{"sessions", "show", "s2"}, loc...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"session", "s2", "192.168.1.50:40000", "self.screen.preview_image",
			"turn 1", `"a cat number 2"`, "image_error", "image backend timed out", "image=2s stt=120ms", "2.3s"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("sessions show json", func(t *testing.T) {
		code, out, errOut := cli(t, append([]string{"sessions", "show", "--json", "s1"}, loc...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var v storage.ExportLine
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		if v.Session.ID != "s1" || len(v.Turns) != 1 || v.Turns[0].Transcript != "a cat number 1" {
			t.Errorf("show --json: %+v", v)
		}
	})
	t.Run("sessions show unknown", func(t *testing.T) {
		code, _, errOut := cli(t, append([]string{"sessions", "show", "nope"}, loc...)...)
		if code != exitError || !strings.Contains(errOut, "not found") {
			t.Errorf("exit %d, stderr %q; want 1 and not found", code, errOut)
		}
	})
	t.Run("sessions export", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "export.jsonl")
		since := t0.Add(15 * time.Minute).UTC().Format(time.RFC3339)
		code, out, errOut := cli(t, append([]string{"sessions", "export", "--since", since, "-o", p}, loc...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if out != "" {
			t.Errorf("export to a file wrote %q to stdout", out)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
			t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
		}
		var ids []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var l storage.ExportLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if len(l.Turns) != 1 {
				t.Errorf("session %s exported with %d turns", l.Session.ID, len(l.Turns))
			}
			ids = append(ids, l.Session.ID)
		}
		if strings.Join(ids, ",") != "s2,s3" {
			t.Errorf("exported %v, want s2,s3 (oldest first, since s2)", ids)
		}
	})
	t.Run("sessions export all to stdout", func(t *testing.T) {
		code, out, errOut := cli(t, append([]string{"sessions", "export"}, loc...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if n := strings.Count(out, "\n"); n != 3 {
			t.Errorf("%d lines, want 3:\n%s", n, out)
		}
	})
	t.Run("devices list", func(t *testing.T) {
		code, out, errOut := cli(t, append([]string{"devices", "list"}, loc...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], "aa:bb:cc:dd:ee:02") || !strings.Contains(lines[1], "waiting for approval") || !strings.Contains(lines[1], "SN-2") {
			t.Errorf("devices table:\n%s", out)
		}
	})
}

func TestRecordCommandsFromFile(t *testing.T) {
	clearSecretEnv(t)
	dir := t.TempDir()
	fillStore(t, dir)
	checkRecordCommands(t, []string{"--state-dir", dir})

	t.Run("approve and revoke", func(t *testing.T) {
		code, out, errOut := cli(t, "devices", "approve", "AA:BB:CC:DD:EE:02", "--state-dir", dir)
		if code != exitOK || !strings.Contains(out, "approved aa:bb:cc:dd:ee:02") {
			t.Fatalf("approve: exit %d, %q %q", code, out, errOut)
		}
		code, _, errOut = cli(t, "devices", "revoke", "aa:bb:cc:dd:ee:01", "--state-dir", dir)
		if code != exitOK {
			t.Fatalf("revoke: exit %d, %s", code, errOut)
		}
		st, err := storage.Open(filepath.Join(dir, storeFile), storage.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		d2, _ := st.Device("aa:bb:cc:dd:ee:02")
		if !d2.Activation.Approved || !d2.Activation.Activated() || d2.Blocked {
			t.Errorf("approved device: %+v", d2)
		}
		d1, _ := st.Device("aa:bb:cc:dd:ee:01")
		if !d1.Blocked || d1.RevokedBefore.IsZero() || time.Since(d1.RevokedBefore) > time.Minute {
			t.Errorf("revoked device: %+v", d1)
		}
	})
	t.Run("approve unknown", func(t *testing.T) {
		code, _, errOut := cli(t, "devices", "approve", "aa:aa:aa:aa:aa:aa", "--state-dir", dir)
		if code != exitError || !strings.Contains(errOut, "not found") {
			t.Errorf("exit %d, %q", code, errOut)
		}
	})
}

func TestRecordCommandsNoRecord(t *testing.T) {
	clearSecretEnv(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"sessions", "list", "--state-dir", dir},
		{"devices", "approve", "x", "--state-dir", dir},
	} {
		code, _, errOut := cli(t, args...)
		if code != exitError || !strings.Contains(errOut, "does not exist") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, storeFile)); err == nil {
		t.Error("a record command created a store file")
	}
}

// TestRecordCommandsThroughDaemon runs the same commands while the daemon
// holds the store: they must reach it through its admin API.
func TestRecordCommandsThroughDaemon(t *testing.T) {
	clearSecretEnv(t)
	dir := t.TempDir()
	fillStore(t, dir)
	cfg := testConfig(t, "")
	cfg.StateDir = dir
	addr, _, _ := startRun(t, cfg)
	// The command line finds the daemon from the configuration file.
	p := writeConfig(t, fmt.Sprintf("[server]\nlisten = %q\nstate_dir = %q\n", addr, dir))
	loc := []string{"--config", p}

	checkRecordCommands(t, loc)

	t.Run("approve and revoke", func(t *testing.T) {
		code, out, errOut := cli(t, append([]string{"devices", "approve", "aa:bb:cc:dd:ee:02"}, loc...)...)
		if code != exitOK || !strings.Contains(out, "approved aa:bb:cc:dd:ee:02 (now activated)") {
			t.Fatalf("approve: exit %d, %q %q", code, out, errOut)
		}
		code, out, errOut = cli(t, append([]string{"devices", "revoke", "aa:bb:cc:dd:ee:01"}, loc...)...)
		if code != exitOK || !strings.Contains(out, "revoked aa:bb:cc:dd:ee:01 (now blocked)") {
			t.Fatalf("revoke: exit %d, %q %q", code, out, errOut)
		}
		code, out, _ = cli(t, append([]string{"devices", "list", "--json"}, loc...)...)
		var ds []proto.Device
		if err := json.Unmarshal([]byte(out), &ds); code != exitOK || err != nil {
			t.Fatalf("devices list --json: exit %d, %v", code, err)
		}
		for _, d := range ds {
			if d.ID == "aa:bb:cc:dd:ee:01" && !d.Blocked {
				t.Errorf("revoked device not blocked: %+v", d)
			}
		}
	})
	t.Run("approve unknown", func(t *testing.T) {
		code, _, errOut := cli(t, append([]string{"devices", "approve", "aa:aa:aa:aa:aa:aa"}, loc...)...)
		if code != exitError || !strings.Contains(errOut, "HTTP 404") {
			t.Errorf("exit %d, %q", code, errOut)
		}
	})
	t.Run("explicit server", func(t *testing.T) {
		code, out, errOut := cli(t, "sessions", "list", "--server", "http://"+addr, "--state-dir", t.TempDir())
		if code != exitOK || !strings.Contains(out, "s3") {
			t.Errorf("exit %d, %q %q", code, out, errOut)
		}
	})
}

func TestRecordCommandsDaemonGone(t *testing.T) {
	clearSecretEnv(t)
	// Nothing listens on this port once the listener is closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, errOut := cli(t, "devices", "list", "--server", "http://"+addr)
	if code != exitError || !strings.Contains(errOut, addr) {
		t.Errorf("exit %d, %q; want 1 naming the server", code, errOut)
	}
}

func TestAdminClientLimitsAndErrors(t *testing.T) {
	old := maxAdminResponse
	t.Cleanup(func() { maxAdminResponse = old })
	maxAdminResponse = 1024

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("[" + strings.Repeat(`{"id":"x"},`, 200) + `{"id":"y"}]`))
	})
	mux.HandleFunc("GET /api/v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"read session \"zz\": not found"}`))
	})
	mux.HandleFunc("GET /api/v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":"the admin API answers this machine only"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := newAdminClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Devices(ctx); err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Errorf("oversized answer: %v", err)
	}
	if _, _, err := c.Session(ctx, "zz"); !errors.Is(err, proto.ErrNotFound) || !errors.Is(err, errAdmin) || !strings.Contains(err.Error(), `read session \"zz\": not found`) && !strings.Contains(err.Error(), `read session "zz": not found`) {
		t.Errorf("404: %v", err)
	}
	if _, err := c.Sessions(ctx, 5); !errors.Is(err, errAdmin) || !strings.Contains(err.Error(), "this machine only") || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("403: %v", err)
	}
	if _, err := newAdminClient("127.0.0.1:8000", nil); !errors.Is(err, errUsage) {
		t.Errorf("URL without scheme: %v", err)
	}
}

func TestAdminURL(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{":8000", "http://127.0.0.1:8000"},
		{"0.0.0.0:9000", "http://127.0.0.1:9000"},
		{"[::]:8000", "http://127.0.0.1:8000"},
		{"192.168.1.20:8000", "http://127.0.0.1:8000"},
		{"127.0.0.2:8000", "http://127.0.0.2:8000"},
		{"[::1]:8000", "http://[::1]:8000"},
		{"localhost:8001", "http://localhost:8001"},
	} {
		if got := adminURL(tc.listen); got != tc.want {
			t.Errorf("adminURL(%q) = %q, want %q", tc.listen, got, tc.want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "", want: time.Time{}},
		{in: "2026-06-01T00:00:00Z", want: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "yesterday", bad: true},
		{in: "-1h", bad: true},
		{in: "xd", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSince(tc.in, now)
			if tc.bad {
				if err == nil {
					t.Errorf("accepted %q", tc.in)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
