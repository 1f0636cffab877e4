package edgetest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// otaRequest is one request the fake server's OTA endpoint received.
type otaRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// wsRequest is the upgrade request the fake server's WebSocket endpoint
// received.
type wsRequest struct {
	Header http.Header
	URL    string
	Query  map[string][]string
}

// fakeServer is an OTA endpoint, a WebSocket endpoint running a script,
// and an image server, on one httptest server.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	// Set by the setup function of newFakeServer.
	otaStatus int    // 0: 200
	otaBody   string // "": a standard answer; "%s" is replaced by the ws URL
	noCORS    bool
	token     string
	version   int
	refuse    int                // refuse upgrades with this status
	script    func(*serverConn)  // runs on each upgraded connection
	images    map[string]imgSpec // path under /img/

	handlers sync.WaitGroup // WebSocket scripts still running

	mu      sync.Mutex
	ota     []otaRequest
	ws      []wsRequest
	imgHits int
}

type imgSpec struct {
	status  int
	body    []byte
	chunked bool
}

// newFakeServer starts a fake server configured by setup (may be nil),
// which runs before the server starts.
func newFakeServer(t *testing.T, setup func(*fakeServer)) *fakeServer {
	fs := &fakeServer{t: t, version: 1, images: map[string]imgSpec{}}
	if setup != nil {
		setup(fs)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ota/", fs.handleOTA)
	mux.HandleFunc("/ws/", fs.handleWS)
	mux.HandleFunc("/img/", fs.handleImage)
	fs.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		// Close does not wait for hijacked connections: wait for the
		// scripts, which end when their device has gone.
		fs.srv.CloseClientConnections()
		fs.srv.Close()
		done := make(chan struct{})
		go func() { fs.handlers.Wait(); close(done) }() // ends when every script has returned
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("a WebSocket script did not end")
		}
	})
	return fs
}

func (fs *fakeServer) otaURL() string { return fs.srv.URL + "/ota/" }

// wsURL is the WebSocket URL; handlers derive it from the request so that
// it needs no shared state.
func wsURLFor(r *http.Request) string { return "ws://" + r.Host + "/ws/" }

func (fs *fakeServer) otaRequests() []otaRequest {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]otaRequest(nil), fs.ota...)
}

func (fs *fakeServer) wsRequests() []wsRequest {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]wsRequest(nil), fs.ws...)
}

func (fs *fakeServer) imageHits() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.imgHits
}

func (fs *fakeServer) handleOTA(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fs.mu.Lock()
	fs.ota = append(fs.ota, otaRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	fs.mu.Unlock()
	if !fs.noCORS {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Headers", "Device-Id, Client-Id, Content-Type, Authorization")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status := fs.otaStatus
	if status == 0 {
		status = http.StatusOK
	}
	ans := fs.otaBody
	if ans == "" {
		ans = fmt.Sprintf(`{"server_time":{"timestamp":%d,"timezone_offset":60},"firmware":{"version":"1.0.0","url":""},"websocket":{"url":"%%s","token":%q,"version":%d}}`,
			time.Now().UnixMilli(), fs.token, fs.version)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, strings.ReplaceAll(ans, "%s", wsURLFor(r)))
}

func (fs *fakeServer) handleWS(w http.ResponseWriter, r *http.Request) {
	fs.handlers.Add(1)
	defer fs.handlers.Done()
	fs.mu.Lock()
	fs.ws = append(fs.ws, wsRequest{Header: r.Header.Clone(), URL: r.URL.String(), Query: r.URL.Query()})
	fs.mu.Unlock()
	if fs.refuse != 0 {
		http.Error(w, `{"error":"a valid device token is required"}`, fs.refuse)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, EnableCompression: true}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		fs.t.Errorf("upgrade: %v", err)
		return
	}
	c := newServerConn(fs.t, conn)
	c.host = r.Host
	defer c.close()
	if fs.script != nil {
		fs.script(c)
	}
}

func (fs *fakeServer) handleImage(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	fs.imgHits++
	fs.mu.Unlock()
	spec, ok := fs.images[strings.TrimPrefix(r.URL.Path, "/img/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if spec.status != 0 && spec.status != http.StatusOK {
		http.Error(w, "no such image", spec.status)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	if spec.chunked {
		half := len(spec.body) / 2
		w.Write(spec.body[:half])
		w.(http.Flusher).Flush() // forces chunked transfer encoding
		w.Write(spec.body[half:])
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(spec.body)))
	w.Write(spec.body)
}

// frame is one frame a device sent.
type frame struct {
	mt   int
	data []byte
}

// serverConn is the server end of one device connection. A goroutine
// reads every frame into a channel.
type serverConn struct {
	t       *testing.T
	host    string // host:port the device dialled
	conn    *websocket.Conn
	frames  chan frame
	readErr chan error // the error that ended reading
	wmu     sync.Mutex
	nextID  int
}

func newServerConn(t *testing.T, conn *websocket.Conn) *serverConn {
	c := &serverConn{t: t, conn: conn, frames: make(chan frame, 1024), readErr: make(chan error, 1)}
	go func() { // ends when the connection fails or closes
		for {
			mt, data, err := conn.ReadMessage()
			if err != nil {
				c.readErr <- err
				close(c.frames)
				return
			}
			c.frames <- frame{mt, data}
		}
	}()
	return c
}

func (c *serverConn) close() { c.conn.Close() }

// imgURL is the URL of an image of the fake server.
func (c *serverConn) imgURL(name string) string { return "http://" + c.host + "/img/" + name }

// next returns the next frame, or ok false when the connection ended or
// nothing came within d.
func (c *serverConn) next(d time.Duration) (frame, bool) {
	select {
	case f, ok := <-c.frames:
		return f, ok
	case <-time.After(d):
		return frame{}, false
	}
}

// nextJSON returns the next JSON text frame, skipping audio.
func (c *serverConn) nextJSON(d time.Duration) (map[string]any, bool) {
	deadline := time.Now().Add(d)
	for {
		f, ok := c.next(time.Until(deadline))
		if !ok {
			return nil, false
		}
		if f.mt != websocket.TextMessage || !proto.IsJSONObject(f.data) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(f.data, &m); err != nil {
			c.t.Errorf("device sent undecodable JSON %q: %v", f.data, err)
			return nil, false
		}
		return m, true
	}
}

func (c *serverConn) sendText(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Logf("server write: %v", err)
	}
}

func (c *serverConn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Errorf("encode %T: %v", v, err)
		return
	}
	c.sendText(string(b))
}

