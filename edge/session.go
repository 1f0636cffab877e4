package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// outQueue is how many frames may wait for the writer. A device that reads
// slower than that is too slow: its session is closed.
const outQueue = 64

type outFrame struct {
	kind int // websocket.TextMessage or websocket.BinaryMessage
	data []byte
}

// session is one device connection. The handler goroutine reads; one
// writer goroutine writes; at most one turn goroutine works at a time; one
// MCP discovery goroutine runs after hello. All end when ctx is cancelled.
type session struct {
	srv      *Server
	id       string
	deviceID string
	creds    credentials
	log      *slog.Logger
	base     string // http base URL for stickers, on the address the device used
	remote   string

	conn   *websocket.Conn
	out    chan outFrame
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // writer, discovery and turn goroutines

	closeOnce   sync.Once
	closeCode   int
	closeReason string

	mcp *mcpClient
	// relay is the cloud relay, nil when the policy is local.
	relay *cloudRelay
	// helloRaw is the device's hello as sent, replayed to the cloud.
	helloRaw []byte

	helloDone atomic.Bool // for the writer: keep-alives start after hello
	// helloQueued is true from the moment the server's hello is queued:
	// the device may act on it before helloDone is set.
	helloQueued atomic.Bool

	// Reader-goroutine state.
	hello      bool
	dialect    string
	binVersion int
	listening  bool
	mode       string
	dec        *stt.OpusDecoder
	ep         endpointer
	vadWarned  bool // the voice activity model's failure was logged (once per utterance)
	pcm        []int16
	frame      []float32
	utt        []float32
	uttOpus    []keptPacket // the utterance's packets as sent, when audio is recorded
	uttOpusLen int          // their bytes
	uttOpusOff bool         // packets are not kept for this utterance: it is recorded from its samples
	uttCut     bool         // the utterance hit the maximum length and was sent off
	heard      bool         // the endpointer heard speech in this utterance
	badPackets int
	readBuf    bytes.Buffer

	mu        sync.Mutex // guards the fields below
	rec       proto.Session
	turnSeq   int
	turnStop  context.CancelCauseFunc
	turnDone  chan struct{}
	nextTurn  *queuedTurn // a turn waiting for the one in flight to stop
	lastImage string
}

func newSession(s *Server, r *http.Request, c credentials) *session {
	id := randomHex(12)
	ss := &session{
		srv: s, id: id, deviceID: c.DeviceID, creds: c,
		base:   s.publicBase(r),
		remote: r.RemoteAddr,
		log:    s.log.With("session", id, "device", c.DeviceID),
	}
	ss.rec = proto.Session{ID: id, DeviceID: c.DeviceID, ClientID: c.ClientID, RemoteAddr: r.RemoteAddr, Start: time.Now()}
	ss.mcp = newMCPClient(ss)
	if s.cloudPolicy() != proto.CloudLocal {
		ss.relay = newCloudRelay(ss, s.deps.Cloud)
	}
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	return ss
}

// errCause values used as cancellation causes of a turn.
var (
	errAborted    = errors.New("aborted by the device")
	errSuperseded = errors.New("superseded by a new request")
)

// run serves the connection until it ends, then records the session.
func (ss *session) run(conn *websocket.Conn) {
	cfg := &ss.srv.cfg
	ss.conn = conn
	ss.out = make(chan outFrame, outQueue)
	conn.SetReadLimit(cfg.MaxFrameBytes)
	_ = conn.SetReadDeadline(time.Now().Add(cfg.HelloTimeout))
	conn.SetPongHandler(func(string) error {
		if ss.hello {
			return conn.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
		}
		return nil
	})
	ss.wg.Add(1)
	go ss.writer() // ends when ss.ctx is cancelled
	// The session is first recorded at hello (or at its end, if it never
	// says hello): a store write here would delay every hello by a disk
	// flush, and devices connect in bursts after a power cut.
	ss.log.Info("session open", "remote", ss.remote)

	err := ss.readLoop()
	ss.endFromReadError(err)
	ss.setListening(false)

	ss.cancel()
	ss.wg.Wait()
	ss.mu.Lock()
	ss.rec.End = time.Now()
	ss.rec.CloseCode, ss.rec.CloseReason = ss.closeCode, ss.closeReason
	ss.mu.Unlock()
	ss.persist()
	ss.log.Info("session closed", "code", ss.closeCode, "reason", ss.closeReason, "turns", ss.rec.Turns)
}

