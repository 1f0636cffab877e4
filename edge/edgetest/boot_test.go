package edgetest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

var macLower = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)
var macUpper = regexp.MustCompile(`^[0-9A-F]{2}(:[0-9A-F]{2}){5}$`)
var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestBootRequest(t *testing.T) {
	tests := []struct {
		dialect string
		otaPath string // the OTA URL's path as configured
		want    string // the path POSTed to
	}{
		{proto.DialectStikadoo, "/ota/", "/ota/challenge"},
		{proto.DialectStikadoo, "/ota/sub", "/ota/sub/challenge"},
		{proto.DialectOpusV1, "/ota/", "/ota/"},
		{proto.DialectOpusV2, "/ota/sub", "/ota/sub"},
		{proto.DialectOpusV3, "/ota/", "/ota/"},
		{proto.DialectBrowser, "/ota/", "/ota/"},
	}
	for _, tt := range tests {
		t.Run(tt.dialect+tt.otaPath, func(t *testing.T) {
			fs := newFakeServer(t, func(fs *fakeServer) { fs.token = "tok-1"; fs.version = 2 })
			d := newDevice(t, fs, tt.dialect)
			d.OTAURL = fs.srv.URL + tt.otaPath
			ans, err := d.Boot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ans.WebSocket.URL, "ws://") || ans.WebSocket.Token != "tok-1" || ans.WebSocket.Version != 2 {
				t.Errorf("answer %+v", ans.WebSocket)
			}
			if d.WSURL != ans.WebSocket.URL {
				t.Errorf("WSURL %q, want %q", d.WSURL, ans.WebSocket.URL)
			}
			if ans.ServerTime == nil || ans.ServerTime.TimezoneOffset != 60 || ans.Firmware == nil {
				t.Errorf("server_time / firmware not parsed: %+v %+v", ans.ServerTime, ans.Firmware)
			}
			reqs := fs.otaRequests()
			wantMethods := []string{"POST"}
			if tt.dialect == proto.DialectBrowser {
				wantMethods = []string{"OPTIONS", "POST"}
			}
			if len(reqs) != len(wantMethods) {
				t.Fatalf("%d OTA requests, want %v", len(reqs), wantMethods)
			}
			for i, r := range reqs {
				if r.Method != wantMethods[i] || r.Path != tt.want {
					t.Errorf("request %d: %s %s, want %s %s", i, r.Method, r.Path, wantMethods[i], tt.want)
				}
			}
			post := reqs[len(reqs)-1]
			h := post.Header
			if h.Get("Content-Type") != "application/json" || h.Get("Device-Id") != d.ID || h.Get("Client-Id") != d.ClientID {
				t.Errorf("headers %v", h)
			}
			if !uuidRE.MatchString(d.ClientID) {
				t.Errorf("client id %q is not a UUID", d.ClientID)
			}
			var info struct {
				MAC         string `json:"mac_address"`
				UUID        string `json:"uuid"`
				Application struct {
					Version string `json:"version"`
				} `json:"application"`
				Board struct {
					Type string `json:"type"`
					MAC  string `json:"mac"`
				} `json:"board"`
			}
			if err := json.Unmarshal(post.Body, &info); err != nil {
				t.Fatalf("system info %s: %v", post.Body, err)
			}
			if info.MAC != d.ID || info.UUID != d.ClientID || info.Application.Version != d.Firmware || info.Board.Type != d.Board || info.Board.MAC != d.ID {
				t.Errorf("system info %+v", info)
			}
			switch tt.dialect {
			case proto.DialectBrowser:
				if !macUpper.MatchString(d.ID) {
					t.Errorf("browser MAC %q, want upper case", d.ID)
				}
				if h.Get("Origin") == "" || h.Get("Activation-Version") != "" || h.Get("Serial-Number") != "" {
					t.Errorf("browser headers %v", h)
				}
				pre := reqs[0].Header
				if pre.Get("Access-Control-Request-Method") != "POST" || pre.Get("Access-Control-Request-Headers") != "client-id,content-type,device-id" {
					t.Errorf("preflight headers %v", pre)
				}
			case proto.DialectStikadoo:
				if !macLower.MatchString(d.ID) {
					t.Errorf("MAC %q, want lower case with colons", d.ID)
				}
				if h.Get("Serial-Number") != strings.ReplaceAll(d.ID, ":", "") || h.Get("Activation-Version") != "2" {
					t.Errorf("Serial-Number %q Activation-Version %q", h.Get("Serial-Number"), h.Get("Activation-Version"))
				}
				if h.Get("User-Agent") != "stikadoo-ai-printer/2.1.0" || h.Get("Accept-Language") != "en-US" || h.Get("Origin") != "" {
					t.Errorf("headers %v", h)
				}
			default:
				if !macLower.MatchString(d.ID) || h.Get("Serial-Number") != "" || h.Get("Activation-Version") != "1" {
					t.Errorf("id %q headers %v", d.ID, h)
				}
				if h.Get("User-Agent") != d.Board+"/"+d.Firmware {
					t.Errorf("User-Agent %q", h.Get("User-Agent"))
				}
			}
			if tl := d.Timeline(); len(tl) != 1 || tl[0].Name != "ota" || !strings.Contains(tl[0].Detail, "(protocol 2)") {
				t.Errorf("timeline %+v", tl)
			}
		})
	}
}

