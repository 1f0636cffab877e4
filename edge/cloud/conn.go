package cloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Device says whose session a relay connection carries.
type Device struct {
	ID       string // MAC, sent as Device-Id
	ClientID string // sent as Client-Id
}

// heartbeat is the small data frame that keeps an idle connection open.
var heartbeat = []byte(`{"type":"heartbeat"}`)

// readSlack is how long past a heartbeat's ping a connection may stay
// silent before its reader gives up on it: the heartbeat pings every
// Heartbeat, and a pong or any frame extends the read deadline.
const readSlack = 30 * time.Second

// Conn is one relay connection to the cloud gateway. Send, SendOpus and
// Recv may be called from different goroutines; one goroutine reads and
// one sends heartbeats, and both end when the connection closes.
type Conn struct {
	c    *Client
	ws   *websocket.Conn
	born time.Time

	wmu      sync.Mutex // serializes writes
	lastSend time.Time

	heard      atomic.Bool  // a frame came from the cloud
	heardAt    atomic.Int64 // clock time (UnixNano) a frame or pong last came
	pongs      chan struct{}
	in         chan frame
	done       chan struct{}
	readerDone chan struct{} // closed when the reader has pushed its last frame
	closeOnce  sync.Once
	errMu      sync.Mutex
	err        error
	closing    bool
}

type frame struct {
	audio bool
	data  []byte
}

// Dial opens a relay connection for a device, if the breaker allows it.
// The outcome feeds the breaker: a refused handshake is a failure, the
// cloud's first frame a success.
func (c *Client) Dial(ctx context.Context, dev Device) (*Conn, error) {
	if !c.breaker.Allow() {
		return nil, fmt.Errorf("dial cloud: %w", ErrCircuitOpen)
	}
	c.dials.Add(1)
	h := http.Header{}
	h.Set("x-api-key", c.cfg.APIKey)
	tok := c.cfg.Token
	if tok == "" {
		tok = c.cfg.APIKey
	}
	h.Set("Authorization", "Bearer "+tok)
	h.Set("Protocol-Version", "1")
	if dev.ID != "" {
		h.Set("Device-Id", dev.ID)
	}
	if dev.ClientID != "" {
		h.Set("Client-Id", dev.ClientID)
	}
	d := websocket.Dialer{
		Proxy:            c.cfg.Proxy,
		TLSClientConfig:  c.tlsConfig(),
		HandshakeTimeout: c.cfg.DialTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(dctx, c.cfg.URL, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		// The caller gave up (the turn was aborted or superseded, the
		// session ended): that says nothing about the cloud.
		c.breaker.Abandon()
		return nil, fmt.Errorf("dial cloud %s: %w", c.u.Host, context.Cause(ctx))
	}
	if err != nil {
		c.dialFails.Add(1)
		c.breaker.Failure()
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			err = fmt.Errorf("%s: %w", resp.Status, ErrUnauthorized)
		} else if resp != nil {
			err = fmt.Errorf("%s: %w", resp.Status, err)
		}
		// Reachability stays the probe's verdict; the breaker counts this,
		// and the error stays in the state until a connection works.
		c.mu.Lock()
		c.dialErr = err.Error()
		c.mu.Unlock()
		return nil, fmt.Errorf("dial cloud %s: %w", c.u.Host, err)
	}
	// The breaker hears of success when the cloud first speaks (reader),
	// of failure when the connection is lost or given up on first.
	ws.SetReadLimit(GatewayMaxMessage)
	cn := &Conn{c: c, ws: ws, born: c.clock.Now(), lastSend: c.clock.Now(), pongs: make(chan struct{}, 1),
		in: make(chan frame, 64), done: make(chan struct{}), readerDone: make(chan struct{})}
	cn.heardAt.Store(cn.born.UnixNano())
	ws.SetPongHandler(func(string) error { // runs on the reader goroutine
		cn.heardAt.Store(c.clock.Now().UnixNano())
		_ = ws.SetReadDeadline(time.Now().Add(cn.readIdle()))
		select {
		case cn.pongs <- struct{}{}:
		default:
		}
		return nil
	})
	go cn.reader()    // ends when the connection fails or is closed
	go cn.heartbeat() // ends when the connection is done
	return cn, nil
}

// Fresh reports whether the connection is open and young enough to
// carry another turn before the gateway's two-hour limit.
func (cn *Conn) Fresh() bool {
	select {
	case <-cn.done:
		return false
	default:
	}
	return cn.c.clock.Now().Sub(cn.born) < cn.c.cfg.ReconnectBefore
}