// hello waits for the device hello and answers it.
func (c *serverConn) hello() map[string]any {
	m, ok := c.nextJSON(5 * time.Second)
	if !ok || m["type"] != "hello" {
		c.t.Errorf("expected a device hello, got %v", m)
		return nil
	}
	c.send(proto.NewServerHello("sess-1"))
	return m
}

// request sends an MCP request with the given raw id.
func (c *serverConn) request(id any, method string, params any) {
	payload, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	c.send(proto.MCPEnvelope{Type: proto.TypeMCP, Payload: payload})
}

// call sends an MCP request with a fresh numeric id and waits for the
// reply with that id, skipping other frames.
func (c *serverConn) call(method string, params any) (proto.RPCResponse, bool) {
	c.nextID++
	id := c.nextID
	c.request(id, method, params)
	return c.reply(int64(id), 5*time.Second)
}

// reply waits for the MCP reply with id.
func (c *serverConn) reply(id int64, d time.Duration) (proto.RPCResponse, bool) {
	deadline := time.Now().Add(d)
	for {
		m, ok := c.nextJSON(time.Until(deadline))
		if !ok {
			return proto.RPCResponse{}, false
		}
		if m["type"] != "mcp" {
			continue
		}
		b, _ := json.Marshal(m["payload"])
		r, err := proto.DecodeRPCResponse(b)
		if err != nil {
			c.t.Errorf("undecodable MCP reply %s: %v", b, err)
			return r, false
		}
		if got, ok := r.NumericID(); ok && got == id {
			return r, true
		}
		c.t.Errorf("MCP reply with id %s while waiting for %d", r.ID, id)
	}
}

// newDevice returns a device of dialect pointed at fs.
func newDevice(t *testing.T, fs *fakeServer, dialect string) *edgetest.Device {
	d := &edgetest.Device{Dialect: dialect, OTAURL: fs.otaURL()}
	if testing.Verbose() {
		d.Logf = t.Logf
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// steps lists the names of a timeline.
func steps(tl []edgetest.Step) []string {
	var names []string
	for _, s := range tl {
		names = append(names, s.Name)
	}
	return names
}

// inOrder reports whether want appears in names as a subsequence.
func inOrder(names []string, want ...string) bool {
	i := 0
	for _, n := range names {
		if i < len(want) && n == want[i] {
			i++
		}
	}
	return i == len(want)
}

var dialects = []string{proto.DialectStikadoo, proto.DialectOpusV1, proto.DialectOpusV2, proto.DialectOpusV3, proto.DialectBrowser}
