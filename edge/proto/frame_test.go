package proto_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// v2Frame lays out a version 2 frame by hand, field by field, as PROTOCOL.md
// section 4 gives it: u16 version, u16 type, u32 reserved, u32 timestamp_ms,
// u32 payload_size, all big-endian, then the payload.
func v2Frame(version, typ uint16, reserved, ts, size uint32, payload []byte) []byte {
	b := []byte{
		byte(version >> 8), byte(version),
		byte(typ >> 8), byte(typ),
		byte(reserved >> 24), byte(reserved >> 16), byte(reserved >> 8), byte(reserved),
		byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts),
		byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size),
	}
	return append(b, payload...)
}

// v3Frame lays out a version 3 frame by hand: u8 type, u8 reserved,
// u16 payload_size big-endian, then the payload.
func v3Frame(typ, reserved byte, size uint16, payload []byte) []byte {
	b := []byte{typ, reserved, byte(size >> 8), byte(size)}
	return append(b, payload...)
}

// opusPacket is a plausible 60 ms Opus packet: a TOC byte for SILK wideband
// 60 ms, mono, one frame, then arbitrary bytes.
var opusPacket = []byte{0x58, 0xe1, 0x2f, 0x7a, 0x03, 0x99, 0x10, 0x42, 0xaa, 0x55}

