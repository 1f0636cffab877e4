package edge_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
)

const upstreamBody = `{"version":2,"language":"en-US","flash_size":16777216,"mac_address":"aa:bb:cc:dd:ee:01","uuid":"5a1f0c2e-1111-4222-8333-944455556666","chip_model_name":"esp32s3","application":{"name":"xiaozhi","version":"2.1.0","compile_time":"Jun 1 2026","idf_version":"v5.4","elf_sha256":"00"},"board":{"type":"bread-compact-wifi","name":"bread-compact-wifi","ssid":"home","rssi":-50,"ip":"192.168.1.50","mac":"aa:bb:cc:dd:ee:01"}}`

// The Stikadoo board's body, with the trailing comma some boards emit.
const stikadooBody = `{"version":2,"language":"en-US","mac_address":"aa:bb:cc:dd:ee:02","uuid":"5a1f0c2e-2222-4222-8333-944455556666","application":{"name":"stikadoo","version":"2.1.0-stk.7",},"board":{"type":"stikadoo-ai-printer","name":"stikadoo-ai-printer","ip":"192.168.1.51",},"display":{"monochrome":false,"width":480,"height":480,},}`

func otaHeaders(mac, ua string) map[string]string {
	return map[string]string{
		"Device-Id": mac, "Client-Id": "5a1f0c2e-1111-4222-8333-944455556666", "Activation-Version": "2",
		"Serial-Number": strings.ReplaceAll(mac, ":", ""), "User-Agent": ua, "Accept-Language": "en-US",
		"Content-Type": "application/json",
	}
}

func TestOTAAnswer(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	cases := []struct {
		name, method, path, mac, ua, body, wantVersion, wantBoard string
	}{
		{"upstream POST", "POST", "/xiaozhi/ota/", "aa:bb:cc:dd:ee:01", "bread-compact-wifi/2.1.0", upstreamBody, "2.1.0", "bread-compact-wifi"},
		{"upstream without slash", "POST", "/xiaozhi/ota", "aa:bb:cc:dd:ee:01", "bread-compact-wifi/2.1.0", upstreamBody, "2.1.0", "bread-compact-wifi"},
		{"stikadoo challenge, trailing commas", "POST", "/xiaozhi/ota/challenge", "AA:BB:CC:DD:EE:02", "stikadoo-ai-printer/2.1.0-stk.7", stikadooBody, "2.1.0-stk.7", "stikadoo-ai-printer"},
		{"stikadoo challenge with slash", "POST", "/xiaozhi/ota//challenge", "aa:bb:cc:dd:ee:02", "stikadoo-ai-printer/2.1.0-stk.7", stikadooBody, "2.1.0-stk.7", "stikadoo-ai-printer"},
		{"GET without body", "GET", "/xiaozhi/ota/", "aa:bb:cc:dd:ee:03", "esp-box/1.9.0", "", "1.9.0", "esp-box"},
		{"garbage body uses headers", "POST", "/xiaozhi/ota/challenge", "aa:bb:cc:dd:ee:04", "stikadoo-ai-printer/2.0.9", "{not json at all", "2.0.9", "stikadoo-ai-printer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := time.Now()
			var raw map[string]json.RawMessage
			resp := postJSON(t, c.method, ts.URL+c.path, otaHeaders(c.mac, c.ua), c.body, &raw)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength <= 0 {
				t.Errorf("content type %q, length %d", resp.Header.Get("Content-Type"), resp.ContentLength)
			}
			if _, ok := raw["mqtt"]; ok {
				t.Error("answer has mqtt: the device would use MQTT")
			}
			var ans edge.OTAAnswer
			b, _ := json.Marshal(raw)
			_ = json.Unmarshal(b, &ans)
			if want := "ws://" + ts.Addr + "/xiaozhi/v1/"; ans.WebSocket.URL != want {
				t.Errorf("websocket url %q, want %q", ans.WebSocket.URL, want)
			}
			if ans.WebSocket.Version != 1 || ans.WebSocket.Token != "" {
				t.Errorf("websocket %+v: want version 1 and an empty token", ans.WebSocket)
			}
			if !strings.Contains(string(raw["websocket"]), `"token":""`) {
				t.Errorf("token key must be present (empty) to clear an old token: %s", raw["websocket"])
			}
			if ans.Firmware.Version != c.wantVersion || ans.Firmware.URL != "" {
				t.Errorf("firmware %+v, want version %q and no url", ans.Firmware, c.wantVersion)
			}
			if ms := ans.ServerTime.Timestamp; ms < before.UnixMilli()-1000 || ms > time.Now().UnixMilli()+1000 {
				t.Errorf("server_time.timestamp %d is not now in ms", ms)
			}
			if ans.Activation != nil {
				t.Error("activation offered while activation is off")
			}
			dev, err := ts.Store.Device(strings.ToLower(c.mac))
			if err != nil {
				t.Fatalf("device not recorded: %v", err)
			}
			if dev.FirmwareVersion != c.wantVersion || dev.Board != c.wantBoard || dev.IP != "127.0.0.1" ||
				dev.ClientID == "" || dev.FirstSeen.IsZero() || dev.LastSeen.Before(dev.FirstSeen) {
				t.Errorf("device record %+v", dev)
			}
		})
	}
}

