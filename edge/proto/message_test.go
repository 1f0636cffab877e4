package proto_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Device messages exactly as PROTOCOL.md section 3 gives them (the browser
// hello with values filled in for its bare keys).
const (
	helloUpstream = `{"type":"hello","version":1,"transport":"websocket","features":{"mcp":true,"aec":false},"audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":60}}`
	helloStikadoo = `{"type":"hello","version":1,"transport":"websocket","features":{"mcp":false},"audio_params":{"format":"pcm","encoding":"base64","sample_width":2,"sample_rate":16000,"channels":1,"frame_duration":60}}`
	helloBrowser  = `{"type":"hello","device_id":"3C:A1:F4:0B:77:12","device_name":"Web Test Device","device_mac":"3C:A1:F4:0B:77:12","features":{"mcp":true,"emoji":false}}`
	listenStart   = `{"type":"listen","state":"start","mode":"manual"}`
	listenAuto    = `{"type":"listen","state":"start","mode":"auto"}`
	listenRealt   = `{"type":"listen","state":"start","mode":"realtime"}`
	listenStop    = `{"type":"listen","state":"stop"}`
	listenDetect  = `{"type":"listen","state":"detect","text":"嘿，你好呀"}`
	listenTyped   = `{"type":"listen","state":"detect","text":"a cat riding a bicycle"}`
	abortReason   = `{"type":"abort","reason":"wake_word_detected"}`
	abortBare     = `{"type":"abort"}`
	goodbye       = `{"type":"goodbye","session_id":"5f0c1e2a"}`
	mcpReply      = `{"type":"mcp","session_id":"","payload":{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"true"}],"isError":false}}}`
)

// sampleMessages are the device messages above, for tests and fuzz seeds.
var sampleMessages = []string{
	helloUpstream, helloStikadoo, helloBrowser,
	listenStart, listenAuto, listenRealt, listenStop, listenDetect, listenTyped,
	abortReason, abortBare, goodbye, mcpReply,
}

func TestDecodeMessageSamples(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  proto.Message
	}{
		{name: "hello upstream", frame: helloUpstream, want: proto.Message{
			Type: proto.TypeHello, Version: 1, Transport: "websocket",
			Features:    map[string]any{"mcp": true, "aec": false},
			AudioParams: &proto.AudioParams{Format: "opus", SampleRate: 16000, Channels: 1, FrameDuration: 60},
		}},
		{name: "hello stikadoo", frame: helloStikadoo, want: proto.Message{
			Type: proto.TypeHello, Version: 1, Transport: "websocket",
			Features: map[string]any{"mcp": false},
			AudioParams: &proto.AudioParams{Format: "pcm", Encoding: "base64", SampleWidth: 2,
				SampleRate: 16000, Channels: 1, FrameDuration: 60},
		}},
		{name: "hello browser", frame: helloBrowser, want: proto.Message{
			Type: proto.TypeHello, DeviceID: "3C:A1:F4:0B:77:12", DeviceName: "Web Test Device",
			DeviceMAC: "3C:A1:F4:0B:77:12", Features: map[string]any{"mcp": true, "emoji": false},
		}},
		{name: "listen start manual", frame: listenStart, want: proto.Message{
			Type: proto.TypeListen, State: proto.ListenStart, Mode: proto.ModeManual}},
		{name: "listen start auto", frame: listenAuto, want: proto.Message{
			Type: proto.TypeListen, State: proto.ListenStart, Mode: proto.ModeAuto}},
		{name: "listen start realtime", frame: listenRealt, want: proto.Message{
			Type: proto.TypeListen, State: proto.ListenStart, Mode: proto.ModeRealtime}},
		{name: "listen stop", frame: listenStop, want: proto.Message{
			Type: proto.TypeListen, State: proto.ListenStop}},
		{name: "listen detect wake phrase", frame: listenDetect, want: proto.Message{
			Type: proto.TypeListen, State: proto.ListenDetect, Text: "嘿，你好呀"}},
		{name: "listen detect typed", frame: listenTyped, want: proto.Message{
			Type: proto.TypeListen, State: proto.ListenDetect, Text: "a cat riding a bicycle"}},
		{name: "abort with reason", frame: abortReason, want: proto.Message{
			Type: proto.TypeAbort, Reason: "wake_word_detected"}},
		{name: "abort without reason", frame: abortBare, want: proto.Message{Type: proto.TypeAbort}},
		{name: "goodbye", frame: goodbye, want: proto.Message{Type: proto.TypeGoodbye, SessionID: "5f0c1e2a"}},
		{name: "mcp", frame: mcpReply, want: proto.Message{
			Type:    proto.TypeMCP,
			Payload: json.RawMessage(`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"true"}],"isError":false}}`),
		}},
		{name: "blanks around", frame: "\r\n " + listenStop + " \n", want: proto.Message{
			Type: proto.TypeListen, State: proto.ListenStop}},
		{name: "unknown fields ignored", frame: `{"type":"listen","state":"stop","extra":{"a":[1,2,3]},"n":null}`,
			want: proto.Message{Type: proto.TypeListen, State: proto.ListenStop}},
		{name: "unknown type passes", frame: `{"type":"iot","states":[]}`, want: proto.Message{Type: "iot"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := proto.DecodeMessage([]byte(tc.frame))
			if err != nil {
				t.Fatalf("DecodeMessage(%s): %v", tc.frame, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeMessage(%s) =\n%+v\nwant\n%+v", tc.frame, got, tc.want)
			}
		})
	}
}

func TestDecodeMessageMCPPayload(t *testing.T) {
	m, err := proto.DecodeMessage([]byte(mcpReply))
	if err != nil {
		t.Fatalf("DecodeMessage: %v", err)
	}
	r, err := proto.DecodeRPCResponse(m.Payload)
	if err != nil {
		t.Fatalf("DecodeRPCResponse(payload): %v", err)
	}
	if id, ok := r.NumericID(); !ok || id != 3 {
		t.Errorf("NumericID = %d, %v; want 3, true", id, ok)
	}
	var res proto.ToolCallResult
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatalf("result: %v", err)
	}
	if res.IsError || len(res.Content) != 1 || res.Content[0].Text != "true" {
		t.Errorf("result = %+v", res)
	}
}

