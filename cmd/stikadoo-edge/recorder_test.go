package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/storage"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// TestKeepAudio runs turns of an Opus device and a PCM device against a
// daemon that keeps audio, and reads the recordings back as the
// transcribe command does.
func TestKeepAudio(t *testing.T) {
	cfg := testConfig(t, "[retention]\nkeep_audio = true\n[stt]\nengine = \"none\"\n")
	addr, _, stop := startRun(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	speech := edgetest.Speech(1500 * time.Millisecond)
	var sessions []string
	for _, dialect := range []string{proto.DialectOpusV3, proto.DialectStikadoo} {
		dev := &edgetest.Device{Dialect: dialect, OTAURL: "http://" + addr + "/xiaozhi/ota/"}
		if _, err := dev.Boot(ctx); err != nil {
			t.Fatal(err)
		}
		if err := dev.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Hello(ctx); err != nil {
			t.Fatal(err)
		}
		// No speech engine: the turn fails, and its audio is kept all the
		// same, to be looked at later.
		if _, err := dev.RunTurn(ctx, speech); err != nil {
			t.Fatalf("%s: %v", dialect, err)
		}
		sessions = append(sessions, dev.SessionID())
		dev.Close()
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	st, err := storage.Open(filepath.Join(cfg.StateDir, storeFile), storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := filepath.Join(cfg.StateDir, audioDirName)
	for i, want := range []string{opusSuffix, wavSuffix} {
		_, turns, err := st.Session(sessions[i])
		if err != nil || len(turns) != 1 {
			t.Fatalf("session %s: %d turns, %v", sessions[i], len(turns), err)
		}
		tr := turns[0]
		if tr.Audio != tr.ID+want || tr.Outcome != proto.OutcomeSTTUnavailable {
			t.Errorf("turn %s: audio %q, outcome %s; want %s%s and %s", tr.ID, tr.Audio, tr.Outcome, tr.ID, want, proto.OutcomeSTTUnavailable)
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, tr.Audio))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", tr.Audio, fi.Mode().Perm())
		}
		samples, bad, err := readAudioFile(filepath.Join(dir, tr.Audio))
		if err != nil || bad != 0 {
			t.Fatalf("read %s: %v (%d bad packets)", tr.Audio, err, bad)
		}
		// The recording is the utterance the turn heard, give or take a
		// packet of Opus framing.
		got := len(samples) * 1000 / stt.SampleRate
		if d := got - tr.AudioMs; d < -60 || d > 60 {
			t.Errorf("%s holds %d ms, the turn heard %d ms", tr.Audio, got, tr.AudioMs)
		}
	}
}

func TestPruneAudio(t *testing.T) {
	dir := t.TempDir()
	r := &audioRecorder{dir: dir}
	for _, id := range []string{"old-001", "new-001", "orphan-002"} {
		if _, err := r.RecordAudio(id, nil, edgetest.Speech(100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, age time.Duration) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write("notes.txt", 48*time.Hour) // not a recording: kept
	write(".rec-123", 2*time.Hour)   // an interrupted write: removed
	write(".rec-456", time.Minute)   // a write going on now: kept
	long := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "old-001.wav"), long, long); err != nil {
		t.Fatal(err)
	}
	gone := func(session string) bool { return session == "orphan" }
	n, err := pruneAudio(dir, time.Now().Add(-24*time.Hour), gone)
	if err != nil || n != 3 {
		t.Fatalf("pruneAudio = %d, %v; want 3 files", n, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".rec-456", "new-001.wav", "notes.txt"}) {
		t.Errorf("left %v", names)
	}
	// With no age limit, recordings go only with their session.
	if n, err := pruneAudio(dir, time.Time{}, func(string) bool { return false }); n != 0 || err != nil {
		t.Errorf("no age limit, sessions kept: pruned %d, %v", n, err)
	}
	if n, err := pruneAudio(filepath.Join(dir, "missing"), time.Now(), gone); n != 0 || err != nil {
		t.Errorf("pruning a folder that is not there: %d, %v", n, err)
	}
}

func TestRecordAudioRefusesPaths(t *testing.T) {
	r := &audioRecorder{dir: t.TempDir()}
	for _, id := range []string{"../x", "", "a/b", ".hidden"} {
		if _, err := r.RecordAudio(id, nil, edgetest.Speech(10*time.Millisecond)); err == nil {
			t.Errorf("RecordAudio(%q) wrote a file", id)
		}
	}
}
