package cloudtest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Limits the fake enforces, as API Gateway does (PROTOCOL.md section 7).
const (
	MaxFrame   = 32 << 10
	MaxMessage = 128 << 10
)

// DefaultTranscript is what the fake cloud "hears" in every utterance.
const DefaultTranscript = "a dragon drawn in the cloud"

// Gateway is a fake Stikadoo cloud backend: an API Gateway WebSocket API
// and its Lambda. It checks x-api-key on connect (401 without one, 403 for
// a wrong one), closes with 1003 on a client binary frame and with 1009
// beyond 32 KB, routes text by its JSON "type" (non-JSON text is base64
// PCM, the $default route), closes idle connections and connections
// older than MaxAge with 1001, and plays a scripted Stikadoo turn when an
// utterance ends (listen stop) or text is detected: stt, thinking start,
// an MCP tools/call self.screen.preview_image with a PNG it serves over
// plain HTTP, thinking stop, tts with Opus audio (a binary frame and a
// wrapped one), tts stop.
//
// Set the exported fields before Start; change the fault switches later
// with SetFaults.
type Gateway struct {
	APIKey      string        // required x-api-key; empty: "test-cloud-key"
	Transcript  string        // empty: DefaultTranscript
	IdleTimeout time.Duration // zero: 10 minutes
	MaxAge      time.Duration // zero: 2 hours
	// MCPTimeout bounds the wait for the device's preview_image answer
	// (zero: 10 s).
	MCPTimeout time.Duration

	srv    *httptest.Server
	images *httptest.Server

	mu       sync.Mutex
	faults   Faults
	stats    Stats
	sessions map[*gwConn]struct{}
}

// Faults are behaviours a test switches on.
type Faults struct {
	// RefuseStatus, if non-zero, answers every connect with this status.
	RefuseStatus int
	// AlertMessage, if set, answers a turn with an alert instead of a sticker.
	AlertMessage string
	// DropAfterSTT drops the TCP connection right after the stt message.
	DropAfterSTT bool
	// Silent never answers turns (to test timeouts).
	Silent bool
	// NoHello accepts connections but never answers hello.
	NoHello bool
	// TTSBurst, if set, makes the turn's speech this long: its 60 ms
	// packets are sent at once, wrapped 20 to a message, as a Lambda
	// sends a synthesized sentence.
	TTSBurst time.Duration
	// Inject is sent as text frames at the start of every turn: messages
	// a relay must not pass to a device, for example.
	Inject [][]byte
}

// Stats is what the fake saw.
type Stats struct {
	Attempts    int            // connect attempts, refused ones included
	Connections int            // connections upgraded
	Refused     map[int]int    // refusals by HTTP status
	Routes      map[string]int // text messages by route: hello, listen, abort, goodbye, mcp or $default
	Types       map[string]int // text messages by JSON type, routed or not ("" for PCM)
	PCMFrames   int            // base64 PCM text frames
	PCMBytes    int            // decoded PCM bytes
	OpusPackets int            // Opus packets in wrapped audio messages
	MaxFrame    int            // largest client message seen
	Turns       int            // scripted turns played
	MCPReplies  int            // answers from the device that reached the fake
	Closes      map[int]int    // close codes the fake sent
	Headers     http.Header    // headers of the last upgraded connection
	Hellos      []json.RawMessage
	Detected    []string // texts of listen detect
}

// Start serves the fake on 127.0.0.1 over TLS (its certificate is in
// RootCAs), and its images over plain HTTP.
func (g *Gateway) Start() {
	if g.APIKey == "" {
		g.APIKey = "test-cloud-key"
	}
	if g.Transcript == "" {
		g.Transcript = DefaultTranscript
	}
	if g.IdleTimeout == 0 {
		g.IdleTimeout = 10 * time.Minute
	}
	if g.MaxAge == 0 {
		g.MaxAge = 2 * time.Hour
	}
	if g.MCPTimeout == 0 {
		g.MCPTimeout = 10 * time.Second
	}
	g.sessions = map[*gwConn]struct{}{}
	g.stats = Stats{Refused: map[int]int{}, Routes: map[string]int{}, Types: map[string]int{}, Closes: map[int]int{}}
	g.srv = httptest.NewTLSServer(http.HandlerFunc(g.handle))
	png := stickerPNG()
	g.images = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Length", strconv.Itoa(len(png)))
		_, _ = w.Write(png)
	}))
}

// URL is the wss:// URL of the fake's stage.
func (g *Gateway) URL() string { return "wss://" + g.srv.Listener.Addr().String() + "/prod" }

// Addr is the fake's host:port.
func (g *Gateway) Addr() string { return g.srv.Listener.Addr().String() }

// ImageURL is the sticker the fake asks devices to show.
func (g *Gateway) ImageURL() string { return g.images.URL + "/cloud-sticker.png" }

// RootCAs holds the fake's certificate.
func (g *Gateway) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(g.srv.Certificate())
	return p
}

