package proto_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

func FuzzDecodeBinary(f *testing.F) {
	js := []byte(listenStart)
	for _, version := range []int{1, 2, 3} {
		f.Add(version, []byte{})
		for _, p := range [][]byte{opusPacket, bytes.Repeat([]byte{0x5a}, 2300)} {
			frame, err := proto.AppendBinary(nil, version, proto.FrameOpus, 60, p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(version, frame)
		}
		if version != 1 {
			frame, err := proto.AppendBinary(nil, version, proto.FrameJSON, 0, js)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(version, frame)
		}
	}
	f.Add(2, v2Frame(2, 0, 0, 0xa1b2c3d4, 0x0102, bytes.Repeat([]byte{1}, 0x0102)))
	f.Add(2, v2Frame(2, 1, 0, 0, 3, []byte{1, 2}))
	f.Add(2, make([]byte, 15))
	f.Add(3, v3Frame(0, 0, 0x0102, bytes.Repeat([]byte{1}, 0x0102)))
	f.Add(3, v3Frame(2, 0, 1, []byte{0}))
	f.Add(3, []byte{0, 0, 0})
	f.Add(0, opusPacket)

	f.Fuzz(func(t *testing.T, version int, frame []byte) {
		got, err := proto.DecodeBinary(version, frame)
		if err != nil {
			// Every framing error closes the session as a protocol error
			// (1002) or an unsupported frame (1003), never as 1011.
			if code := proto.CloseCode(err); code != proto.CloseProtocolError && code != proto.CloseUnsupported {
				t.Fatalf("CloseCode(%v) = %d", err, code)
			}
			return
		}
		if got.Type != proto.FrameOpus && got.Type != proto.FrameJSON {
			t.Fatalf("DecodeBinary returned type %d", got.Type)
		}
		if len(frame) == 0 {
			if got.Type != proto.FrameOpus || len(got.Payload) != 0 || got.TimestampMs != 0 {
				t.Fatalf("zero-length frame decoded to %+v", got)
			}
			return
		}

		hdr := 0
		switch version {
		case 2:
			hdr = 16
			if size := binary.BigEndian.Uint32(frame[12:16]); uint64(size) != uint64(len(got.Payload)) {
				t.Fatalf("payload of %d bytes, header says %d", len(got.Payload), size)
			}
			if ts := binary.BigEndian.Uint32(frame[8:12]); got.TimestampMs != ts {
				t.Fatalf("timestamp %d, header says %d", got.TimestampMs, ts)
			}
		case 3:
			hdr = 4
			if size := binary.BigEndian.Uint16(frame[2:4]); int(size) != len(got.Payload) {
				t.Fatalf("payload of %d bytes, header says %d", len(got.Payload), size)
			}
		default:
			if got.Type != proto.FrameOpus || got.TimestampMs != 0 {
				t.Fatalf("version %d frame decoded to type %d timestamp %d", version, got.Type, got.TimestampMs)
			}
		}
		// The payload is the rest of the frame after the header, in place.
		if len(got.Payload) != len(frame)-hdr {
			t.Fatalf("payload of %d bytes from a %d-byte frame with a %d-byte header", len(got.Payload), len(frame), hdr)
		}
		if len(got.Payload) > 0 && &got.Payload[0] != &frame[hdr] {
			t.Fatalf("payload is not frame[%d:]", hdr)
		}

		// Encoding the decoded frame again gives the same bytes, apart from
		// the reserved fields.
		want := bytes.Clone(frame)
		switch version {
		case 2:
			clear(want[4:8])
		case 3:
			want[1] = 0
		}
		re, err := proto.AppendBinary(nil, version, got.Type, got.TimestampMs, got.Payload)
		if err != nil {
			t.Fatalf("AppendBinary of a decoded frame: %v", err)
		}
		if !bytes.Equal(re, want) {
			t.Fatalf("re-encoded v%d frame differs:\n got % x\nwant % x", version, head(re), head(want))
		}
	})
}

// head returns at most the first 32 bytes of b, for messages.
func head(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func FuzzDecodePCMText(f *testing.F) {
	f.Add(proto.EncodePCMText(sineFrame()))
	f.Add(proto.EncodePCMText(make([]int16, 960)))
	f.Add([]byte("AgH+/w=="))
	f.Add([]byte("AgH+/xAA"))
	f.Add([]byte(" \r\nAgH+/w==\r\n"))
	f.Add([]byte("AgH+\r\n/xAA"))
	f.Add([]byte("AQ=="))
	f.Add([]byte("AB=="))
	f.Add([]byte("!!!!"))
	f.Add([]byte(listenStop))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, frame []byte) {
		dst := []int16{7, -7}
		got, err := proto.DecodePCMText(dst, frame)
		if len(got) < 2 || got[0] != 7 || got[1] != -7 {
			t.Fatalf("DecodePCMText lost dst: %v", head16(got))
		}
		if err != nil {
			if len(got) != 2 {
				t.Fatalf("DecodePCMText failed (%v) but appended %d samples", err, len(got)-2)
			}
			if !errors.Is(err, proto.ErrEmpty) && !errors.Is(err, proto.ErrBase64) && !errors.Is(err, proto.ErrPCMOdd) {
				t.Fatalf("DecodePCMText error %v wraps no PCM sentinel", err)
			}
			if code := proto.CloseCode(err); code != proto.CloseInvalidData {
				t.Fatalf("CloseCode(%v) = %d", err, code)
			}
			return
		}
		samples := got[2:]

		// An independent decode of the same text gives an even number of
		// bytes, which are the samples in little-endian order.
		trimmed := bytes.Trim(frame, " \t\r\n")
		raw, err := base64.StdEncoding.DecodeString(string(trimmed))
		if err != nil {
			t.Fatalf("DecodePCMText accepted %q, which encoding/base64 rejects: %v", head(trimmed), err)
		}
		if len(raw)%2 != 0 || len(raw) == 0 {
			t.Fatalf("DecodePCMText accepted %d bytes", len(raw))
		}
		if len(samples) != len(raw)/2 {
			t.Fatalf("%d samples from %d bytes", len(samples), len(raw))
		}
		for i, s := range samples {
			if want := int16(binary.LittleEndian.Uint16(raw[2*i:])); s != want {
				t.Fatalf("sample %d = %d, want %d", i, s, want)
			}
		}

		// The samples survive an encode and decode.
		enc := proto.EncodePCMText(samples)
		back, err := proto.DecodePCMText(nil, enc)
		if err != nil {
			t.Fatalf("DecodePCMText(EncodePCMText(...)): %v", err)
		}
		if len(back) != len(samples) {
			t.Fatalf("round trip: %d samples, want %d", len(back), len(samples))
		}
		for i := range back {
			if back[i] != samples[i] {
				t.Fatalf("round trip: sample %d = %d, want %d", i, back[i], samples[i])
			}
		}
		// Canonical input (strict base64 on one line) comes back byte for byte.
		if !bytes.ContainsAny(trimmed, "\r\n") {
			if _, err := base64.StdEncoding.Strict().DecodeString(string(trimmed)); err == nil && !bytes.Equal(enc, trimmed) {
				t.Fatalf("re-encoded %q, want %q", head(enc), head(trimmed))
			}
		}
	})
}