// shutdown ends the session with a close code; the first call wins.
func (ss *session) shutdown(code int, reason string) {
	ss.closeOnce.Do(func() {
		if len(reason) > 120 {
			reason = reason[:120]
		}
		ss.mu.Lock()
		ss.closeCode, ss.closeReason = code, reason
		ss.mu.Unlock()
		ss.cancel()
	})
}

// endFromReadError classifies why reading stopped.
func (ss *session) endFromReadError(err error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case err == nil:
	case errors.Is(err, websocket.ErrReadLimit):
		ss.shutdown(proto.CloseTooBig, fmt.Sprintf("frame larger than %d bytes", ss.srv.cfg.MaxFrameBytes))
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		// Firmware never sends a close frame: it just drops TCP.
		ss.shutdown(websocket.CloseAbnormalClosure, "connection dropped without a close frame")
	case errors.As(err, &ce):
		ss.shutdown(ce.Code, "closed by device: "+ce.Text)
	case errors.As(err, &ne) && ne.Timeout():
		if !ss.hello {
			ss.shutdown(proto.ClosePolicy, "no hello within "+ss.srv.cfg.HelloTimeout.String())
		} else {
			ss.shutdown(proto.CloseGoingAway, "device silent for "+ss.srv.cfg.ReadTimeout.String())
		}
	case connDropped(err):
		ss.shutdown(websocket.CloseAbnormalClosure, "connection dropped without a close frame")
	default:
		ss.shutdown(proto.CloseGoingAway, "connection lost: "+err.Error())
	}
}

// connDropped reports whether err means the device went away without a
// close frame: end of stream, or a reset (a device whose Wi-Fi gives up
// mid-frame, or that closes with data still unread, resets instead of
// closing), seen by a read or a write.
func connDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// readLoop reads frames until the connection fails or the session ends.
// A frame that breaks the protocol ends the session with its close code.
func (ss *session) readLoop() error {
	for {
		mt, r, err := ss.conn.NextReader()
		if err != nil {
			if ss.ctx.Err() != nil {
				return nil
			}
			return err
		}
		ss.readBuf.Reset()
		if _, err := ss.readBuf.ReadFrom(r); err != nil {
			if ss.ctx.Err() != nil {
				return nil
			}
			return err
		}
		if ss.hello {
			_ = ss.conn.SetReadDeadline(time.Now().Add(ss.srv.cfg.ReadTimeout))
		}
		if err := ss.handleFrame(mt, ss.readBuf.Bytes()); err != nil {
			code := proto.CloseCode(err)
			var pe *protocolError
			if errors.As(err, &pe) {
				code = pe.code
			}
			ss.log.Warn("closing session: bad frame", "code", code, "err", err)
			ss.shutdown(code, err.Error())
			return nil
		}
		if ss.ctx.Err() != nil {
			return nil
		}
	}
}

// protocolError is a rule broken by a well-formed message.
type protocolError struct {
	code int
	msg  string
}

func (e *protocolError) Error() string { return e.msg }

func (ss *session) handleFrame(mt int, data []byte) error {
	switch mt {
	case websocket.BinaryMessage:
		f, err := proto.DecodeBinary(ss.binVersion, data)
		if err != nil {
			return err
		}
		if f.Type == proto.FrameJSON {
			return ss.handleJSON(f.Payload)
		}
		if !ss.hello {
			return &protocolError{proto.ClosePolicy, "audio before hello"}
		}
		if len(f.Payload) == 0 {
			ss.endOfUtterance("end-of-utterance frame")
			return nil
		}
		return ss.onOpus(f.Payload)
	case websocket.TextMessage:
		kind, err := proto.ClassifyText(data)
		if err != nil {
			return err
		}
		if kind == proto.TextJSON {
			return ss.handleJSON(data)
		}
		if !utf8.Valid(data) {
			return proto.ErrUTF8
		}
		if !ss.hello {
			return &protocolError{proto.ClosePolicy, "audio before hello"}
		}
		ss.pcm, err = proto.DecodePCMText(ss.pcm[:0], data)
		if err != nil {
			return err
		}
		ss.frame = stt.AppendPCM16(ss.frame[:0], ss.pcm)
		ss.onAudio(ss.frame)
		return nil
	}
	return &protocolError{proto.CloseUnsupported, "unsupported frame type"}
}