// Close stops the fake and drops its connections.
func (g *Gateway) Close() {
	g.mu.Lock()
	for c := range g.sessions {
		c.ws.Close()
	}
	g.mu.Unlock()
	g.srv.CloseClientConnections()
	g.srv.Close()
	g.images.Close()
}

// SetFaults replaces the fault switches.
func (g *Gateway) SetFaults(f Faults) {
	g.mu.Lock()
	g.faults = f
	g.mu.Unlock()
}

// Stats returns a copy of what the fake saw.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.Refused, s.Routes, s.Types, s.Closes = clone(s.Refused), clone(s.Routes), clone(s.Types), clone(s.Closes)
	s.Headers = s.Headers.Clone()
	s.Hellos = append([]json.RawMessage(nil), s.Hellos...)
	s.Detected = append([]string(nil), s.Detected...)
	return s
}

// DropAll drops every open connection without a close frame.
func (g *Gateway) DropAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.sessions {
		c.ws.UnderlyingConn().Close()
	}
}

func clone[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (g *Gateway) handle(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.stats.Attempts++
	f := g.faults
	g.mu.Unlock()
	status := f.RefuseStatus
	switch key := r.Header.Get("x-api-key"); {
	case status != 0:
	case key == "":
		status = http.StatusUnauthorized
	case key != g.APIKey:
		status = http.StatusForbidden
	}
	if status != 0 {
		g.mu.Lock()
		g.stats.Refused[status]++
		g.mu.Unlock()
		http.Error(w, `{"message":"Forbidden"}`, status)
		return
	}
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{g: g, ws: ws, born: time.Now(), id: fmt.Sprintf("cloud-%p", ws)}
	g.mu.Lock()
	g.stats.Connections++
	g.stats.Headers = r.Header.Clone()
	g.sessions[c] = struct{}{}
	g.mu.Unlock()
	c.serve()
	g.mu.Lock()
	delete(g.sessions, c)
	g.mu.Unlock()
}

// gwConn is one client connection of the fake.
type gwConn struct {
	g    *Gateway
	ws   *websocket.Conn
	born time.Time
	id   string

	wmu    sync.Mutex
	mu     sync.Mutex
	nextID int64
	reply  map[int64]chan proto.RPCResponse
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (c *gwConn) close(code int, text string) {
	c.g.mu.Lock()
	c.g.stats.Closes[code]++
	c.g.mu.Unlock()
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.ws.Close()
}

func (c *gwConn) write(mt int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(mt, b)
}

func (c *gwConn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(websocket.TextMessage, b)
}

func (c *gwConn) serve() {
	g := c.g
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer c.wg.Wait()
	c.reply = map[int64]chan proto.RPCResponse{}
	// The gateway's own frame check: the client's limit is the message
	// limit, and larger messages are refused below with 1009.
	c.ws.SetReadLimit(MaxMessage)
	maxAge := time.AfterFunc(g.MaxAge, func() { c.close(websocket.CloseGoingAway, "Going away") })
	defer maxAge.Stop()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(g.IdleTimeout))
		mt, data, err := c.ws.ReadMessage()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.close(websocket.CloseGoingAway, "Going away")
			return
		case errors.Is(err, websocket.ErrReadLimit):
			c.close(websocket.CloseMessageTooBig, "Message too big")
			return
		case err != nil:
			return
		}
		g.mu.Lock()
		g.stats.MaxFrame = max(g.stats.MaxFrame, len(data))
		g.mu.Unlock()
		if mt == websocket.BinaryMessage {
			c.close(websocket.CloseUnsupportedData, "Binary frames are not supported")
			return
		}
		if len(data) > MaxFrame {
			c.close(websocket.CloseMessageTooBig, "Message too big")
			return
		}
		c.route(ctx, data)
	}
}

// Routes is the route selection of the Stikadoo WebSocket API
// ($request.body.type): these types have routes of their own, and every
// other message (audio, heartbeat, base64 PCM, any other type) reaches
// the Lambda on $default.
var Routes = map[string]bool{proto.TypeHello: true, proto.TypeListen: true, proto.TypeAbort: true, "goodbye": true, proto.TypeMCP: true}