func head16(s []int16) []int16 {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// outboundSamples are the server's messages of PROTOCOL.md section 3, which
// a device echoing them back must not break.
var outboundSamples = []string{
	`{"type":"hello","transport":"websocket","session_id":"5f0c1e2a","audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":60}}`,
	`{"type":"stt","text":"a cat riding a bicycle"}`,
	`{"type":"llm","emotion":"happy","text":"🙂"}`,
	`{"type":"tts","state":"sentence_start","text":"Printing."}`,
	`{"type":"thinking","status":"start"}`,
	`{"type":"alert","status":"Error","message":"No printer paper","emotion":"sad"}`,
	`{"type":"system","command":"reboot"}`,
	`{"type":"mcp","payload":{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"self.screen.preview_image","arguments":{"url":"http://192.168.1.20:8000/images/abc.png"}}}}`,
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range sampleMessages {
		f.Add([]byte(s))
	}
	for _, s := range outboundSamples {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type":"listen","a":` + nest(40, "") + `}`))
	f.Add([]byte(`{"type":"x","t":"\\","a":[[["\"[["]]]}`))
	f.Add([]byte("{\"type\":\"listen\",\"text\":\"\xff\"}"))
	f.Add([]byte(`{"state":"stop"}`))
	f.Add([]byte(`AgH+/w==`))

	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := proto.DecodeMessage(frame)
		if err != nil {
			if !errors.Is(err, proto.ErrUTF8) && !errors.Is(err, proto.ErrJSONDepth) &&
				!errors.Is(err, proto.ErrJSON) && !errors.Is(err, proto.ErrNoType) {
				t.Fatalf("DecodeMessage error %v wraps no message sentinel", err)
			}
			if code := proto.CloseCode(err); code != proto.CloseInvalidData && code != proto.ClosePolicy {
				t.Fatalf("CloseCode(%v) = %d", err, code)
			}
			return
		}
		if m.Type == "" {
			t.Fatal("DecodeMessage succeeded with an empty type")
		}
		if !utf8.Valid(frame) || !json.Valid(frame) {
			t.Fatalf("DecodeMessage accepted invalid text %q", head(frame))
		}
		if d := jsonDepth(t, frame); d > proto.MaxJSONDepth {
			t.Fatalf("DecodeMessage accepted nesting %d > %d", d, proto.MaxJSONDepth)
		}
	})
}