func TestBootTrailingComma(t *testing.T) {
	fs := newFakeServer(t, nil)
	d := newDevice(t, fs, proto.DialectStikadoo)
	d.TrailingComma = true
	if _, err := d.Boot(context.Background()); err != nil {
		t.Fatal(err)
	}
	body := fs.otaRequests()[0].Body
	if json.Valid(body) || !bytes.HasSuffix(body, []byte(",}")) {
		t.Fatalf("body should end in a trailing comma: %s", body[max(0, len(body)-40):])
	}
	fixed := append(bytes.TrimSuffix(body, []byte(",}")), '}')
	if !json.Valid(fixed) {
		t.Errorf("body without its trailing comma is still invalid")
	}
}

func TestBootRejects(t *testing.T) {
	tests := []struct {
		name    string
		dialect string
		setup   func(*fakeServer)
	}{
		{"HTTP 500", proto.DialectStikadoo, func(fs *fakeServer) { fs.otaStatus = 500 }},
		{"not JSON", proto.DialectOpusV1, func(fs *fakeServer) { fs.otaBody = "<html>hi</html>" }},
		{"no websocket", proto.DialectOpusV1, func(fs *fakeServer) { fs.otaBody = `{"firmware":{"version":"1","url":""}}` }},
		{"mqtt present", proto.DialectStikadoo, func(fs *fakeServer) {
			fs.otaBody = `{"websocket":{"url":"%s","token":"","version":1},"mqtt":{"endpoint":"x"}}`
		}},
		{"version is a string", proto.DialectOpusV1, func(fs *fakeServer) { fs.otaBody = `{"websocket":{"url":"%s","token":"","version":"1"}}` }},
		{"empty url", proto.DialectOpusV1, func(fs *fakeServer) { fs.otaBody = `{"websocket":{"url":"","token":"","version":1}}` }},
		{"http url", proto.DialectStikadoo, func(fs *fakeServer) { fs.otaBody = `{"websocket":{"url":"http://x/","token":"","version":1}}` }},
		{"no CORS for the browser", proto.DialectBrowser, func(fs *fakeServer) { fs.noCORS = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t, tt.setup)
			d := newDevice(t, fs, tt.dialect)
			_, err := d.Boot(context.Background())
			if !errors.Is(err, edgetest.ErrOTA) {
				t.Fatalf("Boot = %v, want ErrOTA", err)
			}
		})
	}
}

func TestUnknownDialect(t *testing.T) {
	d := &edgetest.Device{Dialect: "opus-v9", OTAURL: "http://127.0.0.1:1/"}
	if _, err := d.Boot(context.Background()); err == nil || !strings.Contains(err.Error(), "opus-v9") {
		t.Fatalf("Boot = %v, want an unknown dialect error", err)
	}
}

