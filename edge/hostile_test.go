package edge_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

const stikadooHello = `{"type":"hello","version":1,"transport":"websocket","features":{"mcp":false},"audio_params":{"format":"pcm","encoding":"base64","sample_width":2,"sample_rate":16000,"channels":1,"frame_duration":60}}`
const upstreamHello = `{"type":"hello","version":%d,"transport":"websocket","features":{"mcp":true,"aec":false},"audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":60}}`

var rawCount atomic.Int64

// rawDevice is a bare WebSocket client for frame-level tests.
type rawDevice struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialRaw(t *testing.T, ts *testServer, protocol string) *rawDevice {
	t.Helper()
	n := rawCount.Add(1)
	h := http.Header{"Device-Id": {fmt.Sprintf("aa:00:00:00:%02x:%02x", n>>8&0xff, n&0xff)}, "Client-Id": {"c-" + protocol}}
	if protocol != "" {
		h.Set("Protocol-Version", protocol)
	}
	c, status := dialWS(t, ts, h, nil)
	if status != 101 {
		t.Fatalf("dial: %d", status)
	}
	return &rawDevice{t: t, conn: c}
}

func (d *rawDevice) send(mt int, data []byte) {
	d.t.Helper()
	if err := d.conn.WriteMessage(mt, data); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

func (d *rawDevice) hello(msg string) proto.ServerHello {
	d.t.Helper()
	d.send(websocket.TextMessage, []byte(msg))
	var h proto.ServerHello
	for {
		m := d.read()
		if m["type"] == "hello" {
			b, _ := json.Marshal(m)
			_ = json.Unmarshal(b, &h)
			return h
		}
	}
}

// read returns the next JSON message, skipping MCP requests.
func (d *rawDevice) read() map[string]any {
	d.t.Helper()
	for {
		_ = d.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, b, err := d.conn.ReadMessage()
		if err != nil {
			d.t.Fatalf("read: %v", err)
		}
		if mt != websocket.TextMessage {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			d.t.Fatalf("server sent non-JSON text %q", b)
		}
		if m["type"] == "mcp" || m["type"] == "keepalive" {
			continue
		}
		return m
	}
}

// closeCode reads until the server closes and returns its close code.
func (d *rawDevice) closeCode() int {
	d.t.Helper()
	_ = d.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := d.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		d.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

func TestHostileFramesCloseOnlyThatSession(t *testing.T) {
	ts := startServer(t, edge.Config{HelloTimeout: time.Second}, edge.Deps{})
	bystander := dialRaw(t, ts, "1")
	bystander.hello(strings.Replace(upstreamHello, "%d", "1", 1))

	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	v2 := func(typ byte, size uint32, payload []byte) []byte {
		h := []byte{0, 2, 0, typ, 0, 0, 0, 0, 0, 0, 0, 0, byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)}
		return append(h, payload...)
	}
	cases := []struct {
		name     string
		protocol string
		hello    string // "" to send the frame before hello
		mt       int
		frame    []byte
		want     int
	}{
		{"oversized frame", "1", stikadooHello, websocket.TextMessage, []byte(strings.Repeat("A", 70<<10)), 1009},
		{"v2 payload_size too big", "2", strings.Replace(upstreamHello, "%d", "2", 1), websocket.BinaryMessage, v2(0, 500, make([]byte, 100)), 1002},
		{"v2 payload_size too small", "2", strings.Replace(upstreamHello, "%d", "2", 1), websocket.BinaryMessage, v2(0, 10, make([]byte, 100)), 1002},
		{"v3 short header", "3", strings.Replace(upstreamHello, "%d", "3", 1), websocket.BinaryMessage, []byte{0, 0, 1}, 1002},
		{"v3 payload_size wrong", "3", strings.Replace(upstreamHello, "%d", "3", 1), websocket.BinaryMessage, []byte{0, 0, 0, 9, 1, 2}, 1002},
		{"v2 unknown frame type", "2", strings.Replace(upstreamHello, "%d", "2", 1), websocket.BinaryMessage, v2(7, 3, []byte{1, 2, 3}), 1003},
		{"invalid base64 PCM", "1", stikadooHello, websocket.TextMessage, []byte("!!!!not base64!!!!"), 1007},
		{"odd PCM byte count", "1", stikadooHello, websocket.TextMessage, []byte("AA=="), 1007},
		{"invalid UTF-8 JSON", "1", stikadooHello, websocket.TextMessage, []byte("{\"type\":\"listen\",\"text\":\"\xff\xfe\"}"), 1007},
		{"invalid JSON", "1", stikadooHello, websocket.TextMessage, []byte(`{"type":"listen",`), 1007},
		{"deeply nested JSON", "1", stikadooHello, websocket.TextMessage, []byte(deep), 1008},
		{"JSON without type", "1", stikadooHello, websocket.TextMessage, []byte(`{"state":"start"}`), 1008},
		{"listen before hello", "1", "", websocket.TextMessage, []byte(`{"type":"listen","state":"start","mode":"manual"}`), 1008},
		{"audio before hello", "1", "", websocket.BinaryMessage, []byte{0xf8, 0xff, 0xfe}, 1008},
		{"second hello", "1", stikadooHello, websocket.TextMessage, []byte(stikadooHello), 1008},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dialRaw(t, ts, c.protocol)
			if c.hello != "" {
				d.hello(c.hello)
			}
			if c.want == 1009 {
				// The server closes while the frame is still being written.
				_ = d.conn.WriteMessage(c.mt, c.frame)
			} else {
				d.send(c.mt, c.frame)
			}
			if got := d.closeCode(); got != c.want {
				t.Errorf("close code %d, want %d", got, c.want)
			}
		})
	}
	t.Run("no hello in time", func(t *testing.T) {
		d := dialRaw(t, ts, "1")
		if got := d.closeCode(); got != 1008 {
			t.Errorf("close code %d, want 1008", got)
		}
	})

	// The bystander is untouched: a typed request still gets its answer.
	bystander.send(websocket.TextMessage, []byte(`{"type":"listen","state":"detect","text":"a dragon eating ice cream"}`))
	var got []string
	for {
		m := bystander.read()
		got = append(got, str(m["type"])+"/"+str(m["state"])+str(m["status"]))
		if m["type"] == "stt" && m["text"] != "a dragon eating ice cream" {
			t.Errorf("stt %v", m)
		}
		if m["type"] == "alert" && !strings.Contains(m["message"].(string), "isn't set up") {
			t.Errorf("alert %v", m)
		}
		if m["type"] == "tts" && m["state"] == "stop" {
			break
		}
	}
	if want := "tts/start,stt/,alert/Can't draw yet,tts/stop"; strings.Join(got, ",") != want {
		t.Errorf("bystander got %v, want %s", got, want)
	}
	// Each closed session is recorded with its close code.
	deadline := time.Now().Add(3 * time.Second)
	for {
		var sessions []proto.Session
		postJSON(t, "GET", ts.URL+"/api/v1/sessions?limit=100", nil, "", &sessions)
		codes := map[int]int{}
		for _, s := range sessions {
			codes[s.CloseCode]++
		}
		ok := codes[1008] == 6 && codes[1007] == 4 && codes[1002] == 4 && codes[1009] == 1 && codes[1003] == 1 && codes[0] == 1
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("recorded close codes %v", codes)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func str(v any) string { s, _ := v.(string); return s }