func TestDecodeBinary(t *testing.T) {
	jsonPayload := []byte(`{"type":"listen","state":"start","mode":"auto"}`)
	big := bytes.Repeat([]byte{0xab}, 0x0102)

	tests := []struct {
		name    string
		version int
		frame   []byte
		want    proto.BinaryFrame
		hdr     int // header length: the payload must be frame[hdr:]
		wantErr error
	}{
		// Version 1: the frame is the Opus packet.
		{name: "v1 opus", version: 1, frame: opusPacket,
			want: proto.BinaryFrame{Type: proto.FrameOpus, Payload: opusPacket}},
		{name: "v1 one byte", version: 1, frame: []byte{0xf8},
			want: proto.BinaryFrame{Type: proto.FrameOpus, Payload: []byte{0xf8}}},
		{name: "v1 brace is still opus", version: 1, frame: jsonPayload,
			want: proto.BinaryFrame{Type: proto.FrameOpus, Payload: jsonPayload}},
		{name: "v1 zero-length", version: 1, frame: []byte{},
			want: proto.BinaryFrame{Type: proto.FrameOpus}},
		{name: "v1 nil", version: 1, frame: nil,
			want: proto.BinaryFrame{Type: proto.FrameOpus}},
		{name: "version 0 is v1", version: 0, frame: opusPacket,
			want: proto.BinaryFrame{Type: proto.FrameOpus, Payload: opusPacket}},
		{name: "version 4 is v1", version: 4, frame: opusPacket,
			want: proto.BinaryFrame{Type: proto.FrameOpus, Payload: opusPacket}},
		{name: "version -1 is v1", version: -1, frame: opusPacket,
			want: proto.BinaryFrame{Type: proto.FrameOpus, Payload: opusPacket}},

		// Version 2.
		{name: "v2 opus", version: 2, hdr: 16,
			frame: v2Frame(2, 0, 0, 60, uint32(len(opusPacket)), opusPacket),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, TimestampMs: 60, Payload: opusPacket}},
		{name: "v2 json", version: 2, hdr: 16,
			frame: v2Frame(2, 1, 0, 0, uint32(len(jsonPayload)), jsonPayload),
			want:  proto.BinaryFrame{Type: proto.FrameJSON, Payload: jsonPayload}},
		{name: "v2 timestamp big-endian", version: 2, hdr: 16,
			frame: v2Frame(2, 0, 0, 0xa1b2c3d4, 1, []byte{0x01}),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, TimestampMs: 0xa1b2c3d4, Payload: []byte{0x01}}},
		{name: "v2 payload_size big-endian", version: 2, hdr: 16,
			frame: v2Frame(2, 0, 0, 0, 0x0102, big),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, Payload: big}},
		{name: "v2 reserved ignored", version: 2, hdr: 16,
			frame: v2Frame(2, 0, 0xdeadbeef, 7, 2, []byte{9, 8}),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, TimestampMs: 7, Payload: []byte{9, 8}}},
		{name: "v2 header only", version: 2, hdr: 16,
			frame: v2Frame(2, 0, 0, 120, 0, nil),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, TimestampMs: 120, Payload: []byte{}}},
		{name: "v2 zero-length", version: 2, frame: []byte{},
			want: proto.BinaryFrame{Type: proto.FrameOpus}},
		{name: "v2 one byte", version: 2, frame: []byte{0x00}, wantErr: proto.ErrShortFrame},
		{name: "v2 15 bytes", version: 2, frame: v2Frame(2, 0, 0, 0, 0, nil)[:15], wantErr: proto.ErrShortFrame},
		{name: "v2 payload_size too big", version: 2,
			frame: v2Frame(2, 0, 0, 0, uint32(len(opusPacket)+1), opusPacket), wantErr: proto.ErrPayloadSize},
		{name: "v2 payload_size too small", version: 2,
			frame: v2Frame(2, 0, 0, 0, uint32(len(opusPacket)-1), opusPacket), wantErr: proto.ErrPayloadSize},
		{name: "v2 payload_size max", version: 2,
			frame: v2Frame(2, 0, 0, 0, math.MaxUint32, opusPacket), wantErr: proto.ErrPayloadSize},
		{name: "v2 payload_size little-endian is wrong", version: 2,
			frame: v2Frame(2, 0, 0, 0, 0x02010000, big), wantErr: proto.ErrPayloadSize},
		{name: "v2 payload_size nonzero, header only", version: 2,
			frame: v2Frame(2, 0, 0, 0, 1, nil), wantErr: proto.ErrPayloadSize},
		{name: "v2 type 2", version: 2,
			frame: v2Frame(2, 2, 0, 0, 1, []byte{0}), wantErr: proto.ErrFrameType},
		{name: "v2 type 0x0100 (big-endian, not JSON)", version: 2,
			frame: v2Frame(2, 0x0100, 0, 0, 1, []byte{0}), wantErr: proto.ErrFrameType},
		{name: "v2 type 0xffff", version: 2,
			frame: v2Frame(2, 0xffff, 0, 0, 1, []byte{0}), wantErr: proto.ErrFrameType},

		// Version 3.
		{name: "v3 opus", version: 3, hdr: 4,
			frame: v3Frame(0, 0, uint16(len(opusPacket)), opusPacket),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, Payload: opusPacket}},
		{name: "v3 json", version: 3, hdr: 4,
			frame: v3Frame(1, 0, uint16(len(jsonPayload)), jsonPayload),
			want:  proto.BinaryFrame{Type: proto.FrameJSON, Payload: jsonPayload}},
		{name: "v3 payload_size big-endian", version: 3, hdr: 4,
			frame: v3Frame(0, 0, 0x0102, big),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, Payload: big}},
		{name: "v3 reserved ignored", version: 3, hdr: 4,
			frame: v3Frame(0, 0xff, 1, []byte{0x42}),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, Payload: []byte{0x42}}},
		{name: "v3 header only", version: 3, hdr: 4,
			frame: v3Frame(0, 0, 0, nil),
			want:  proto.BinaryFrame{Type: proto.FrameOpus, Payload: []byte{}}},
		{name: "v3 zero-length", version: 3, frame: []byte{},
			want: proto.BinaryFrame{Type: proto.FrameOpus}},
		{name: "v3 one byte", version: 3, frame: []byte{0}, wantErr: proto.ErrShortFrame},
		{name: "v3 three bytes", version: 3, frame: []byte{0, 0, 0}, wantErr: proto.ErrShortFrame},
		{name: "v3 payload_size too big", version: 3,
			frame: v3Frame(0, 0, uint16(len(opusPacket)+1), opusPacket), wantErr: proto.ErrPayloadSize},
		{name: "v3 payload_size too small", version: 3,
			frame: v3Frame(0, 0, uint16(len(opusPacket)-1), opusPacket), wantErr: proto.ErrPayloadSize},
		{name: "v3 payload_size little-endian is wrong", version: 3,
			frame: v3Frame(0, 0, 0x0201, big), wantErr: proto.ErrPayloadSize},
		{name: "v3 payload_size max", version: 3,
			frame: v3Frame(0, 0, 0xffff, opusPacket), wantErr: proto.ErrPayloadSize},
		{name: "v3 type 2", version: 3,
			frame: v3Frame(2, 0, 1, []byte{0}), wantErr: proto.ErrFrameType},
		{name: "v3 type 0xff", version: 3,
			frame: v3Frame(0xff, 0, 1, []byte{0}), wantErr: proto.ErrFrameType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := proto.DecodeBinary(tc.version, tc.frame)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("DecodeBinary(%d, % x) error = %v, want %v", tc.version, tc.frame, err, tc.wantErr)
				}
				if got.Payload != nil {
					t.Errorf("DecodeBinary failed but returned payload % x", got.Payload)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeBinary(%d, % x): %v", tc.version, tc.frame, err)
			}
			if got.Type != tc.want.Type || got.TimestampMs != tc.want.TimestampMs || !bytes.Equal(got.Payload, tc.want.Payload) {
				t.Fatalf("DecodeBinary = {Type:%d Ts:%d Payload:% x}, want {Type:%d Ts:%d Payload:% x}",
					got.Type, got.TimestampMs, got.Payload, tc.want.Type, tc.want.TimestampMs, tc.want.Payload)
			}
			// The payload aliases the input, right after the header.
			if len(got.Payload) > 0 && &got.Payload[0] != &tc.frame[tc.hdr] {
				t.Errorf("payload does not alias frame[%d:]", tc.hdr)
			}
		})
	}
}