// nest wraps inner in depth levels of arrays.
func nest(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

// nestObjects wraps inner in depth levels of objects.
func nestObjects(depth int, inner string) string {
	return strings.Repeat(`{"a":`, depth) + inner + strings.Repeat("}", depth)
}

func TestDecodeMessageErrors(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		wantErr error
	}{
		{name: "invalid utf-8 in string", frame: "{\"type\":\"listen\",\"text\":\"\xff\"}", wantErr: proto.ErrUTF8},
		{name: "truncated utf-8", frame: "{\"type\":\"listen\",\"text\":\"\xe4\xbd\"}", wantErr: proto.ErrUTF8},
		{name: "surrogate half", frame: "{\"type\":\"x\",\"text\":\"\xed\xa0\x80\"}", wantErr: proto.ErrUTF8},
		{name: "invalid utf-8 before nesting", frame: "\xff" + nest(1000, ""), wantErr: proto.ErrUTF8},
		{name: "arrays 1000 deep", frame: `{"type":"listen","a":` + nest(1000, "1") + `}`, wantErr: proto.ErrJSONDepth},
		{name: "objects 1000 deep", frame: nestObjects(1000, `{"type":"x"}`), wantErr: proto.ErrJSONDepth},
		{name: "unclosed 1000 deep", frame: `{"type":"listen","a":` + strings.Repeat("[", 1000), wantErr: proto.ErrJSONDepth},
		{name: "depth 33", frame: `{"type":"listen","a":` + nest(32, "") + `}`, wantErr: proto.ErrJSONDepth},
		{name: "escaped backslash ends string", frame: `{"type":"x","t":"\\","a":` + nest(40, "") + `}`, wantErr: proto.ErrJSONDepth},
		{name: "no type", frame: `{"state":"start"}`, wantErr: proto.ErrNoType},
		{name: "empty object", frame: `{}`, wantErr: proto.ErrNoType},
		{name: "empty type", frame: `{"type":""}`, wantErr: proto.ErrNoType},
		{name: "null type", frame: `{"type":null}`, wantErr: proto.ErrNoType},
		{name: "not json", frame: `hello`, wantErr: proto.ErrJSON},
		{name: "base64 audio", frame: `AgH+/w==`, wantErr: proto.ErrJSON},
		{name: "truncated", frame: `{"type":"hello"`, wantErr: proto.ErrJSON},
		{name: "trailing data", frame: `{"type":"hello"}{"type":"hello"}`, wantErr: proto.ErrJSON},
		{name: "trailing comma", frame: `{"type":"hello",}`, wantErr: proto.ErrJSON},
		{name: "array", frame: `[{"type":"hello"}]`, wantErr: proto.ErrJSON},
		{name: "string", frame: `"hello"`, wantErr: proto.ErrJSON},
		{name: "stray closers", frame: strings.Repeat("]", 40) + nest(40, ""), wantErr: proto.ErrJSON},
		{name: "empty", frame: ``, wantErr: proto.ErrJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proto.DecodeMessage([]byte(tc.frame))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("DecodeMessage error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeMessageDepth(t *testing.T) {
	// The top-level object is depth 1: 31 arrays inside it reach MaxJSONDepth.
	ok := `{"type":"listen","a":` + nest(proto.MaxJSONDepth-1, "1") + `}`
	if _, err := proto.DecodeMessage([]byte(ok)); err != nil {
		t.Errorf("DecodeMessage at depth %d: %v", proto.MaxJSONDepth, err)
	}
	deep := `{"type":"listen","a":` + nest(proto.MaxJSONDepth, "1") + `}`
	if _, err := proto.DecodeMessage([]byte(deep)); !errors.Is(err, proto.ErrJSONDepth) {
		t.Errorf("DecodeMessage at depth %d: %v, want %v", proto.MaxJSONDepth+1, err, proto.ErrJSONDepth)
	}

	// Siblings do not add up: many shallow arrays are fine.
	wide := `{"type":"listen","a":[` + strings.Repeat(nest(30, "")+",", 100) + `1]}`
	if _, err := proto.DecodeMessage([]byte(wide)); err != nil {
		t.Errorf("DecodeMessage of 100 sibling arrays 31 deep: %v", err)
	}

	// Brackets inside strings are text, not nesting.
	for _, text := range []string{
		strings.Repeat("[", 1000),
		strings.Repeat("{", 1000),
		`\"` + strings.Repeat("[", 1000),
		strings.Repeat(`\\\"[{`, 200),
	} {
		frame := `{"type":"listen","state":"detect","text":"` + text + `"}`
		m, err := proto.DecodeMessage([]byte(frame))
		if err != nil {
			t.Errorf("DecodeMessage with %.20q... in a string: %v", text, err)
			continue
		}
		var want string
		if err := json.Unmarshal([]byte(`"`+text+`"`), &want); err != nil {
			t.Fatal(err)
		}
		if m.Text != want {
			t.Errorf("Text = %.20q..., want %.20q...", m.Text, want)
		}
	}
}

// A nesting attack is refused before the JSON parser sees it: quickly, at
// any depth, and without allocating.
func TestDecodeMessageDepthCheapAndFlat(t *testing.T) {
	for _, depth := range []int{1000, 1 << 20} {
		frame := []byte(`{"type":"listen","a":` + nest(depth, "") + `}`)
		if _, err := proto.DecodeMessage(frame); !errors.Is(err, proto.ErrJSONDepth) {
			t.Fatalf("depth %d: %v, want %v", depth, err, proto.ErrJSONDepth)
		}
		if _, err := proto.DecodeRPCResponse(frame); !errors.Is(err, proto.ErrJSONDepth) {
			t.Fatalf("DecodeRPCResponse depth %d: %v, want %v", depth, err, proto.ErrJSONDepth)
		}
	}
	frame := []byte(nestObjects(1000, `{"type":"x"}`))
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := proto.DecodeMessage(frame); !errors.Is(err, proto.ErrJSONDepth) {
			t.Fatalf("DecodeMessage: %v", err)
		}
	})
	// One allocation is the Message itself, which escapes to the parser;
	// parsing a single level would cost more.
	if allocs > 1 {
		t.Errorf("DecodeMessage of a 1000-deep message allocated %.0f times; want it refused before parsing", allocs)
	}
}

func TestCloseCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{proto.ErrShortFrame, 1002},
		{proto.ErrPayloadSize, 1002},
		{proto.ErrFrameVersion, 1002},
		{proto.ErrFrameType, 1003},
		{proto.ErrBase64, 1007},
		{proto.ErrPCMOdd, 1007},
		{proto.ErrUTF8, 1007},
		{proto.ErrJSON, 1007},
		{proto.ErrEmpty, 1007},
		{proto.ErrJSONDepth, 1008},
		{proto.ErrNoType, 1008},
		{proto.ErrUnavailable, 1011},
		{proto.ErrNoSpeech, 1011},
		{proto.ErrRefused, 1011},
		{proto.ErrNotFound, 1011},
		{errors.New("disk on fire"), 1011},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := proto.CloseCode(tc.err); got != tc.want {
				t.Errorf("CloseCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
			wrapped := fmt.Errorf("read frame from %s: %w", "aa:bb:cc:dd:ee:ff", tc.err)
			if got := proto.CloseCode(wrapped); got != tc.want {
				t.Errorf("CloseCode(wrapped %v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}

	consts := map[string][2]int{
		"CloseNormal":        {proto.CloseNormal, 1000},
		"CloseGoingAway":     {proto.CloseGoingAway, 1001},
		"CloseProtocolError": {proto.CloseProtocolError, 1002},
		"CloseUnsupported":   {proto.CloseUnsupported, 1003},
		"CloseInvalidData":   {proto.CloseInvalidData, 1007},
		"ClosePolicy":        {proto.ClosePolicy, 1008},
		"CloseTooBig":        {proto.CloseTooBig, 1009},
		"CloseInternal":      {proto.CloseInternal, 1011},
		"CloseTryAgainLater": {proto.CloseTryAgainLater, 1013},
	}
	for name, c := range consts {
		if c[0] != c[1] {
			t.Errorf("%s = %d, RFC 6455 says %d", name, c[0], c[1])
		}
	}
}

func TestCloseCodeOfDecoders(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
		want int
	}{
		{"utf8", func() error { _, err := proto.DecodeMessage([]byte("{\"type\":\"\xc0\"}")); return err }, 1007},
		{"json", func() error { _, err := proto.DecodeMessage([]byte("{")); return err }, 1007},
		{"depth", func() error { _, err := proto.DecodeMessage([]byte(nest(100, ""))); return err }, 1008},
		{"no type", func() error { _, err := proto.DecodeMessage([]byte(`{"state":"stop"}`)); return err }, 1008},
		{"rpc json", func() error { _, err := proto.DecodeRPCResponse([]byte(`{"id":`)); return err }, 1007},
		{"blank text", func() error { _, err := proto.ClassifyText([]byte("  ")); return err }, 1007},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatal("decoder succeeded")
			}
			if got := proto.CloseCode(err); got != tc.want {
				t.Errorf("CloseCode(%v) = %d, want %d", err, got, tc.want)
			}
		})
	}
}

