package proto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MaxJSONDepth is the deepest nesting of objects and arrays accepted in a
// device message. Real messages nest four levels at most.
const MaxJSONDepth = 32

// AudioParams describes an audio stream in a hello message.
type AudioParams struct {
	Format        string `json:"format,omitempty"`   // "opus" or "pcm"
	Encoding      string `json:"encoding,omitempty"` // "base64" for Stikadoo PCM
	SampleWidth   int    `json:"sample_width,omitempty"`
	SampleRate    int    `json:"sample_rate,omitempty"`
	Channels      int    `json:"channels,omitempty"`
	FrameDuration int    `json:"frame_duration,omitempty"`
}

// Message is any JSON message a device sends. Fields not used by a type
// stay zero; unknown fields are ignored.
type Message struct {
	Type      string `json:"type"`
	SessionID string `json:"session_id,omitempty"`

	// hello
	Version     int             `json:"version,omitempty"`
	Transport   string          `json:"transport,omitempty"`
	Features    map[string]any  `json:"features,omitempty"`
	AudioParams *AudioParams    `json:"audio_params,omitempty"`
	DeviceID    string          `json:"device_id,omitempty"`
	DeviceName  string          `json:"device_name,omitempty"`
	DeviceMAC   string          `json:"device_mac,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"` // mcp

	// listen
	State string `json:"state,omitempty"`
	Mode  string `json:"mode,omitempty"`
	Text  string `json:"text,omitempty"`

	// abort
	Reason string `json:"reason,omitempty"`
}

// Message types.
const (
	TypeHello    = "hello"
	TypeListen   = "listen"
	TypeAbort    = "abort"
	TypeGoodbye  = "goodbye"
	TypeMCP      = "mcp"
	TypeSTT      = "stt"
	TypeLLM      = "llm"
	TypeTTS      = "tts"
	TypeThinking = "thinking"
	TypeAlert    = "alert"
	TypeSystem   = "system"
)

// Listen states and modes.
const (
	ListenStart  = "start"
	ListenStop   = "stop"
	ListenDetect = "detect"

	ModeManual   = "manual"
	ModeAuto     = "auto"
	ModeRealtime = "realtime"
)

// DecodeMessage parses one JSON text frame from a device. It checks UTF-8
// and nesting depth before parsing, so hostile input costs little.
func DecodeMessage(frame []byte) (Message, error) {
	var m Message
	if !utf8.Valid(frame) {
		return m, ErrUTF8
	}
	if err := checkDepth(frame, MaxJSONDepth); err != nil {
		return m, err
	}
	if err := json.Unmarshal(frame, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrJSON, err)
	}
	if m.Type == "" {
		return m, ErrNoType
	}
	return m, nil
}

// checkDepth scans JSON text and fails if objects and arrays nest deeper
// than max. Brackets inside strings do not count.
func checkDepth(b []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return ErrJSONDepth
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// IsJSONObject reports whether b, after leading blanks, starts an object.
func IsJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}