// PROTOCOL.md section 4 names the v2 version field "u16 version=2". A v2
// frame whose header names another version is broken framing: the device
// speaks a different version than the one agreed, and its later fields
// cannot be trusted.
func TestDecodeBinaryV2VersionField(t *testing.T) {
	for _, version := range []uint16{0, 1, 3, 0x0200, 0xffff} {
		frame := v2Frame(version, 0, 0, 0, uint32(len(opusPacket)), opusPacket)
		_, err := proto.DecodeBinary(2, frame)
		if err == nil {
			t.Errorf("DecodeBinary(2) accepted a header with version field %#04x", version)
			continue
		}
		if code := proto.CloseCode(err); code != proto.CloseProtocolError {
			t.Errorf("version field %#04x: CloseCode(%v) = %d, want %d", version, err, code, proto.CloseProtocolError)
		}
	}
}

func TestDecodeBinaryCloseCodes(t *testing.T) {
	tests := []struct {
		name    string
		version int
		frame   []byte
		want    int
	}{
		{"short", 2, []byte{0, 2, 0}, proto.CloseProtocolError},
		{"payload_size", 3, v3Frame(0, 0, 9, []byte{1}), proto.CloseProtocolError},
		{"type", 3, v3Frame(7, 0, 1, []byte{1}), proto.CloseUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proto.DecodeBinary(tc.version, tc.frame)
			if err == nil {
				t.Fatal("DecodeBinary succeeded")
			}
			if got := proto.CloseCode(err); got != tc.want {
				t.Errorf("CloseCode(%v) = %d, want %d", err, got, tc.want)
			}
		})
	}
}

