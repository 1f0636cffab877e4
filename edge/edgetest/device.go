package edgetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// Firmware timings.
const (
	// helloTimeout is how long firmware waits for the server hello.
	helloTimeout = 10 * time.Second
	// browserHelloTimeout is how long the browser page waits for it.
	browserHelloTimeout = 5 * time.Second
	// defaultChannelTimeout: firmware declares the channel dead after this
	// long without a data frame from the server.
	defaultChannelTimeout = 120 * time.Second
	// writeTimeout bounds one frame write.
	writeTimeout = 10 * time.Second
	// maxOTAAnswer caps the version check answer read.
	maxOTAAnswer = 1 << 20
)

// The browser test page.
const (
	// BrowserWakePhrase is what the browser page sends as listen detect on
	// every connect. It must open listening and never start a sticker.
	BrowserWakePhrase = "嘿，你好呀"
	// browserOrigin is the page's own site, another origin than the server.
	browserOrigin = "http://localhost:8006"
	browserUA     = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	browserName   = "Web测试设备"
)

// Device is one simulated device. Set the exported fields before Boot (or
// Connect) and leave them alone afterwards; empty fields get the
// firmware's usual values on first use. A Device is used by one goroutine
// at a time, except Next, WaitFor, CloseInfo and Close, which are safe
// while a turn runs. It is reusable: Connect again after Close.
type Device struct {
	// Dialect is the client to imitate: proto.DialectStikadoo (the default),
	// proto.DialectOpusV1, DialectOpusV2, DialectOpusV3 or DialectBrowser.
	Dialect string
	// OTAURL is the version check URL configured in the device's flash,
	// such as "http://192.168.1.20:8000/xiaozhi/ota/".
	OTAURL string
	// WSURL is the WebSocket URL. Boot sets it from the OTA answer; set it
	// directly to connect without a version check.
	WSURL string
	// ID is the device's MAC, lower case with colons (the browser page
	// uses upper case). Empty: a random one.
	ID string
	// ClientID is the UUID the device keeps in flash. Empty: a random one.
	ClientID string
	// Board and Firmware name the board and its firmware version (sent as
	// User-Agent "<board>/<version>" and in the system info).
	Board    string
	Firmware string
	// Language is sent as Accept-Language and in the system info
	// (default "en-US").
	Language string
	// Token, if set, replaces the token from the OTA answer.
	Token string
	// APIKey is sent as x-api-key by the Stikadoo printer. Other dialects
	// have no such header: for them a set APIKey is the bearer token, as an
	// operator would configure it, unless Token is set.
	APIKey string
	// TrailingComma makes the system-info body end with a trailing comma,
	// invalid JSON that some boards emit and the server must accept.
	TrailingComma bool
	// HTTPClient makes the version check and the sticker download.
	// Nil: a client with a 30 s timeout.
	HTTPClient *http.Client
	// RefuseImage answers preview_image with an MCP error, as a printer
	// out of paper would, without downloading the image. Once connected,
	// change it and NoMCPReply with SetFaults.
	RefuseImage bool
	// NoMCPReply never answers MCP requests, to test timeouts.
	NoMCPReply bool
	// Tools is the device's MCP tool list. Nil: DefaultTools().
	Tools []proto.Tool
	// ToolsPageSize splits tools/list into pages of this many tools, linked
	// by nextCursor, as firmware does with a long list. Zero: one page.
	// The browser page always answers with one page.
	ToolsPageSize int
	// Realtime paces audio at real time, one 60 ms frame every 60 ms.
	// Otherwise audio is sent as fast as the connection takes it.
	Realtime bool
	// ChannelTimeout declares the connection dead after this long without
	// a data frame from the server (control frames do not count). Zero:
	// 120 s, as firmware does.
	ChannelTimeout time.Duration
	// Logf, if set, receives one line per timeline step.
	Logf func(format string, args ...any)
	// Frames, if set, sees every frame the device receives, as received
	// (websocket.TextMessage or BinaryMessage), on the reading goroutine.
	Frames func(messageType int, data []byte)

	setupOnce sync.Once
	setupErr  error
	dialect   string

	mu        sync.Mutex // guards the fields below
	t0        time.Time
	otaToken  string
	otaProto  int
	sessionID string
	timeline  []Step
	turnMark  int // timeline index where the next turn's steps start
	images    []*imageFetch
	closeCode int
	closeText string
	closeOK   bool
	dropping  bool
	conn      *websocket.Conn
	q         *eventQueue
	done      chan struct{} // closed when the reader ends
	callCtx   context.Context
	stopCalls context.CancelFunc
	wakeSent  bool

	wmu     sync.Mutex // serializes writes to conn
	calls   sync.WaitGroup
	enc     *stt.OpusEncoder // audio state, used by the sending goroutine
	audioMs uint32
	packets int
	pcm     []int16
}

// OTAAnswer is the version check answer as the firmware reads it.
type OTAAnswer struct {
	ServerTime *OTAServerTime  `json:"server_time,omitempty"`
	Firmware   *OTAFirmware    `json:"firmware,omitempty"`
	WebSocket  OTAWebSocket    `json:"websocket"`
	Activation *OTAActivation  `json:"activation,omitempty"`
	MQTT       json.RawMessage `json:"mqtt,omitempty"`
}

