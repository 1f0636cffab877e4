package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// simGateway is a minimal server for the simulator: the OTA answer, a
// WebSocket session that answers each turn, and a sticker. It stands in
// for the real gateway so that these tests check the command itself.
type simGateway struct {
	t    *testing.T
	srv  *httptest.Server
	mode string // "ok", "alert", "drop" (close after hello), "mute" (no hello), "silent" (never answer a turn), "ota-500"
	key  string // if set, the upgrade needs this bearer token or x-api-key

	handlers sync.WaitGroup // sessions still running

	mu       sync.Mutex
	heard    []int // PCM samples of each voice utterance (Stikadoo)
	requests []string
}

func newSimGateway(t *testing.T, mode, key string) *simGateway {
	g := &simGateway{t: t, mode: mode, key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/xiaozhi/ota/", g.ota)
	mux.HandleFunc("/xiaozhi/v1/", g.ws)
	png := edgetest.StickerPNG("sim")
	mux.HandleFunc("/stickers/s.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(png)))
		w.Write(png)
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		g.srv.CloseClientConnections()
		g.srv.Close()
		g.handlers.Wait() // sessions end when their connection closes
	})
	return g
}

func (g *simGateway) otaURL() string { return g.srv.URL + "/xiaozhi/ota/" }

func (g *simGateway) ota(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Headers", "Device-Id, Client-Id, Content-Type")
	switch {
	case r.Method == http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
	case g.mode == "ota-500":
		http.Error(w, "broken", http.StatusInternalServerError)
	default:
		fmt.Fprintf(w, `{"server_time":{"timestamp":%d,"timezone_offset":0},"firmware":{"version":"1","url":""},"websocket":{"url":"ws://%s/xiaozhi/v1/","token":"","version":1}}`,
			time.Now().UnixMilli(), r.Host)
	}
}

func (g *simGateway) ws(w http.ResponseWriter, r *http.Request) {
	g.handlers.Add(1)
	defer g.handlers.Done()
	if g.key != "" && r.Header.Get("Authorization") != "Bearer "+g.key && r.Header.Get("X-Api-Key") != g.key {
		http.Error(w, "a valid device token or API key is required", http.StatusUnauthorized)
		return
	}
	version := 1
	fmt.Sscan(r.Header.Get("Protocol-Version"), &version)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	send := func(v any) {
		b, _ := json.Marshal(v)
		conn.WriteMessage(websocket.TextMessage, b)
	}
	_, hello, err := conn.ReadMessage()
	if err != nil || g.mode == "mute" {
		conn.ReadMessage() // until the device gives up
		return
	}
	if g.mode == "drop" {
		return
	}
	send(proto.NewServerHello("sim-session"))
	stikadoo := bytes.Contains(hello, []byte(`"format":"pcm"`))
	if !stikadoo && !bytes.Contains(hello, []byte(`"transport"`)) {
		version = 1 // the browser page: raw Opus
	}
	nextID := int64(0)
	turn := func(text string) bool {
		g.mu.Lock()
		g.requests = append(g.requests, text)
		g.mu.Unlock()
		if g.mode == "silent" {
			return true
		}
		end := func() {
			if stikadoo {
				send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
			} else {
				send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
			}
		}
		if !stikadoo {
			send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart})
		}
		if g.mode == "alert" {
			send(proto.Alert{Type: proto.TypeAlert, Status: "Can't draw yet", Message: "Sticker drawing isn't set up yet.", Emotion: "sad"})
			end()
			return true
		}
		send(proto.STT{Type: proto.TypeSTT, Text: text})
		if stikadoo {
			send(proto.Thinking{Type: proto.TypeThinking, Status: "start"})
		}
		nextID++
		payload, _ := json.Marshal(proto.RPCRequest{JSONRPC: "2.0", ID: nextID, Method: proto.MethodToolsCall,
			Params: map[string]any{"name": proto.ToolPreviewImage, "arguments": map[string]any{"url": "http://" + r.Host + "/stickers/s.png"}}})
		send(proto.MCPEnvelope{Type: proto.TypeMCP, Payload: payload})
		for { // the device's reply; audio still arriving is dropped
			mt, b, err := conn.ReadMessage()
			if err != nil {
				return false
			}
			if mt != websocket.TextMessage || !proto.IsJSONObject(b) {
				continue
			}
			m, err := proto.DecodeMessage(b)
			if err != nil || m.Type != proto.TypeMCP {
				continue
			}
			resp, err := proto.DecodeRPCResponse(m.Payload)
			if id, ok := resp.NumericID(); err != nil || !ok || id != nextID {
				continue
			}
			if resp.Error != nil {
				g.t.Errorf("device refused the sticker: %s", resp.Error.Message)
			}
			break
		}
		if stikadoo {
			send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
			send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart})
		}
		send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Here is your sticker!"})
		send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
		return true
	}
	samples, frames, listening := 0, 0, false
	voice := func() bool {
		listening = false
		g.mu.Lock()
		g.heard = append(g.heard, samples)
		g.mu.Unlock()
		return turn(fmt.Sprintf("heard %d samples", samples))
	}
	for {
		mt, b, err := conn.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case mt == websocket.TextMessage && proto.IsJSONObject(b):
			m, err := proto.DecodeMessage(b)
			if err != nil {
				g.t.Errorf("device message %q: %v", b, err)
				return
			}
			switch {
			case m.Type == proto.TypeListen && m.State == proto.ListenStart:
				samples, frames, listening = 0, 0, true
			case m.Type == proto.TypeListen && m.State == proto.ListenStop && listening:
				if !voice() {
					return
				}
			case m.Type == proto.TypeListen && m.State == proto.ListenDetect && m.Text != edgetest.BrowserWakePhrase:
				listening = false
				if !turn(m.Text) {
					return
				}
			}
		case mt == websocket.TextMessage:
			pcm, err := proto.DecodePCMText(nil, b)
			if err != nil {
				g.t.Errorf("PCM frame: %v", err)
				return
			}
			samples += len(pcm)
		default:
			f, err := proto.DecodeBinary(version, b)
			if err != nil {
				g.t.Errorf("binary frame (protocol %d): %v", version, err)
				return
			}
			if !listening {
				continue
			}
			frames++
			// The browser's end-of-utterance frame, or enough audio for
			// a turn: this server does not end-point.
			if (len(f.Payload) == 0 || frames >= 40) && !voice() {
				return
			}
		}
	}
}

