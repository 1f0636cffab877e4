package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/storage"
)

// pruneNow is the "now" of the prune tests; with a 100-minute maximum age
// everything before at(900) is old.
var pruneNow = at(1000)

var allImages = []string{"img-a", "img-ao", "img-shared", "img-new-ref", "img-orphan-old", "img-orphan-new", "img-lost"}

// prunable fills s with sessions, turns and images of known ages:
//
//	old1  at 100  o1t1 (img-a, original img-ao), o1t2
//	old2  at 200  o2t1 (img-shared)
//	new1  at 950  n1t1 (img-shared, original img-new-ref)
//	new2  at 960  n2t1
//	new3  at 990  no turns
//	turn "lost" of never-stored session "never" at 10 (img-lost)
//	turn "pending" of not-yet-stored session "later" at 995
//	img-orphan-old at 50 and img-orphan-new at 980, used by no turn
func prunable(t *testing.T, s *storage.Store) {
	t.Helper()
	if _, err := s.UpdateDevice("dev", func(d *proto.Device) error { d.LastSeen = at(0); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		id  string
		min int
	}{{"old1", 100}, {"old2", 200}, {"new1", 950}, {"new2", 960}, {"new3", 990}} {
		if err := s.PutSession(session(x.id, at(x.min))); err != nil {
			t.Fatal(err)
		}
	}
	withImages := func(tr proto.Turn, img, orig string) proto.Turn {
		tr.ImageID, tr.OriginalID = img, orig
		return tr
	}
	for _, tr := range []proto.Turn{
		withImages(turn("o1t1", "old1", 1, at(100)), "img-a", "img-ao"),
		turn("o1t2", "old1", 2, at(101)),
		withImages(turn("o2t1", "old2", 1, at(200)), "img-shared", ""),
		withImages(turn("n1t1", "new1", 1, at(950)), "img-shared", "img-new-ref"),
		turn("n2t1", "new2", 1, at(960)),
		withImages(turn("lost", "never", 1, at(10)), "img-lost", ""),
		turn("pending", "later", 1, at(995)),
	} {
		if err := s.PutTurn(tr); err != nil {
			t.Fatal(err)
		}
	}
	for _, img := range []struct {
		id  string
		min int
	}{{"img-a", 100}, {"img-ao", 100}, {"img-shared", 200}, {"img-new-ref", 950}, {"img-orphan-old", 50}, {"img-orphan-new", 980}, {"img-lost", 10}} {
		if err := s.PutImage(proto.Image{ID: img.id, ContentType: "image/png", Created: at(img.min), Data: []byte(img.id)}); err != nil {
			t.Fatal(err)
		}
	}
}

// remaining lists what is left in s.
func remaining(t *testing.T, s *storage.Store) (sessions, images []string, turns int) {
	t.Helper()
	ss, err := s.Sessions(0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	sessions = sessionIDs(ss)
	images = []string{}
	for _, id := range allImages {
		_, err := s.Image(id)
		switch {
		case err == nil:
			images = append(images, id)
		case !errors.Is(err, proto.ErrNotFound):
			t.Fatal(err)
		}
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != len(sessions) || st.Images != len(images) {
		t.Errorf("Stats %+v disagree with %d sessions and %d images listed", st, len(sessions), len(images))
	}
	if st.Devices != 1 {
		t.Errorf("devices after prune: %d, want 1 (devices are never pruned)", st.Devices)
	}
	return sessions, images, st.Turns
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name         string
		maxAge       time.Duration
		maxSessions  int
		want         storage.PruneStats
		wantSessions []string
		wantImages   []string
	}{
		{
			name:   "by age",
			maxAge: 100 * time.Minute,
			// old1, old2 and their turns, the orphan turn "lost" and its
			// image, the unused old image; img-shared is still used by n1t1.
			want:         storage.PruneStats{Sessions: 2, Turns: 4, Images: 4},
			wantSessions: []string{"new3", "new2", "new1"},
			wantImages:   []string{"img-shared", "img-new-ref", "img-orphan-new"},
		},
		{
			name:        "by count",
			maxSessions: 2,
			// old1, old2, new1 and every image only their turns used;
			// without an age limit unused images and orphan turns stay.
			want:         storage.PruneStats{Sessions: 3, Turns: 4, Images: 4},
			wantSessions: []string{"new3", "new2"},
			wantImages:   []string{"img-orphan-old", "img-orphan-new", "img-lost"},
		},
		{
			name:         "by age and count",
			maxAge:       100 * time.Minute,
			maxSessions:  1,
			want:         storage.PruneStats{Sessions: 4, Turns: 6, Images: 6},
			wantSessions: []string{"new3"},
			wantImages:   []string{"img-orphan-new"},
		},
		{
			name:         "no limits",
			wantSessions: []string{"new3", "new2", "new1", "old2", "old1"},
			wantImages:   allImages,
		},
		{
			name:         "limits not reached",
			maxAge:       10000 * time.Minute,
			maxSessions:  5,
			wantSessions: []string{"new3", "new2", "new1", "old2", "old1"},
			wantImages:   allImages,
		},
	}
	const turnsBefore = 7
	for _, batches := range []struct {
		name            string
		sessions, scans int
	}{{"default batches", 128, 1024}, {"batches of one", 1, 1}, {"batches of two", 2, 2}} {
		for _, tt := range tests {
			t.Run(batches.name+"/"+tt.name, func(t *testing.T) {
				defer storage.SetBatches(batches.sessions, batches.scans, 64)()
				s := openTemp(t)
				prunable(t, s)
				got, err := s.Prune(pruneNow, tt.maxAge, tt.maxSessions)
				if err != nil {
					t.Fatalf("Prune: %v", err)
				}
				if got != tt.want {
					t.Errorf("Prune = %+v, want %+v", got, tt.want)
				}
				sessions, images, turns := remaining(t, s)
				if !reflect.DeepEqual(sessions, tt.wantSessions) {
					t.Errorf("sessions left %v, want %v", sessions, tt.wantSessions)
				}
				if !reflect.DeepEqual(images, tt.wantImages) {
					t.Errorf("images left %v, want %v", images, tt.wantImages)
				}
				if turns != turnsBefore-tt.want.Turns {
					t.Errorf("%d turns left, want %d", turns, turnsBefore-tt.want.Turns)
				}
				for _, id := range sessions {
					if _, _, err := s.Session(id); err != nil {
						t.Errorf("kept session %s: %v", id, err)
					}
				}
				for _, id := range []string{"old1", "old2", "new1", "new2", "new3"} {
					if slices.Contains(sessions, id) {
						continue
					}
					if _, _, err := s.Session(id); !errors.Is(err, proto.ErrNotFound) {
						t.Errorf("pruned session %s: %v, want ErrNotFound", id, err)
					}
				}

				again, err := s.Prune(pruneNow, tt.maxAge, tt.maxSessions)
				if err != nil || again != (storage.PruneStats{}) {
					t.Errorf("second Prune = %+v, %v; want nothing to do", again, err)
				}
			})
		}
	}
}

// A turn ID freed by pruning can be used again without inheriting the old
// turn's image references.
func TestPruneForgetsTurnIDs(t *testing.T) {
	s := openTemp(t)
	prunable(t, s)
	if _, err := s.Prune(pruneNow, 100*time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	// o1t1 used img-a; reused without images it must leave no reference,
	// so a later image named img-a that is old and unused is pruned.
	if err := s.PutSession(session("again", at(999))); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTurn(turn("o1t1", "again", 1, at(999))); err != nil {
		t.Fatal(err)
	}
	if err := s.PutImage(proto.Image{ID: "img-a", Created: at(10), Data: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Prune(pruneNow, 100*time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st != (storage.PruneStats{Images: 1}) {
		t.Errorf("Prune = %+v, want only the unused img-a", st)
	}
	if _, ts, err := s.Session("again"); err != nil || len(ts) != 1 {
		t.Errorf("Session(again) = %v, %v", ts, err)
	}
}

// Re-pointing a turn at another image releases the first one.
func TestPruneFollowsTurnUpdates(t *testing.T) {
	s := openTemp(t)
	if err := s.PutSession(session("s", at(999))); err != nil {
		t.Fatal(err)
	}
	tr := turn("t", "s", 1, at(999))
	tr.ImageID = "first"
	if err := s.PutTurn(tr); err != nil {
		t.Fatal(err)
	}
	tr.ImageID = "second"
	if err := s.PutTurn(tr); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"first", "second"} {
		if err := s.PutImage(proto.Image{ID: id, Created: at(0), Data: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Prune(pruneNow, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st != (storage.PruneStats{Images: 1}) {
		t.Errorf("Prune = %+v, want one image", st)
	}
	if _, err := s.Image("first"); !errors.Is(err, proto.ErrNotFound) {
		t.Errorf("first image kept: %v", err)
	}
	if _, err := s.Image("second"); err != nil {
		t.Errorf("second image (in use) pruned: %v", err)
	}
}

func TestPruneRefusesNegativeLimits(t *testing.T) {
	s := openTemp(t)
	for _, tt := range []struct {
		name   string
		maxAge time.Duration
		max    int
	}{{"age", -time.Hour, 0}, {"count", 0, -1}} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Prune(pruneNow, tt.maxAge, tt.max); !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// syncBuffer is a log sink safe for the retention goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunRetention(t *testing.T) {
	s := openTemp(t)
	// Sessions a day old and fresh ones: the age limit keeps the fresh.
	now := time.Now()
	for i, start := range []time.Time{now.Add(-25 * time.Hour), now.Add(-24 * time.Hour), now.Add(-time.Minute)} {
		if err := s.PutSession(session(fmt.Sprint("s", i), start)); err != nil {
			t.Fatal(err)
		}
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.RunRetention(ctx, 20*time.Millisecond, time.Hour, 0, log) }() // ends when ctx is cancelled

	// The first prune runs at once.
	deadline := time.Now().Add(2 * time.Second)
	for {
		ss, err := s.Sessions(0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if ids := sessionIDs(ss); reflect.DeepEqual(ids, []string{"s2"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old sessions not pruned at start: %v", sessionIDs(ss))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A session that ages past the limit later goes at a following tick.
	if err := s.PutSession(session("late", now.Add(-2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := s.Session("late"); errors.Is(err, proto.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session not pruned at a later tick")
		}
		time.Sleep(5 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunRetention returned %v after cancel, want nil", err)
		}
	case <-time.After(time.Second):
		t.Fatal("RunRetention did not return after cancel")
	}
	if !strings.Contains(logs.String(), "pruned store") {
		t.Errorf("no prune logged: %q", logs.String())
	}
}

func TestRunRetentionArguments(t *testing.T) {
	s := openTemp(t)
	tests := []struct {
		name        string
		every       time.Duration
		maxAge      time.Duration
		maxSessions int
		wantErr     error
	}{
		{"off returns at once", time.Minute, 0, 0, nil},
		{"zero interval", 0, time.Hour, 0, storage.ErrInvalid},
		{"negative age", time.Minute, -time.Hour, 0, storage.ErrInvalid},
		{"negative count", time.Minute, 0, -1, storage.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A live context: each case must return without it ending.
			err := s.RunRetention(t.Context(), tt.every, tt.maxAge, tt.maxSessions, nil)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("RunRetention = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