func TestAppendBinaryLayout(t *testing.T) {
	tests := []struct {
		name    string
		version int
		typ     int
		ts      uint32
		payload []byte
		want    []byte
	}{
		{name: "v1", version: 1, typ: proto.FrameOpus, ts: 99, payload: []byte{0xde, 0xad},
			want: []byte{0xde, 0xad}},
		{name: "v2 opus", version: 2, typ: proto.FrameOpus, ts: 0x01020304, payload: []byte{0xde, 0xad},
			want: []byte{
				0x00, 0x02, // version = 2
				0x00, 0x00, // type = 0 (Opus)
				0x00, 0x00, 0x00, 0x00, // reserved
				0x01, 0x02, 0x03, 0x04, // timestamp_ms
				0x00, 0x00, 0x00, 0x02, // payload_size
				0xde, 0xad,
			}},
		{name: "v2 json", version: 2, typ: proto.FrameJSON, ts: 0xa0b0c0d0, payload: []byte("{}"),
			want: []byte{
				0x00, 0x02,
				0x00, 0x01,
				0x00, 0x00, 0x00, 0x00,
				0xa0, 0xb0, 0xc0, 0xd0,
				0x00, 0x00, 0x00, 0x02,
				'{', '}',
			}},
		{name: "v2 empty", version: 2, typ: proto.FrameOpus,
			want: []byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "v3 opus", version: 3, typ: proto.FrameOpus, ts: 99, payload: bytes.Repeat([]byte{7}, 0x0102),
			want: append([]byte{
				0x00,       // type = 0 (Opus)
				0x00,       // reserved
				0x01, 0x02, // payload_size = 258
			}, bytes.Repeat([]byte{7}, 0x0102)...)},
		{name: "v3 json", version: 3, typ: proto.FrameJSON, payload: []byte("{}"),
			want: []byte{0x01, 0x00, 0x00, 0x02, '{', '}'}},
		{name: "v3 empty", version: 3, typ: proto.FrameOpus,
			want: []byte{0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := proto.AppendBinary(bytes.Clone(prefix), tc.version, tc.typ, tc.ts, tc.payload)
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("AppendBinary lost dst: % x", got)
			}
			if got := got[len(prefix):]; !bytes.Equal(got, tc.want) {
				t.Errorf("AppendBinary =\n% x\nwant\n% x", got, tc.want)
			}
		})
	}
}

func TestAppendBinaryRoundTrip(t *testing.T) {
	payloads := map[string][]byte{
		"one byte": {0x01},
		"opus":     opusPacket,
		"json":     []byte(`{"type":"mcp","payload":{"jsonrpc":"2.0","id":1,"result":{}}}`),
		"2.3 KiB":  bytes.Repeat([]byte{0x5a}, 2300),
		"v3 max":   bytes.Repeat([]byte{0xa5}, 0xffff),
	}
	for _, version := range []int{1, 2, 3} {
		for _, typ := range []int{proto.FrameOpus, proto.FrameJSON} {
			if version == 1 && typ == proto.FrameJSON {
				continue // version 1 carries Opus only
			}
			for name, payload := range payloads {
				t.Run(fmt.Sprintf("v%d/%s/%s", version, typeName(typ), name), func(t *testing.T) {
					const ts = 123456
					frame, err := proto.AppendBinary(nil, version, typ, ts, payload)
					if err != nil {
						t.Fatalf("AppendBinary: %v", err)
					}
					got, err := proto.DecodeBinary(version, frame)
					if err != nil {
						t.Fatalf("DecodeBinary: %v", err)
					}
					if got.Type != typ || !bytes.Equal(got.Payload, payload) {
						t.Errorf("round trip: type %d payload %d bytes, want type %d payload %d bytes",
							got.Type, len(got.Payload), typ, len(payload))
					}
					wantTs := uint32(0)
					if version == 2 {
						wantTs = ts
					}
					if got.TimestampMs != wantTs {
						t.Errorf("round trip: timestamp %d, want %d", got.TimestampMs, wantTs)
					}
				})
			}
		}
	}
}

func typeName(typ int) string {
	if typ == proto.FrameJSON {
		return "json"
	}
	return "opus"
}

func TestAppendBinaryV3Limit(t *testing.T) {
	dst := []byte("keep")
	frame, err := proto.AppendBinary(dst, 3, proto.FrameOpus, 0, make([]byte, 0xffff))
	if err != nil {
		t.Fatalf("AppendBinary with 65535 bytes: %v", err)
	}
	if len(frame) != len(dst)+4+0xffff {
		t.Errorf("frame length %d, want %d", len(frame), len(dst)+4+0xffff)
	}
	if frame[len(dst)+2] != 0xff || frame[len(dst)+3] != 0xff {
		t.Errorf("payload_size bytes % x, want ff ff", frame[len(dst)+2:len(dst)+4])
	}

	got, err := proto.AppendBinary(dst, 3, proto.FrameOpus, 0, make([]byte, 0x10000))
	if err == nil {
		t.Fatal("AppendBinary accepted a 65536-byte v3 payload")
	}
	if !bytes.Equal(got, dst) {
		t.Errorf("AppendBinary changed dst on error: %d bytes", len(got))
	}

	// Version 2 has a 32-bit size and no such limit.
	if _, err := proto.AppendBinary(nil, 2, proto.FrameOpus, 0, make([]byte, 0x10000)); err != nil {
		t.Errorf("AppendBinary v2 with 65536 bytes: %v", err)
	}
}

