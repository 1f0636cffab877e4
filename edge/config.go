package edge

import (
	"fmt"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Config is the gateway's configuration. Every field has a useful zero
// value: Defaults fills what is left zero.
type Config struct {
	// OTAPath is the base path of the version check (default "/xiaozhi/ota/").
	// It is served as is, with "challenge" appended, and with "activate".
	OTAPath string
	// WSPath is the device WebSocket path (default "/xiaozhi/v1/").
	WSPath string
	// ImagePath is where stickers are served (default "/stickers/").
	ImagePath string
	// PublicURL, if set, is the WebSocket URL handed to devices instead of
	// one built from the local address the request arrived on. Image URLs
	// then use the same host.
	PublicURL string
	// ProtocolVersion is the binary framing (1, 2 or 3) handed out in the
	// OTA answer (default 1).
	ProtocolVersion int

	Auth       AuthConfig
	Activation ActivationConfig

	// MaxSessions caps concurrent device sessions (default 256). Beyond it
	// the upgrade is refused with 503 and Retry-After.
	MaxSessions int
	// HelloTimeout is how long a new connection may take to say hello
	// (default 10 s).
	HelloTimeout time.Duration
	// KeepAlive is how often an idle session gets a small data frame; the
	// device drops a channel after 120 s without one (default 30 s).
	KeepAlive time.Duration
	// ReadTimeout closes a session that sent nothing, not even a pong, for
	// this long (default 90 s; pings go out every KeepAlive).
	ReadTimeout time.Duration
	// WriteTimeout bounds one frame write (default 10 s).
	WriteTimeout time.Duration
	// MaxFrameBytes limits one frame from a device (default 64 KiB).
	MaxFrameBytes int64
	// MaxUtterance cuts an utterance at this length (default 30 s).
	MaxUtterance time.Duration
	// MCPTimeout bounds an MCP request to the device (default 10 s).
	MCPTimeout time.Duration
	// PreviewTimeout bounds the device's answer to preview_image, which
	// includes downloading and printing (default 45 s).
	PreviewTimeout time.Duration
	// STTTimeout and ImageTimeout bound the two engine stages (defaults 60 s
	// and 120 s).
	STTTimeout   time.Duration
	ImageTimeout time.Duration
	// WakePhrases are listen-detect texts that only open listening.
	WakePhrases []string

	// Endpoint tunes end-of-speech detection in auto and realtime modes.
	Endpoint EndpointConfig

	// Version is the daemon's version, shown in the health report, on the
	// status page and in the metrics.
	Version string

	// Cloud says when turns are relayed to the cloud backend (Deps.Cloud).
	Cloud CloudConfig
}

// CloudConfig says when and how turns are relayed to the cloud.
type CloudConfig struct {
	// Policy is proto.CloudLocal, CloudLocalThenCloud (the default),
	// CloudFirst or CloudOnly. Without Deps.Cloud it is always local.
	Policy string
	// HelloTimeout bounds opening a relay connection, hello included
	// (default 10 s).
	HelloTimeout time.Duration
	// TurnTimeout bounds a relayed turn from its input to the cloud's end
	// of it (default 3 m).
	TurnTimeout time.Duration
	// FirstEventTimeout bounds the wait, once the input is sent, for the
	// cloud to begin the turn (stt, thinking start or an alert; default
	// 15 s). A cloud that does not counts as a failed connection.
	FirstEventTimeout time.Duration
}

// AuthConfig says how devices authenticate on the WebSocket.
type AuthConfig struct {
	// Required refuses WebSocket upgrades without a valid credential: a
	// token issued by the OTA answer or one of APIKeys. Off by default.
	Required bool
	// APIKeys are accepted as x-api-key, as a Bearer token, or in the
	// browser's authorization query parameter.
	APIKeys []string
	// TokenSecret signs device tokens (at least 32 bytes). The daemon keeps
	// one in its state directory.
	TokenSecret []byte
	// TokenTTL is how long an issued token is valid (default 30 days; the
	// device gets a fresh one at every boot).
	TokenTTL time.Duration
	// Enrollment says which devices get a token when authentication is
	// required: EnrollOpen (default) any device not blocked, EnrollWindow
	// devices enrolled before, and new ones only while an enrollment window
	// (the button's long press) is open.
	Enrollment string
	// EnrollmentWindow is how long a window stays open (default 5 min).
	EnrollmentWindow time.Duration
}

// ActivationConfig enables the activation handshake.
type ActivationConfig struct {
	Enabled bool
	// Secret is the shared secret compiled into Stikadoo firmware
	// (algorithm "sha256").
	Secret string
	// DeviceKeys maps a serial number to its hex HMAC key (algorithm
	// "hmac-sha256", upstream firmware).
	DeviceKeys map[string]string
	// RequireApproval makes a verified device wait (202) until an operator
	// approves it with `stikadoo-edge devices approve`.
	RequireApproval bool
	// Timeout is the timeout_ms handed to the device (default 30 s).
	Timeout time.Duration
}

// EndpointConfig tunes the energy end-of-speech detector.
type EndpointConfig struct {
	// Threshold is the RMS level (0..1) above which a frame is speech
	// (default 0.02; adapted upwards to the noise floor).
	Threshold float64
	// Silence ends an utterance after this much quiet following speech
	// (default 800 ms).
	Silence time.Duration
	// MinSpeech is the least speech that counts as an utterance (default
	// 200 ms).
	MinSpeech time.Duration
}

// DefaultWakePhrases are wake phrases of the firmware families and the
// browser page, which sends the second on every connect.
var DefaultWakePhrases = []string{"你好小智", "嘿，你好呀", "Hi ESP", "你好小志", "Hey Stikadoo"}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if c.OTAPath == "" {
		c.OTAPath = "/xiaozhi/ota/"
	}
	if c.WSPath == "" {
		c.WSPath = "/xiaozhi/v1/"
	}
	if c.ImagePath == "" {
		c.ImagePath = "/stickers/"
	}
	if c.ProtocolVersion == 0 {
		c.ProtocolVersion = 1
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 256
	}
	def(&c.HelloTimeout, 10*time.Second)
	def(&c.KeepAlive, 30*time.Second)
	def(&c.ReadTimeout, 90*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = 64 << 10
	}
	def(&c.MaxUtterance, 30*time.Second)
	def(&c.MCPTimeout, 10*time.Second)
	def(&c.PreviewTimeout, 45*time.Second)
	def(&c.STTTimeout, 60*time.Second)
	def(&c.ImageTimeout, 120*time.Second)
	def(&c.Auth.TokenTTL, 30*24*time.Hour)
	if c.Auth.Enrollment == "" {
		c.Auth.Enrollment = EnrollOpen
	}
	def(&c.Auth.EnrollmentWindow, 5*time.Minute)
	def(&c.Activation.Timeout, 30*time.Second)
	if c.WakePhrases == nil {
		c.WakePhrases = DefaultWakePhrases
	}
	if c.Endpoint.Threshold == 0 {
		c.Endpoint.Threshold = 0.02
	}
	def(&c.Endpoint.Silence, 800*time.Millisecond)
	def(&c.Endpoint.MinSpeech, 200*time.Millisecond)
	if c.Cloud.Policy == "" {
		c.Cloud.Policy = proto.CloudLocalThenCloud
	}
	def(&c.Cloud.HelloTimeout, 10*time.Second)
	def(&c.Cloud.TurnTimeout, 3*time.Minute)
	def(&c.Cloud.FirstEventTimeout, 15*time.Second)
	return c
}

