package storage_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/storage"
)

// t0 is a fixed instant the tests build times from.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func openTemp(t testing.TB) *storage.Store {
	t.Helper()
	s, err := storage.Open(filepath.Join(t.TempDir(), "edge.db"), storage.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func session(id string, start time.Time) proto.Session {
	return proto.Session{
		ID: id, DeviceID: "aa:bb:cc:dd:ee:ff", ClientID: "client-" + id, RemoteAddr: "192.168.1.20:50000",
		Dialect: proto.DialectOpusV3, Start: start, Turns: 1, Tools: []string{"self.screen.preview_image"},
	}
}

func turn(id, sessionID string, seq int, start time.Time) proto.Turn {
	return proto.Turn{
		ID: id, SessionID: sessionID, DeviceID: "aa:bb:cc:dd:ee:ff", Seq: seq, Start: start,
		End: start.Add(3 * time.Second), Source: proto.SourceVoice, Transcript: "a cat on a skateboard " + id,
		TimingsMs: map[string]int64{"stt": 800, "image": 2100}, Outcome: proto.OutcomeOK,
	}
}

func TestRoundTrip(t *testing.T) {
	s := openTemp(t)

	t.Run("device", func(t *testing.T) {
		want := proto.Device{
			ID: "aa:bb:cc:dd:ee:01", ClientID: "c1", SerialNumber: "SN1", Board: "esp32s3",
			FirmwareVersion: "1.2.3", UserAgent: "stikadoo/1.2.3", Language: "en", IP: "192.168.1.21",
			FirstSeen: at(0), LastSeen: at(5),
			Activation:    proto.Activation{Code: "123456", Verified: true, Approved: true, ActivatedAt: at(1)},
			RevokedBefore: at(2),
		}
		got, err := s.UpdateDevice(want.ID, func(d *proto.Device) error { *d = want; return nil })
		if err != nil {
			t.Fatalf("UpdateDevice: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("UpdateDevice returned %+v, want %+v", got, want)
		}
		got, err = s.Device(want.ID)
		if err != nil {
			t.Fatalf("Device: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Device = %+v, want %+v", got, want)
		}
	})

	t.Run("session and turn", func(t *testing.T) {
		sess := session("s-round", at(10))
		sess.End = at(12)
		sess.CloseCode = 1000
		sess.CloseReason = "bye"
		tr := turn("t-round", sess.ID, 1, at(11))
		tr.ImageID, tr.OriginalID, tr.Prompt, tr.Backend = "img-1", "img-1o", "sticker of a cat", "sdapi"
		tr.Truncated, tr.AudioMs, tr.Mode, tr.Fallback, tr.Error = true, 4200, "auto", "image: timeout", "none"
		if err := s.PutSession(sess); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTurn(tr); err != nil {
			t.Fatal(err)
		}
		gotS, gotT, err := s.Session(sess.ID)
		if err != nil {
			t.Fatalf("Session: %v", err)
		}
		if !reflect.DeepEqual(gotS, sess) {
			t.Errorf("session = %+v, want %+v", gotS, sess)
		}
		if !reflect.DeepEqual(gotT, []proto.Turn{tr}) {
			t.Errorf("turns = %+v, want [%+v]", gotT, tr)
		}
	})

	t.Run("image", func(t *testing.T) {
		want := proto.Image{ID: "img-rt", ContentType: "image/png", Created: at(20), Data: []byte("\x89PNG\r\n\x1a\nrest")}
		if err := s.PutImage(want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Image(want.ID)
		if err != nil {
			t.Fatalf("Image: %v", err)
		}
		if got.ID != want.ID || got.ContentType != want.ContentType || !got.Created.Equal(want.Created) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("Image = %+v, want %+v", got, want)
		}
	})

	t.Run("image created now when zero", func(t *testing.T) {
		before := time.Now()
		if err := s.PutImage(proto.Image{ID: "img-now", ContentType: "image/png", Data: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Image("img-now")
		if err != nil {
			t.Fatal(err)
		}
		if got.Created.Before(before.Add(-time.Second)) || got.Created.After(time.Now()) {
			t.Errorf("Created = %v, want about %v", got.Created, before)
		}
	})

	t.Run("image upsert", func(t *testing.T) {
		if err := s.PutImage(proto.Image{ID: "img-up", ContentType: "image/jpeg", Created: at(1), Data: []byte("old")}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutImage(proto.Image{ID: "img-up", ContentType: "image/png", Created: at(2), Data: []byte("new")}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Image("img-up")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Data) != "new" || got.ContentType != "image/png" || !got.Created.Equal(at(2)) {
			t.Errorf("Image after upsert = %+v", got)
		}
	})
}

func TestUpdateDevice(t *testing.T) {
	s := openTemp(t)
	const id = "aa:bb:cc:dd:ee:02"
	errBoom := errors.New("boom")

	t.Run("new device starts zero with ID", func(t *testing.T) {
		var seen proto.Device
		got, err := s.UpdateDevice(id, func(d *proto.Device) error {
			seen = *d
			d.FirstSeen, d.LastSeen, d.FirmwareVersion = at(0), at(0), "1.0.0"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(seen, proto.Device{ID: id}) {
			t.Errorf("fn saw %+v, want a zero Device with ID %q", seen, id)
		}
		if got.FirmwareVersion != "1.0.0" {
			t.Errorf("returned %+v", got)
		}
	})

	t.Run("existing device is merged", func(t *testing.T) {
		got, err := s.UpdateDevice(id, func(d *proto.Device) error {
			if !d.FirstSeen.Equal(at(0)) || d.FirmwareVersion != "1.0.0" {
				t.Errorf("fn saw %+v, want the stored device", *d)
			}
			d.LastSeen, d.IP = at(9), "10.0.0.9"
			d.ID = "someone else" // ignored
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := proto.Device{ID: id, FirstSeen: at(0), LastSeen: at(9), FirmwareVersion: "1.0.0", IP: "10.0.0.9"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("returned %+v, want %+v", got, want)
		}
		if stored, _ := s.Device(id); !reflect.DeepEqual(stored, want) {
			t.Errorf("stored %+v, want %+v", stored, want)
		}
		if _, err := s.Device("someone else"); !errors.Is(err, proto.ErrNotFound) {
			t.Errorf("fn changing ID created another device: %v", err)
		}
	})

	t.Run("fn error aborts an existing device", func(t *testing.T) {
		before, _ := s.Device(id)
		_, err := s.UpdateDevice(id, func(d *proto.Device) error {
			d.IP = "changed"
			return fmt.Errorf("refuse: %w", errBoom)
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want errBoom", err)
		}
		if after, _ := s.Device(id); !reflect.DeepEqual(after, before) {
			t.Errorf("device changed after an aborted update: %+v, was %+v", after, before)
		}
	})

	t.Run("fn error aborts a new device", func(t *testing.T) {
		_, err := s.UpdateDevice("aa:bb:cc:dd:ee:99", func(d *proto.Device) error { return errBoom })
		if err != errBoom {
			t.Fatalf("err = %v, want errBoom itself", err)
		}
		if _, err := s.Device("aa:bb:cc:dd:ee:99"); !errors.Is(err, proto.ErrNotFound) {
			t.Errorf("aborted new device was written: %v", err)
		}
	})

	t.Run("concurrent updates do not lose writes", func(t *testing.T) {
		const n = 16
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { // ends after one update
				if _, err := s.UpdateDevice("aa:bb:cc:dd:ee:03", func(d *proto.Device) error {
					d.Activation.LastError += "x"
					return nil
				}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		d, err := s.Device("aa:bb:cc:dd:ee:03")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Activation.LastError) != n {
			t.Errorf("after %d concurrent updates the counter is %d", n, len(d.Activation.LastError))
		}
	})
}

func TestDevicesMostRecentFirst(t *testing.T) {
	s := openTemp(t)
	for _, d := range []struct {
		id   string
		seen time.Time
	}{{"a", at(5)}, {"b", at(9)}, {"c", at(1)}, {"d", at(9)}} {
		if _, err := s.UpdateDevice(d.id, func(dv *proto.Device) error { dv.LastSeen = d.seen; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := s.Devices()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	if want := []string{"b", "d", "a", "c"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("Devices order = %v, want %v", ids, want)
	}
}

func sessionIDs(ss []proto.Session) []string {
	ids := []string{}
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	return ids
}

func TestSessionsNewestFirst(t *testing.T) {
	s := openTemp(t)
	// Inserted out of order; s5 started last.
	for _, x := range []struct {
		id  string
		min int
	}{{"s3", 30}, {"s1", 10}, {"s5", 50}, {"s2", 20}, {"s4", 40}} {
		if err := s.PutSession(session(x.id, at(x.min))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		limit  int
		before time.Time
		want   []string
	}{
		{"all", 0, time.Time{}, []string{"s5", "s4", "s3", "s2", "s1"}},
		{"first page", 2, time.Time{}, []string{"s5", "s4"}},
		{"second page", 2, at(40), []string{"s3", "s2"}},
		{"last page", 2, at(20), []string{"s1"}},
		{"past the end", 2, at(10), []string{}},
		{"before is exclusive", 0, at(30), []string{"s2", "s1"}},
		{"before between sessions", 1, at(35), []string{"s3"}},
		{"before after all", 10, at(1000), []string{"s5", "s4", "s3", "s2", "s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Sessions(tt.limit, tt.before)
			if err != nil {
				t.Fatal(err)
			}
			if ids := sessionIDs(got); !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("Sessions(%d, %v) = %v, want %v", tt.limit, tt.before, ids, tt.want)
			}
		})
	}

	t.Run("upsert moves a session whose start changed", func(t *testing.T) {
		moved := session("s1", at(60))
		moved.CloseReason = "updated"
		if err := s.PutSession(moved); err != nil {
			t.Fatal(err)
		}
		got, err := s.Sessions(0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if ids, want := sessionIDs(got), []string{"s1", "s5", "s4", "s3", "s2"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("after moving s1: %v, want %v", ids, want)
		}
		if got[0].CloseReason != "updated" {
			t.Errorf("s1 not updated: %+v", got[0])
		}
	})

	t.Run("zero before means now", func(t *testing.T) {
		if err := s.PutSession(session("future", time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		got, err := s.Sessions(1, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if ids := sessionIDs(got); !reflect.DeepEqual(ids, []string{"s1"}) {
			t.Errorf("Sessions(1, zero) = %v, want [s1]", ids)
		}
	})
}

func TestSessionTurnsInSeqOrder(t *testing.T) {
	s := openTemp(t)
	// "s1" is a prefix of "s10": their turns must not mix.
	for _, id := range []string{"s1", "s10"} {
		if err := s.PutSession(session(id, at(0))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tr := range []proto.Turn{
		turn("t3", "s1", 3, at(3)), turn("t1", "s1", 1, at(1)), turn("t10", "s1", 10, at(10)),
		turn("t2", "s1", 2, at(2)), turn("u1", "s10", 1, at(1)),
	} {
		if err := s.PutTurn(tr); err != nil {
			t.Fatal(err)
		}
	}
	turnIDs := func(id string) []string {
		t.Helper()
		_, ts, err := s.Session(id)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, tr := range ts {
			ids = append(ids, tr.ID)
		}
		return ids
	}
	if got, want := turnIDs("s1"), []string{"t1", "t2", "t3", "t10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("s1 turns = %v, want %v", got, want)
	}
	if got, want := turnIDs("s10"), []string{"u1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("s10 turns = %v, want %v", got, want)
	}

	// Upserting a turn with a new Seq moves it without leaving a copy.
	moved := turn("t1", "s1", 11, at(11))
	moved.Outcome = proto.OutcomeAborted
	if err := s.PutTurn(moved); err != nil {
		t.Fatal(err)
	}
	if got, want := turnIDs("s1"), []string{"t2", "t3", "t10", "t1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after moving t1: %v, want %v", got, want)
	}
	_, ts, _ := s.Session("s1")
	if last := ts[len(ts)-1]; last.Outcome != proto.OutcomeAborted {
		t.Errorf("t1 not updated: %+v", last)
	}

	// A session without turns has an empty, non-nil list.
	if err := s.PutSession(session("empty", at(0))); err != nil {
		t.Fatal(err)
	}
	if _, ts, err := s.Session("empty"); err != nil || ts == nil || len(ts) != 0 {
		t.Errorf("Session(empty) turns = %#v, %v; want empty list", ts, err)
	}
}

func TestExport(t *testing.T) {
	s := openTemp(t)
	// More sessions than one export batch, inserted newest first.
	const n = 70
	for i := n - 1; i >= 0; i-- {
		id := fmt.Sprintf("s%02d", i)
		if err := s.PutSession(session(id, at(i))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			for seq := 2; seq >= 1; seq-- {
				if err := s.PutTurn(turn(fmt.Sprintf("%s-t%d", id, seq), id, seq, at(i))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	tests := []struct {
		name  string
		since time.Time
		first int // index of the first exported session
	}{
		{"all", time.Time{}, 0},
		{"since is inclusive", at(40), 40},
		{"since between sessions", at(40).Add(time.Second), 41},
		{"nothing", at(n), n},
	}
	for _, batch := range []int{1, 7, 64} {
		restore := storage.SetBatches(128, 1024, batch)
		defer restore()
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/batch %d", tt.name, batch), func(t *testing.T) {
				exportCheck(t, s, tt.since, tt.first, n)
			})
		}
	}
}

// exportCheck exports sessions since since and checks that they are
// sessions first..n-1 of TestExport, oldest first, with their turns.
func exportCheck(t *testing.T, s *storage.Store, since time.Time, first, n int) {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Export(&buf, since); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	i := first
	for sc.Scan() {
		var line struct {
			Session *proto.Session `json:"session"`
			Turns   []proto.Turn   `json:"turns"`
		}
		raw := sc.Bytes()
		if err := json.Unmarshal(raw, &line); err != nil {
			t.Fatalf("line %q: %v", raw, err)
		}
		if line.Session == nil || !bytes.Contains(raw, []byte(`"turns":[`)) {
			t.Fatalf("line %q lacks a session or a turns list", raw)
		}
		if want := fmt.Sprintf("s%02d", i); line.Session.ID != want {
			t.Fatalf("line %d is session %q, want %q (oldest first)", i-first, line.Session.ID, want)
		}
		wantTurns := 0
		if i%2 == 0 {
			wantTurns = 2
		}
		if len(line.Turns) != wantTurns {
			t.Fatalf("session %s has %d turns, want %d", line.Session.ID, len(line.Turns), wantTurns)
		}
		for j, tr := range line.Turns {
			if tr.Seq != j+1 || tr.SessionID != line.Session.ID {
				t.Errorf("session %s turn %d = %+v", line.Session.ID, j, tr)
			}
		}
		i++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Errorf("exported sessions %d..%d, want up to %d", first, i-1, n-1)
	}
}

func TestNotFound(t *testing.T) {
	s := openTemp(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"device", func() error { _, err := s.Device("nope"); return err }},
		{"image", func() error { _, err := s.Image("nope"); return err }},
		{"session", func() error { _, _, err := s.Session("nope"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, proto.ErrNotFound) {
				t.Fatalf("err = %v, want one wrapping proto.ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), `"nope"`) {
				t.Errorf("error %q does not name the id", err)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	s := openTemp(t)
	long := strings.Repeat("x", storage.MaxIDLen+1)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"session without id", func() error { return s.PutSession(proto.Session{Start: at(0)}) }, storage.ErrInvalid},
		{"session with overlong id", func() error { return s.PutSession(proto.Session{ID: long}) }, storage.ErrInvalid},
		{"turn without id", func() error { return s.PutTurn(proto.Turn{SessionID: "s"}) }, storage.ErrInvalid},
		{"turn without session", func() error { return s.PutTurn(proto.Turn{ID: "t"}) }, storage.ErrInvalid},
		{"turn with overlong image id", func() error { return s.PutTurn(proto.Turn{ID: "t", SessionID: "s", ImageID: long}) }, storage.ErrInvalid},
		{"image without id", func() error { return s.PutImage(proto.Image{Data: []byte{1}}) }, storage.ErrInvalid},
		{"image without data", func() error { return s.PutImage(proto.Image{ID: "i"}) }, storage.ErrInvalid},
		{"image too large", func() error {
			return s.PutImage(proto.Image{ID: "i", Data: make([]byte, storage.MaxImageBytes+1)})
		}, storage.ErrTooLarge},
		{"device without id", func() error {
			_, err := s.UpdateDevice("", func(*proto.Device) error { return nil })
			return err
		}, storage.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want one wrapping %v", err, tt.want)
			}
		})
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions+st.Turns+st.Images+st.Devices != 0 {
		t.Errorf("refused records were written: %+v", st)
	}
	// The largest image allowed is stored.
	if err := s.PutImage(proto.Image{ID: "big", Data: make([]byte, storage.MaxImageBytes)}); err != nil {
		t.Errorf("image of exactly MaxImageBytes: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	start := time.Now()
	s2, err := storage.Open(path, storage.Options{}) // default lock timeout
	took := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open on a held file succeeded")
	}
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("err = %v, want one wrapping ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "another stikadoo-edge process") || !strings.Contains(msg, path) {
		t.Errorf("error %q does not say plainly what holds which file", msg)
	}
	if took < 500*time.Millisecond || took > 2500*time.Millisecond {
		t.Errorf("second Open failed after %v, want about %v", took, storage.DefaultLockTimeout)
	}

	t.Run("read-only open while a writer holds the file", func(t *testing.T) {
		_, err := storage.Open(path, storage.Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
		if !errors.Is(err, storage.ErrLocked) {
			t.Errorf("err = %v, want one wrapping ErrLocked", err)
		}
	})

	t.Run("free after close", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s3, err := storage.Open(path, storage.Options{LockTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatalf("Open after Close: %v", err)
		}
		s3.Close()
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateDevice("dev", func(d *proto.Device) error { d.Board = "esp32s3"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession(session("s", at(0))); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTurn(turn("t", "s", 1, at(0))); err != nil {
		t.Fatal(err)
	}
	if err := s.PutImage(proto.Image{ID: "i", ContentType: "image/png", Created: at(0), Data: []byte("png")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path = %q, want %q", s.Path(), path)
	}
	if d, err := s.Device("dev"); err != nil || d.Board != "esp32s3" {
		t.Errorf("device after reopen: %+v, %v", d, err)
	}
	if _, ts, err := s.Session("s"); err != nil || len(ts) != 1 || ts[0].ID != "t" {
		t.Errorf("session after reopen: %+v, %v", ts, err)
	}
	if img, err := s.Image("i"); err != nil || string(img.Data) != "png" {
		t.Errorf("image after reopen: %+v, %v", img, err)
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.db")

	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "sub", "none.db")
		if _, err := storage.Open(missing, storage.Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want one wrapping os.ErrNotExist", err)
		}
		if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read-only Open created a folder")
		}
	})

	w, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutSession(session("s", at(0))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r1, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer r1.Close()
	r2, err := storage.Open(path, storage.Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("second read-only Open: %v", err)
	}
	defer r2.Close()
	if ss, err := r2.Sessions(0, time.Time{}); err != nil || len(ss) != 1 {
		t.Errorf("Sessions read-only: %v, %v", ss, err)
	}
	if err := r1.PutSession(session("s2", at(1))); !errors.Is(err, berrors.ErrDatabaseReadOnly) {
		t.Errorf("PutSession on a read-only store: %v", err)
	}
	if _, err := storage.Open(path, storage.Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, storage.ErrLocked) {
		t.Errorf("writer Open while readers hold the file: %v, want ErrLocked", err)
	}
}

func TestOpenCreatesFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "var", "lib", "stikadoo-edge", "edge.db")
	s, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("folder mode %v, want 0700", perm)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("store file: %v, %v; want private to its owner", fi.Mode(), err)
	}
}

func TestOpenRefusesForeignSchema(t *testing.T) {
	tests := []struct {
		name  string
		setup func(tx *bolt.Tx) error
	}{
		{"newer schema", func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return b.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 99))
		}},
		{"not a store", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("widgets"))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tt.setup); err != nil {
				t.Fatal(err)
			}
			db.Close()
			for _, ro := range []bool{false, true} {
				s, err := storage.Open(path, storage.Options{ReadOnly: ro})
				if err == nil {
					s.Close()
					t.Fatalf("Open (read-only %v) accepted the file", ro)
				}
				if !errors.Is(err, storage.ErrSchema) {
					t.Errorf("Open (read-only %v): %v, want ErrSchema", ro, err)
				}
			}
			if tt.name == "newer schema" {
				_, err := storage.Open(path, storage.Options{})
				if !strings.Contains(err.Error(), "schema 99") || !strings.Contains(err.Error(), "newer") {
					t.Errorf("error %q does not explain the schema", err)
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	s := openTemp(t)
	for i := range 3 {
		if _, err := s.UpdateDevice(fmt.Sprint("d", i), func(*proto.Device) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		id := fmt.Sprint("s", i)
		if err := s.PutSession(session(id, at(i))); err != nil {
			t.Fatal(err)
		}
		for seq := 1; seq <= 2; seq++ {
			if err := s.PutTurn(turn(fmt.Sprint(id, "t", seq), id, seq, at(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.PutImage(proto.Image{ID: "i", Data: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(s.Path())
	want := storage.Stats{Devices: 3, Sessions: 2, Turns: 4, Images: 1, FileBytes: fi.Size()}
	if st != want || st.FileBytes == 0 {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

// ExampleOpen opens the record of a Stikadoo Edge server, records a
// session and lists it.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "stikadoo-edge")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s, err := storage.Open(filepath.Join(dir, "edge.db"), storage.Options{LockTimeout: time.Second})
	if errors.Is(err, storage.ErrLocked) {
		fmt.Println("already running:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := s.PutSession(proto.Session{ID: "s1", DeviceID: "aa:bb:cc:dd:ee:ff", Start: start}); err != nil {
		fmt.Println(err)
		return
	}
	if err := s.PutTurn(proto.Turn{ID: "t1", SessionID: "s1", Seq: 1, Start: start, Transcript: "a happy cactus", Outcome: proto.OutcomeOK}); err != nil {
		fmt.Println(err)
		return
	}
	sessions, err := s.Sessions(10, time.Time{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, sess := range sessions {
		_, turns, _ := s.Session(sess.ID)
		fmt.Println(sess.ID, sess.DeviceID, len(turns), turns[0].Transcript)
	}
	// Output: s1 aa:bb:cc:dd:ee:ff 1 a happy cactus
}

func BenchmarkPutTurn(b *testing.B) {
	s := openTemp(b)
	if err := s.PutSession(session("bench", t0)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if err := s.PutTurn(turn(fmt.Sprint("t", i), "bench", i, t0)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check on an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Check on a closed store: %v, want an error naming the file", err)
	}
	ro, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Check(); err == nil {
		t.Error("Check on a read-only store succeeded")
	}
}
