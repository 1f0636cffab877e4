package proto

import "encoding/json"

// ServerHello is the server's answer to a device hello. Transport is
// mandatory: firmware dereferences it without a check.
type ServerHello struct {
	Type        string       `json:"type"`
	Transport   string       `json:"transport"`
	SessionID   string       `json:"session_id"`
	AudioParams *AudioParams `json:"audio_params"`
}

// NewServerHello returns the hello for a session, announcing 16 kHz mono
// Opus in 60 ms frames for anything the server sends.
func NewServerHello(sessionID string) ServerHello {
	return ServerHello{
		Type: TypeHello, Transport: "websocket", SessionID: sessionID,
		AudioParams: &AudioParams{Format: "opus", SampleRate: 16000, Channels: 1, FrameDuration: 60},
	}
}

// STT shows the user's words.
type STT struct {
	Type      string `json:"type"`
	Text      string `json:"text"`
	SessionID string `json:"session_id,omitempty"`
}

// LLM sets the face on screen; only Emotion is used by the firmware.
type LLM struct {
	Type      string `json:"type"`
	Emotion   string `json:"emotion"`
	Text      string `json:"text"`
	SessionID string `json:"session_id,omitempty"`
}

// TTS drives the device's speaking state. State is mandatory.
type TTS struct {
	Type      string `json:"type"`
	State     string `json:"state"`
	Text      string `json:"text,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

// TTS states.
const (
	TTSStart         = "start"
	TTSSentenceStart = "sentence_start"
	TTSStop          = "stop"
)

// Thinking shows "Thinking..." on the Stikadoo printer (status start/stop).
type Thinking struct {
	Type      string `json:"type"`
	Status    string `json:"status"`
	SessionID string `json:"session_id,omitempty"`
}

// Alert is shown on screen with a sound; all three strings are required.
type Alert struct {
	Type      string `json:"type"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Emotion   string `json:"emotion"`
	SessionID string `json:"session_id,omitempty"`
}

// MCPEnvelope carries a JSON-RPC message.
type MCPEnvelope struct {
	Type      string          `json:"type"`
	SessionID string          `json:"session_id,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}