// OTAServerTime is the server clock: milliseconds and minutes east of UTC.
type OTAServerTime struct {
	Timestamp      int64 `json:"timestamp"`
	TimezoneOffset int   `json:"timezone_offset"`
}

// OTAFirmware offers an upgrade when URL is set and Version is newer.
type OTAFirmware struct {
	Version string `json:"version"`
	URL     string `json:"url"`
}

// OTAWebSocket says where the device's WebSocket server is.
type OTAWebSocket struct {
	URL     string `json:"url"`
	Token   string `json:"token"`
	Version int    `json:"version"`
}

// OTAActivation asks the device to show a code and prove itself.
type OTAActivation struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Challenge string `json:"challenge"`
	TimeoutMs int    `json:"timeout_ms"`
}

// Step is one entry of a device's timeline.
type Step struct {
	Name   string        // such as "ota", "hello", "listen-stop", "stt", "image", "tts-stop"
	At     time.Duration // since the start of Boot (or Connect, without Boot)
	Detail string
}

// MarshalJSON writes {"name","at_ms","detail"}.
func (s Step) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name   string  `json:"name"`
		AtMs   float64 `json:"at_ms"`
		Detail string  `json:"detail,omitempty"`
	}{s.Name, float64(s.At.Microseconds()) / 1000, s.Detail})
}

// Event is one frame from the server. JSON messages are parsed into the
// fields below; binary frames only set Binary and Raw.
type Event struct {
	At        time.Duration // since the start of Boot
	Binary    bool
	Raw       []byte // the frame as received
	Type      string
	State     string // tts, listen
	Status    string // thinking, alert
	Text      string // stt, llm, tts sentence_start
	Message   string // alert
	Emotion   string // llm, alert
	Command   string // system
	SessionID string
	Transport string          // hello
	Payload   json.RawMessage // mcp
}

// setup checks the dialect and fills the empty fields once.
func (d *Device) setup() error {
	d.setupOnce.Do(func() {
		d.dialect = d.Dialect
		if d.dialect == "" {
			d.dialect = proto.DialectStikadoo
		}
		switch d.dialect {
		case proto.DialectStikadoo, proto.DialectOpusV1, proto.DialectOpusV2, proto.DialectOpusV3, proto.DialectBrowser:
		default:
			d.setupErr = fmt.Errorf("fake device: unknown dialect %q", d.Dialect)
			return
		}
		if d.ID == "" {
			d.ID = randomMAC(d.dialect == proto.DialectBrowser)
		}
		if d.ClientID == "" {
			d.ClientID = randomUUID()
		}
		if d.Board == "" {
			d.Board = map[string]string{
				proto.DialectStikadoo: "stikadoo-ai-printer",
				proto.DialectBrowser:  "xiaozhi-web-test",
			}[d.dialect]
			if d.Board == "" {
				d.Board = "bread-compact-wifi"
			}
		}
		if d.Firmware == "" {
			d.Firmware = map[string]string{
				proto.DialectStikadoo: "2.1.0",
				proto.DialectBrowser:  "1.0.0",
			}[d.dialect]
			if d.Firmware == "" {
				d.Firmware = "2.0.5"
			}
		}
		if d.Language == "" {
			d.Language = "en-US"
		}
		if d.HTTPClient == nil {
			d.HTTPClient = &http.Client{Timeout: 30 * time.Second}
		}
		if d.Tools == nil {
			d.Tools = DefaultTools()
		}
		if d.ChannelTimeout <= 0 {
			d.ChannelTimeout = defaultChannelTimeout
		}
	})
	return d.setupErr
}

// binVersion is the binary framing version the device speaks.
func (d *Device) binVersion() int {
	switch d.dialect {
	case proto.DialectOpusV2:
		return 2
	case proto.DialectOpusV3:
		return 3
	}
	return 1
}

// step records a timeline entry and returns its index.
func (d *Device) step(name, format string, args ...any) int {
	detail := format
	if len(args) > 0 {
		detail = fmt.Sprintf(format, args...)
	}
	d.mu.Lock()
	if d.t0.IsZero() {
		d.t0 = time.Now()
	}
	s := Step{Name: name, At: time.Since(d.t0), Detail: detail}
	d.timeline = append(d.timeline, s)
	i := len(d.timeline) - 1
	d.mu.Unlock()
	if d.Logf != nil {
		d.Logf("%8s  %-12s %s", s.At.Round(time.Millisecond), name, detail)
	}
	return i
}

// failed notes on step i that its message could not be sent. Steps are
// recorded before sending, so that the timeline keeps the order in which
// things happened even when the server answers at once.
func (d *Device) failed(i int, err error) {
	d.mu.Lock()
	if i < len(d.timeline) {
		s := &d.timeline[i]
		s.Detail = strings.TrimSpace(s.Detail + " (not sent: " + err.Error() + ")")
	}
	d.mu.Unlock()
}

// Timeline returns every step recorded since Boot.
func (d *Device) Timeline() []Step {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Step(nil), d.timeline...)
}

