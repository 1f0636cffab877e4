package edgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// maxImageBytes is the largest image the printer firmware downloads.
const maxImageBytes = 4 << 20

// DefaultTools returns the tools the printer firmware offers over MCP.
func DefaultTools() []proto.Tool {
	obj := func(props string, required ...string) json.RawMessage {
		s := `{"type":"object","properties":{` + props + `}`
		if len(required) > 0 {
			r, _ := json.Marshal(required)
			s += `,"required":` + string(r)
		}
		return json.RawMessage(s + "}")
	}
	return []proto.Tool{
		{Name: "self.get_device_status", Description: "Provides the real-time information of the device, including the current status of the audio speaker, screen, battery, network, etc.\nUse this tool for: \n1. Answering questions about current condition (e.g. what is the current volume of the audio speaker?)\n2. As the first step to control the device (e.g. turn up / down the volume of the audio speaker, etc.)", InputSchema: obj("")},
		{Name: "self.audio_speaker.set_volume", Description: "Set the volume of the audio speaker. If the current volume is unknown, you must call `self.get_device_status` tool first and then call this tool.", InputSchema: obj(`"volume":{"type":"integer","minimum":0,"maximum":100}`, "volume")},
		{Name: "self.screen.set_brightness", Description: "Set the brightness of the screen.", InputSchema: obj(`"brightness":{"type":"integer","minimum":0,"maximum":100}`, "brightness")},
		{Name: "self.screen.set_theme", Description: "Set the theme of the screen. The theme can be `light` or `dark`.", InputSchema: obj(`"theme":{"type":"string"}`, "theme")},
		{Name: "self.screen.get_info", Description: "Information about the screen, including width, height, etc.", InputSchema: obj("")},
		{Name: proto.ToolPreviewImage, Description: "Preview an image on the screen.\nArgs:\n  `url`: The URL of the image to preview.", InputSchema: obj(`"url":{"type":"string"}`, "url")},
	}
}

// imageFetch is one preview_image call: what was asked and what came of it.
type imageFetch struct {
	URL       string
	Data      []byte
	Width     int
	Height    int
	Delivered bool
	Err       string
}

// rpcRequest is a JSON-RPC request from the server.
type rpcRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// onMCP answers one MCP payload as the firmware does. Requests with a
// numeric id are answered with that id; string ids are dropped silently,
// as firmware does; notifications get no answer.
func (d *Device) onMCP(payload json.RawMessage) {
	var req rpcRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		d.step("mcp", "undecodable payload: %v", err)
		return
	}
	id := bytes.TrimSpace(req.ID)
	switch {
	case req.Method == "":
		d.step("mcp", "message without a method ignored")
		return
	case len(id) == 0 || string(id) == "null":
		d.step("mcp", "%s (notification)", req.Method)
		return
	case !isJSONNumber(id):
		d.step("mcp", "%s with non-numeric id %s dropped", req.Method, id)
		return
	}
	var call struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if req.Method == proto.MethodToolsCall {
		_ = json.Unmarshal(req.Params, &call)
		if call.Name == proto.ToolPreviewImage {
			var args struct {
				URL string `json:"url"`
			}
			_ = json.Unmarshal(call.Arguments, &args)
			d.mu.Lock()
			d.images = append(d.images, &imageFetch{URL: args.URL})
			fetch := d.images[len(d.images)-1]
			d.mu.Unlock()
			d.step("preview", "%s (id %s)", args.URL, id)
			if _, noReply := d.faults(); noReply {
				d.step("mcp", "tools/call id %s left unanswered", id)
				return
			}
			d.calls.Add(1)
			go d.previewImage(id, fetch) // ends when the image is fetched or the connection closes
			return
		}
	}
	if _, noReply := d.faults(); noReply {
		d.step("mcp", "%s id %s left unanswered", req.Method, id)
		return
	}
	switch req.Method {
	case proto.MethodInitialize:
		d.step("mcp", "initialize")
		d.reply(id, map[string]any{
			"protocolVersion": "2024-11-05",
			"capabilities":    map[string]any{"tools": map[string]any{}},
			"serverInfo":      map[string]any{"name": d.Board, "version": d.Firmware},
		}, "")
	case proto.MethodToolsList:
		d.toolsList(id, req.Params)
	case proto.MethodToolsCall:
		res, errMsg := d.callTool(call.Name, call.Arguments)
		d.step("mcp", "tools/call %s", call.Name)
		d.reply(id, res, errMsg)
	default:
		d.step("mcp", "%s: not implemented", req.Method)
		d.reply(id, nil, "Method not implemented: "+req.Method)
	}
}

