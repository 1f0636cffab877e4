package proto_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Replies from the device as PROTOCOL.md section 5 gives them.
const (
	rpcSuccess = `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"true"}],"isError":false}}`
	rpcFailure = `{"jsonrpc":"2.0","id":4,"error":{"message":"x"}}`
	rpcCoded   = `{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"Method not found: self.foo"}}`
	rpcTools   = `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"self.get_device_status","description":"Current status of the device","inputSchema":{"type":"object","properties":{}}},{"name":"self.audio_speaker.set_volume","inputSchema":{"type":"object","properties":{"volume":{"type":"integer","minimum":0,"maximum":100}},"required":["volume"]}}],"nextCursor":"self.screen.get_info"}}`
	rpcInit    = `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2024-11-05","capabilities":{"tools":{}},"serverInfo":{"name":"stikadoo-ai-printer","version":"2.1.0"}}}`
)

var sampleRPC = []string{rpcSuccess, rpcFailure, rpcCoded, rpcTools, rpcInit}

func TestRPCRequestJSON(t *testing.T) {
	tests := []struct {
		name string
		req  proto.RPCRequest
		want string
	}{
		{"tools/call", proto.RPCRequest{
			JSONRPC: "2.0", ID: 7, Method: proto.MethodToolsCall,
			Params: map[string]any{"name": proto.ToolPreviewImage, "arguments": map[string]any{"url": "http://192.168.1.20:8000/images/abc.png"}},
		}, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"url":"http://192.168.1.20:8000/images/abc.png"},"name":"self.screen.preview_image"}}`},
		{"tools/list", proto.RPCRequest{
			JSONRPC: "2.0", ID: 2, Method: proto.MethodToolsList,
			Params: map[string]any{"cursor": "", "withUserTools": true},
		}, `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"","withUserTools":true}}`},
		{"no params", proto.RPCRequest{JSONRPC: "2.0", ID: 1, Method: proto.MethodInitialize},
			`{"jsonrpc":"2.0","id":1,"method":"initialize"}`},
		{"big id stays exact", proto.RPCRequest{JSONRPC: "2.0", ID: 1<<53 + 1, Method: proto.MethodToolsList},
			`{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("json =\n%s\nwant\n%s", b, tc.want)
			}
			// The id is a JSON number, never a string: the firmware drops
			// string ids.
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var m map[string]any
			if err := d.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["id"].(json.Number); !ok {
				t.Errorf("id is %T, want a JSON number", m["id"])
			}
		})
	}
}

func TestDecodeRPCResponse(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		r, err := proto.DecodeRPCResponse([]byte(rpcSuccess))
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := r.NumericID(); !ok || id != 3 {
			t.Errorf("NumericID = %d, %v; want 3, true", id, ok)
		}
		if r.JSONRPC != "2.0" || r.Error != nil || r.Method != "" {
			t.Errorf("response = %+v", r)
		}
		var res proto.ToolCallResult
		if err := json.Unmarshal(r.Result, &res); err != nil {
			t.Fatalf("result: %v", err)
		}
		want := proto.ToolCallResult{Content: []proto.ToolContent{{Type: "text", Text: "true"}}}
		if !reflect.DeepEqual(res, want) {
			t.Errorf("result = %+v, want %+v", res, want)
		}
	})
	t.Run("error without code", func(t *testing.T) {
		r, err := proto.DecodeRPCResponse([]byte(rpcFailure))
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := r.NumericID(); !ok || id != 4 {
			t.Errorf("NumericID = %d, %v; want 4, true", id, ok)
		}
		if r.Error == nil {
			t.Fatal("Error is nil")
		}
		if r.Error.Code != 0 || r.Error.Message != "x" {
			t.Errorf("Error = %+v, want message x and no code", r.Error)
		}
		if got := r.Error.Error(); got != "device error: x" {
			t.Errorf("Error() = %q", got)
		}
		if len(r.Result) != 0 {
			t.Errorf("Result = %s, want none", r.Result)
		}
		var e error = r.Error
		var rpcErr *proto.RPCError
		if !errors.As(e, &rpcErr) || rpcErr.Message != "x" {
			t.Errorf("errors.As(*RPCError) failed on %v", e)
		}
	})
	t.Run("error with code", func(t *testing.T) {
		r, err := proto.DecodeRPCResponse([]byte(rpcCoded))
		if err != nil {
			t.Fatal(err)
		}
		if r.Error == nil || r.Error.Code != -32601 {
			t.Fatalf("Error = %+v", r.Error)
		}
		if got, want := r.Error.Error(), "device error -32601: Method not found: self.foo"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	})
	t.Run("notification", func(t *testing.T) {
		r, err := proto.DecodeRPCResponse([]byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if r.Method != "notifications/message" {
			t.Errorf("Method = %q", r.Method)
		}
		if _, ok := r.NumericID(); ok {
			t.Error("a notification has a numeric id")
		}
	})
	t.Run("not json", func(t *testing.T) {
		for _, in := range []string{``, `{`, `{"id":1,}`, `"x"`, `[1]`} {
			if _, err := proto.DecodeRPCResponse([]byte(in)); !errors.Is(err, proto.ErrJSON) {
				t.Errorf("DecodeRPCResponse(%q) = %v, want %v", in, err, proto.ErrJSON)
			}
		}
	})
	t.Run("too deep", func(t *testing.T) {
		in := `{"jsonrpc":"2.0","id":1,"result":` + nestObjects(1000, "1") + `}`
		if _, err := proto.DecodeRPCResponse([]byte(in)); !errors.Is(err, proto.ErrJSONDepth) {
			t.Errorf("DecodeRPCResponse = %v, want %v", err, proto.ErrJSONDepth)
		}
	})
}

