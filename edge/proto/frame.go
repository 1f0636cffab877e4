package proto

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Binary frame payload types (protocol versions 2 and 3).
const (
	FrameOpus = 0
	FrameJSON = 1
)

// Header sizes of the binary protocol versions.
const (
	headerV2 = 16
	headerV3 = 4
)

// BinaryFrame is one decoded binary WebSocket frame.
type BinaryFrame struct {
	Type        int    // FrameOpus or FrameJSON
	TimestampMs uint32 // version 2 only
	Payload     []byte // aliases the input frame
}

// DecodeBinary decodes a binary frame of the given protocol version (1, 2
// or 3; anything else is treated as 1, the firmware default). The payload
// aliases frame. A zero-length frame decodes to an empty Opus payload,
// which the browser client uses to mark the end of an utterance.
func DecodeBinary(version int, frame []byte) (BinaryFrame, error) {
	if len(frame) == 0 {
		return BinaryFrame{Type: FrameOpus}, nil
	}
	switch version {
	case 2:
		if len(frame) < headerV2 {
			return BinaryFrame{}, fmt.Errorf("v2 frame of %d bytes: %w", len(frame), ErrShortFrame)
		}
		if v := binary.BigEndian.Uint16(frame[0:2]); v != 2 {
			return BinaryFrame{}, fmt.Errorf("v2 frame header says version %d: %w", v, ErrFrameVersion)
		}
		typ := int(binary.BigEndian.Uint16(frame[2:4]))
		ts := binary.BigEndian.Uint32(frame[8:12])
		size := binary.BigEndian.Uint32(frame[12:16])
		if uint64(size) != uint64(len(frame)-headerV2) {
			return BinaryFrame{}, fmt.Errorf("v2 frame: payload_size %d, %d bytes follow: %w", size, len(frame)-headerV2, ErrPayloadSize)
		}
		if typ != FrameOpus && typ != FrameJSON {
			return BinaryFrame{}, fmt.Errorf("v2 frame type %d: %w", typ, ErrFrameType)
		}
		return BinaryFrame{Type: typ, TimestampMs: ts, Payload: frame[headerV2:]}, nil
	case 3:
		if len(frame) < headerV3 {
			return BinaryFrame{}, fmt.Errorf("v3 frame of %d bytes: %w", len(frame), ErrShortFrame)
		}
		typ := int(frame[0])
		size := binary.BigEndian.Uint16(frame[2:4])
		if int(size) != len(frame)-headerV3 {
			return BinaryFrame{}, fmt.Errorf("v3 frame: payload_size %d, %d bytes follow: %w", size, len(frame)-headerV3, ErrPayloadSize)
		}
		if typ != FrameOpus && typ != FrameJSON {
			return BinaryFrame{}, fmt.Errorf("v3 frame type %d: %w", typ, ErrFrameType)
		}
		return BinaryFrame{Type: typ, Payload: frame[headerV3:]}, nil
	default:
		return BinaryFrame{Type: FrameOpus, Payload: frame}, nil
	}
}

// AppendBinary appends one binary frame of the given version carrying
// payload to dst and returns the extended slice. Version 3 payloads are
// limited to 65535 bytes.
func AppendBinary(dst []byte, version, typ int, timestampMs uint32, payload []byte) ([]byte, error) {
	switch version {
	case 2:
		var h [headerV2]byte
		binary.BigEndian.PutUint16(h[0:2], 2)
		binary.BigEndian.PutUint16(h[2:4], uint16(typ))
		binary.BigEndian.PutUint32(h[8:12], timestampMs)
		binary.BigEndian.PutUint32(h[12:16], uint32(len(payload)))
		dst = append(dst, h[:]...)
	case 3:
		if len(payload) > 0xFFFF {
			return dst, fmt.Errorf("v3 payload of %d bytes exceeds 65535", len(payload))
		}
		var h [headerV3]byte
		h[0] = byte(typ)
		binary.BigEndian.PutUint16(h[2:4], uint16(len(payload)))
		dst = append(dst, h[:]...)
	}
	return append(dst, payload...), nil
}

// TextKind says what a text frame holds.
type TextKind int

const (
	TextJSON TextKind = iota // a JSON message
	TextPCM                  // Stikadoo base64 PCM audio
)

// ClassifyText routes a text frame by its first non-blank byte: '{' is a
// JSON message, anything else is base64 PCM. Blank frames are ErrEmpty.
func ClassifyText(frame []byte) (TextKind, error) {
	for _, b := range frame {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return TextJSON, nil
		default:
			return TextPCM, nil
		}
	}
	return 0, ErrEmpty
}

// DecodePCMText decodes a Stikadoo audio text frame (standard padded
// base64 of little-endian int16 samples, surrounding white space allowed)
// and appends the samples to dst.
func DecodePCMText(dst []int16, frame []byte) ([]int16, error) {
	frame = trimSpace(frame)
	if len(frame) == 0 {
		return dst, ErrEmpty
	}
	n := base64.StdEncoding.DecodedLen(len(frame))
	buf := make([]byte, n)
	m, err := base64.StdEncoding.Decode(buf, frame)
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrBase64, err)
	}
	if m%2 != 0 {
		return dst, ErrPCMOdd
	}
	for i := 0; i+1 < m; i += 2 {
		dst = append(dst, int16(binary.LittleEndian.Uint16(buf[i:])))
	}
	return dst, nil
}

// EncodePCMText encodes int16 samples as a Stikadoo audio text frame.
func EncodePCMText(samples []int16) []byte {
	raw := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(out, raw)
	return out
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
