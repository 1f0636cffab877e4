package edge_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/storage"
)

// testServer is a gateway serving on 127.0.0.1 with a real store.
type testServer struct {
	*edge.Server
	Store *storage.Store
	Addr  string // host:port
	URL   string // http://host:port
	stop  func()
}

func (ts *testServer) OTAURL() string { return ts.URL + "/xiaozhi/ota/" }

// startServer starts a gateway with cfg and deps (Store and Logger filled
// in when nil) and stops it when the test ends. A store the test gave
// stays open when the server stops; one startServer opened is closed.
func startServer(t testing.TB, cfg edge.Config, deps edge.Deps) *testServer {
	t.Helper()
	st, own := deps.Store.(*storage.Store)
	if deps.Store == nil {
		var err error
		if st, err = storage.Open(filepath.Join(t.TempDir(), "edge.db"), storage.Options{}); err != nil {
			t.Fatal(err)
		}
		deps.Store, own = st, true
	} else {
		own = false
	}
	if deps.Logger == nil {
		deps.Logger = testLogger(t)
	}
	srv, err := edge.NewServer(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }() // ends when ctx is cancelled
	ts := &testServer{Server: srv, Store: st, Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String()}
	var stopped bool
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10 s of cancel")
		}
		if own {
			st.Close()
		}
	}
	t.Cleanup(ts.stop)
	return ts
}

// testLogger logs to the test log when -v is set, otherwise discards.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("STIKADOO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// postJSON posts body to url with headers and decodes a JSON answer.
func postJSON(t testing.TB, method, url string, headers map[string]string, body string, into any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil && len(b) > 0 {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp
}