func TestServerHello(t *testing.T) {
	b, err := json.Marshal(proto.NewServerHello("5f0c1e2a"))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"hello","transport":"websocket","session_id":"5f0c1e2a","audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":60}}`
	if string(b) != want {
		t.Errorf("server hello =\n%s\nwant\n%s", b, want)
	}

	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["transport"] != "websocket" || m["session_id"] != "5f0c1e2a" || m["type"] != "hello" {
		t.Errorf("server hello fields: %v", m)
	}
	ap, _ := m["audio_params"].(map[string]any)
	if ap["sample_rate"] != 16000.0 || ap["frame_duration"] != 60.0 {
		t.Errorf("audio_params = %v, want sample_rate 16000 and frame_duration 60", ap)
	}

	// The keys the firmware needs are there even for an empty session id.
	b, err = json.Marshal(proto.NewServerHello(""))
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"type", "transport", "session_id", "audio_params"} {
		if _, ok := m[key]; !ok {
			t.Errorf("server hello with empty session id lacks %q: %s", key, b)
		}
	}
}

func TestOutboundJSON(t *testing.T) {
	tests := []struct {
		name string
		msg  any
		want string
	}{
		{"tts start", proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart},
			`{"type":"tts","state":"start"}`},
		{"tts sentence", proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Printing."},
			`{"type":"tts","state":"sentence_start","text":"Printing."}`},
		{"tts stop", proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop, SessionID: "s1"},
			`{"type":"tts","state":"stop","session_id":"s1"}`},
		{"tts empty state keeps key", proto.TTS{Type: proto.TypeTTS},
			`{"type":"tts","state":""}`},
		{"alert", proto.Alert{Type: proto.TypeAlert, Status: "Error", Message: "No printer paper", Emotion: "sad"},
			`{"type":"alert","status":"Error","message":"No printer paper","emotion":"sad"}`},
		{"alert empty strings keep keys", proto.Alert{Type: proto.TypeAlert},
			`{"type":"alert","status":"","message":"","emotion":""}`},
		{"stt", proto.STT{Type: proto.TypeSTT, Text: "a cat"},
			`{"type":"stt","text":"a cat"}`},
		{"stt empty text keeps key", proto.STT{Type: proto.TypeSTT},
			`{"type":"stt","text":""}`},
		{"llm", proto.LLM{Type: proto.TypeLLM, Emotion: "happy", Text: "🙂"},
			`{"type":"llm","emotion":"happy","text":"🙂"}`},
		{"thinking", proto.Thinking{Type: proto.TypeThinking, Status: "start"},
			`{"type":"thinking","status":"start"}`},
		{"mcp", proto.MCPEnvelope{Type: proto.TypeMCP, Payload: json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)},
			`{"type":"mcp","payload":{"jsonrpc":"2.0","id":1,"method":"tools/list"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("json =\n%s\nwant\n%s", b, tc.want)
			}
		})
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	frame := []byte(listenStart)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := proto.DecodeMessage(frame)
		if err != nil || m.State != proto.ListenStart {
			b.Fatalf("DecodeMessage: %+v, %v", m, err)
		}
	}
}
