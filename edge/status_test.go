package edge_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestStatusPage(t *testing.T) {
	ts := startServer(t, edge.Config{Version: "1.4.0"}, edge.Deps{
		Images: &edgetest.ImageGenerator{}, NoSTT: "no speech model yet: run `stikadoo-edge model download base.en` on the server",
	})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo, Board: "stikadoo-printer-s3"})
	if _, err := dev.RunTurn(turnCtx(t), edgetest.Speech(time.Second)); err != nil {
		t.Fatal(err)
	}
	// A second printer that checked in once and went away.
	gone := &edgetest.Device{Dialect: proto.DialectOpusV1, ID: "aa:bb:cc:00:00:02", OTAURL: ts.OTAURL()}
	if _, err := gone.Boot(turnCtx(t)); err != nil {
		t.Fatal(err)
	}

	if dev.ID == "" {
		t.Fatal("the simulated printer has no id")
	}
	resp, page := get(t, ts.URL+"/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: HTTP %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Content-Length") == "" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("headers %v lack Content-Length or a content security policy", resp.Header)
	}
	for _, want := range []string{
		"Needs attention",
		"stikadoo-edge model download base.en", // what to do, in words
		ts.URL + "/xiaozhi/ota/",               // the address to give a printer
		strings.ToLower(dev.ID), "stikadoo-printer-s3", "connected",
		"aa:bb:cc:00:00:02", "less than a minute ago",
		"1.4.0",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	// What children said is not on a page anyone on the network can read.
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	if tr := turns[0].Transcript; tr != "" && strings.Contains(page, tr) {
		t.Errorf("status page shows the transcript %q", tr)
	}
	// Only the root is the page.
	if resp, _ := get(t, ts.URL+"/nothing-here"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here: HTTP %d, want 404", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	ts := startServer(t, edge.Config{Version: "1.4.0"}, edge.Deps{Transcriber: &edgetest.Transcriber{Text: "a dragon"}, Images: &edgetest.ImageGenerator{}})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})
	for range 2 {
		if _, err := dev.RunTurn(turnCtx(t), edgetest.Speech(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dev.RunTurn(turnCtx(t), edgetest.Speech(50*time.Millisecond)); err != nil { // too short: no speech
		t.Fatal(err)
	}
	waitTurns(t, ts, dev.SessionID(), 3)
	resp, body := get(t, ts.URL+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	for _, want := range []string{
		`stikadoo_turns_total{outcome="ok"} 2`,
		`stikadoo_turns_total{outcome="no_speech"} 1`,
		`stikadoo_turn_stage_seconds_count{stage="stt"} 2`,
		`stikadoo_turn_stage_seconds_count{stage="total"} 3`,
		"stikadoo_sessions 1",
		"stikadoo_stt_available 1",
		`stikadoo_build_info{version="1.4.0"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
