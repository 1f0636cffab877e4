package edge

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// The status page (GET /) tells a parent or a teacher, in plain words,
// whether the server is ready, what is wrong if it is not, and the
// address to give a printer. It shows the printers it knows, but never
// what anyone said: transcripts stay behind the loopback-only admin API.

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago": func(t time.Time) string { return ago(time.Since(t)) },
}).Parse(statusHTML))

// maxStatusDevices bounds the printers listed on the page.
const maxStatusDevices = 50

type statusDevice struct {
	ID, Board, Firmware string
	LastSeen            time.Time
	Online              bool
}

type statusPage struct {
	Health  Health
	OTAURL  string
	Uptime  string
	Devices []statusDevice
	More    int // devices beyond the listed ones
	Problem string
}

func (s *Server) handleStatusPage(w http.ResponseWriter, r *http.Request) {
	p := statusPage{
		Health: s.Health(),
		OTAURL: s.publicBase(r) + s.cfg.OTAPath,
		Uptime: ago(time.Since(s.start)),
	}
	online := s.onlineDevices()
	devs, err := s.deps.Store.Devices()
	if err != nil {
		p.Problem = "The record of printers could not be read: " + err.Error()
	}
	for i, d := range devs {
		if i == maxStatusDevices {
			p.More = len(devs) - i
			break
		}
		p.Devices = append(p.Devices, statusDevice{
			ID: d.ID, Board: d.Board, Firmware: d.FirmwareVersion, LastSeen: d.LastSeen, Online: online[d.ID],
		})
	}
	var b bytes.Buffer
	if err := statusTmpl.Execute(&b, p); err != nil {
		s.log.Error("status page", "err", err)
		http.Error(w, "status page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(b.Bytes())
}

// onlineDevices is the set of device ids with a session open now.
func (s *Server) onlineDevices() map[string]bool {
	s.mu.Lock()
	open := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		open = append(open, ss)
	}
	s.mu.Unlock()
	on := make(map[string]bool, len(open))
	for _, ss := range open {
		ss.mu.Lock()
		if id := ss.rec.DeviceID; id != "" {
			on[id] = true
		}
		ss.mu.Unlock()
	}
	return on
}

// ago says how long d is, roughly, for people: "3 minutes", "2 days".
func ago(d time.Duration) string {
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + one + "s"
	}
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return unit(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int(d/time.Hour), "hour")
	}
	return unit(int(d/(24*time.Hour)), "day")
}
