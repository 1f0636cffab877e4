package proto

import (
	"strings"
	"time"
)

// The records below are what the gateway hands to its store. They are
// plain data, shared by the gateway (edge) and the store (storage) so that
// neither imports the other. JSON names are the export format of
// `stikadoo-edge sessions export` and must stay stable.

// Device is one device the server has seen.
type Device struct {
	ID              string    `json:"id"` // MAC, lower case with colons
	ClientID        string    `json:"client_id,omitempty"`
	SerialNumber    string    `json:"serial_number,omitempty"`
	Board           string    `json:"board,omitempty"`
	FirmwareVersion string    `json:"firmware_version,omitempty"`
	UserAgent       string    `json:"user_agent,omitempty"`
	Language        string    `json:"language,omitempty"`
	IP              string    `json:"ip,omitempty"`
	FirstSeen       time.Time `json:"first_seen"`
	LastSeen        time.Time `json:"last_seen"`

	// Activation state (only used when activation is enabled).
	Activation Activation `json:"activation"`
	// Tokens issued before this time are refused (zero: none revoked).
	RevokedBefore time.Time `json:"revoked_before,omitzero"`
	// Blocked devices get no new token until an operator approves them.
	Blocked bool `json:"blocked,omitempty"`
	// Enrolled is when the device was first given a token or approved;
	// with enrollment windows only enrolled devices get tokens outside a
	// window (zero: never).
	Enrolled time.Time `json:"enrolled,omitzero"`
}

