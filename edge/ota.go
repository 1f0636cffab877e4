package edge

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// maxOTABody caps the system-info body a device posts.
const maxOTABody = 64 << 10

// otaInfo is the part of the device's system-info body the server uses.
type otaInfo struct {
	Version     string `json:"version"`
	Language    string `json:"language"`
	MAC         string `json:"mac_address"`
	UUID        string `json:"uuid"`
	Application struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"application"`
	Board struct {
		Type string `json:"type"`
		Name string `json:"name"`
		IP   string `json:"ip"`
	} `json:"board"`
}

// OTAAnswer is the answer to the version check.
type OTAAnswer struct {
	ServerTime struct {
		Timestamp      int64 `json:"timestamp"`
		TimezoneOffset int   `json:"timezone_offset"`
	} `json:"server_time"`
	Firmware struct {
		Version string `json:"version"`
		URL     string `json:"url"`
	} `json:"firmware"`
	WebSocket struct {
		URL     string `json:"url"`
		Token   string `json:"token"`
		Version int    `json:"version"`
	} `json:"websocket"`
	Activation *ActivationOffer `json:"activation,omitempty"`
}

// ActivationOffer asks the device to prove itself.
type ActivationOffer struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Challenge string `json:"challenge"`
	TimeoutMs int    `json:"timeout_ms"`
}

// trailingComma matches a comma before a closing brace or bracket, which
// some boards emit.
var trailingComma = regexp.MustCompile(`,\s*([}\]])`)

// parseOTABody reads the system info leniently: a body that does not
// parse yields zero values, never an error.
func parseOTABody(b []byte) otaInfo {
	var info otaInfo
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return info
	}
	if json.Unmarshal(b, &info) == nil {
		return info
	}
	_ = json.Unmarshal(trailingComma.ReplaceAll(b, []byte("$1")), &info)
	return info
}

func setCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Device-Id, Client-Id, Content-Type, Authorization, Activation-Version, Serial-Number, Accept-Language")
	h.Set("Access-Control-Max-Age", "600")
}

// handleOTA answers the version check of every firmware family.
func (s *Server) handleOTA(w http.ResponseWriter, r *http.Request) {
	setCORS(w)
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxOTABody))
	info := parseOTABody(body)
	now := time.Now()

	id := proto.NormalizeDeviceID(r.Header.Get("Device-Id"))
	if id == "" {
		id = proto.NormalizeDeviceID(info.MAC)
	}
	clientID := strings.TrimSpace(r.Header.Get("Client-Id"))
	if clientID == "" {
		clientID = info.UUID
	}
	version := info.Application.Version
	if version == "" {
		version = info.Version
	}
	ua := r.Header.Get("User-Agent")
	if version == "" {
		if i := strings.LastIndexByte(ua, '/'); i >= 0 {
			version = ua[i+1:]
		}
	}
	board := info.Board.Name
	if board == "" {
		board = info.Board.Type
	}
	if board == "" {
		if i := strings.LastIndexByte(ua, '/'); i > 0 {
			board = ua[:i]
		}
	}

	var ans OTAAnswer
	ans.ServerTime.Timestamp = now.UnixMilli()
	_, off := now.Zone()
	ans.ServerTime.TimezoneOffset = off / 60
	ans.Firmware.Version = version
	ans.WebSocket.URL = s.wsURL(r)
	ans.WebSocket.Version = s.cfg.ProtocolVersion

	if id != "" {
		var issue bool
		dev, err := s.deps.Store.UpdateDevice(id, func(d *proto.Device) error {
			if d.FirstSeen.IsZero() {
				d.FirstSeen = now
			}
			d.LastSeen = now
			issue = s.mayIssue(d, clientID, now)
			if s.mayRecordClientID(d, clientID) {
				setIf(&d.ClientID, clientID)
			}
			setIf(&d.SerialNumber, strings.TrimSpace(r.Header.Get("Serial-Number")))
			setIf(&d.Board, board)
			setIf(&d.FirmwareVersion, version)
			setIf(&d.UserAgent, ua)
			setIf(&d.Language, firstNonEmpty(info.Language, r.Header.Get("Accept-Language")))
			d.IP = remoteIP(r)
			if s.cfg.Activation.Enabled && !d.Activation.Activated() {
				s.offerActivation(d, now)
			}
			return nil
		})
		s.storeResult(err)
		if err != nil {
			// The device must still get its answer: losing the record is
			// logged, refusing the device would leave it offline.
			s.log.Error("record device", "device", id, "err", err)
		}
		switch {
		case err == nil && issue:
			ans.WebSocket.Token = s.auth.issue(id, now)
		case err == nil && s.cfg.Auth.Required && !dev.Blocked && dev.Enrolled.IsZero():
			s.log.Warn("new device not enrolled: it gets no token until an enrollment window is open or an operator approves it",
				"device", id, "approve", "stikadoo-edge devices approve "+id)
		case err == nil && s.cfg.Auth.Required && !dev.Blocked:
			s.log.Warn("a device claims an enrolled device's id with another client id: no token outside an enrollment window",
				"device", id, "client_id", clientID, "ip", remoteIP(r))
		}
		if err == nil && s.cfg.Activation.Enabled && !dev.Activation.Activated() {
			ans.Activation = &ActivationOffer{
				Code: dev.Activation.Code, Challenge: dev.Activation.Challenge,
				Message:   "Stikadoo Edge\nCode " + dev.Activation.Code,
				TimeoutMs: int(s.cfg.Activation.Timeout / time.Millisecond),
			}
		}
	}
	s.log.Info("ota", "device", id, "ip", remoteIP(r), "board", board, "firmware", version, "ws", ans.WebSocket.URL)
	writeJSON(w, http.StatusOK, ans)
}

// wsURL is the WebSocket URL handed to a device: the configured public URL,
// or one built from the local address the request arrived on, so that a
// LAN device gets the LAN address of this machine and never a loopback one.
func (s *Server) wsURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return "ws://" + s.localHostPort(r) + s.cfg.WSPath
}

// localHostPort is host:port of the local end of r's connection.
func (s *Server) localHostPort(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := a.(*net.TCPAddr); ok {
			ip := ta.IP
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			host := ip.String()
			if ip.To4() == nil {
				host = "[" + host + "]" // zone dropped: devices cannot use it
			}
			return host + ":" + strconv.Itoa(ta.Port)
		}
	}
	return r.Host
}

// publicBase is the http(s) base URL for stickers on the address the
// device used.
func (s *Server) publicBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		if u, err := url.Parse(s.cfg.PublicURL); err == nil {
			scheme := "http"
			if u.Scheme == "wss" {
				scheme = "https"
			}
			return scheme + "://" + u.Host
		}
	}
	return "http://" + s.localHostPort(r)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func setIf(dst *string, v string) {
	if v = strings.TrimSpace(v); v != "" {
		if len(v) > 256 {
			v = v[:256]
		}
		*dst = v
	}
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
