package edgetest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// toolResult decodes a tools/call result.
func toolResult(t *testing.T, r proto.RPCResponse) proto.ToolCallResult {
	t.Helper()
	var res proto.ToolCallResult
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Errorf("result %s: %v", r.Result, err)
	}
	return res
}

func TestMCPAnswers(t *testing.T) {
	sticker := edgetest.StickerPNG("a cat")
	fsSetup := func(script func(t *testing.T, c *serverConn)) func(*fakeServer) {
		return func(fs *fakeServer) {
			fs.images["ok.png"] = imgSpec{body: sticker}
			fs.images["chunked.png"] = imgSpec{body: sticker, chunked: true}
			fs.images["text.png"] = imgSpec{body: []byte("this is not a PNG image at all")}
			fs.images["gone.png"] = imgSpec{status: 404}
			fs.script = func(c *serverConn) {
				c.hello()
				script(fs.t, c)
			}
		}
	}
	preview := func(c *serverConn, name string) (proto.RPCResponse, bool) {
		return c.call(proto.MethodToolsCall, map[string]any{"name": proto.ToolPreviewImage, "arguments": map[string]any{"url": c.imgURL(name)}})
	}
	wantError := func(t *testing.T, r proto.RPCResponse, ok bool, substr string) {
		t.Helper()
		if !ok {
			t.Error("no reply")
			return
		}
		if r.Error == nil || !strings.Contains(r.Error.Message, substr) || r.Error.Code != 0 || len(r.Result) != 0 {
			t.Errorf("reply %+v (error %+v), want an error containing %q without a code", r, r.Error, substr)
		}
	}
	tests := []struct {
		name   string
		device func(*edgetest.Device)
		script func(t *testing.T, c *serverConn)
		after  func(t *testing.T, fs *fakeServer, d *edgetest.Device)
	}{
		{name: "initialize", script: func(t *testing.T, c *serverConn) {
			r, ok := c.call(proto.MethodInitialize, map[string]any{"protocolVersion": "2024-11-05", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "test"}})
			if !ok || r.Error != nil || r.JSONRPC != "2.0" {
				t.Errorf("reply %+v", r)
				return
			}
			var res struct {
				ProtocolVersion string         `json:"protocolVersion"`
				Capabilities    map[string]any `json:"capabilities"`
				ServerInfo      struct{ Name, Version string }
			}
			json.Unmarshal(r.Result, &res)
			if res.ProtocolVersion != "2024-11-05" || res.Capabilities["tools"] == nil || res.ServerInfo.Name != "stikadoo-ai-printer" || res.ServerInfo.Version != "2.1.0" {
				t.Errorf("initialize result %s", r.Result)
			}
		}},
		{name: "tools/list in pages", device: func(d *edgetest.Device) { d.ToolsPageSize = 4 }, script: func(t *testing.T, c *serverConn) {
			var names []string
			cursor := ""
			for page := 0; page < 5; page++ {
				r, ok := c.call(proto.MethodToolsList, map[string]any{"cursor": cursor, "withUserTools": true})
				if !ok || r.Error != nil {
					t.Errorf("reply %+v", r)
					return
				}
				var res proto.ToolsListResult
				json.Unmarshal(r.Result, &res)
				if len(res.Tools) > 4 {
					t.Errorf("page of %d tools, want at most 4", len(res.Tools))
				}
				for _, tl := range res.Tools {
					names = append(names, tl.Name)
					if len(tl.InputSchema) == 0 || !json.Valid(tl.InputSchema) {
						t.Errorf("tool %s input schema %q", tl.Name, tl.InputSchema)
					}
				}
				if res.NextCursor == "" {
					break
				}
				cursor = res.NextCursor
			}
			want := []string{"self.get_device_status", "self.audio_speaker.set_volume", "self.screen.get_info", proto.ToolPreviewImage}
			for _, w := range want {
				if !strings.Contains(strings.Join(names, " "), w) {
					t.Errorf("tools %v lack %s", names, w)
				}
			}
			if len(names) != len(edgetest.DefaultTools()) {
				t.Errorf("listed %d tools over the pages, want %d", len(names), len(edgetest.DefaultTools()))
			}
		}},
		{name: "string and absent ids are not answered", script: func(t *testing.T, c *serverConn) {
			c.request("seven", proto.MethodInitialize, map[string]any{})
			c.send(proto.MCPEnvelope{Type: proto.TypeMCP, Payload: json.RawMessage(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)})
			// The next reply must be for the numeric request that follows.
			r, ok := c.call(proto.MethodToolsCall, map[string]any{"name": "self.get_device_status", "arguments": map[string]any{}})
			if !ok || r.Error != nil {
				t.Errorf("reply %+v", r)
				return
			}
			res := toolResult(t, r)
			var status map[string]any
			if len(res.Content) != 1 || json.Unmarshal([]byte(res.Content[0].Text), &status) != nil || status["audio_speaker"] == nil {
				t.Errorf("device status %+v", res)
			}
		}},
		{name: "tools", script: func(t *testing.T, c *serverConn) {
			r, ok := c.call(proto.MethodToolsCall, map[string]any{"name": "self.audio_speaker.set_volume", "arguments": map[string]any{"volume": 50}})
			if res := toolResult(t, r); !ok || res.IsError || len(res.Content) != 1 || res.Content[0].Text != "true" {
				t.Errorf("set_volume 50: %+v", res)
			}
			r, ok = c.call(proto.MethodToolsCall, map[string]any{"name": "self.audio_speaker.set_volume", "arguments": map[string]any{"volume": 150}})
			wantError(t, r, ok, "volume")
			r, ok = c.call(proto.MethodToolsCall, map[string]any{"name": "self.screen.get_info", "arguments": map[string]any{}})
			if res := toolResult(t, r); !ok || !strings.Contains(res.Content[0].Text, `"width":480`) {
				t.Errorf("get_info: %+v", res)
			}
			r, ok = c.call(proto.MethodToolsCall, map[string]any{"name": "self.no_such_tool", "arguments": map[string]any{}})
			wantError(t, r, ok, "Unknown tool")
			r, ok = c.call("resources/list", map[string]any{})
			wantError(t, r, ok, "not implemented")
		}},
		{name: "preview image", script: func(t *testing.T, c *serverConn) {
			r, ok := preview(c, "ok.png")
			if !ok || r.Error != nil {
				t.Errorf("reply %+v %+v", r, r.Error)
				return
			}
			if res := toolResult(t, r); res.IsError || len(res.Content) != 1 || res.Content[0] != (proto.ToolContent{Type: "text", Text: "true"}) {
				t.Errorf("result %s", r.Result)
			}
		}, after: func(t *testing.T, fs *fakeServer, d *edgetest.Device) {
			if fs.imageHits() != 1 {
				t.Errorf("%d image GETs, want 1", fs.imageHits())
			}
			found := false
			for _, s := range d.Timeline() {
				found = found || (s.Name == "image" && strings.Contains(s.Detail, "384x384"))
			}
			if !found {
				t.Errorf("no image step in %+v", d.Timeline())
			}
		}},
		{name: "preview refuses a chunked answer", script: func(t *testing.T, c *serverConn) {
			r, ok := preview(c, "chunked.png")
			wantError(t, r, ok, "Content-Length")
		}},
		{name: "preview refuses a 404", script: func(t *testing.T, c *serverConn) {
			r, ok := preview(c, "gone.png")
			wantError(t, r, ok, "404")
		}},
		{name: "preview refuses what is not PNG", script: func(t *testing.T, c *serverConn) {
			r, ok := preview(c, "text.png")
			wantError(t, r, ok, "PNG")
		}},
		{name: "RefuseImage", device: func(d *edgetest.Device) { d.RefuseImage = true }, script: func(t *testing.T, c *serverConn) {
			r, ok := preview(c, "ok.png")
			wantError(t, r, ok, "Failed")
		}, after: func(t *testing.T, fs *fakeServer, d *edgetest.Device) {
			if fs.imageHits() != 0 {
				t.Errorf("a refusing device downloaded the image")
			}
		}},
		{name: "NoMCPReply", device: func(d *edgetest.Device) { d.NoMCPReply = true }, script: func(t *testing.T, c *serverConn) {
			c.request(1, proto.MethodInitialize, map[string]any{})
			c.request(2, proto.MethodToolsCall, map[string]any{"name": proto.ToolPreviewImage, "arguments": map[string]any{"url": c.imgURL("ok.png")}})
			if m, ok := c.nextJSON(300 * time.Millisecond); ok {
				t.Errorf("device answered %v", m)
			}
		}, after: func(t *testing.T, fs *fakeServer, d *edgetest.Device) {
			if fs.imageHits() != 0 {
				t.Errorf("a silent device downloaded the image")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			fs := newFakeServer(t, fsSetup(func(st *testing.T, c *serverConn) {
				defer close(done)
				tt.script(t, c)
			}))
			d := newDevice(t, fs, proto.DialectStikadoo)
			if tt.device != nil {
				tt.device(d)
			}
			connect(t, d)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("script did not finish")
			}
			if tt.after != nil {
				tt.after(t, fs, d)
			}
		})
	}
}

func TestBrowserToolsOnePage(t *testing.T) {
	done := make(chan struct{})
	fs := newFakeServer(t, func(fs *fakeServer) {
		fs.script = func(c *serverConn) {
			defer close(done)
			c.hello()
			r, ok := c.call(proto.MethodToolsList, map[string]any{"cursor": "", "withUserTools": true})
			var res proto.ToolsListResult
			json.Unmarshal(r.Result, &res)
			if !ok || res.NextCursor != "" || len(res.Tools) != len(edgetest.DefaultTools()) {
				t.Errorf("browser tools/list %s", r.Result)
			}
		}
	})
	d := newDevice(t, fs, proto.DialectBrowser)
	d.ToolsPageSize = 1
	connect(t, d)
	<-done
}