// Check makes sure the connection still carries before it is reused. One
// nothing was heard on for IdleCheck is pinged, and must answer within
// PongTimeout; if it does not, it ends as a lost connection (ErrNoPong).
// A ctx done first leaves the connection as it is.
func (cn *Conn) Check(ctx context.Context) error {
	select {
	case <-cn.done:
		return fmt.Errorf("check cloud connection: %w", cn.Err())
	default:
	}
	clock := cn.c.clock
	if clock.Now().Sub(time.Unix(0, cn.heardAt.Load())) < cn.c.cfg.IdleCheck {
		return nil
	}
	select {
	case <-cn.pongs: // an old one
	default:
	}
	if err := cn.ping(); err != nil {
		cn.fail(err)
		return fmt.Errorf("check cloud connection: %w", err)
	}
	t := clock.NewTimer(cn.c.cfg.PongTimeout)
	defer t.Stop()
	select {
	case <-cn.pongs:
		return nil
	case <-cn.done:
		return fmt.Errorf("check cloud connection: %w", cn.Err())
	case <-ctx.Done():
		return fmt.Errorf("check cloud connection: %w", context.Cause(ctx))
	case <-t.C():
		err := fmt.Errorf("within %s: %w", cn.c.cfg.PongTimeout, ErrNoPong)
		cn.fail(err)
		return fmt.Errorf("check cloud connection: %w", err)
	}
}

// ping sends a WebSocket ping; API Gateway answers it with a pong.
func (cn *Conn) ping() error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if err := cn.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cn.c.cfg.WriteTimeout)); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// readIdle is how long the reader waits for a frame or a pong.
func (cn *Conn) readIdle() time.Duration { return cn.c.cfg.Heartbeat + readSlack }

// Done is closed when the connection has ended.
func (cn *Conn) Done() <-chan struct{} { return cn.done }

// Err says why the connection ended (nil while it is open, ErrClosed
// after Close).
func (cn *Conn) Err() error {
	cn.errMu.Lock()
	defer cn.errMu.Unlock()
	return cn.err
}

func (cn *Conn) fail(err error) {
	cn.errMu.Lock()
	if cn.err == nil {
		cn.err = err
		if !cn.closing {
			cn.c.drops.Add(1)
			cn.c.breaker.Failure()
			cn.c.log.Warn("cloud connection lost", "err", err)
		}
	}
	cn.errMu.Unlock()
	cn.closeOnce.Do(func() { close(cn.done); cn.ws.Close() })
}

// Close closes the connection with a normal close frame. A connection
// given up on before the cloud sent anything (no hello in time) counts as
// a failed one for the breaker.
func (cn *Conn) Close() error { return cn.close(true) }

// Abandon closes the connection like Close, but holds nothing against the
// cloud: its user gave up (the turn was aborted or superseded, the
// session ended), not the cloud.
func (cn *Conn) Abandon() error { return cn.close(false) }

// Fail ends the connection as a lost one, which counts against the cloud:
// it did not do its part in time (its first answer to a turn, say).
func (cn *Conn) Fail(err error) {
	cn.fail(fmt.Errorf("given up: %w", err))
}

func (cn *Conn) close(judge bool) error {
	cn.errMu.Lock()
	if !cn.closing && cn.err == nil && !cn.heard.Load() {
		if judge {
			cn.c.dialFails.Add(1)
			cn.c.breaker.Failure()
			cn.c.mu.Lock()
			cn.c.dialErr = "connection given up: the cloud did not answer"
			cn.c.mu.Unlock()
		} else {
			cn.c.breaker.Abandon()
		}
	}
	cn.closing = true
	if cn.err == nil {
		// Set before the close frame goes out: the reader may see the
		// gateway's answer to it first.
		cn.err = ErrClosed
	}
	cn.errMu.Unlock()
	cn.wmu.Lock()
	_ = cn.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	cn.wmu.Unlock()
	cn.fail(ErrClosed)
	return nil
}

// reader reads frames into cn.in. Wrapped audio ({"type":"audio",
// "packets":[base64...]}) is unwrapped into one binary frame per packet.
func (cn *Conn) reader() {
	defer close(cn.readerDone)
	for {
		_ = cn.ws.SetReadDeadline(time.Now().Add(cn.readIdle()))
		mt, data, err := cn.ws.ReadMessage()
		if err != nil {
			cn.fail(fmt.Errorf("read: %w", err))
			return
		}
		cn.heardAt.Store(cn.c.clock.Now().UnixNano())
		if !cn.heard.Swap(true) {
			cn.c.breaker.Success()
			cn.c.mu.Lock()
			cn.c.dialErr = ""
			cn.c.mu.Unlock()
		}
		var out []frame
		if mt == websocket.BinaryMessage {
			out = []frame{{audio: true, data: data}}
		} else if pk, ok := unwrapAudio(data); ok {
			for _, p := range pk {
				out = append(out, frame{audio: true, data: p})
			}
		} else {
			out = []frame{{data: data}}
		}
		for _, f := range out {
			// After a read error, done closes only once every frame read
			// is queued; it closes earlier only on Close.
			select {
			case cn.in <- f:
			case <-cn.done:
				return
			}
		}
	}
}

