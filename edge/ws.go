package edge

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// handleWS authenticates a device, reserves a session slot and upgrades.
// Refusals happen before the upgrade: firmware then fails at once instead
// of waiting out its hello timeout.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	creds := requestCredentials(r)
	now := time.Now()
	if err := s.auth.check(creds, now); err != nil {
		s.log.Warn("websocket refused", "remote", r.RemoteAddr, "device", creds.DeviceID, "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="stikadoo-edge"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid device token or API key is required"})
		return
	}
	if s.cfg.Activation.Enabled && creds.DeviceID != "" {
		dev, err := s.deps.Store.Device(creds.DeviceID)
		if err != nil || !dev.Activation.Activated() {
			if err != nil && !errors.Is(err, proto.ErrNotFound) {
				s.log.Error("websocket: read device", "device", creds.DeviceID, "err", err)
			}
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "device is not activated"})
			return
		}
	}
	ss := newSession(s, r, creds)
	if !s.admit(ss) {
		s.refused.Add(1)
		s.log.Warn("websocket refused: session limit reached", "remote", r.RemoteAddr, "max", s.cfg.MaxSessions)
		w.Header().Set("Retry-After", strconv.Itoa(30))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "Stikadoo Edge is serving as many devices as it can; try again shortly"})
		return
	}
	defer s.release(ss)
	defer ss.cancel()
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade already answered the client with an HTTP error.
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	if creds.DeviceID != "" {
		s.closeDevice(creds.DeviceID, proto.CloseNormal, "replaced by a new connection", ss)
	}
	ss.run(conn)
}

// closeDevice ends every session of device id except keep.
func (s *Server) closeDevice(id string, code int, reason string, keep ...*session) {
	s.mu.Lock()
	var list []*session
	for ss := range s.sessions {
		if ss.creds.DeviceID == id && (len(keep) == 0 || ss != keep[0]) {
			list = append(list, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.shutdown(code, reason)
	}
}