func TestClassifyText(t *testing.T) {
	pcm := proto.EncodePCMText(make([]int16, 960))
	tests := []struct {
		name    string
		frame   string
		want    proto.TextKind
		wantErr error
	}{
		{name: "json", frame: `{"type":"listen","state":"stop"}`, want: proto.TextJSON},
		{name: "json after blanks", frame: " \t\r\n{\"type\":\"goodbye\"}", want: proto.TextJSON},
		{name: "lone brace", frame: "{", want: proto.TextJSON},
		{name: "pcm frame", frame: string(pcm), want: proto.TextPCM},
		{name: "pcm after blanks", frame: "\r\n  " + string(pcm), want: proto.TextPCM},
		{name: "base64 with slash", frame: "/w8AAA==", want: proto.TextPCM},
		{name: "base64 with plus", frame: "+w8AAA==", want: proto.TextPCM},
		{name: "array is not json message", frame: `[{"type":"hello"}]`, want: proto.TextPCM},
		{name: "vertical tab is not blank", frame: "\v{", want: proto.TextPCM},
		{name: "nul byte", frame: "\x00{", want: proto.TextPCM},
		{name: "empty", frame: "", wantErr: proto.ErrEmpty},
		{name: "blank", frame: " \t\r\n \t", wantErr: proto.ErrEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := proto.ClassifyText([]byte(tc.frame))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ClassifyText(%q) error = %v, want %v", tc.frame, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ClassifyText(%q): %v", tc.frame, err)
			}
			if got != tc.want {
				t.Errorf("ClassifyText(%q) = %d, want %d", tc.frame, got, tc.want)
			}
			if isObj := proto.IsJSONObject([]byte(tc.frame)); isObj != (tc.want == proto.TextJSON) {
				t.Errorf("IsJSONObject(%q) = %v, disagrees with ClassifyText", tc.frame, isObj)
			}
		})
	}
	if proto.IsJSONObject(nil) || proto.IsJSONObject([]byte(" \n")) {
		t.Error("IsJSONObject is true for a blank frame")
	}
}

