package edge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Activity is what the gateway is doing, as a status light shows it.
type Activity int

// Activities, from least to most urgent to show. A turn in progress
// outranks a device listening, which outranks a standing problem, so the
// light still follows the children when, say, speech recognition is not
// set up.
const (
	// ActivityReady: serving, nothing going on, nothing wrong.
	ActivityReady Activity = iota
	// ActivityError: idle, but something needs a grown-up: speech
	// recognition or sticker drawing is not set up, or the record could
	// not be written.
	ActivityError
	// ActivityListening: a device is streaming speech.
	ActivityListening
	// ActivityBusy: a turn (transcript, sticker, printing) or a reprint is
	// in progress.
	ActivityBusy
)

func (a Activity) String() string {
	switch a {
	case ActivityReady:
		return "ready"
	case ActivityError:
		return "error"
	case ActivityListening:
		return "listening"
	case ActivityBusy:
		return "busy"
	}
	return fmt.Sprintf("activity(%d)", int(a))
}

// Observer is told when the gateway's activity changes. Calls come from
// session goroutines, one at a time and in order; GatewayActivity must
// return quickly and must not call back into the Server.
type Observer interface {
	GatewayActivity(Activity)
}

// Activity reports what the gateway is doing now.
func (s *Server) Activity() Activity {
	switch {
	case s.busy.Load() > 0:
		return ActivityBusy
	case s.listening.Load() > 0:
		return ActivityListening
	case s.sttNotReady() != "" || s.deps.Images == nil || s.storeFailing.Load():
		return ActivityError
	}
	return ActivityReady
}

// notify tells the observer about a change of activity.
func (s *Server) notify() {
	if s.deps.Observer == nil {
		return
	}
	s.obsMu.Lock()
	defer s.obsMu.Unlock()
	a := s.Activity()
	if s.obsSent && a == s.obsLast {
		return
	}
	s.obsSent, s.obsLast = true, a
	s.deps.Observer.GatewayActivity(a)
}

// activityRecheck is how often the observer is brought up to date with
// changes nothing else reports, such as a speech model becoming ready.
const activityRecheck = 5 * time.Second

// watchActivity re-checks the activity until ctx is done.
func (s *Server) watchActivity(ctx context.Context) {
	t := time.NewTicker(activityRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.notify()
		}
	}
}

// storeResult notes whether a write to the record worked, for the status
// light.
func (s *Server) storeResult(err error) {
	if s.storeFailing.Swap(err != nil) != (err != nil) {
		s.notify()
	}
}

// setListening tracks whether the session is taking speech. Reader
// goroutine only.
func (ss *session) setListening(v bool) {
	if ss.listening == v {
		return
	}
	ss.listening = v
	if v {
		ss.srv.listening.Add(1)
	} else {
		ss.srv.listening.Add(-1)
	}
	ss.srv.notify()
}

// beginBusy marks a turn or reprint in progress; the returned function
// ends it.
func (s *Server) beginBusy() func() {
	s.busy.Add(1)
	s.notify()
	return func() {
		s.busy.Add(-1)
		s.notify()
	}
}

// lastSticker is the sticker most recently made, for the reprint button:
// one of the record (imageID) or one the cloud drew (url, as the cloud
// asked the device to show it).
type lastSticker struct {
	sess    *session
	device  string
	imageID string
	url     string
	at      time.Time
}

func (s *Server) rememberSticker(ss *session, device, imageID string) {
	s.lastMu.Lock()
	s.last = lastSticker{sess: ss, device: device, imageID: imageID, at: time.Now()}
	s.lastMu.Unlock()
}

// rememberCloudSticker notes a sticker the cloud drew for a relayed turn,
// which a device has shown, so the reprint button prints it and not an
// older one of the Pi's.
func (s *Server) rememberCloudSticker(ss *session, device, url string) {
	s.lastMu.Lock()
	s.last = lastSticker{sess: ss, device: device, url: url, at: time.Now()}
	s.lastMu.Unlock()
}

// recentForReprint is how many recent sessions the record is searched for
// the last sticker delivered.
const recentForReprint = 20

// lastRecordedSticker finds the sticker of the most recent turn in the
// record that delivered one, or returns a zero lastSticker.
func (s *Server) lastRecordedSticker() lastSticker {
	sessions, err := s.deps.Store.Sessions(recentForReprint, time.Time{})
	if err != nil {
		s.log.Warn("reprint: read the record", "err", err)
		return lastSticker{}
	}
	for _, sess := range sessions { // newest first
		_, turns, err := s.deps.Store.Session(sess.ID)
		if err != nil {
			continue
		}
		for i := len(turns) - 1; i >= 0; i-- {
			if t := turns[i]; t.Outcome == proto.OutcomeOK && t.ImageID != "" {
				return lastSticker{device: t.DeviceID, imageID: t.ImageID, at: t.End}
			}
		}
	}
	return lastSticker{}
}

// Reprint says what was reprinted: a sticker of the record (ImageID) or
// one the cloud drew (URL).
type Reprint struct {
	Device  string
	ImageID string
	URL     string
	Made    time.Time
}