func TestOTAKeepsFirstSeen(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	h := otaHeaders("aa:bb:cc:dd:ee:09", "b/1.0")
	postJSON(t, "POST", ts.OTAURL(), h, upstreamBody, nil)
	first, _ := ts.Store.Device("aa:bb:cc:dd:ee:09")
	time.Sleep(5 * time.Millisecond)
	h["User-Agent"] = "b/1.1"
	postJSON(t, "POST", ts.OTAURL(), h, "", nil)
	second, _ := ts.Store.Device("aa:bb:cc:dd:ee:09")
	if !second.FirstSeen.Equal(first.FirstSeen) || !second.LastSeen.After(first.LastSeen) || second.FirmwareVersion != "1.1" {
		t.Errorf("first %+v\nsecond %+v", first, second)
	}
}

func TestOTACORS(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	req, _ := http.NewRequest("OPTIONS", ts.OTAURL(), nil)
	req.Header.Set("Origin", "https://xiaozhi.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,device-id,client-id")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"device-id", "client-id", "content-type", "authorization"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("preflight does not allow %s: %q", h, allowed)
		}
	}
	post := postJSON(t, "POST", ts.OTAURL(), map[string]string{"Origin": "https://xiaozhi.example", "Device-Id": "AA:00:00:00:00:01", "Client-Id": "c", "Content-Type": "application/json"}, `{}`, nil)
	if post.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Error("POST answer lacks Access-Control-Allow-Origin")
	}
}

func TestOTAPublicURLAndPaths(t *testing.T) {
	ts := startServer(t, edge.Config{OTAPath: "/ota/", WSPath: "/ws", PublicURL: "wss://stickers.example/ws", ProtocolVersion: 3}, edge.Deps{})
	var ans edge.OTAAnswer
	if r := postJSON(t, "POST", ts.URL+"/ota/challenge", otaHeaders("aa:bb:cc:dd:ee:05", "x/1"), "", &ans); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	if ans.WebSocket.URL != "wss://stickers.example/ws" || ans.WebSocket.Version != 3 {
		t.Errorf("websocket %+v", ans.WebSocket)
	}
	if r := postJSON(t, "POST", ts.URL+"/xiaozhi/ota/", nil, "", nil); r.StatusCode != 404 {
		t.Errorf("default path still served with a custom one: %d", r.StatusCode)
	}
}

func TestOTAMethodNotAllowed(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	req, _ := http.NewRequest("DELETE", ts.OTAURL(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
}