// jsonDepth measures the nesting of valid JSON with the standard tokenizer.
func jsonDepth(t *testing.T, b []byte) int {
	d := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatalf("tokenize valid JSON: %v", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func FuzzDecodeRPCResponse(f *testing.F) {
	for _, s := range sampleRPC {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":"3","result":{}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":3.5,"result":{}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":` + nest(40, "") + `}`))

	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := proto.DecodeRPCResponse(payload)
		if err != nil {
			if !errors.Is(err, proto.ErrJSON) && !errors.Is(err, proto.ErrJSONDepth) {
				t.Fatalf("DecodeRPCResponse error %v wraps neither %v nor %v", err, proto.ErrJSON, proto.ErrJSONDepth)
			}
			return
		}
		if !json.Valid(payload) {
			t.Fatalf("DecodeRPCResponse accepted invalid JSON %q", head(payload))
		}
		id, ok := r.NumericID()
		want, werr := strconv.ParseInt(string(r.ID), 10, 64)
		if ok != (werr == nil) || (ok && id != want) {
			t.Fatalf("NumericID() = %d, %v for id %q", id, ok, head(r.ID))
		}
		if r.Error != nil {
			_ = r.Error.Error()
		}
	})
}

func FuzzClassifyText(f *testing.F) {
	for _, s := range sampleMessages {
		f.Add([]byte(s))
	}
	f.Add(proto.EncodePCMText(sineFrame()))
	f.Add([]byte(" \t\r\n"))
	f.Add([]byte(""))
	f.Add([]byte("\r\n{"))
	f.Add([]byte("\v{"))

	f.Fuzz(func(t *testing.T, frame []byte) {
		kind, err := proto.ClassifyText(frame)
		trimmed := bytes.TrimLeft(frame, " \t\r\n")
		if len(trimmed) == 0 {
			if !errors.Is(err, proto.ErrEmpty) {
				t.Fatalf("ClassifyText(%q) = %d, %v; want %v", head(frame), kind, err, proto.ErrEmpty)
			}
			return
		}
		if err != nil {
			t.Fatalf("ClassifyText(%q): %v", head(frame), err)
		}
		want := proto.TextPCM
		if trimmed[0] == '{' {
			want = proto.TextJSON
		}
		if kind != want {
			t.Fatalf("ClassifyText(%q) = %d, want %d", head(frame), kind, want)
		}
		if proto.IsJSONObject(frame) != (kind == proto.TextJSON) {
			t.Fatalf("IsJSONObject(%q) disagrees with ClassifyText", head(frame))
		}
	})
}