func isJSONNumber(b []byte) bool {
	var n json.Number
	return len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) && json.Unmarshal(b, &n) == nil
}

// toolsList answers tools/list one page at a time: the cursor is the name
// of the first tool of the page, as in firmware.
func (d *Device) toolsList(id json.RawMessage, params json.RawMessage) {
	var p struct {
		Cursor string `json:"cursor"`
	}
	_ = json.Unmarshal(params, &p)
	start := 0
	if p.Cursor != "" {
		start = -1
		for i, t := range d.Tools {
			if t.Name == p.Cursor {
				start = i
				break
			}
		}
		if start < 0 {
			d.step("mcp", "tools/list: unknown cursor %q", p.Cursor)
			d.reply(id, nil, "Unknown cursor: "+p.Cursor)
			return
		}
	}
	end := len(d.Tools)
	if d.ToolsPageSize > 0 && d.dialect != proto.DialectBrowser {
		end = min(end, start+d.ToolsPageSize)
	}
	res := proto.ToolsListResult{Tools: append([]proto.Tool{}, d.Tools[start:end]...)}
	if end < len(d.Tools) {
		res.NextCursor = d.Tools[end].Name
	}
	d.step("mcp", "tools/list from %q: %d tools, next %q", p.Cursor, len(res.Tools), res.NextCursor)
	d.reply(id, res, "")
}

// textResult is a successful tools/call result holding text.
func textResult(text string) proto.ToolCallResult {
	return proto.ToolCallResult{Content: []proto.ToolContent{{Type: "text", Text: text}}}
}

// callTool runs a tool other than preview_image and returns its result or
// an error message.
func (d *Device) callTool(name string, args json.RawMessage) (any, string) {
	known := false
	for _, t := range d.Tools {
		known = known || t.Name == name
	}
	if !known {
		return nil, "Unknown tool: " + name
	}
	var a map[string]any
	_ = json.Unmarshal(args, &a)
	level := func(key string) (int, bool) {
		v, ok := a[key].(float64)
		return int(v), ok && v >= 0 && v <= 100 && v == float64(int(v))
	}
	switch name {
	case "self.get_device_status":
		status, _ := json.Marshal(map[string]any{
			"audio_speaker": map[string]any{"volume": 70},
			"screen":        map[string]any{"brightness": 80, "theme": "light"},
			"battery":       map[string]any{"level": 76, "charging": false},
			"network":       map[string]any{"type": "wifi", "ssid": "Classroom", "signal": "strong"},
		})
		return textResult(string(status)), ""
	case "self.audio_speaker.set_volume":
		if _, ok := level("volume"); !ok {
			return nil, "Invalid arguments: volume must be an integer from 0 to 100"
		}
		return textResult("true"), ""
	case "self.screen.set_brightness":
		if _, ok := level("brightness"); !ok {
			return nil, "Invalid arguments: brightness must be an integer from 0 to 100"
		}
		return textResult("true"), ""
	case "self.screen.set_theme":
		if th, _ := a["theme"].(string); th != "light" && th != "dark" {
			return nil, "Invalid theme: " + th
		}
		return textResult("true"), ""
	case "self.screen.get_info":
		w, h, mono := 480, 480, false
		if d.dialect != proto.DialectStikadoo && d.dialect != proto.DialectBrowser {
			w, h, mono = 128, 64, true
		}
		info, _ := json.Marshal(map[string]any{"width": w, "height": h, "monochrome": mono})
		return textResult(string(info)), ""
	}
	return textResult("true"), ""
}

