package edge

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// The admin API lets the command line manage a running daemon (which holds
// the store's lock). It answers loopback clients only.

func (s *Server) adminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/devices", s.admin(s.apiDevices))
	m.HandleFunc("POST /api/v1/devices/{id}/approve", s.admin(s.apiApprove))
	m.HandleFunc("POST /api/v1/devices/{id}/revoke", s.admin(s.apiRevoke))
	m.HandleFunc("POST /api/v1/enrollment", s.admin(s.apiEnroll))
	m.HandleFunc("GET /api/v1/sessions", s.admin(s.apiSessions))
	m.HandleFunc("GET /api/v1/sessions/{id}", s.admin(s.apiSession))
	m.HandleFunc("GET /api/v1/export", s.admin(s.apiExport))
}

func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip := net.ParseIP(remoteIP(r))
		if ip == nil || !ip.IsLoopback() {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the admin API answers this machine only"})
			return
		}
		h(w, r)
	}
}

func apiError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, proto.ErrNotFound) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) apiDevices(w http.ResponseWriter, r *http.Request) {
	d, err := s.deps.Store.Devices()
	if err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiApprove(w http.ResponseWriter, r *http.Request) {
	d, err := s.ApproveDevice(r.PathValue("id"))
	if err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiRevoke(w http.ResponseWriter, r *http.Request) {
	d, err := s.RevokeDevice(r.PathValue("id"))
	if err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be 1..10000"})
			return
		}
		limit = n
	}
	var before time.Time
	if v := r.URL.Query().Get("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "before must be an RFC 3339 time"})
			return
		}
		before = t
	}
	list, err := s.deps.Store.Sessions(limit, before)
	if err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) apiSession(w http.ResponseWriter, r *http.Request) {
	sess, turns, err := s.deps.Store.Session(r.PathValue("id"))
	if err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": sess, "turns": turns})
}

func (s *Server) apiExport(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "since must be an RFC 3339 time"})
			return
		}
		since = t
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := s.deps.Store.Export(w, since); err != nil {
		s.log.Error("export", "err", err)
	}
}

// apiEnroll opens an enrollment window, as the button's long press does.
func (s *Server) apiEnroll(w http.ResponseWriter, r *http.Request) {
	until, err := s.OpenEnrollment()
	if errors.Is(err, ErrEnrollmentOff) {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "enrollment windows are not in use: set [auth] required = true and enrollment = \"window\""})
		return
	}
	if err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]time.Time{"until": until})
}