// SessionID is the session id of the last server hello.
func (d *Device) SessionID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessionID
}

// since is the time since the timeline started.
func (d *Device) since() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t0.IsZero() {
		return 0
	}
	return time.Since(d.t0)
}

// Boot runs the version check the way the dialect's firmware does: the
// Stikadoo printer POSTs to the OTA URL with "/challenge" appended
// ("challenge" if the URL ends in "/"), upstream firmware and the browser
// page POST to the URL itself, the browser after a CORS preflight. It
// accepts only what the firmware accepts: HTTP 200, a JSON body with a
// websocket section holding a URL, and no mqtt section. It stores the
// WebSocket URL and token for Connect and starts the timeline.
func (d *Device) Boot(ctx context.Context) (OTAAnswer, error) {
	var ans OTAAnswer
	if err := d.setup(); err != nil {
		return ans, err
	}
	d.mu.Lock()
	d.t0 = time.Now()
	d.timeline, d.turnMark = nil, 0
	d.mu.Unlock()
	target, err := d.otaPostURL()
	if err != nil {
		return ans, err
	}
	if d.dialect == proto.DialectBrowser {
		if err := d.preflight(ctx, target); err != nil {
			return ans, err
		}
	}
	body := d.systemInfo()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return ans, fmt.Errorf("version check %s: %w", target, err)
	}
	req.Header = d.otaHeaders()
	resp, err := d.HTTPClient.Do(req)
	if err != nil {
		return ans, fmt.Errorf("version check %s: %w", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOTAAnswer))
	if err != nil {
		return ans, fmt.Errorf("version check %s: read answer: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return ans, fmt.Errorf("version check %s: HTTP %d: %w", target, resp.StatusCode, ErrOTA)
	}
	if d.dialect == proto.DialectBrowser && !allowsOrigin(resp.Header) {
		return ans, fmt.Errorf("version check %s: no Access-Control-Allow-Origin for %s: the browser hides the answer: %w", target, browserOrigin, ErrOTA)
	}
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(b, &sections); err != nil {
		return ans, fmt.Errorf("version check %s: answer is not a JSON object: %w: %v", target, ErrOTA, err)
	}
	if _, ok := sections["mqtt"]; ok {
		return ans, fmt.Errorf("version check %s: answer has an mqtt section, the firmware would use MQTT: %w", target, ErrOTA)
	}
	if _, ok := sections["websocket"]; !ok {
		return ans, fmt.Errorf("version check %s: answer has no websocket section, the firmware would fall back to MQTT: %w", target, ErrOTA)
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return ans, fmt.Errorf("version check %s: %w: %v", target, ErrOTA, err)
	}
	u, err := url.Parse(ans.WebSocket.URL)
	if ans.WebSocket.URL == "" || err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return ans, fmt.Errorf("version check %s: websocket.url %q is not a ws:// or wss:// URL: %w", target, ans.WebSocket.URL, ErrOTA)
	}
	version := ans.WebSocket.Version
	if version == 0 {
		version = 1
	}
	d.mu.Lock()
	d.WSURL = ans.WebSocket.URL
	d.otaToken = ans.WebSocket.Token
	d.otaProto = version
	d.mu.Unlock()
	detail := fmt.Sprintf("%s (protocol %d)", ans.WebSocket.URL, version)
	if d.dialect != proto.DialectStikadoo && d.dialect != proto.DialectBrowser && version != d.binVersion() {
		detail += fmt.Sprintf("; this device speaks protocol %d", d.binVersion())
	}
	if ans.WebSocket.Token != "" {
		detail += ", token issued"
	}
	d.step("ota", "%s", detail)
	if ans.Activation != nil {
		d.step("activation", "code %s", ans.Activation.Code)
	}
	return ans, nil
}

// otaPostURL is where the dialect posts its system info.
func (d *Device) otaPostURL() (string, error) {
	if d.OTAURL == "" {
		return "", errors.New("version check: no OTA URL set")
	}
	if _, err := url.Parse(d.OTAURL); err != nil {
		return "", fmt.Errorf("version check: OTA URL %q: %w", d.OTAURL, err)
	}
	if d.dialect != proto.DialectStikadoo {
		return d.OTAURL, nil
	}
	if strings.HasSuffix(d.OTAURL, "/") {
		return d.OTAURL + "challenge", nil
	}
	return d.OTAURL + "/challenge", nil
}

// otaHeaders are the version check's request headers.
func (d *Device) otaHeaders() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Device-Id", d.ID)
	h.Set("Client-Id", d.ClientID)
	switch d.dialect {
	case proto.DialectBrowser:
		h.Set("Origin", browserOrigin)
		h.Set("User-Agent", browserUA)
		h.Set("Accept-Language", d.Language)
	case proto.DialectStikadoo:
		h.Set("Activation-Version", "2")
		h.Set("Serial-Number", strings.ReplaceAll(d.ID, ":", ""))
		h.Set("User-Agent", d.Board+"/"+d.Firmware)
		h.Set("Accept-Language", d.Language)
	default:
		h.Set("Activation-Version", "1") // no serial number in eFuse
		h.Set("User-Agent", d.Board+"/"+d.Firmware)
		h.Set("Accept-Language", d.Language)
	}
	return h
}