func TestConnectHeaders(t *testing.T) {
	tests := []struct {
		dialect string
		token   string // from the OTA answer
		setup   func(*edgetest.Device)
		check   func(t *testing.T, d *edgetest.Device, r wsRequest)
	}{
		{proto.DialectStikadoo, "tok", func(d *edgetest.Device) { d.APIKey = "key-1" }, func(t *testing.T, d *edgetest.Device, r wsRequest) {
			h := r.Header
			if h.Get("Authorization") != "Bearer tok" || h.Get("Protocol-Version") != "1" || h.Get("Device-Id") != d.ID ||
				h.Get("Client-Id") != d.ClientID || h.Get("X-Api-Key") != "key-1" {
				t.Errorf("headers %v", h)
			}
		}},
		{proto.DialectStikadoo, "", nil, func(t *testing.T, d *edgetest.Device, r wsRequest) {
			if _, ok := r.Header["Authorization"]; ok {
				t.Errorf("Authorization sent without a token: %v", r.Header)
			}
			if _, ok := r.Header["X-Api-Key"]; ok {
				t.Errorf("x-api-key sent without a key")
			}
		}},
		{proto.DialectOpusV1, "tok", func(d *edgetest.Device) { d.Token = "override" }, func(t *testing.T, d *edgetest.Device, r wsRequest) {
			if r.Header.Get("Authorization") != "Bearer override" || r.Header.Get("Protocol-Version") != "1" {
				t.Errorf("headers %v", r.Header)
			}
		}},
		{proto.DialectOpusV2, "", func(d *edgetest.Device) { d.APIKey = "key-2" }, func(t *testing.T, d *edgetest.Device, r wsRequest) {
			if r.Header.Get("Authorization") != "Bearer key-2" || r.Header.Get("Protocol-Version") != "2" || r.Header.Get("X-Api-Key") != "" {
				t.Errorf("headers %v", r.Header)
			}
		}},
		{proto.DialectOpusV3, "tok", nil, func(t *testing.T, d *edgetest.Device, r wsRequest) {
			if r.Header.Get("Protocol-Version") != "3" || r.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("headers %v", r.Header)
			}
		}},
		{proto.DialectBrowser, "tok", nil, func(t *testing.T, d *edgetest.Device, r wsRequest) {
			for _, k := range []string{"Authorization", "Protocol-Version", "Device-Id", "Client-Id", "X-Api-Key"} {
				if _, ok := r.Header[k]; ok {
					t.Errorf("browser sent header %s", k)
				}
			}
			if !strings.Contains(r.URL, "authorization=Bearer+tok") {
				t.Errorf("query %q lacks authorization=Bearer+tok", r.URL)
			}
			if r.Query["device-id"][0] != d.ID || r.Query["client-id"][0] != d.ClientID {
				t.Errorf("query %v", r.Query)
			}
			if o := r.Header.Get("Origin"); o == "" || strings.Contains(o, "127.0.0.1") {
				t.Errorf("Origin %q, want the page's own site", o)
			}
			if !strings.Contains(r.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate") {
				t.Errorf("browser did not offer compression: %v", r.Header)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect, func(t *testing.T) {
			fs := newFakeServer(t, func(fs *fakeServer) { fs.token = tt.token })
			d := newDevice(t, fs, tt.dialect)
			if tt.setup != nil {
				tt.setup(d)
			}
			ctx := context.Background()
			if _, err := d.Boot(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			reqs := fs.wsRequests()
			if len(reqs) != 1 {
				t.Fatalf("%d upgrade requests", len(reqs))
			}
			r := reqs[0]
			if tt.dialect != proto.DialectBrowser {
				if _, ok := r.Header["Origin"]; ok {
					t.Errorf("firmware sent Origin %q", r.Header.Get("Origin"))
				}
				if r.Header.Get("Sec-Websocket-Extensions") != "" {
					t.Errorf("firmware offered an extension: %q", r.Header.Get("Sec-Websocket-Extensions"))
				}
				if r.URL != "/ws/" {
					t.Errorf("firmware URL %q has a query", r.URL)
				}
			}
			tt.check(t, d, r)
		})
	}
}

func TestConnectRefused(t *testing.T) {
	fs := newFakeServer(t, func(fs *fakeServer) { fs.refuse = http.StatusUnauthorized })
	d := newDevice(t, fs, proto.DialectStikadoo)
	ctx := context.Background()
	if _, err := d.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	err := d.Connect(ctx)
	if got := edgetest.DialStatus(err); got != http.StatusUnauthorized {
		t.Fatalf("Connect = %v, status %d, want 401", err, got)
	}
	var de *edgetest.DialError
	if !errors.As(err, &de) || !strings.Contains(de.Body, "token") {
		t.Errorf("DialError %+v lacks the body", de)
	}
	if edgetest.DialStatus(errors.New("other")) != 0 {
		t.Errorf("DialStatus of another error is not 0")
	}
	if err := d.ListenStart(proto.ModeManual); !errors.Is(err, edgetest.ErrNotConnected) {
		t.Errorf("send after a refused connect = %v, want ErrNotConnected", err)
	}
}

func TestConnectWithoutBoot(t *testing.T) {
	fs := newFakeServer(t, func(fs *fakeServer) { fs.script = func(c *serverConn) { c.hello(); c.nextJSON(time.Second) } })
	d := &edgetest.Device{Dialect: proto.DialectOpusV1}
	t.Cleanup(func() { d.Close() })
	if err := d.Connect(context.Background()); err == nil {
		t.Fatal("Connect without a URL succeeded")
	}
	d.WSURL = "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/ws/"
	if err := d.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Hello(context.Background()); err != nil {
		t.Fatal(err)
	}
}