// ReprintLast prints the most recently made sticker again on the device
// that asked for it, if that device is still connected (or connected
// again); after a restart, the last one the record holds. It returns an
// error wrapping ErrNothingToReprint when there is none (or it was deleted
// from the record),
// ErrDeviceOffline when the device is not connected, and the device's
// error when it does not print.
func (s *Server) ReprintLast(ctx context.Context) (Reprint, error) {
	s.lastMu.Lock()
	last := s.last
	s.lastMu.Unlock()
	if last.imageID == "" && last.url == "" {
		// Nothing made since the server started (a power cut, say): the
		// record knows the last sticker delivered.
		last = s.lastRecordedSticker()
	}
	if last.imageID == "" && last.url == "" {
		return Reprint{}, fmt.Errorf("reprint: %w", ErrNothingToReprint)
	}
	r := Reprint{Device: last.device, ImageID: last.imageID, URL: last.url, Made: last.at}
	if last.url != "" {
		// The cloud's sticker is not in the record: the device fetches it
		// from the cloud again.
		ss := s.liveSession(last.sess, last.device)
		if ss == nil {
			return r, fmt.Errorf("reprint on %s: %w", last.device, ErrDeviceOffline)
		}
		defer s.beginBusy()()
		if err := ss.mcp.callTool(ctx, proto.ToolPreviewImage, map[string]any{"url": last.url}, s.cfg.PreviewTimeout); err != nil {
			return r, fmt.Errorf("reprint on %s: %w", last.device, err)
		}
		ss.log.Info("cloud sticker reprinted")
		return r, nil
	}
	if _, err := s.deps.Store.Image(last.imageID); err != nil {
		if errors.Is(err, proto.ErrNotFound) {
			return r, fmt.Errorf("reprint %s: %w", last.imageID, ErrNothingToReprint)
		}
		return r, fmt.Errorf("reprint %s: %w", last.imageID, err)
	}
	ss := s.liveSession(last.sess, last.device)
	if ss == nil {
		return r, fmt.Errorf("reprint on %s: %w", last.device, ErrDeviceOffline)
	}
	defer s.beginBusy()()
	url := ss.base + trimSlash(s.cfg.ImagePath) + "/" + last.imageID + ".png"
	if err := ss.mcp.callTool(ctx, proto.ToolPreviewImage, map[string]any{"url": url}, s.cfg.PreviewTimeout); err != nil {
		return r, fmt.Errorf("reprint on %s: %w", last.device, err)
	}
	ss.log.Info("sticker reprinted", "image", last.imageID)
	return r, nil
}

// liveSession returns the session that made the sticker if it is still
// open, else the newest open session of the same device, or nil.
func (s *Server) liveSession(made *session, device string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[made]; ok && made.helloQueued.Load() && made.ctx.Err() == nil {
		return made
	}
	if device == "" {
		return nil
	}
	var best *session
	for ss := range s.sessions {
		if ss.creds.DeviceID == device && ss.helloQueued.Load() && ss.ctx.Err() == nil {
			if best == nil || ss.rec.Start.After(best.rec.Start) {
				best = ss
			}
		}
	}
	return best
}

// Enrollment policies (AuthConfig.Enrollment).
const (
	// EnrollOpen: with authentication required, any device that is not
	// blocked gets a token in the version check.
	EnrollOpen = "open"
	// EnrollWindow: devices already enrolled (given a token before, or
	// approved by an operator) get tokens; a new device gets one only
	// while an enrollment window is open.
	EnrollWindow = "window"
)

// OpenEnrollment lets new devices enroll for the configured window and
// returns when it closes. It returns an error wrapping ErrEnrollmentOff
// when there is nothing to open: authentication is off, or enrollment is
// open anyway.
func (s *Server) OpenEnrollment() (time.Time, error) {
	if !s.cfg.Auth.Required || s.cfg.Auth.Enrollment != EnrollWindow {
		return time.Time{}, fmt.Errorf("open enrollment (auth required %v, enrollment %q): %w", s.cfg.Auth.Required, s.cfg.Auth.Enrollment, ErrEnrollmentOff)
	}
	until := time.Now().Add(s.cfg.Auth.EnrollmentWindow)
	s.enrollUntil.Store(until.UnixNano())
	s.log.Info("enrollment window open: new devices get a token at their next start", "until", until.Format(time.TimeOnly))
	return until, nil
}

// EnrollmentOpen reports whether a new device would get a token now.
func (s *Server) EnrollmentOpen() bool {
	return s.cfg.Auth.Enrollment != EnrollWindow || time.Now().UnixNano() < s.enrollUntil.Load()
}

// mayIssue decides whether the version check hands d a token, and marks
// it enrolled when it does. clientID is the Client-Id the request gave.
//
// A Device-Id is a MAC address, which anyone on the LAN can read and
// claim. With enrollment windows, an enrolled device is also known by the
// Client-Id it enrolled with (a UUID the firmware keeps in flash): outside
// a window, a request that claims an enrolled MAC with another Client-Id
// gets no token, and does not replace the one on record.
func (s *Server) mayIssue(d *proto.Device, clientID string, now time.Time) bool {
	if !s.cfg.Auth.Required || !s.auth.canIssue() || d.Blocked {
		return false
	}
	windowed := s.cfg.Auth.Enrollment == EnrollWindow
	switch {
	case d.Enrolled.IsZero():
		if !s.EnrollmentOpen() {
			return false
		}
		d.Enrolled = now
	case windowed && d.ClientID != "" && clientID != "" && clientID != d.ClientID && !s.EnrollmentOpen():
		return false
	}
	return true
}

// mayRecordClientID reports whether a version check may record clientID
// as d's: not when it would replace the Client-Id an enrolled device is
// known by, outside an enrollment window.
func (s *Server) mayRecordClientID(d *proto.Device, clientID string) bool {
	return s.cfg.Auth.Enrollment != EnrollWindow || d.Enrolled.IsZero() || d.ClientID == "" ||
		clientID == d.ClientID || s.EnrollmentOpen()
}
