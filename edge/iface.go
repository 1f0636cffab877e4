package edge

import (
	"context"
	"io"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Transcriber turns an utterance into text. Samples are 16 kHz mono
// float32 in [-1, 1]. It returns an error wrapping proto.ErrNoSpeech when
// the audio holds no words, and proto.ErrUnavailable when the engine cannot
// serve at all.
type Transcriber interface {
	Transcribe(ctx context.Context, samples []float32) (string, error)
}

// Readiness is implemented by an engine that can be in place but not
// ready, such as a transcriber waiting for its model to be downloaded.
// The gateway asks it for the health report and the status page; the
// engine itself answers calls with an error wrapping proto.ErrUnavailable
// while it is not ready.
type Readiness interface {
	// NotReady says in words why the engine cannot serve now and what to
	// do about it, or "" when it is ready.
	NotReady() string
}

// ImageGenerator turns a request in words into a printable sticker. It
// returns an error wrapping proto.ErrRefused for a request it will not
// draw and proto.ErrUnavailable when no backend can serve.
type ImageGenerator interface {
	Sticker(ctx context.Context, text string) (*proto.Sticker, error)
}

// AudioRecorder keeps what devices said, so that an operator can listen
// to a turn or transcribe it again (stikadoo-edge transcribe FILE).
type AudioRecorder interface {
	// RecordAudio stores the utterance of turn id: the Opus packets as the
	// device sent them when it sent Opus, else the 16 kHz samples. It
	// returns the name the turn record keeps.
	RecordAudio(id string, opus [][]byte, samples []float32) (string, error)
}

// Store records devices, sessions, turns and images. Implementations must
// be safe for concurrent use and durable when a call returns.
type Store interface {
	// UpdateDevice reads the device (a zero Device with only ID set if it
	// is new), lets fn change it, and writes it back atomically. If fn
	// returns an error nothing is written and that error is returned.
	UpdateDevice(id string, fn func(*proto.Device) error) (proto.Device, error)
	// Device returns a device or an error wrapping proto.ErrNotFound.
	Device(id string) (proto.Device, error)
	// Devices lists every device, most recently seen first.
	Devices() ([]proto.Device, error)
	PutSession(s proto.Session) error
	PutTurn(t proto.Turn) error
	PutImage(img proto.Image) error
	// Image returns a stored image or an error wrapping proto.ErrNotFound.
	Image(id string) (proto.Image, error)
	// Sessions lists up to limit sessions that started before before (zero:
	// now), newest first.
	Sessions(limit int, before time.Time) ([]proto.Session, error)
	// Session returns one session and its turns in order, or an error
	// wrapping proto.ErrNotFound.
	Session(id string) (proto.Session, []proto.Turn, error)
	// Export writes every session that started at or after since as JSON
	// lines, one {"session":{...},"turns":[...]} object per line, oldest
	// first.
	Export(w io.Writer, since time.Time) error
}

// Cloud is the Stikadoo cloud backend, to which a turn is relayed when a
// local stage cannot serve (Config.Cloud.Policy). Devices never talk to it
// directly: the gateway relays.
type Cloud interface {
	// Available reports whether a relay may be tried now (the cloud
	// answered its last probe and recent connections did not fail).
	Available() bool
	// Dial opens a relay connection for a device's session.
	Dial(ctx context.Context, dev CloudDevice) (CloudLink, error)
	// State is the cloud's part of the health report.
	State() proto.CloudState
}

// CloudDevice says whose session a relay connection carries.
type CloudDevice struct {
	ID       string
	ClientID string
}

// CloudLink is one relay connection. Send and SendOpus may be called
// while another goroutine is in Recv.
type CloudLink interface {
	// Send sends a text frame: a device JSON message or base64 PCM.
	Send(ctx context.Context, text []byte) error
	// SendOpus sends Opus packets, wrapped as text.
	SendOpus(ctx context.Context, packets [][]byte) error
	// Recv returns the next frame from the cloud: an Opus packet (audio)
	// or a JSON message.
	Recv(ctx context.Context) (audio bool, data []byte, err error)
	// Fresh reports whether the link is open and young enough for a turn.
	Fresh() bool
	// Check makes sure a link that has been idle still carries (a ping
	// answered in time); a link that does not ends, and Check says why.
	Check(ctx context.Context) error
	// Done is closed when the link has ended.
	Done() <-chan struct{}
	// Close ends the link; one the cloud never answered on counts
	// against the cloud (its breaker).
	Close() error
	// Abandon ends the link without holding it against the cloud: the
	// turn or the session gave up.
	Abandon() error
	// Fail ends the link as a failed one: the cloud did not do its part.
	Fail(err error)
}