// route dispatches a text message as API Gateway's route selection does.
func (c *gwConn) route(ctx context.Context, data []byte) {
	g := c.g
	var m struct {
		Type    string          `json:"type"`
		State   string          `json:"state"`
		Text    string          `json:"text"`
		Packets []string        `json:"packets"`
		Payload json.RawMessage `json:"payload"`
	}
	route := "$default"
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) || json.Unmarshal(data, &m) != nil {
		m.Type = ""
	}
	if Routes[m.Type] {
		route = m.Type
	}
	g.mu.Lock()
	g.stats.Routes[route]++
	g.stats.Types[m.Type]++
	if m.Type == "" {
		g.stats.PCMFrames++
		g.stats.PCMBytes += len(bytes.TrimSpace(data)) * 3 / 4
	}
	if m.Type == "audio" {
		g.stats.OpusPackets += len(m.Packets)
	}
	if route == "hello" {
		g.stats.Hellos = append(g.stats.Hellos, append(json.RawMessage(nil), data...))
	}
	if route == "listen" && m.State == proto.ListenDetect {
		g.stats.Detected = append(g.stats.Detected, m.Text)
	}
	g.mu.Unlock()
	switch route {
	case proto.TypeHello:
		g.mu.Lock()
		silent := g.faults.NoHello
		g.mu.Unlock()
		if !silent {
			_ = c.send(proto.NewServerHello(c.id))
		}
	case proto.TypeListen:
		switch m.State {
		case proto.ListenStop:
			c.startTurn(ctx)
		case proto.ListenDetect:
			c.startTurn(ctx)
		}
	case proto.TypeAbort:
		c.mu.Lock()
		if c.cancel != nil {
			c.cancel()
		}
		c.mu.Unlock()
	case proto.TypeMCP:
		r, err := proto.DecodeRPCResponse(m.Payload)
		if err != nil {
			return
		}
		id, ok := r.NumericID()
		if !ok {
			return
		}
		g.mu.Lock()
		g.stats.MCPReplies++
		g.mu.Unlock()
		c.mu.Lock()
		ch := c.reply[id]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- r:
			default:
			}
		}
	}
}

func (c *gwConn) startTurn(ctx context.Context) {
	g := c.g
	g.mu.Lock()
	f := g.faults
	g.stats.Turns++
	g.mu.Unlock()
	if f.Silent {
		return
	}
	tctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	if c.cancel != nil {
		c.cancel()
	}
	c.cancel = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() { // ends when the scripted turn is played or the connection ends
		defer c.wg.Done()
		defer cancel()
		c.playTurn(tctx, f)
	}()
}

// playTurn is the scripted Lambda: what the Stikadoo backend sends for a
// turn.
func (c *gwConn) playTurn(ctx context.Context, f Faults) {
	g := c.g
	for _, b := range f.Inject {
		_ = c.write(websocket.TextMessage, b)
	}
	_ = c.send(proto.STT{Type: proto.TypeSTT, Text: g.Transcript})
	if f.DropAfterSTT {
		c.ws.UnderlyingConn().Close()
		return
	}
	_ = c.send(proto.Thinking{Type: proto.TypeThinking, Status: "start"})
	if f.AlertMessage != "" {
		_ = c.send(proto.Alert{Type: proto.TypeAlert, Status: "Cloud trouble", Message: f.AlertMessage, Emotion: "sad"})
		_ = c.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
		return
	}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan proto.RPCResponse, 1)
	c.reply[id] = ch
	c.mu.Unlock()
	payload, _ := json.Marshal(proto.RPCRequest{JSONRPC: "2.0", ID: id, Method: proto.MethodToolsCall,
		Params: map[string]any{"name": proto.ToolPreviewImage, "arguments": map[string]any{"url": g.ImageURL()}}})
	_ = c.send(proto.MCPEnvelope{Type: proto.TypeMCP, Payload: payload})
	t := time.NewTimer(g.MCPTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.Error != nil {
			_ = c.send(proto.Alert{Type: proto.TypeAlert, Status: "Printer trouble", Message: "The sticker couldn't be printed.", Emotion: "sad"})
		}
	case <-t.C:
		_ = c.send(proto.Alert{Type: proto.TypeAlert, Status: "Printer trouble", Message: "The sticker took too long.", Emotion: "sad"})
	case <-ctx.Done():
		_ = c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
		return
	}
	_ = c.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
	_ = c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart})
	_ = c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Here is your cloud sticker!"})
	// Audio both ways the backend may send it: a binary frame, and
	// packets wrapped in a text message.
	_ = c.write(websocket.BinaryMessage, FakeOpusPacket)
	_ = c.send(map[string]any{"type": "audio", "format": "opus", "encoding": "base64", "packets": [][]byte{FakeOpusPacket}})
	for n := int(f.TTSBurst / (60 * time.Millisecond)); n > 0; n -= 20 {
		pk := make([][]byte, min(n, 20))
		for i := range pk {
			pk[i] = FakeOpusPacket
		}
		_ = c.send(map[string]any{"type": "audio", "format": "opus", "encoding": "base64", "frame_duration": 60, "packets": pk})
	}
	_ = c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
}

// FakeOpusPacket is the TTS audio the fake sends: an Opus packet of one
// 60 ms SILK frame of silence (TOC 0x48 and a minimal payload).
var FakeOpusPacket = []byte{0x48, 0xff, 0xfe}

// stickerPNG is a 384-px black and white PNG with a black square.
func stickerPNG() []byte {
	img := image.NewGray(image.Rect(0, 0, 384, 384))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 96; y < 288; y++ {
		for x := 96; x < 288; x++ {
			img.SetGray(x, y, color.Gray{})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
