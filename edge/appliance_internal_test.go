package edge

import (
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// TestMayIssueWindow walks an enrollment window through open and closed
// by setting its end, without waiting for it.
func TestMayIssueWindow(t *testing.T) {
	cfg := Config{Auth: AuthConfig{Required: true, TokenSecret: make([]byte, 32), Enrollment: EnrollWindow}}.Defaults()
	s := &Server{cfg: cfg, auth: &authenticator{cfg: cfg.Auth}}
	now := time.Now()
	newDev := proto.Device{ID: "aa:00:00:00:00:01"}
	if s.mayIssue(&newDev, "", now) || !newDev.Enrolled.IsZero() {
		t.Fatal("a new device may get a token with no window open")
	}
	s.enrollUntil.Store(now.Add(time.Hour).UnixNano())
	if !s.mayIssue(&newDev, "", now) || !newDev.Enrolled.Equal(now) {
		t.Fatalf("during the window: enrolled %v", newDev.Enrolled)
	}
	s.enrollUntil.Store(now.Add(-time.Second).UnixNano())
	if !s.mayIssue(&newDev, "", now) {
		t.Fatal("an enrolled device may not get a token after the window")
	}
	other := proto.Device{ID: "aa:00:00:00:00:02"}
	if s.mayIssue(&other, "", now) {
		t.Fatal("a new device may get a token after the window closed")
	}
	blocked := proto.Device{ID: "aa:00:00:00:00:03", Enrolled: now, Blocked: true}
	if s.mayIssue(&blocked, "", now) {
		t.Fatal("a blocked device may get a token")
	}

	// A request that claims an enrolled device's MAC with another
	// Client-Id gets nothing outside a window, and does not replace the
	// Client-Id on record; the device itself, and a reflashed one during
	// a window, do.
	enrolled := proto.Device{ID: "aa:00:00:00:00:04", Enrolled: now, ClientID: "uuid-of-the-printer"}
	if s.mayIssue(&enrolled, "uuid-of-an-impostor", now) || s.mayRecordClientID(&enrolled, "uuid-of-an-impostor") {
		t.Fatal("another client id claiming an enrolled MAC gets a token or is recorded outside a window")
	}
	if !s.mayIssue(&enrolled, "uuid-of-the-printer", now) || !s.mayIssue(&enrolled, "", now) {
		t.Fatal("the enrolled printer itself gets no token")
	}
	s.enrollUntil.Store(now.Add(time.Hour).UnixNano())
	if !s.mayIssue(&enrolled, "uuid-after-a-reflash", now) || !s.mayRecordClientID(&enrolled, "uuid-after-a-reflash") {
		t.Fatal("during a window a reflashed printer cannot enroll again")
	}
	s.enrollUntil.Store(now.Add(-time.Second).UnixNano())

	s.cfg.Auth.Enrollment = EnrollOpen
	if !s.mayRecordClientID(&enrolled, "anything") {
		t.Fatal("with enrollment open the client id is not recorded")
	}
	if !s.mayIssue(&other, "", now) || other.Enrolled.IsZero() {
		t.Fatal("with enrollment open a new device may not get a token, or is not marked enrolled")
	}
	s.cfg.Auth.Required = false
	if s.mayIssue(&other, "", now) {
		t.Fatal("a token is issued with authentication off")
	}
}
