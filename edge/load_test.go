package edge_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/storage"
)

// loadServerEnv, set to 1, makes the test binary serve a gateway for
// TestLoad instead of running tests.
const loadServerEnv = "STIKADOO_LOAD_SERVER"

// loadReportEnv names the file TestLoad writes its Markdown report to.
const loadReportEnv = "STIKADOO_LOAD_REPORT"

var loadDevices = flag.Int("load", 0, "TestLoad: simulated devices per dialect against a gateway in its own process (0: skip)")

func TestMain(m *testing.M) {
	if os.Getenv(loadServerEnv) == "1" {
		os.Exit(serveLoad(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// serveLoad serves a gateway on 127.0.0.1 for TestLoad, with an instant
// fake transcriber and an image generator that returns one ready sticker,
// so that the gateway's own work is what is measured. It prints
// "LISTEN host:port", answers each "gc" line on in with a garbage
// collection (memory returned to the system) and a "GC" line, and shuts
// down when in closes.
func serveLoad(in io.Reader, out io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "load server: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "stikadoo-load-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	st, err := storage.Open(filepath.Join(dir, "edge.db"), storage.Options{})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	srv, err := edge.NewServer(edge.Config{MaxSessions: 1000}, edge.Deps{
		Transcriber: &edgetest.Transcriber{},
		Images:      &edgetest.ImageGenerator{PNG: edgetest.StickerPNG("load")},
		Store:       st,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }() // ends when ctx is cancelled
	fmt.Fprintf(out, "LISTEN %s\n", ln.Addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "gc" {
			debug.FreeOSMemory()
			fmt.Fprintln(out, "GC")
		}
	}
	cancel()
	if err := <-done; err != nil {
		return fail(err)
	}
	return 0
}

// loadServer is the gateway process TestLoad measures.
type loadServer struct {
	url   string // http://host:port
	pid   int
	stdin io.WriteCloser
	lines chan string // the process's stdout, line by line
	mu    sync.Mutex  // serializes gc
}

// startLoadServer runs this test binary as a gateway (see serveLoad) and
// stops it when the test ends: gracefully by closing its input, killed
// if it does not exit within 15 s.
func startLoadServer(t *testing.T) *loadServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start load server: %v", err)
	}
	exited := make(chan error, 1)
	ls := &loadServer{pid: cmd.Process.Pid, stdin: stdin, lines: make(chan string, 16)}
	go func() { // ends when the process closes its output
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ls.lines <- sc.Text()
		}
		close(ls.lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("load server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("load server did not exit within 15 s of its input closing; killing it")
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case line, ok := <-ls.lines:
		addr, found := strings.CutPrefix(line, "LISTEN ")
		if !ok || !found {
			t.Fatalf("load server said %q, want LISTEN host:port", line)
		}
		ls.url = "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatal("load server did not say where it listens within 30 s")
	}
	return ls
}

// gc collects garbage in the gateway's process and waits until it has.
func (ls *loadServer) gc(ctx context.Context) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if _, err := io.WriteString(ls.stdin, "gc\n"); err != nil {
		return fmt.Errorf("ask for a collection: %w", err)
	}
	select {
	case line, ok := <-ls.lines:
		if !ok {
			return errors.New("load server exited")
		}
		if line != "GC" {
			return fmt.Errorf("load server answered %q to gc", line)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestLoad measures a gateway, in a process of its own, under -load
// simulated devices per dialect: memory per idle and per streaming
// session, hello round trips, and end of utterance to stt. It writes the
// tables to $STIKADOO_LOAD_REPORT when set. Figures are reported, not
// asserted; the test fails when devices cannot connect or complete their
// turn, or when goroutines outlive the sessions.
//
//	go test -run '^TestLoad$' ./edge -args -load 200   (or: make load)
func TestLoad(t *testing.T) {
	if *loadDevices <= 0 {
		t.Skip("load measurement: run with -args -load N (make load)")
	}
	ls := startLoadServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var reports []*edgetest.LoadReport
	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV1} {
		t.Run(dialect, func(t *testing.T) {
			rep, err := edgetest.RunLoad(ctx, edgetest.LoadConfig{
				OTAURL:         ls.url + "/xiaozhi/ota/",
				HealthURL:      ls.url + "/api/v1/health",
				ServerPID:      ls.pid,
				Devices:        *loadDevices,
				Dialect:        dialect,
				CollectGarbage: ls.gc,
				Logf:           t.Logf,
			})
			if err != nil {
				t.Fatalf("load run: %v", err)
			}
			reports = append(reports, rep)
			if rep.Errors > 0 || rep.Turns != rep.Devices {
				t.Errorf("%d of %d devices connected, %d turns completed, %d errors; first: %q",
					rep.Connected, rep.Devices, rep.Turns, rep.Errors, rep.ErrorSample)
			}
			if rep.LeakedGoroutines > 0 || rep.After.Sessions != 0 {
				t.Errorf("after every device left: %d sessions, %d goroutines over the baseline of %d",
					rep.After.Sessions, rep.LeakedGoroutines, rep.Baseline.Goroutines)
			}
		})
	}
	if len(reports) == 0 {
		return
	}
	report := loadHeader(*loadDevices) + "\n" + edgetest.LoadTable(reports...)
	t.Log("\n" + report)
	if path := os.Getenv(loadReportEnv); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Errorf("write load report: %v", err)
		}
	}
}

// loadHeader says what was measured, on what.
func loadHeader(devices int) string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = ", " + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d simulated devices per dialect against one gateway in its own process "+
		"(instant fake transcriber, ready-made sticker; the devices run in a second process on the same CPUs). "+
		"%s/%s, %d CPUs%s, %s, %s.\n",
		devices, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, runtime.Version(), time.Now().UTC().Format("2006-01-02"))
}

// TestRunLoad runs the load runner against an in-process gateway with a
// few devices, so that it keeps working between load measurements.
func TestRunLoad(t *testing.T) {
	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV1} {
		t.Run(dialect, func(t *testing.T) {
			ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: &edgetest.Transcriber{}, Images: &edgetest.ImageGenerator{}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const devices = 5
			rep, err := edgetest.RunLoad(ctx, edgetest.LoadConfig{
				OTAURL:         ts.OTAURL(),
				HealthURL:      ts.URL + "/api/v1/health",
				Devices:        devices,
				Dialect:        dialect,
				Utterance:      600 * time.Millisecond,
				Stagger:        100 * time.Millisecond,
				Settle:         100 * time.Millisecond,
				CollectGarbage: func(context.Context) error { runtime.GC(); return nil },
			})
			if err != nil {
				t.Fatalf("load run: %v", err)
			}
			if rep.Connected != devices || rep.Turns != devices || rep.Errors != 0 {
				t.Fatalf("%d connected, %d turns, %d errors %q; want %d, %d, 0", rep.Connected, rep.Turns, rep.Errors, rep.ErrorSample, devices, devices)
			}
			if rep.HelloRTT.N != devices || rep.EOUToSTT.N != devices || rep.EOUToEnd.N != devices {
				t.Errorf("timings: %d hellos, %d stt, %d turn ends; want %d each", rep.HelloRTT.N, rep.EOUToSTT.N, rep.EOUToEnd.N, devices)
			}
			if rep.HelloRTT.P50 <= 0 || rep.EOUToSTT.P50 <= 0 || rep.EOUToEnd.P50 < rep.EOUToSTT.P50 {
				t.Errorf("timings out of order: hello %v, stt %v, end %v", rep.HelloRTT, rep.EOUToSTT, rep.EOUToEnd)
			}
			if rep.Idle.Sessions != devices || rep.Streaming.Sessions != devices || rep.IdleBytesPerSession <= 0 || rep.IdleGoroutinesPerSession < 1 {
				t.Errorf("idle %+v, streaming %+v, %d B and %.1f goroutines per idle session", rep.Idle, rep.Streaming, rep.IdleBytesPerSession, rep.IdleGoroutinesPerSession)
			}
			if rep.After.Sessions != 0 || rep.LeakedGoroutines != 0 {
				t.Errorf("after every device left: %d sessions, %d goroutines over the baseline", rep.After.Sessions, rep.LeakedGoroutines)
			}
			if tbl := rep.Table(); !strings.Contains(tbl, "| "+dialect+" |") || !strings.Contains(tbl, "not measured") {
				t.Errorf("table:\n%s", tbl)
			}
		})
	}
}