// Activation is a device's activation state.
type Activation struct {
	Code        string    `json:"code,omitempty"`      // six digits shown on the device
	Challenge   string    `json:"challenge,omitempty"` // outstanding challenge
	Verified    bool      `json:"verified,omitempty"`  // the device proved its secret
	Approved    bool      `json:"approved,omitempty"`  // an operator approved it
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// Activated reports whether the device completed activation.
func (a Activation) Activated() bool { return !a.ActivatedAt.IsZero() }

// Dialects of device clients.
const (
	DialectStikadoo = "stikadoo" // base64 PCM text frames
	DialectOpusV1   = "opus-v1"
	DialectOpusV2   = "opus-v2"
	DialectOpusV3   = "opus-v3"
	DialectBrowser  = "browser" // raw Opus, no transport in hello
)

// Session is one WebSocket connection of a device.
type Session struct {
	ID          string    `json:"id"`
	DeviceID    string    `json:"device_id,omitempty"`
	ClientID    string    `json:"client_id,omitempty"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	Dialect     string    `json:"dialect,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end,omitzero"`
	CloseCode   int       `json:"close_code,omitempty"`
	CloseReason string    `json:"close_reason,omitempty"`
	Turns       int       `json:"turns"`
	Tools       []string  `json:"tools,omitempty"` // MCP tools the device offered
}

// Turn outcomes.
const (
	OutcomeOK               = "ok"
	OutcomeNoSpeech         = "no_speech"
	OutcomeSTTUnavailable   = "stt_unavailable"
	OutcomeSTTError         = "stt_error"
	OutcomeRefused          = "refused"
	OutcomeImageUnavailable = "image_unavailable"
	OutcomeImageError       = "image_error"
	OutcomeDeviceRefused    = "device_refused"
	OutcomeDeviceTimeout    = "device_timeout"
	OutcomeAborted          = "aborted"
	OutcomeClosed           = "closed"
	OutcomeInternal         = "internal_error"
	// OutcomeCloudUnavailable: a stage needed the cloud, which could not
	// be reached or refused the connection.
	OutcomeCloudUnavailable = "cloud_unavailable"
	// OutcomeCloudError: the cloud took the turn and failed it (it told
	// the device in an alert), or dropped the connection during it.
	OutcomeCloudError = "cloud_error"
)

// BackendCloud is the Turn.Backend of a turn the cloud served.
const BackendCloud = "cloud"

// Cloud policies: when a turn is relayed to the cloud backend.
const (
	CloudLocal          = "local"            // never
	CloudLocalThenCloud = "local-then-cloud" // when a needed local stage cannot serve
	CloudFirst          = "cloud-first"      // whenever the cloud is available
	CloudOnly           = "cloud-only"       // always; no local stage serves
)

// Breaker states of the cloud relay.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// CloudState is what the gateway knows of the cloud backend, for the
// health report.
type CloudState struct {
	Policy           string    `json:"policy"`
	Host             string    `json:"host,omitempty"` // the endpoint's host, never its key
	Reachable        bool      `json:"reachable"`
	LastProbe        time.Time `json:"last_probe,omitzero"`
	UnreachableSince time.Time `json:"unreachable_since,omitzero"`
	LastError        string    `json:"last_error,omitempty"` // the probe's, cleared when a probe succeeds
	// LastDialError is why the last relay connection failed to open (a
	// refused key, say); cleared only when a connection works again, so
	// it stays visible while the breaker is open and probes succeed.
	LastDialError string `json:"last_dial_error,omitempty"`
	Breaker       string `json:"breaker,omitempty"`
	Dials         int64  `json:"dials"`
	DialFailures  int64  `json:"dial_failures"`
	Drops         int64  `json:"drops"`   // connections lost while open
	Relayed       int64  `json:"relayed"` // turns handed to the cloud
}

// Turn sources.
const (
	SourceVoice = "voice" // spoken, transcribed
	SourceTyped = "typed" // listen detect with text
)

// Turn is one request of a user: an utterance (or typed text) and what
// became of it.
type Turn struct {
	ID         string    `json:"id"`
	SessionID  string    `json:"session_id"`
	DeviceID   string    `json:"device_id,omitempty"`
	Seq        int       `json:"seq"` // 1-based within the session
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Source     string    `json:"source"`
	Mode       string    `json:"mode,omitempty"`
	AudioMs    int       `json:"audio_ms,omitempty"`
	Audio      string    `json:"audio,omitempty"`     // the recording's file name, when audio is kept
	Truncated  bool      `json:"truncated,omitempty"` // utterance cut at the maximum length
	Transcript string    `json:"transcript,omitempty"`
	Prompt     string    `json:"prompt,omitempty"`
	ImageID    string    `json:"image_id,omitempty"`
	OriginalID string    `json:"original_id,omitempty"`
	Backend    string    `json:"backend,omitempty"`
	Fallback   string    `json:"fallback,omitempty"` // which stage fell back, and why
	// Cloud names the stage that was relayed to the cloud ("stt", "image",
	// or "turn" when the policy sent the whole turn); empty for a local turn.
	Cloud     string           `json:"cloud,omitempty"`
	TimingsMs map[string]int64 `json:"timings_ms,omitempty"`
	Outcome   string           `json:"outcome"`
	Error     string           `json:"error,omitempty"`
}

// Sticker is what an image generator returns: the printable PNG and,
// when the backend produced one, the original image.
type Sticker struct {
	PNG          []byte // 1-bit PNG, printer width
	Original     []byte // the backend's image, if any
	OriginalType string // its content type
	Prompt       string // the prompt sent to the backend
	Backend      string // which backend made it
	Fallback     string // non-empty when a fallback made it, saying why
}

// Image is a stored image, served to devices by id.
type Image struct {
	ID          string    `json:"id"`
	ContentType string    `json:"content_type"`
	Created     time.Time `json:"created"`
	Data        []byte    `json:"-"`
}

// Approve records an operator's approval: the device may activate (at
// once, if it already proved itself) and get tokens again.
func (d *Device) Approve(now time.Time) {
	d.Activation.Approved = true
	d.Blocked = false
	if d.Enrolled.IsZero() {
		d.Enrolled = now // an approved device may get tokens without an enrollment window
	}
	// Enrollment binds a device to its Client-Id; an operator's approval
	// binds it to the one it sends next (a reflashed printer has a new one).
	d.ClientID = ""
	if d.Activation.Verified && !d.Activation.Activated() {
		d.Activation.ActivatedAt = now
	}
}

// Revoke refuses every token issued up to now, forgets the activation and
// blocks the device from new tokens until it is approved again.
func (d *Device) Revoke(now time.Time) {
	d.RevokedBefore = now
	d.Blocked = true
	d.Activation = Activation{}
}

// NormalizeDeviceID writes a device id as it is stored: trimmed, lower
// case (MAC addresses), at most 64 bytes.
func NormalizeDeviceID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}