// previewImage downloads and checks the image as the printer does, then
// answers the call.
func (d *Device) previewImage(id json.RawMessage, fetch *imageFetch) {
	defer d.calls.Done()
	d.mu.Lock()
	ctx := d.callCtx
	d.mu.Unlock()
	if refuse, _ := d.faults(); refuse {
		d.setFetch(fetch, nil, 0, 0, "refused by the device")
		d.step("image", "refused")
		d.reply(id, nil, "Failed to print the image: out of paper")
		return
	}
	data, w, h, err := d.download(ctx, fetch.URL)
	if err != nil {
		d.setFetch(fetch, data, 0, 0, err.Error())
		d.step("image", "failed: %v", err)
		d.reply(id, nil, "Failed to preview image: "+err.Error())
		return
	}
	d.setFetch(fetch, data, w, h, "")
	d.step("image", "%dx%d PNG, %d bytes, shown and printed", w, h, len(data))
	d.reply(id, textResult("true"), "")
}

func (d *Device) setFetch(f *imageFetch, data []byte, w, h int, errMsg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f.Data, f.Width, f.Height, f.Err = data, w, h, errMsg
	f.Delivered = errMsg == ""
}

// download GETs an image the way the printer firmware does: it needs HTTP
// 200 and a Content-Length (a chunked answer reads as length 0 and fails),
// reads exactly that many bytes, and decodes PNG only.
func (d *Device) download(ctx context.Context, url string) ([]byte, int, int, error) {
	if url == "" {
		return nil, 0, 0, errors.New("no url argument")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("image URL %q: %w", url, err)
	}
	req.Header.Set("User-Agent", d.Board+"/"+d.Firmware)
	resp, err := d.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("download image: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, 0, fmt.Errorf("download image: HTTP %d", resp.StatusCode)
	}
	if resp.Header.Get("Content-Length") == "" || resp.ContentLength <= 0 {
		return nil, 0, 0, errors.New("download image: no Content-Length (chunked or empty answer)")
	}
	if resp.ContentLength > maxImageBytes {
		return nil, 0, 0, fmt.Errorf("download image: %d bytes is too large", resp.ContentLength)
	}
	data := make([]byte, resp.ContentLength)
	if _, err := io.ReadFull(resp.Body, data); err != nil {
		return nil, 0, 0, fmt.Errorf("download image: %w", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return data, 0, 0, fmt.Errorf("decode image (PNG only): %w", err)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		return data, 0, 0, fmt.Errorf("decode image: %w", err)
	}
	return data, cfg.Width, cfg.Height, nil
}

// reply sends a JSON-RPC result, or an error with only a message (as
// firmware does, without a code) when errMsg is set.
func (d *Device) reply(id json.RawMessage, result any, errMsg string) {
	p := map[string]any{"jsonrpc": "2.0", "id": id}
	if errMsg != "" {
		p["error"] = map[string]string{"message": errMsg}
	} else {
		p["result"] = result
	}
	payload, _ := json.Marshal(p)
	b, _ := json.Marshal(struct {
		SessionID string          `json:"session_id"`
		Type      string          `json:"type"`
		Payload   json.RawMessage `json:"payload"`
	}{d.SessionID(), proto.TypeMCP, payload})
	if err := d.writeMessage(websocket.TextMessage, b); err != nil {
		d.step("mcp", "reply to id %s failed: %v", id, err)
	}
}

// faults reads RefuseImage and NoMCPReply under the device's lock.
func (d *Device) faults() (refuseImage, noMCPReply bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.RefuseImage, d.NoMCPReply
}

// SetFaults changes RefuseImage and NoMCPReply while the device is
// connected, safely with respect to its reader.
func (d *Device) SetFaults(refuseImage, noMCPReply bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.RefuseImage, d.NoMCPReply = refuseImage, noMCPReply
}