func (ss *session) handleJSON(data []byte) error {
	m, err := proto.DecodeMessage(data)
	if err != nil {
		return err
	}
	if m.Type == proto.TypeHello {
		if ss.hello {
			return &protocolError{proto.ClosePolicy, "second hello"}
		}
		if ss.relay != nil {
			ss.helloRaw = append([]byte(nil), data...)
		}
		return ss.onHello(m)
	}
	if !ss.hello {
		return &protocolError{proto.ClosePolicy, fmt.Sprintf("%q before hello", m.Type)}
	}
	switch m.Type {
	case proto.TypeListen:
		ss.onListen(m)
	case proto.TypeAbort:
		ss.log.Info("abort", "reason", m.Reason)
		ss.cancelTurn(errAborted)
		ss.setListening(false)
	case proto.TypeGoodbye:
		ss.shutdown(proto.CloseNormal, "goodbye")
	case proto.TypeMCP:
		if len(m.Payload) == 0 {
			return nil
		}
		if ss.relay != nil && ss.relay.fromDevice(m.Payload) {
			return nil
		}
		resp, err := proto.DecodeRPCResponse(m.Payload)
		if err != nil {
			ss.log.Debug("mcp: undecodable payload", "err", err)
			return nil
		}
		ss.mcp.deliver(resp)
	default:
		ss.log.Debug("ignoring message", "type", m.Type)
	}
	return nil
}

// onHello fixes the session's dialect and answers.
func (ss *session) onHello(m proto.Message) error {
	ss.hello = true
	ap := m.AudioParams
	switch {
	case ap != nil && strings.EqualFold(ap.Format, "pcm"):
		ss.dialect = proto.DialectStikadoo
		if ap.SampleRate != 0 && ap.SampleRate != stt.SampleRate {
			return &protocolError{proto.CloseUnsupported, fmt.Sprintf("PCM at %d Hz: only 16000 Hz is supported", ap.SampleRate)}
		}
		ss.binVersion = 1
	case ss.creds.Protocol == 0:
		// No Protocol-Version header: a browser page (it cannot set
		// headers), which always sends raw Opus whatever its hello says.
		ss.binVersion = 1
		ss.dialect = proto.DialectOpusV1
		if m.Transport == "" {
			ss.dialect = proto.DialectBrowser
		}
	default:
		ss.binVersion = ss.creds.Protocol
		ss.dialect = fmt.Sprintf("opus-v%d", ss.binVersion)
	}
	if ap != nil && ap.SampleRate != 0 && ap.SampleRate != stt.SampleRate && ss.dialect != proto.DialectStikadoo {
		ss.log.Warn("device declares an unusual sample rate; decoding at 16 kHz", "rate", ap.SampleRate)
	}
	if ss.deviceID == "" && m.DeviceID != "" {
		ss.deviceID = proto.NormalizeDeviceID(m.DeviceID)
	}
	if ss.deviceID == "" && m.DeviceMAC != "" {
		ss.deviceID = proto.NormalizeDeviceID(m.DeviceMAC)
	}
	ss.mu.Lock()
	ss.rec.Dialect = ss.dialect
	ss.rec.DeviceID = ss.deviceID
	ss.mu.Unlock()
	_ = ss.conn.SetReadDeadline(time.Now().Add(ss.srv.cfg.ReadTimeout))
	ss.helloQueued.Store(true)
	ss.send(proto.NewServerHello(ss.id))
	ss.helloDone.Store(true)
	ss.log.Info("hello", "dialect", ss.dialect)
	ss.persist()
	ss.wg.Add(1)
	go ss.mcp.discover() // ends after discovery or when the session ends
	return nil
}