// preflight sends the CORS preflight a browser sends before its POST and
// checks the answer lets the POST through.
func (d *Device) preflight(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, target, nil)
	if err != nil {
		return fmt.Errorf("version check preflight %s: %w", target, err)
	}
	req.Header.Set("Origin", browserOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "client-id,content-type,device-id")
	req.Header.Set("User-Agent", browserUA)
	resp, err := d.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("version check preflight %s: %w", target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxOTAAnswer))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("version check preflight %s: HTTP %d: %w", target, resp.StatusCode, ErrOTA)
	}
	if !allowsOrigin(resp.Header) {
		return fmt.Errorf("version check preflight %s: no Access-Control-Allow-Origin for %s: %w", target, browserOrigin, ErrOTA)
	}
	allowed := strings.ToLower(strings.Join(resp.Header.Values("Access-Control-Allow-Headers"), ","))
	if strings.TrimSpace(allowed) != "*" {
		set := map[string]bool{}
		for _, h := range strings.Split(allowed, ",") {
			set[strings.TrimSpace(h)] = true
		}
		for _, need := range []string{"client-id", "content-type", "device-id"} {
			if !set[need] {
				return fmt.Errorf("version check preflight %s: header %s not in Access-Control-Allow-Headers %q: %w", target, need, allowed, ErrOTA)
			}
		}
	}
	if m := resp.Header.Get("Access-Control-Allow-Methods"); m != "" && m != "*" && !strings.Contains(strings.ToUpper(m), "POST") {
		return fmt.Errorf("version check preflight %s: POST not in Access-Control-Allow-Methods %q: %w", target, m, ErrOTA)
	}
	return nil
}

func allowsOrigin(h http.Header) bool {
	o := h.Get("Access-Control-Allow-Origin")
	return o == "*" || o == browserOrigin
}

// sysInfo is the firmware's system-info body, fields in firmware order.
type sysInfo struct {
	Version             int             `json:"version"`
	Language            string          `json:"language,omitempty"`
	FlashSize           int             `json:"flash_size"`
	MinimumFreeHeapSize any             `json:"minimum_free_heap_size"`
	MACAddress          string          `json:"mac_address"`
	UUID                string          `json:"uuid"`
	ChipModelName       string          `json:"chip_model_name"`
	ChipInfo            map[string]int  `json:"chip_info"`
	Application         sysApplication  `json:"application"`
	PartitionTable      []sysPartition  `json:"partition_table"`
	OTA                 map[string]any  `json:"ota"`
	Display             *sysDisplay     `json:"display,omitempty"`
	Board               json.RawMessage `json:"board"`
}

type sysApplication struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	CompileTime string `json:"compile_time"`
	IDFVersion  string `json:"idf_version"`
	ELFSHA256   string `json:"elf_sha256"`
}

type sysPartition struct {
	Label   string `json:"label"`
	Type    int    `json:"type"`
	Subtype int    `json:"subtype"`
	Address int    `json:"address"`
	Size    int    `json:"size"`
}

type sysDisplay struct {
	Monochrome bool `json:"monochrome"`
	Width      int  `json:"width"`
	Height     int  `json:"height"`
}

// systemInfo is the body of the version check.
func (d *Device) systemInfo() []byte {
	info := sysInfo{
		Version:             2,
		Language:            d.Language,
		FlashSize:           16 << 20,
		MinimumFreeHeapSize: "8242",
		MACAddress:          d.ID,
		UUID:                d.ClientID,
		ChipModelName:       "esp32s3",
		ChipInfo:            map[string]int{"model": 9, "cores": 2, "revision": 2, "features": 18},
		Application: sysApplication{
			Name: "xiaozhi", Version: d.Firmware, CompileTime: "Jun 12 2025T09:41:07Z",
			IDFVersion: "v5.4.1", ELFSHA256: fmt.Sprintf("%064x", []byte(d.Board+d.Firmware)),
		},
		PartitionTable: []sysPartition{
			{"nvs", 1, 2, 0x9000, 0x4000}, {"otadata", 1, 0, 0xd000, 0x2000},
			{"phy_init", 1, 1, 0xf000, 0x1000}, {"model", 1, 130, 0x10000, 0xf0000},
			{"ota_0", 0, 16, 0x100000, 0x600000}, {"ota_1", 0, 17, 0x700000, 0x600000},
		},
		OTA: map[string]any{"label": "ota_0"},
	}
	board := map[string]any{"type": d.Board, "name": d.Board, "ssid": "Classroom", "rssi": -52, "channel": 6, "ip": "192.168.1.57", "mac": d.ID}
	switch d.dialect {
	case proto.DialectStikadoo:
		info.ChipModelName = "esp32p4"
		info.ChipInfo = map[string]int{"model": 18, "cores": 2, "revision": 100, "features": 0}
		info.Display = &sysDisplay{Monochrome: false, Width: 480, Height: 480}
		board["printer"] = map[string]any{"dots": 384, "interface": "uart"}
	case proto.DialectBrowser:
		info = sysInfo{
			Version: 0, UUID: d.ClientID, MACAddress: d.ID, MinimumFreeHeapSize: 0,
			ChipInfo: map[string]int{"model": 0, "cores": 0, "revision": 0, "features": 0},
			Application: sysApplication{
				Name: "xiaozhi-web-test", Version: d.Firmware, CompileTime: "2025-04-16 10:00:00",
				IDFVersion: "4.4.3", ELFSHA256: "1234567890abcdef1234567890abcdef1234567890abcdef",
			},
			PartitionTable: []sysPartition{{}},
			OTA:            map[string]any{"label": "xiaozhi-web-test"},
		}
		board = map[string]any{"type": d.Board, "ssid": "xiaozhi-web-test", "rssi": 0, "channel": 0, "ip": "192.168.1.1", "mac": d.ID}
	default:
		info.Display = &sysDisplay{Monochrome: true, Width: 128, Height: 64}
	}
	info.Board, _ = json.Marshal(board)
	b, _ := json.Marshal(info)
	if d.TrailingComma {
		b = append(b[:len(b)-1], ",}"...)
	}
	return b
}

