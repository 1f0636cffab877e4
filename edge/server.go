package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// Deps are the engines and the store the gateway uses.
type Deps struct {
	Transcriber Transcriber // nil: speech recognition is not set up
	// NoSTT says in words why Transcriber is nil and what to do about it,
	// for the health report and the status page.
	NoSTT  string
	Images ImageGenerator // nil: sticker generation is not set up
	// SpeechFinder, if set, is a voice activity model that finds the end
	// of speech in auto and realtime modes; nil: the energy detector.
	SpeechFinder stt.SpeechFinder
	// Recorder, if set, keeps each utterance's audio; nil: audio is
	// dropped once transcribed.
	Recorder AudioRecorder
	// Cloud is the cloud backend; nil: every turn is served here.
	Cloud    Cloud
	Store    Store        // required
	Logger   *slog.Logger // nil: slog.Default()
	Observer Observer     // nil: nobody watches the activity
}

// Server is the device gateway. Create it with NewServer, serve it with
// Serve (or mount Handler in a server of your own).
type Server struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	mux   *http.ServeMux
	auth  *authenticator
	start time.Time

	upgrader websocket.Upgrader
	metrics  *metrics

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup // one per session goroutine tree

	active   atomic.Int64
	refused  atomic.Int64
	turns    atomic.Int64
	turnsBad atomic.Int64
	relayed  atomic.Int64

	// Activity for the status light (appliance.go).
	listening    atomic.Int64 // sessions taking speech
	busy         atomic.Int64 // turns and reprints in progress
	storeFailing atomic.Bool  // the last write to the record failed
	obsMu        sync.Mutex   // orders observer calls; guards obsSent, obsLast
	obsSent      bool
	obsLast      Activity

	lastMu sync.Mutex // guards last
	last   lastSticker

	enrollUntil atomic.Int64 // Unix nanoseconds the enrollment window closes
}

// NewServer checks cfg (after Defaults) and returns a gateway.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, ErrNoStore
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{
		cfg: cfg, deps: deps, log: deps.Logger, start: time.Now(),
		sessions: make(map[*session]struct{}),
	}
	auth, err := newAuthenticator(cfg.Auth, deps.Store)
	if err != nil {
		return nil, err
	}
	s.auth = auth
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout:  cfg.HelloTimeout,
		ReadBufferSize:    4096,
		WriteBufferSize:   4096,
		WriteBufferPool:   &sync.Pool{},
		CheckOrigin:       func(*http.Request) bool { return true }, // the credential, not the origin, guards devices
		EnableCompression: false,
	}
	s.metrics = newMetrics(s)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	// Exact paths, each with and without a trailing slash: firmware
	// appends "challenge" or "/challenge" depending on how the OTA URL ends.
	exact := func(p string, h http.HandlerFunc) {
		p = trimSlash(p)
		m.HandleFunc(p, h)
		if p != "/" {
			m.HandleFunc(p+"/{$}", h)
		}
	}
	base := trimSlash(s.cfg.OTAPath)
	exact(base, s.handleOTA)
	exact(base+"/challenge", s.handleOTA)
	exact(base+"/activate", s.handleActivate)
	exact(base+"/challenge/activate", s.handleActivate)
	exact(s.cfg.WSPath, s.handleWS)
	m.HandleFunc("GET "+trimSlash(s.cfg.ImagePath)+"/{file}", s.handleImage)
	m.HandleFunc("GET /api/v1/health", s.handleHealth)
	m.Handle("GET /metrics", s.metrics.handler())
	m.HandleFunc("GET /{$}", s.handleStatusPage)
	s.adminRoutes(m)
	s.mux = m
}

// Handler returns the gateway's HTTP handler: OTA, WebSocket, stickers and
// the /api/v1 endpoints on one mux.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP collapses repeated slashes before routing: firmware that
// appends "/activate" to an OTA URL ending in "/" asks for "...//activate",
// and a redirect would turn its POST into a GET.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; strings.Contains(p, "//") {
		for strings.Contains(p, "//") {
			p = strings.ReplaceAll(p, "//", "/")
		}
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2.URL = &u
		r = &r2
	}
	s.mux.ServeHTTP(w, r)
}

// Shutdown deadlines: plain HTTP requests, then sessions (whose turns may
// be in a transcription that cannot be interrupted once it has begun).
// Serve returns within the longer of the two.
const (
	httpShutdown    = 5 * time.Second
	sessionShutdown = 15 * time.Second
)