func (ss *session) onListen(m proto.Message) {
	switch m.State {
	case proto.ListenStart:
		mode := m.Mode
		if mode == "" {
			mode = proto.ModeAuto
		}
		ss.beginListening(mode)
	case proto.ListenStop:
		if ss.listening {
			ss.endOfUtterance("listen stop")
		}
		ss.setListening(false)
	case proto.ListenDetect:
		text := strings.TrimSpace(m.Text)
		if text == "" || ss.isWakePhrase(text) {
			ss.log.Debug("wake phrase", "text", text)
			return
		}
		ss.startTurn(turnInput{source: proto.SourceTyped, text: text, mode: ss.mode})
		ss.setListening(false)
	default:
		ss.log.Debug("ignoring listen state", "state", m.State)
	}
}

func (ss *session) isWakePhrase(text string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		return strings.TrimRight(s, "!！.。?？,，~ ")
	}
	t := norm(text)
	for _, w := range ss.srv.cfg.WakePhrases {
		if norm(w) == t {
			return true
		}
	}
	return false
}

// send queues a JSON message for the device. It never blocks for long: a
// device whose queue is full is too slow and its session ends.
func (ss *session) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		ss.log.Error("encode message", "err", err)
		return
	}
	ss.enqueue(outFrame{kind: websocket.TextMessage, data: b})
}

func (ss *session) enqueue(f outFrame) {
	select {
	case <-ss.ctx.Done():
	case ss.out <- f:
	default:
		ss.shutdown(proto.ClosePolicy, "device is not reading")
	}
}

// writer owns every write to the connection: queued frames, pings and
// keep-alive data frames. When the session ends it sends the close frame
// and closes the connection, which also ends the reader.
func (ss *session) writer() {
	defer ss.wg.Done()
	cfg := &ss.srv.cfg
	tick := time.NewTicker(cfg.KeepAlive)
	defer tick.Stop()
	lastData := time.Now()
	keepalive := []byte(`{"type":"keepalive"}`)
	write := func(kind int, data []byte) bool {
		_ = ss.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if err := ss.conn.WriteMessage(kind, data); err != nil {
			if connDropped(err) {
				ss.shutdown(websocket.CloseAbnormalClosure, "connection dropped without a close frame")
			} else {
				ss.shutdown(proto.CloseGoingAway, "write failed: "+err.Error())
			}
			return false
		}
		lastData = time.Now()
		return true
	}
	for {
		select {
		case f := <-ss.out:
			if !write(f.kind, f.data) {
				ss.conn.Close()
				return
			}
		case now := <-tick.C:
			if ss.helloDone.Load() && now.Sub(lastData) >= cfg.KeepAlive-time.Second {
				if !write(websocket.TextMessage, keepalive) {
					ss.conn.Close()
					return
				}
			}
			_ = ss.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout))
		case <-ss.ctx.Done():
			ss.mu.Lock()
			code, reason := ss.closeCode, ss.closeReason
			ss.mu.Unlock()
			if code == 0 {
				code, reason = proto.CloseNormal, "session ended"
			}
			// Flush what is queued (the last alert of a failing turn),
			// briefly, then say goodbye.
			deadline := time.Now().Add(500 * time.Millisecond)
		drain:
			for time.Now().Before(deadline) {
				select {
				case f := <-ss.out:
					_ = ss.conn.SetWriteDeadline(deadline)
					if ss.conn.WriteMessage(f.kind, f.data) != nil {
						break drain
					}
				default:
					break drain
				}
			}
			if code != websocket.CloseAbnormalClosure { // 1006 is never sent on the wire
				_ = ss.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			}
			ss.conn.Close()
			return
		}
	}
}

// persist writes the session record.
func (ss *session) persist() {
	ss.mu.Lock()
	rec := ss.rec
	rec.Tools = append([]string(nil), ss.rec.Tools...)
	ss.mu.Unlock()
	err := ss.srv.deps.Store.PutSession(rec)
	if err != nil {
		ss.log.Error("record session", "err", err)
	}
	ss.srv.storeResult(err)
}