// sineFrame is one 60 ms Stikadoo frame: 960 samples of a 440 Hz tone at
// 16 kHz, with the extremes of int16 at both ends.
func sineFrame() []int16 {
	s := make([]int16, 960)
	for i := range s {
		s[i] = int16(12000 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	s[0], s[959] = math.MinInt16, math.MaxInt16
	return s
}

func TestPCMTextRoundTrip(t *testing.T) {
	samples := sineFrame()
	frame := proto.EncodePCMText(samples)
	// 960 samples are 1920 bytes, which are exactly 2560 base64 characters
	// with no padding (PROTOCOL.md section 4).
	if len(frame) != 2560 {
		t.Fatalf("EncodePCMText(960 samples) is %d characters, want 2560", len(frame))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(string(frame))
	if err != nil {
		t.Fatalf("EncodePCMText output is not strict standard base64: %v", err)
	}
	if len(raw) != 1920 {
		t.Fatalf("EncodePCMText carries %d bytes, want 1920", len(raw))
	}

	prefix := []int16{1, 2, 3}
	got, err := proto.DecodePCMText(append([]int16(nil), prefix...), frame)
	if err != nil {
		t.Fatalf("DecodePCMText: %v", err)
	}
	if len(got) != len(prefix)+960 {
		t.Fatalf("DecodePCMText returned %d samples, want %d", len(got), len(prefix)+960)
	}
	for i, s := range prefix {
		if got[i] != s {
			t.Fatalf("DecodePCMText changed dst[%d]", i)
		}
	}
	for i, s := range samples {
		if got[len(prefix)+i] != s {
			t.Fatalf("sample %d = %d, want %d", i, got[len(prefix)+i], s)
		}
	}
}

func TestPCMTextLittleEndian(t *testing.T) {
	samples := []int16{0x0102, -2, math.MaxInt16, math.MinInt16, 0, -1}
	raw := []byte{
		0x02, 0x01, // 0x0102
		0xfe, 0xff, // -2
		0xff, 0x7f, // 32767
		0x00, 0x80, // -32768
		0x00, 0x00, // 0
		0xff, 0xff, // -1
	}
	enc := proto.EncodePCMText(samples)
	if want := base64.StdEncoding.EncodeToString(raw); string(enc) != want {
		t.Errorf("EncodePCMText = %q, want %q", enc, want)
	}
	got, err := proto.DecodePCMText(nil, []byte(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		t.Fatalf("DecodePCMText: %v", err)
	}
	if len(got) != len(samples) {
		t.Fatalf("DecodePCMText returned %d samples, want %d", len(got), len(samples))
	}
	for i := range samples {
		if got[i] != samples[i] {
			t.Errorf("sample %d = %#04x, want %#04x", i, uint16(got[i]), uint16(samples[i]))
		}
	}
	if enc := proto.EncodePCMText(nil); len(enc) != 0 {
		t.Errorf("EncodePCMText(nil) = %q, want empty", enc)
	}
}

func TestDecodePCMText(t *testing.T) {
	two := []int16{0x0102, -2}       // AgH+/w==
	twoB64 := "AgH+/w=="             // bytes 02 01 fe ff
	three := []int16{0x0102, -2, 16} // AgH+/xAA
	threeB64 := "AgH+/xAA"
	tests := []struct {
		name    string
		frame   string
		want    []int16
		wantErr error
	}{
		{name: "padded", frame: twoB64, want: two},
		{name: "unpadded length", frame: threeB64, want: three},
		{name: "leading and trailing spaces", frame: "  " + twoB64 + "  ", want: two},
		{name: "tabs", frame: "\t" + twoB64 + "\t", want: two},
		{name: "crlf", frame: "\r\n" + twoB64 + "\r\n", want: two},
		{name: "trailing newline", frame: threeB64 + "\n", want: three},
		{name: "line breaks inside", frame: "AgH+\r\n/xAA", want: three},
		{name: "empty", frame: "", wantErr: proto.ErrEmpty},
		{name: "blank", frame: " \r\n\t ", wantErr: proto.ErrEmpty},
		{name: "not base64", frame: "!!!!", wantErr: proto.ErrBase64},
		{name: "json", frame: `{"type":"hello"}`, wantErr: proto.ErrBase64},
		{name: "missing padding", frame: "AgH+/w", wantErr: proto.ErrBase64},
		{name: "truncated", frame: "AgH", wantErr: proto.ErrBase64},
		{name: "url alphabet", frame: "AgH-_w==", wantErr: proto.ErrBase64},
		{name: "space inside", frame: "AgH+ /xAA", wantErr: proto.ErrBase64},
		{name: "data after padding", frame: "AgH+/w==AAAA", wantErr: proto.ErrBase64},
		{name: "one byte", frame: "AQ==", wantErr: proto.ErrPCMOdd},
		{name: "three bytes", frame: "AQID", wantErr: proto.ErrPCMOdd},
		{name: "1919 bytes", frame: base64.StdEncoding.EncodeToString(make([]byte, 1919)), wantErr: proto.ErrPCMOdd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []int16{42}
			got, err := proto.DecodePCMText(dst, []byte(tc.frame))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("DecodePCMText(%q) error = %v, want %v", tc.frame, err, tc.wantErr)
				}
				if len(got) != 1 || got[0] != 42 {
					t.Errorf("DecodePCMText changed dst on error: %v", got)
				}
				if code := proto.CloseCode(err); code != proto.CloseInvalidData {
					t.Errorf("CloseCode(%v) = %d, want %d", err, code, proto.CloseInvalidData)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodePCMText(%q): %v", tc.frame, err)
			}
			if len(got) != 1+len(tc.want) || got[0] != 42 {
				t.Fatalf("DecodePCMText = %v, want [42 %v]", got, tc.want)
			}
			for i, s := range tc.want {
				if got[1+i] != s {
					t.Errorf("sample %d = %d, want %d", i, got[1+i], s)
				}
			}
		})
	}
}

func BenchmarkDecodePCMText(b *testing.B) {
	frame := proto.EncodePCMText(sineFrame())
	dst := make([]int16, 0, 960)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, err = proto.DecodePCMText(dst[:0], frame)
		if err != nil || len(dst) != 960 {
			b.Fatalf("DecodePCMText: %d samples, %v", len(dst), err)
		}
	}
}