// Serve serves ln until ctx is done, then tells every session goodbye,
// closes them and returns nil. Any other serving error is returned.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Bodies are small (version checks, activation); sticker downloads
		// over weak Wi-Fi get a minute. WebSocket sessions set their own
		// deadlines on every read and write after the upgrade.
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }() // ends when hs is shut down or ln fails
	s.notify()
	if s.deps.Observer != nil {
		go s.watchActivity(ctx) // ends when ctx is done
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	// Stop accepting and tell the sessions at once, each with its own
	// deadline: plain requests (a sticker download) get a few seconds,
	// sessions long enough for a transcription that has begun to finish
	// and its turn to be recorded before the daemon closes the store.
	httpDone := make(chan struct{})
	go func() { // ends within httpShutdown
		defer close(httpDone)
		hctx, cancel := context.WithTimeout(context.Background(), httpShutdown)
		defer cancel()
		if hs.Shutdown(hctx) != nil {
			hs.Close() // requests still running at the deadline are cut
		}
	}()
	sctx, cancel := context.WithTimeout(context.Background(), sessionShutdown)
	defer cancel()
	s.closeSessions(sctx)
	<-httpDone
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// closeSessions tells every session the server is going away and waits
// for them to finish, up to ctx's deadline.
func (s *Server) closeSessions(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	list := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.shutdown(proto.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }() // ends when every session has ended
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("sessions still open at shutdown deadline", "count", s.active.Load())
	}
}

// admit reserves a session slot, or reports false when the server is full
// or closing.
func (s *Server) admit(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.sessions) >= s.cfg.MaxSessions {
		return false
	}
	s.sessions[ss] = struct{}{}
	s.active.Store(int64(len(s.sessions)))
	s.wg.Add(1)
	return true
}

func (s *Server) release(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss)
	s.active.Store(int64(len(s.sessions)))
	s.mu.Unlock()
	s.wg.Done()
}

// Health is the gateway's health report.
type Health struct {
	Status          string            `json:"status"` // "ok" or "degraded"
	Sessions        int64             `json:"sessions"`
	MaxSessions     int               `json:"max_sessions"`
	SessionsRefused int64             `json:"sessions_refused"`
	Turns           int64             `json:"turns"`
	TurnsFailed     int64             `json:"turns_failed"`
	STT             string            `json:"stt"`    // "available" or "unavailable"
	Images          string            `json:"images"` // "available" or "unavailable"
	Auth            string            `json:"auth"`   // "off" or "required"
	Activation      bool              `json:"activation"`
	Started         time.Time         `json:"started"`
	Version         string            `json:"version,omitempty"`
	Cloud           *proto.CloudState `json:"cloud,omitempty"` // nil: no cloud configured
	Problems        []string          `json:"problems,omitempty"`
	Runtime         Runtime           `json:"runtime"`
}

// Runtime is the process's memory and goroutine use.
type Runtime struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse_bytes"`
	StackInuse uint64 `json:"stack_inuse_bytes"`
	Sys        uint64 `json:"sys_bytes"`
}

func readRuntime() Runtime {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Runtime{Goroutines: runtime.NumGoroutine(), HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys}
}

// Health reports the gateway's state.
func (s *Server) Health() Health {
	h := Health{
		Status: "ok", Sessions: s.active.Load(), MaxSessions: s.cfg.MaxSessions,
		SessionsRefused: s.refused.Load(), Turns: s.turns.Load(), TurnsFailed: s.turnsBad.Load(),
		STT: "available", Images: "available", Auth: "off", Activation: s.cfg.Activation.Enabled,
		Started: s.start.UTC(), Version: s.cfg.Version, Runtime: readRuntime(),
	}
	if s.cfg.Auth.Required {
		h.Auth = "required"
	}
	if why := s.sttNotReady(); why != "" {
		h.STT = "unavailable"
		h.Problems = append(h.Problems, "speech recognition is not set up: "+why)
	}
	if s.deps.Images == nil {
		h.Images = "unavailable"
		h.Problems = append(h.Problems, "sticker generation is not set up: no image backend configured")
	}
	if c := s.deps.Cloud; c != nil {
		st := c.State()
		st.Policy, st.Relayed = s.cloudPolicy(), s.relayed.Load()
		h.Cloud = &st
		if st.Policy != proto.CloudLocal && !st.Reachable {
			p := "the cloud backend is not reachable"
			if !st.UnreachableSince.IsZero() {
				p += " since " + st.UnreachableSince.UTC().Format(time.RFC3339)
			}
			if st.LastError != "" {
				p += ": " + st.LastError
			}
			h.Problems = append(h.Problems, p)
		}
		if st.Breaker == proto.BreakerOpen {
			p := "cloud connections keep failing: the circuit breaker is open"
			if st.LastDialError != "" {
				p += ": " + st.LastDialError
			}
			h.Problems = append(h.Problems, p)
		}
	}
	if len(h.Problems) > 0 {
		h.Status = "degraded"
	}
	return h
}

// sttNotReady says why speech recognition cannot serve, or "".
func (s *Server) sttNotReady() string {
	if s.deps.Transcriber == nil {
		if s.deps.NoSTT != "" {
			return s.deps.NoSTT
		}
		return "no transcriber configured"
	}
	if r, ok := s.deps.Transcriber.(Readiness); ok {
		return r.NotReady()
	}
	return ""
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Health())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encode response"}`, http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func trimSlash(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}