// Recv returns the next frame from the cloud: audio (an Opus packet) or a
// JSON text message.
func (cn *Conn) Recv(ctx context.Context) (audio bool, data []byte, err error) {
	select {
	case f := <-cn.in:
		return f.audio, f.data, nil
	case <-cn.readerDone:
		// Frames read before the end are still handed out.
		select {
		case f := <-cn.in:
			return f.audio, f.data, nil
		default:
		}
		return false, nil, cn.Err()
	case <-ctx.Done():
		return false, nil, ctx.Err()
	}
}

// Send sends one text frame: a JSON message, or Stikadoo base64 PCM.
func (cn *Conn) Send(ctx context.Context, text []byte) error {
	if len(text) > GatewayMaxFrame {
		return fmt.Errorf("send to cloud: %d bytes: %w", len(text), ErrTooBig)
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	select {
	case <-cn.done:
		return fmt.Errorf("send to cloud: %w", cn.Err())
	default:
	}
	dl := time.Now().Add(cn.c.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = cn.ws.SetWriteDeadline(dl)
	if err := cn.ws.WriteMessage(websocket.TextMessage, text); err != nil {
		err = fmt.Errorf("send to cloud: %w", err)
		go cn.fail(err) // ends at once; fail closes the socket, which needs no write lock
		return err
	}
	cn.lastSend = cn.c.clock.Now()
	return nil
}

// audioMessage wraps Opus packets as text: API Gateway closes the
// connection on a binary frame from a client.
type audioMessage struct {
	Type          string   `json:"type"`
	Format        string   `json:"format"`
	Encoding      string   `json:"encoding"`
	SampleRate    int      `json:"sample_rate"`
	Channels      int      `json:"channels"`
	FrameDuration int      `json:"frame_duration"`
	Packets       []string `json:"packets"`
}

// audioOverhead bounds the JSON around the packets of one message.
const audioOverhead = 160

// SendOpus sends Opus packets (16 kHz mono, 60 ms) wrapped in text
// messages of at most BatchBytes each.
func (cn *Conn) SendOpus(ctx context.Context, packets [][]byte) error {
	msg := audioMessage{Type: "audio", Format: "opus", Encoding: "base64", SampleRate: 16000, Channels: 1, FrameDuration: 60}
	size := audioOverhead
	flush := func() error {
		if len(msg.Packets) == 0 {
			return nil
		}
		b, err := json.Marshal(msg)
		if err != nil {
			return fmt.Errorf("wrap audio: %w", err)
		}
		msg.Packets, size = msg.Packets[:0], audioOverhead
		return cn.Send(ctx, b)
	}
	for _, p := range packets {
		n := base64.StdEncoding.EncodedLen(len(p)) + 3
		if audioOverhead+n > cn.c.cfg.BatchBytes {
			return fmt.Errorf("wrap audio: a packet of %d bytes: %w", len(p), ErrTooBig)
		}
		if size+n > cn.c.cfg.BatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		msg.Packets = append(msg.Packets, base64.StdEncoding.EncodeToString(p))
		size += n
	}
	return flush()
}

// unwrapAudio decodes a wrapped audio message from the cloud.
func unwrapAudio(b []byte) ([][]byte, bool) {
	if !looksLikeAudio(b) {
		return nil, false
	}
	var m audioMessage
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "audio" {
		return nil, false
	}
	out := make([][]byte, 0, len(m.Packets))
	for _, p := range m.Packets {
		d, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return nil, false
		}
		out = append(out, d)
	}
	return out, true
}

func looksLikeAudio(b []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	return len(b) > 0 && b[0] == '{' && json.Unmarshal(b, &probe) == nil && probe.Type == "audio"
}

// heartbeat keeps the connection inside the gateway's idle timeout and
// retires it after ReconnectBefore if it is idle then; a busy connection
// is retired by the gateway's user at the next turn (Fresh).
func (cn *Conn) heartbeat() {
	clock := cn.c.clock
	for {
		t := clock.NewTimer(cn.c.cfg.Heartbeat)
		select {
		case <-cn.done:
			t.Stop()
			return
		case <-t.C():
		}
		if !cn.Fresh() {
			cn.c.log.Info("retiring cloud connection before the gateway's limit", "age", clock.Now().Sub(cn.born).Round(time.Second).String())
			cn.Close()
			return
		}
		// The pong extends the reader's deadline: a connection whose
		// network died without a word ends within readSlack.
		if err := cn.ping(); err != nil {
			cn.fail(err)
			return
		}
		cn.wmu.Lock()
		idle := clock.Now().Sub(cn.lastSend)
		cn.wmu.Unlock()
		if idle >= cn.c.cfg.Heartbeat-time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), cn.c.cfg.WriteTimeout)
			err := cn.Send(ctx, heartbeat)
			cancel()
			if err != nil && !errors.Is(err, ErrClosed) {
				return
			}
		}
	}
}