// simRun runs the simulate command and returns its output.
func simRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := runSimulate(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestSimulateDialects(t *testing.T) {
	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV1, proto.DialectOpusV2, proto.DialectOpusV3, proto.DialectBrowser} {
		t.Run(dialect, func(t *testing.T) {
			g := newSimGateway(t, "ok", "")
			out, _, err := simRun(t, "--ota", g.otaURL(), "--dialect", dialect, "--timeout", "10s")
			if err != nil {
				t.Fatalf("simulate: %v\n%s", err, out)
			}
			for _, want := range []string{"ota ", "ws://127.0.0.1:", "(protocol 1)", "hello ", "listen-start ", "stt ", "preview ", "image ", "tts-stop", "sticker delivered"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if !strings.HasPrefix(lines[len(lines)-1], "sticker delivered") {
				t.Errorf("last line %q, want the summary", lines[len(lines)-1])
			}
			for _, l := range lines[1 : len(lines)-1] {
				var ms int
				var name string
				if n, _ := fmt.Sscanf(l, "%dms %s", &ms, &name); n != 2 {
					t.Errorf("timeline line %q is not \"<ms>ms <step> <detail>\"", l)
				}
			}
			if dialect == proto.DialectStikadoo {
				g.mu.Lock()
				heard := g.heard
				g.mu.Unlock()
				if len(heard) != 1 || heard[0] != 34*stt.FrameSamples {
					t.Errorf("server heard %v samples, want 2 s in 34 frames", heard)
				}
			}
		})
	}
}

func TestSimulateAlertIsNotAnError(t *testing.T) {
	g := newSimGateway(t, "alert", "")
	out, _, err := simRun(t, "--ota", g.otaURL(), "--text", "a cat")
	if err != nil {
		t.Fatalf("an alert made simulate fail: %v", err)
	}
	if !strings.Contains(out, "alert: Sticker drawing isn't set up yet.") {
		t.Errorf("output lacks the alert summary:\n%s", out)
	}
}

func TestSimulateJSON(t *testing.T) {
	g := newSimGateway(t, "ok", "")
	out, _, err := simRun(t, "--ota", g.otaURL(), "--dialect", "browser", "--text", "a red kite", "--count", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for i := range 2 {
		var res struct {
			Dialect        string `json:"dialect"`
			STT            string `json:"stt"`
			ImageURL       string `json:"image_url"`
			ImageWidth     int    `json:"image_width"`
			ImageDelivered bool   `json:"image_delivered"`
			Timeline       []struct {
				Name string  `json:"name"`
				AtMs float64 `json:"at_ms"`
			} `json:"timeline"`
		}
		if err := dec.Decode(&res); err != nil {
			t.Fatalf("result %d: %v\n%s", i, err, out)
		}
		if res.Dialect != "browser" || res.STT != "a red kite" || !res.ImageDelivered || res.ImageWidth != edgetest.StickerWidth ||
			!strings.HasSuffix(res.ImageURL, "/stickers/s.png") || len(res.Timeline) == 0 {
			t.Errorf("result %d: %+v", i, res)
		}
		if first := res.Timeline[0].Name; (i == 0) != (first == "ota") {
			t.Errorf("turn %d timeline starts with %q", i, first)
		}
	}
	if dec.More() {
		t.Errorf("more than two results")
	}
}

func TestSimulateCount(t *testing.T) {
	g := newSimGateway(t, "ok", "")
	out, _, err := simRun(t, "--ota", g.otaURL(), "--dialect", "opus-v2", "--count", "3")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "sticker delivered"); n != 3 {
		t.Errorf("%d turns delivered, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "-- turn 3 of 3") {
		t.Errorf("no turn headers:\n%s", out)
	}
}

func TestSimulateWAV(t *testing.T) {
	// One second of speech at 8 kHz: resampled to 16 kHz it is 16000
	// samples, sent in 17 frames.
	var buf bytes.Buffer
	if err := stt.WriteWAV(&buf, stt.Resample(edgetest.Speech(time.Second), stt.SampleRate, 8000), 8000); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "say.wav")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	g := newSimGateway(t, "ok", "")
	out, _, err := simRun(t, "--ota", g.otaURL(), "--wav", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "resampled to 16 kHz") || !strings.Contains(out, fmt.Sprintf("heard %d samples", 17*stt.FrameSamples)) {
		t.Errorf("output:\n%s", out)
	}

	notWAV := filepath.Join(t.TempDir(), "not.wav")
	os.WriteFile(notWAV, []byte("hello"), 0o644)
	if _, _, err := simRun(t, "--ota", g.otaURL(), "--wav", notWAV); !errors.Is(err, stt.ErrNotWAV) {
		t.Errorf("a file that is not WAV: %v", err)
	}
}

func TestSimulateCredentials(t *testing.T) {
	g := newSimGateway(t, "ok", "sekrit")
	if _, _, err := simRun(t, "--ota", g.otaURL(), "--text", "x"); edgetest.DialStatus(err) != http.StatusUnauthorized {
		t.Errorf("without credentials: %v, want a 401 refusal", err)
	}
	if _, _, err := simRun(t, "--ota", g.otaURL(), "--text", "x", "--token", "sekrit", "--dialect", "opus-v1"); err != nil {
		t.Errorf("--token: %v", err)
	}
	if _, _, err := simRun(t, "--ota", g.otaURL(), "--text", "x", "--api-key", "sekrit"); err != nil {
		t.Errorf("--api-key: %v", err)
	}
}

func TestSimulateProtocolBroken(t *testing.T) {
	tests := []struct {
		mode string
		want error
	}{
		{"ota-500", edgetest.ErrOTA},
		{"drop", edgetest.ErrClosed},
		{"mute", context.DeadlineExceeded},
		{"silent", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			g := newSimGateway(t, tt.mode, "")
			out, _, err := simRun(t, "--ota", g.otaURL(), "--timeout", "500ms")
			if !errors.Is(err, tt.want) {
				t.Fatalf("simulate = %v, want %v\n%s", err, tt.want, out)
			}
			if errors.Is(err, errUsage) {
				t.Errorf("a broken server is not a usage error")
			}
		})
	}
}

func TestSimulateUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "not defined"},
		{"bad dialect", []string{"--dialect", "mqtt"}, "--dialect"},
		{"wav and text", []string{"--wav", "a.wav", "--text", "x"}, "exclude"},
		{"empty text", []string{"--text", " "}, "--text"},
		{"zero count", []string{"--count", "0"}, "--count"},
		{"negative timeout", []string{"--timeout", "-1s"}, "--timeout"},
		{"bad ota", []string{"--ota", "ftp://x/"}, "--ota"},
		{"stray argument", []string{"now"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := simRun(t, tt.args...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("simulate %q = %v, want a usage error about %s", tt.args, err, tt.want)
			}
		})
	}
	out, _, err := simRun(t, "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "--dialect") && !strings.Contains(out, "-dialect") {
		t.Errorf("-h = %v, output %q", err, out)
	}
}