// Connect dials the WebSocket from the OTA answer (or WSURL) the way the
// dialect's client does. Firmware sends Authorization (only with a
// token), Protocol-Version, Device-Id and Client-Id headers, the Stikadoo
// printer also x-api-key, and nothing else: no Origin, no compression. The
// browser page sends no custom headers: its credentials go in the query
// (authorization, device-id, client-id), with an Origin of its own site
// and compression offered. A refused upgrade returns an error carrying a
// *DialError. Connect starts the reader, which answers MCP requests and
// queues every server frame for Next.
func (d *Device) Connect(ctx context.Context) error {
	if err := d.setup(); err != nil {
		return err
	}
	d.mu.Lock()
	if d.t0.IsZero() {
		d.t0 = time.Now()
	}
	connected := d.conn != nil
	wsURL, token, otaProto := d.WSURL, d.otaToken, d.otaProto
	d.mu.Unlock()
	if connected {
		return errors.New("connect: already connected")
	}
	if wsURL == "" {
		return errors.New("connect: no WebSocket URL: call Boot first or set WSURL")
	}
	if d.Token != "" {
		token = d.Token
	} else if d.APIKey != "" && d.dialect != proto.DialectStikadoo {
		token = d.APIKey
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		return fmt.Errorf("connect %q: %w", wsURL, err)
	}
	h := http.Header{}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	switch d.dialect {
	case proto.DialectBrowser:
		q := u.Query()
		if token != "" {
			q.Set("authorization", "Bearer "+token)
		}
		q.Set("device-id", d.ID)
		q.Set("client-id", d.ClientID)
		u.RawQuery = q.Encode()
		h.Set("Origin", browserOrigin)
		h.Set("User-Agent", browserUA)
		dialer.EnableCompression = true
	default:
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
		version := d.binVersion()
		if d.dialect == proto.DialectStikadoo && otaProto != 0 {
			version = otaProto // the printer keeps upstream's header, and ignores it
		}
		h.Set("Protocol-Version", strconv.Itoa(version))
		h.Set("Device-Id", d.ID)
		h.Set("Client-Id", d.ClientID)
		if d.dialect == proto.DialectStikadoo && d.APIKey != "" {
			h["x-api-key"] = []string{d.APIKey}
		}
	}
	conn, resp, err := dialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			de := &DialError{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
			d.step("connect", "refused: HTTP %d", resp.StatusCode)
			return fmt.Errorf("connect %s: %w", wsURL, de)
		}
		d.step("connect", "failed: %v", err)
		return fmt.Errorf("connect %s: %w", wsURL, err)
	}
	enc, err := stt.NewOpusEncoder()
	if err != nil {
		conn.Close()
		return fmt.Errorf("connect: %w", err)
	}
	callCtx, stopCalls := context.WithCancel(context.Background())
	q := newEventQueue()
	done := make(chan struct{})
	d.mu.Lock()
	d.conn, d.q, d.done = conn, q, done
	d.callCtx, d.stopCalls = callCtx, stopCalls
	d.closeCode, d.closeText, d.closeOK, d.dropping = 0, "", false, false
	d.sessionID, d.wakeSent = "", false
	d.mu.Unlock()
	d.enc, d.audioMs, d.packets = enc, 0, 0
	detail := "101 Switching Protocols"
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		detail += ", " + ext
	}
	d.step("connect", "%s", detail)
	go d.readLoop(conn, q, done) // ends when the connection closes or fails
	return nil
}

// readLoop reads every server frame until the connection ends, answers
// MCP requests, records the timeline and queues events for Next.
func (d *Device) readLoop(conn *websocket.Conn, q *eventQueue, done chan struct{}) {
	defer close(done)
	for {
		// Only data frames reset the deadline: firmware ignores pings when
		// deciding the channel is dead.
		_ = conn.SetReadDeadline(time.Now().Add(d.ChannelTimeout))
		mt, data, err := conn.ReadMessage()
		if err != nil {
			d.readEnded(conn, err)
			q.close(fmt.Errorf("read: %w: %w", ErrClosed, err))
			return
		}
		if d.Frames != nil {
			d.Frames(mt, data)
		}
		ev := Event{At: d.since(), Raw: data}
		if mt == websocket.BinaryMessage {
			ev.Binary = true
			d.step("audio-in", "%d bytes", len(data))
		} else {
			d.observe(&ev)
		}
		q.push(ev)
	}
}