// ConfigError names the configuration field that is wrong.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks a configuration after Defaults.
func (c Config) Validate() error {
	for _, p := range []struct{ field, v string }{
		{"gateway.ota_path", c.OTAPath}, {"gateway.ws_path", c.WSPath}, {"gateway.image_path", c.ImagePath},
	} {
		if !strings.HasPrefix(p.v, "/") {
			return &ConfigError{p.field, fmt.Sprintf("%q must start with /", p.v)}
		}
	}
	if c.ProtocolVersion < 1 || c.ProtocolVersion > 3 {
		return &ConfigError{"gateway.protocol_version", fmt.Sprintf("%d is not 1, 2 or 3", c.ProtocolVersion)}
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "ws://") && !strings.HasPrefix(c.PublicURL, "wss://") {
		return &ConfigError{"gateway.public_url", fmt.Sprintf("%q must start with ws:// or wss://", c.PublicURL)}
	}
	if c.MaxSessions < 1 {
		return &ConfigError{"gateway.max_sessions", "must be at least 1"}
	}
	if c.MaxFrameBytes < 4096 {
		return &ConfigError{"gateway.max_frame_bytes", "must be at least 4096 (browser Opus packets reach 2.3 KB)"}
	}
	if c.KeepAlive >= 120*time.Second {
		return &ConfigError{"gateway.keepalive", "must be well under the device's 120 s dead-channel window"}
	}
	if c.Auth.Required && len(c.Auth.TokenSecret) < 32 && len(c.Auth.APIKeys) == 0 {
		return &ConfigError{"auth.required", "needs a token secret of at least 32 bytes or at least one API key"}
	}
	if c.Auth.Enrollment != EnrollOpen && c.Auth.Enrollment != EnrollWindow {
		return &ConfigError{"auth.enrollment", fmt.Sprintf("%q is not %q or %q", c.Auth.Enrollment, EnrollOpen, EnrollWindow)}
	}
	if c.Auth.EnrollmentWindow < 0 {
		return &ConfigError{"auth.enrollment_window", "must not be negative"}
	}
	if c.Activation.Enabled && c.Activation.Secret == "" && len(c.Activation.DeviceKeys) == 0 {
		return &ConfigError{"activation.enabled", "needs activation.secret or activation.device_keys"}
	}
	switch c.Cloud.Policy {
	case proto.CloudLocal, proto.CloudLocalThenCloud, proto.CloudFirst, proto.CloudOnly:
	default:
		return &ConfigError{"cloud.policy", fmt.Sprintf("%q is not local, local-then-cloud, cloud-first or cloud-only", c.Cloud.Policy)}
	}
	if c.Endpoint.Threshold <= 0 || c.Endpoint.Threshold >= 1 {
		return &ConfigError{"endpoint.threshold", "must be between 0 and 1"}
	}
	return nil
}
