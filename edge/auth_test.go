package edge_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge"
)

var secret32 = []byte("0123456789abcdef0123456789abcdef")

// dialWS opens the device WebSocket with the given headers (and query) and
// returns the HTTP status of the answer (101 on success).
func dialWS(t *testing.T, ts *testServer, header http.Header, query url.Values) (*websocket.Conn, int) {
	t.Helper()
	u := "ws://" + ts.Addr + "/xiaozhi/v1/"
	if query != nil {
		u += "?" + query.Encode()
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(u, header)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { c.Close() })
	return c, resp.StatusCode
}

func otaToken(t *testing.T, ts *testServer, mac string) string {
	t.Helper()
	var ans edge.OTAAnswer
	if r := postJSON(t, "POST", ts.OTAURL(), otaHeaders(mac, "b/1.0"), "{}", &ans); r.StatusCode != 200 {
		t.Fatalf("ota: %d", r.StatusCode)
	}
	return ans.WebSocket.Token
}

func TestAuthRequired(t *testing.T) {
	ts := startServer(t, edge.Config{Auth: edge.AuthConfig{Required: true, TokenSecret: secret32, APIKeys: []string{"classroom-key-1"}}}, edge.Deps{})
	const mac = "aa:bb:cc:00:00:01"
	tok := otaToken(t, ts, mac)
	if tok == "" {
		t.Fatal("OTA answer carries no token while authentication is required")
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	forged := tok[:len(tok)-4] + "AAAA"
	cases := []struct {
		name   string
		header http.Header
		query  url.Values
		want   int
	}{
		{"token in header", hdr("Authorization", "Bearer "+tok, "Device-Id", mac, "Protocol-Version", "1"), nil, 101},
		{"token from browser query", nil, url.Values{"authorization": {"Bearer " + tok}, "device-id": {"AA:BB:CC:00:00:01"}}, 101},
		{"api key header", hdr("x-api-key", "classroom-key-1", "Device-Id", "aa:bb:cc:00:00:02"), nil, 101},
		{"api key as bearer", hdr("Authorization", "Bearer classroom-key-1"), nil, 101},
		{"no credential", hdr("Device-Id", mac), nil, 401},
		{"wrong api key", hdr("x-api-key", "classroom-key-2"), nil, 401},
		{"forged token", hdr("Authorization", "Bearer "+forged, "Device-Id", mac), nil, 401},
		{"token of another device", hdr("Authorization", "Bearer "+tok, "Device-Id", "aa:bb:cc:00:00:09"), nil, 401},
		{"garbage bearer", hdr("Authorization", "Bearer se1.%%%.x"), nil, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, status := dialWS(t, ts, c.header, c.query)
			if status != c.want {
				t.Fatalf("status %d, want %d", status, c.want)
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
}

func TestAuthOffAcceptsAnyone(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	if tok := otaToken(t, ts, "aa:bb:cc:00:00:03"); tok != "" {
		t.Errorf("token %q issued while authentication is off", tok)
	}
	if _, status := dialWS(t, ts, nil, nil); status != 101 {
		t.Errorf("status %d", status)
	}
}

func TestRevokeAndApprove(t *testing.T) {
	ts := startServer(t, edge.Config{Auth: edge.AuthConfig{Required: true, TokenSecret: secret32}}, edge.Deps{})
	const mac = "aa:bb:cc:00:00:04"
	tok := otaToken(t, ts, mac)
	h := http.Header{"Authorization": {"Bearer " + tok}, "Device-Id": {mac}}
	conn, status := dialWS(t, ts, h, nil)
	if status != 101 {
		t.Fatalf("before revoke: %d", status)
	}
	time.Sleep(5 * time.Millisecond) // tokens carry milliseconds
	if r := postJSON(t, "POST", ts.URL+"/api/v1/devices/"+mac+"/revoke", nil, "", nil); r.StatusCode != 200 {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	// The open session is closed with 1008.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, 1008) {
				t.Errorf("open session ended with %v, want close 1008", err)
			}
			break
		}
	}
	if _, status := dialWS(t, ts, h, nil); status != 401 {
		t.Errorf("revoked token: %d, want 401", status)
	}
	if tok := otaToken(t, ts, mac); tok != "" {
		t.Error("a revoked device got a new token before approval")
	}
	if r := postJSON(t, "POST", ts.URL+"/api/v1/devices/"+mac+"/approve", nil, "", nil); r.StatusCode != 200 {
		t.Fatalf("approve: %d", r.StatusCode)
	}
	time.Sleep(5 * time.Millisecond)
	tok2 := otaToken(t, ts, mac)
	if tok2 == "" {
		t.Fatal("no token after approval")
	}
	if _, status := dialWS(t, ts, http.Header{"Authorization": {"Bearer " + tok2}, "Device-Id": {mac}}, nil); status != 101 {
		t.Errorf("new token after approval: %d", status)
	}
	if r := postJSON(t, "POST", ts.URL+"/api/v1/devices/aa:00:00:00:00:00/revoke", nil, "", nil); r.StatusCode != 404 {
		t.Errorf("revoking an unknown device: %d, want 404", r.StatusCode)
	}
}

func TestActivation(t *testing.T) {
	const firmwareSecret = "stikadoo-firmware-secret"
	hmacKey := "00112233445566778899aabbccddeeff"
	cfg := edge.Config{Activation: edge.ActivationConfig{
		Enabled: true, Secret: firmwareSecret, RequireApproval: true,
		DeviceKeys: map[string]string{"SN-UP-1": hmacKey},
	}}
	ts := startServer(t, cfg, edge.Deps{})

	t.Run("stikadoo sha256 with approval", func(t *testing.T) {
		const mac = "aa:bb:cc:00:01:01"
		var ans edge.OTAAnswer
		postJSON(t, "POST", ts.URL+"/xiaozhi/ota/challenge", otaHeaders(mac, "stikadoo-ai-printer/2.1.0"), stikadooBody, &ans)
		a := ans.Activation
		if a == nil || len(a.Code) != 6 || a.Challenge == "" || a.Message == "" || a.TimeoutMs <= 0 {
			t.Fatalf("activation offer %+v", a)
		}
		if _, status := dialWS(t, ts, http.Header{"Device-Id": {mac}}, nil); status != 401 {
			t.Errorf("websocket before activation: %d, want 401", status)
		}
		act := ts.URL + "/xiaozhi/ota/activate"
		h := otaHeaders(mac, "stikadoo-ai-printer/2.1.0")
		wrong := sha256.Sum256([]byte("not-the-secret" + a.Challenge))
		body := func(sum [32]byte, ch string) string {
			return fmt.Sprintf(`{"algorithm":"sha256","serial_number":"aabbcc000101","challenge":%q,"hash":%q}`, ch, hex.EncodeToString(sum[:]))
		}
		if r := postJSON(t, "POST", act, h, body(wrong, a.Challenge), nil); r.StatusCode != 403 {
			t.Errorf("wrong proof: %d, want 403", r.StatusCode)
		}
		if r := postJSON(t, "POST", act, h, body(sha256.Sum256([]byte(firmwareSecret+"stale")), "stale"), nil); r.StatusCode != 403 {
			t.Errorf("stale challenge: %d, want 403", r.StatusCode)
		}
		right := sha256.Sum256([]byte(firmwareSecret + a.Challenge))
		if r := postJSON(t, "POST", act, h, body(right, a.Challenge), nil); r.StatusCode != 202 {
			t.Fatalf("right proof before approval: %d, want 202", r.StatusCode)
		}
		if r := postJSON(t, "POST", act, h, body(right, a.Challenge), nil); r.StatusCode != 202 {
			t.Fatalf("retry before approval: %d, want 202", r.StatusCode)
		}
		if r := postJSON(t, "POST", ts.URL+"/api/v1/devices/"+mac+"/approve", nil, "", nil); r.StatusCode != 200 {
			t.Fatalf("approve: %d", r.StatusCode)
		}
		// Stikadoo firmware posts to the base URL + "/activate"; with a
		// trailing slash in the OTA URL that is "//activate".
		if r := postJSON(t, "POST", ts.URL+"/xiaozhi/ota//activate", h, body(right, a.Challenge), nil); r.StatusCode != 200 {
			t.Fatalf("after approval: %d, want 200", r.StatusCode)
		}
		dev, err := ts.Store.Device(mac)
		if err != nil || !dev.Activation.Activated() || !dev.Activation.Verified || !dev.Activation.Approved {
			t.Fatalf("stored activation %+v, %v", dev.Activation, err)
		}
		var again edge.OTAAnswer
		postJSON(t, "POST", ts.URL+"/xiaozhi/ota/challenge", h, "", &again)
		if again.Activation != nil {
			t.Error("activation offered again to an activated device")
		}
		if _, status := dialWS(t, ts, http.Header{"Device-Id": {mac}}, nil); status != 101 {
			t.Errorf("websocket after activation: %d", status)
		}
	})

	t.Run("upstream hmac", func(t *testing.T) {
		const mac = "aa:bb:cc:00:01:02"
		var ans edge.OTAAnswer
		postJSON(t, "POST", ts.OTAURL(), otaHeaders(mac, "bread/2.1.0"), upstreamBody, &ans)
		if ans.Activation == nil {
			t.Fatal("no activation offer")
		}
		key, _ := hex.DecodeString(hmacKey)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(ans.Activation.Challenge))
		body := fmt.Sprintf(`{"algorithm":"hmac-sha256","serial_number":"SN-UP-1","challenge":%q,"hmac":%q}`, ans.Activation.Challenge, hex.EncodeToString(m.Sum(nil)))
		if r := postJSON(t, "POST", ts.URL+"/xiaozhi/ota/activate", otaHeaders(mac, "bread/2.1.0"), body, nil); r.StatusCode != 202 {
			t.Fatalf("right hmac: %d, want 202 (approval required)", r.StatusCode)
		}
		bad := fmt.Sprintf(`{"algorithm":"hmac-sha256","serial_number":"SN-OTHER","challenge":%q,"hmac":"00"}`, ans.Activation.Challenge)
		if r := postJSON(t, "POST", ts.URL+"/xiaozhi/ota/activate", otaHeaders("aa:bb:cc:00:01:03", "bread/2.1.0"), bad, nil); r.StatusCode != 404 {
			t.Errorf("unknown device: %d, want 404", r.StatusCode)
		}
	})
}

func TestAdminAPIIsLoopbackOnly(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	// From loopback it answers.
	var list []any
	if r := postJSON(t, "GET", ts.URL+"/api/v1/sessions", nil, "", &list); r.StatusCode != 200 {
		t.Fatalf("sessions from loopback: %d", r.StatusCode)
	}
	// A request whose peer is on the LAN is refused, through the same handler.
	req, _ := http.NewRequest("GET", "/api/v1/devices", nil)
	req.RemoteAddr = "192.168.1.77:40000"
	rec := httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("from the LAN: %d, want 403", rec.Code)
	}
	req.RemoteAddr = "192.168.1.77:40000"
	req.URL.Path = "/api/v1/health"
	rec = httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("health from the LAN: %d, want 200", rec.Code)
	}
}