func TestNumericID(t *testing.T) {
	tests := []struct {
		name   string
		reply  string
		wantID int64
		wantOK bool
	}{
		{"number", `{"jsonrpc":"2.0","id":3,"result":{}}`, 3, true},
		{"zero", `{"jsonrpc":"2.0","id":0,"result":{}}`, 0, true},
		{"negative", `{"jsonrpc":"2.0","id":-5,"result":{}}`, -5, true},
		{"max int64", `{"jsonrpc":"2.0","id":9223372036854775807,"result":{}}`, 9223372036854775807, true},
		{"string", `{"jsonrpc":"2.0","id":"3","result":{}}`, 0, false},
		{"missing", `{"jsonrpc":"2.0","result":{}}`, 0, false},
		{"null", `{"jsonrpc":"2.0","id":null,"error":{"message":"parse error"}}`, 0, false},
		{"fraction", `{"jsonrpc":"2.0","id":3.5,"result":{}}`, 0, false},
		{"too big", `{"jsonrpc":"2.0","id":9223372036854775808,"result":{}}`, 0, false},
		{"object", `{"jsonrpc":"2.0","id":{"n":3},"result":{}}`, 0, false},
		{"bool", `{"jsonrpc":"2.0","id":true,"result":{}}`, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := proto.DecodeRPCResponse([]byte(tc.reply))
			if err != nil {
				t.Fatalf("DecodeRPCResponse: %v", err)
			}
			id, ok := r.NumericID()
			if id != tc.wantID || ok != tc.wantOK {
				t.Errorf("NumericID() = %d, %v; want %d, %v (id %s)", id, ok, tc.wantID, tc.wantOK, r.ID)
			}
		})
	}
	var zero proto.RPCResponse
	if _, ok := zero.NumericID(); ok {
		t.Error("zero RPCResponse has a numeric id")
	}
}

func TestToolsListResult(t *testing.T) {
	r, err := proto.DecodeRPCResponse([]byte(rpcTools))
	if err != nil {
		t.Fatal(err)
	}
	var list proto.ToolsListResult
	if err := json.Unmarshal(r.Result, &list); err != nil {
		t.Fatalf("tools/list result: %v", err)
	}
	if list.NextCursor != "self.screen.get_info" {
		t.Errorf("NextCursor = %q", list.NextCursor)
	}
	if len(list.Tools) != 2 {
		t.Fatalf("%d tools, want 2", len(list.Tools))
	}
	if list.Tools[0].Name != "self.get_device_status" || list.Tools[0].Description != "Current status of the device" {
		t.Errorf("tool 0 = %+v", list.Tools[0])
	}
	if list.Tools[1].Name != "self.audio_speaker.set_volume" || list.Tools[1].Description != "" {
		t.Errorf("tool 1 = %+v", list.Tools[1])
	}
	var schema struct {
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(list.Tools[1].InputSchema, &schema); err != nil || len(schema.Required) != 1 || schema.Required[0] != "volume" {
		t.Errorf("tool 1 input schema %s: %v", list.Tools[1].InputSchema, err)
	}

	// The last page has no cursor, and none is written back.
	var last proto.ToolsListResult
	if err := json.Unmarshal([]byte(`{"tools":[]}`), &last); err != nil {
		t.Fatal(err)
	}
	if last.NextCursor != "" {
		t.Errorf("NextCursor = %q, want empty", last.NextCursor)
	}
	b, err := json.Marshal(proto.ToolsListResult{Tools: []proto.Tool{{Name: "self.screen.get_info"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"tools":[{"name":"self.screen.get_info"}]}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
}