// readEnded records why the connection ended.
func (d *Device) readEnded(conn *websocket.Conn, err error) {
	// A connection that ends without a close frame reads as code 1006,
	// which is never sent on the wire.
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure {
		ce = nil
	}
	d.mu.Lock()
	dropping := d.dropping
	if ce != nil {
		d.closeCode, d.closeText, d.closeOK = ce.Code, ce.Text, true
	}
	d.mu.Unlock()
	switch {
	case ce != nil:
		d.step("close", "server closed: %d %s", ce.Code, ce.Text)
	case dropping:
		d.step("close", "dropped by the device")
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.As(err, new(*websocket.CloseError)):
		d.step("close", "dropped by the server without a close frame")
	case isTimeout(err):
		d.step("close", "no data frame from the server for %s: channel dead", d.ChannelTimeout)
	default:
		d.step("close", "connection lost: %v", err)
	}
	conn.Close() // firmware drops the TCP connection
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// observe parses a JSON frame into ev, records it and answers MCP.
func (d *Device) observe(ev *Event) {
	var m struct {
		Type      string          `json:"type"`
		State     *string         `json:"state"`
		Status    string          `json:"status"`
		Text      string          `json:"text"`
		Message   string          `json:"message"`
		Emotion   string          `json:"emotion"`
		Command   string          `json:"command"`
		SessionID string          `json:"session_id"`
		Transport string          `json:"transport"`
		Payload   json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(ev.Raw, &m); err != nil {
		d.step("bad-frame", "text frame is not JSON: %v", err) // firmware logs and ignores it
		return
	}
	ev.Type, ev.Status, ev.Text, ev.Message, ev.Emotion = m.Type, m.Status, m.Text, m.Message, m.Emotion
	ev.Command, ev.SessionID, ev.Transport, ev.Payload = m.Command, m.SessionID, m.Transport, m.Payload
	if m.State != nil {
		ev.State = *m.State
	}
	switch m.Type {
	case proto.TypeHello:
		d.mu.Lock()
		d.sessionID = m.SessionID
		d.mu.Unlock()
		d.step("hello", "session %s, transport %q", m.SessionID, m.Transport)
	case proto.TypeSTT:
		d.step("stt", "%q", m.Text)
	case proto.TypeLLM:
		d.step("llm", "%s", m.Emotion)
	case proto.TypeTTS:
		switch {
		case m.State == nil:
			d.step("tts", "no state: firmware would crash")
		case *m.State == proto.TTSStart:
			d.step("tts-start", "")
		case *m.State == proto.TTSStop:
			d.step("tts-stop", "")
		case *m.State == proto.TTSSentenceStart:
			d.step("tts", "%q", m.Text)
		default:
			d.step("tts", "%s", *m.State)
		}
	case proto.TypeThinking:
		d.step("thinking", "%s", m.Status)
	case proto.TypeAlert:
		d.step("alert", "%s: %s", m.Status, m.Message)
	case proto.TypeSystem:
		d.step("system", "%s", m.Command)
	case proto.TypeMCP:
		d.onMCP(m.Payload)
	case "":
		d.step("bad-frame", "JSON message without a type")
	default:
		d.step(m.Type, "") // unknown types are ignored, as firmware does
	}
}

// Hello sends the dialect's hello exactly as its client does and waits
// for the server's, as long as the client would (10 s, the browser 5 s).
// It fails unless the server hello has a transport and a session id.
func (d *Device) Hello(ctx context.Context) (proto.ServerHello, error) {
	var h proto.ServerHello
	if err := d.writeMessage(websocket.TextMessage, d.helloMessage()); err != nil {
		return h, fmt.Errorf("hello: %w", err)
	}
	timeout := helloTimeout
	if d.dialect == proto.DialectBrowser {
		timeout = browserHelloTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ev, err := d.WaitFor(hctx, func(e Event) bool { return e.Type == proto.TypeHello })
	if err != nil {
		if ctx.Err() == nil && hctx.Err() != nil {
			return h, fmt.Errorf("hello: no server hello within %s: %w", timeout, ErrHello)
		}
		if ctx.Err() != nil {
			return h, fmt.Errorf("hello: no server hello: %w", err)
		}
		return h, fmt.Errorf("hello: %w", err)
	}
	if err := json.Unmarshal(ev.Raw, &h); err != nil {
		return h, fmt.Errorf("hello: %w: %v", ErrHello, err)
	}
	if h.Transport == "" {
		return h, fmt.Errorf("hello: server hello has no transport (firmware would crash): %w", ErrHello)
	}
	if d.dialect != proto.DialectBrowser && h.Transport != "websocket" {
		return h, fmt.Errorf("hello: unsupported transport %q: %w", h.Transport, ErrHello)
	}
	if h.SessionID == "" {
		return h, fmt.Errorf("hello: server hello has no session_id: %w", ErrHello)
	}
	return h, nil
}

// helloMessage is the dialect's hello, as its client sends it.
func (d *Device) helloMessage() []byte {
	switch d.dialect {
	case proto.DialectStikadoo:
		return []byte(`{"type":"hello","version":1,"transport":"websocket","features":{"mcp":false},"audio_params":{"format":"pcm","encoding":"base64","sample_width":2,"sample_rate":16000,"channels":1,"frame_duration":60}}`)
	case proto.DialectBrowser:
		b, _ := json.Marshal(struct {
			Type       string          `json:"type"`
			DeviceID   string          `json:"device_id"`
			DeviceName string          `json:"device_name"`
			DeviceMAC  string          `json:"device_mac"`
			Features   map[string]bool `json:"features"`
		}{proto.TypeHello, d.ID, browserName, d.ID, map[string]bool{"mcp": true, "emoji": false}})
		return b
	}
	return fmt.Appendf(nil, `{"type":"hello","version":%d,"transport":"websocket","features":{"mcp":true,"aec":false},"audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":60}}`, d.binVersion())
}

// deviceMessage is a JSON message from the device; firmware always
// includes the session id of the server hello.
type deviceMessage struct {
	SessionID string `json:"session_id"`
	Type      string `json:"type"`
	State     string `json:"state,omitempty"`
	Mode      string `json:"mode,omitempty"`
	Text      string `json:"text,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (d *Device) sendMessage(m deviceMessage) error {
	m.SessionID = d.SessionID()
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return d.writeMessage(websocket.TextMessage, b)
}

// ListenStart tells the server the device is listening, in mode
// proto.ModeManual, ModeAuto or ModeRealtime.
func (d *Device) ListenStart(mode string) error {
	at := d.step("listen-start", "%s", mode)
	if err := d.sendMessage(deviceMessage{Type: proto.TypeListen, State: proto.ListenStart, Mode: mode}); err != nil {
		d.failed(at, err)
		return fmt.Errorf("listen start: %w", err)
	}
	return nil
}

// ListenStop ends a manual-mode utterance (the button is released).
func (d *Device) ListenStop() error {
	at := d.step("listen-stop", "")
	if err := d.sendMessage(deviceMessage{Type: proto.TypeListen, State: proto.ListenStop}); err != nil {
		d.failed(at, err)
		return fmt.Errorf("listen stop: %w", err)
	}
	return nil
}

// Detect sends listen detect with text: a wake word the device heard, or
// (from the browser page) a typed request.
func (d *Device) Detect(text string) error {
	at := d.step("detect", "%q", text)
	if err := d.sendMessage(deviceMessage{Type: proto.TypeListen, State: proto.ListenDetect, Text: text}); err != nil {
		d.failed(at, err)
		return fmt.Errorf("listen detect: %w", err)
	}
	return nil
}

// Abort asks the server to stop the turn in flight; reason may be empty.
func (d *Device) Abort(reason string) error {
	at := d.step("abort", "%s", reason)
	if err := d.sendMessage(deviceMessage{Type: proto.TypeAbort, Reason: reason}); err != nil {
		d.failed(at, err)
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}

// Goodbye tells the server the session is over.
func (d *Device) Goodbye() error {
	at := d.step("goodbye", "")
	if err := d.sendMessage(deviceMessage{Type: proto.TypeGoodbye}); err != nil {
		d.failed(at, err)
		return fmt.Errorf("goodbye: %w", err)
	}
	return nil
}

// EndUtterance sends a zero-length binary frame, the browser page's mark
// of the end of an utterance.
func (d *Device) EndUtterance() error {
	at := d.step("end-utterance", "zero-length frame")
	if err := d.writeMessage(websocket.BinaryMessage, nil); err != nil {
		d.failed(at, err)
		return fmt.Errorf("end of utterance: %w", err)
	}
	return nil
}

// SendRaw sends one frame as is (websocket.TextMessage or BinaryMessage),
// for tests of hostile input.
func (d *Device) SendRaw(messageType int, data []byte) error {
	at := d.step("raw", "%s frame of %d bytes", frameKind(messageType), len(data))
	if err := d.writeMessage(messageType, data); err != nil {
		d.failed(at, err)
		return fmt.Errorf("send raw frame: %w", err)
	}
	return nil
}

func frameKind(mt int) string {
	switch mt {
	case websocket.TextMessage:
		return "text"
	case websocket.BinaryMessage:
		return "binary"
	}
	return "type " + strconv.Itoa(mt)
}

// SendAudio sends 16 kHz samples in 60 ms frames as the dialect does: the
// Stikadoo printer as base64 PCM16 text frames, upstream firmware as Opus
// in binary frames of its protocol version, the browser page as raw Opus
// packets padded to about 2 KB. A last partial frame is padded with
// silence. With Realtime set, one frame goes out every 60 ms.
func (d *Device) SendAudio(ctx context.Context, samples []float32) error {
	n, err := d.sendFrames(ctx, samples, d.Realtime)
	d.step("audio", "%.2f s in %d frames", float64(n*stt.FrameSamples)/stt.SampleRate, n)
	if err != nil {
		return fmt.Errorf("send audio: %w", err)
	}
	return nil
}

// sendFrames sends samples frame by frame, pacing them at real time if
// paced, until done or ctx ends. It returns the frames sent.
func (d *Device) sendFrames(ctx context.Context, samples []float32, paced bool) (int, error) {
	var tick *time.Ticker
	if paced {
		tick = time.NewTicker(60 * time.Millisecond)
		defer tick.Stop()
	}
	n := 0
	for off := 0; off < len(samples); off += stt.FrameSamples {
		if n > 0 && paced {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return n, ctx.Err()
			}
		} else if err := ctx.Err(); err != nil {
			return n, err
		}
		frame := samples[off:min(off+stt.FrameSamples, len(samples))]
		mt, data, err := d.encodeFrame(frame)
		if err != nil {
			return n, err
		}
		if err := d.writeMessage(mt, data); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// encodeFrame encodes one frame of at most 960 samples for the dialect.
func (d *Device) encodeFrame(frame []float32) (int, []byte, error) {
	if d.dialect == proto.DialectStikadoo {
		d.pcm = stt.FloatToPCM16(d.pcm[:0], frame)
		for len(d.pcm) < stt.FrameSamples {
			d.pcm = append(d.pcm, 0)
		}
		return websocket.TextMessage, proto.EncodePCMText(d.pcm), nil
	}
	if d.enc == nil {
		return 0, nil, ErrNotConnected
	}
	pkt, err := d.enc.Encode(frame)
	if err != nil {
		return 0, nil, err
	}
	ts := d.audioMs
	d.audioMs += 60
	d.packets++
	switch d.dialect {
	case proto.DialectBrowser:
		return websocket.BinaryMessage, padOpus(pkt, browserPacketSize(d.packets)), nil
	case proto.DialectOpusV2, proto.DialectOpusV3:
		b, err := proto.AppendBinary(nil, d.binVersion(), proto.FrameOpus, ts, pkt)
		return websocket.BinaryMessage, b, err
	}
	return websocket.BinaryMessage, pkt, nil
}

// writeMessage writes one frame; writes from several goroutines (audio,
// MCP replies) are serialized.
func (d *Device) writeMessage(mt int, data []byte) error {
	d.mu.Lock()
	conn := d.conn
	d.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return conn.WriteMessage(mt, data)
}

// Next returns the next frame from the server, waiting until one arrives
// or ctx ends. Once the connection has closed and every queued frame was
// returned, it returns an error wrapping ErrClosed.
func (d *Device) Next(ctx context.Context) (Event, error) {
	d.mu.Lock()
	q := d.q
	d.mu.Unlock()
	if q == nil {
		return Event{}, ErrNotConnected
	}
	return q.pop(ctx)
}

// WaitFor returns the first frame from the server for which pred is true,
// dropping the frames before it.
func (d *Device) WaitFor(ctx context.Context, pred func(Event) bool) (Event, error) {
	for {
		ev, err := d.Next(ctx)
		if err != nil {
			return ev, err
		}
		if pred(ev) {
			return ev, nil
		}
	}
}

// CloseInfo reports the close code and reason the server sent, if it
// sent a close frame on the current (or last) connection.
func (d *Device) CloseInfo() (code int, text string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closeCode, d.closeText, d.closeOK
}

// Done is closed when the current connection has ended (nil before
// Connect).
func (d *Device) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

// Close drops the TCP connection without a close frame, as firmware does,
// and waits for the reader and any MCP call in progress to end. Frames
// already received stay available to Next.
func (d *Device) Close() error { return d.drop(false) }

// Reset drops the TCP connection with a reset (RST) instead of a FIN, as
// the server sees when a device's Wi-Fi stack gives up on a half-sent
// frame, and otherwise behaves as Close.
func (d *Device) Reset() error { return d.drop(true) }

func (d *Device) drop(reset bool) error {
	d.mu.Lock()
	conn, done, stop := d.conn, d.done, d.stopCalls
	d.dropping = true
	d.mu.Unlock()
	if conn == nil {
		return nil
	}
	stop()
	if tc, ok := conn.NetConn().(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0) // Close then sends RST
	}
	err := conn.NetConn().Close()
	<-done
	d.calls.Wait()
	d.mu.Lock()
	d.conn = nil
	d.mu.Unlock()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// randomMAC returns a MAC address: an Espressif one in lower case, or the
// browser page's random one in upper case.
func randomMAC(browser bool) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	if browser {
		b[0] = b[0]&^1 | 2 // unicast, locally administered
		return strings.ToUpper(formatMAC(b))
	}
	b[0], b[1], b[2] = 0x94, 0xa9, 0x90 // Espressif
	return formatMAC(b)
}

func formatMAC(b [6]byte) string {
	s := hex.EncodeToString(b[:])
	var out strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			out.WriteByte(':')
		}
		out.WriteString(s[i : i+2])
	}
	return out.String()
}

// randomUUID returns a version 4 UUID.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
