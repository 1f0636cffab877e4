package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// audioDirName is the folder of kept utterances in the state directory.
const audioDirName = "audio"

// Recording file suffixes.
const (
	opusSuffix = ".opus" // stt's recorded Opus packets (stt.OpusFileMagic)
	wavSuffix  = ".wav"
)

var _ edge.AudioRecorder = (*audioRecorder)(nil)

// audioRecorder keeps each utterance in a folder, one file per turn.
type audioRecorder struct {
	dir string
}

// turnIDRE is what a turn id may look like to become a file name.
var turnIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// RecordAudio writes the Opus packets (when the device sent Opus) or the
// samples (as a 16-bit WAV file) to DIR/ID.opus or DIR/ID.wav, whole or
// not at all, readable by the owner and group only.
func (r *audioRecorder) RecordAudio(id string, opus [][]byte, samples []float32) (string, error) {
	if !turnIDRE.MatchString(id) {
		return "", fmt.Errorf("record audio: turn id %q is not a file name", id)
	}
	var buf bytes.Buffer
	name := id + wavSuffix
	if len(opus) > 0 {
		name = id + opusSuffix
		if err := stt.WriteOpusPackets(&buf, opus); err != nil {
			return "", fmt.Errorf("record audio of %s: %w", id, err)
		}
	} else if err := stt.WriteWAV(&buf, samples, stt.SampleRate); err != nil {
		return "", fmt.Errorf("record audio of %s: %w", id, err)
	}
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		return "", fmt.Errorf("record audio: %w", err)
	}
	f, err := os.CreateTemp(r.dir, ".rec-*")
	if err != nil {
		return "", fmt.Errorf("record audio: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Chmod(0o640)
	}
	if err == nil {
		// On disk before the rename, so that after a power cut the name
		// the turn record gives holds the whole recording.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(r.dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("record audio of %s: %w", id, err)
	}
	return name, nil
}

// leftoverAge is how old a temporary file of an interrupted write must
// be before pruning removes it.
const leftoverAge = time.Hour

// pruneAudio deletes the recordings last changed before cutoff (zero: of
// any age) or whose session gone reports is no longer in the record, and
// leftovers of interrupted writes. It returns how many files it deleted.
func pruneAudio(dir string, cutoff time.Time, gone func(sessionID string) bool) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("prune audio: %w", err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		old := !cutoff.IsZero() && fi.ModTime().Before(cutoff)
		var del bool
		switch {
		case strings.HasPrefix(name, ".rec-"):
			del = time.Since(fi.ModTime()) > leftoverAge
		case strings.HasSuffix(name, opusSuffix), strings.HasSuffix(name, wavSuffix):
			id := strings.TrimSuffix(strings.TrimSuffix(name, opusSuffix), wavSuffix)
			del = old || gone(sessionOfTurn(id))
		}
		if !del {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("prune audio: %w", err)
		}
		n++
	}
	return n, nil
}

// sessionOfTurn is the session id in a turn id ("<session>-<seq>").
func sessionOfTurn(turnID string) string {
	if i := strings.LastIndexByte(turnID, '-'); i > 0 {
		return turnID[:i]
	}
	return turnID
}

// runAudioRetention prunes recordings every interval until ctx is done:
// those older than maxAge (0: kept as long as their session) and those
// whose session the record no longer holds (pruned by age or by count).
func runAudioRetention(ctx context.Context, dir string, every, maxAge time.Duration, gone func(string) bool, log *slog.Logger) error {
	if every <= 0 {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var cutoff time.Time
		if maxAge > 0 {
			cutoff = time.Now().Add(-maxAge)
		}
		if n, err := pruneAudio(dir, cutoff, gone); err != nil {
			log.Warn("prune kept audio", "err", err)
		} else if n > 0 {
			log.Info("pruned kept audio", "files", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readAudioFile reads a WAV file or a recording of Opus packets as 16 kHz
// samples, telling them apart by their first bytes. bad counts the Opus
// packets that could not be decoded and were skipped.
func readAudioFile(path string) (samples []float32, bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	head := make([]byte, len(stt.OpusFileMagic))
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	if stt.IsOpusPackets(head[:n]) {
		samples, bad, err := stt.ReadOpusPackets(f)
		if err != nil {
			return nil, bad, fmt.Errorf("read %s: %w", path, err)
		}
		return samples, bad, nil
	}
	samples, rate, err := stt.ReadWAV(f)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s (a WAV file, or Opus packets the server kept): %w", path, err)
	}
	return stt.Resample(samples, rate, stt.SampleRate), 0, nil
}
