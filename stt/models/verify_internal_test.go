package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Verify against a catalogue holding a small file's entry: the real
// catalogue's files are hundreds of megabytes and never fetched in tests.
func TestVerifyKnown(t *testing.T) {
	data := []byte("a model file, for the purpose of this test")
	sum := sha256.Sum256(data)
	entry := Model{Name: "fake.en", File: "ggml-fake.en.bin", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	cat := append(Catalogue(), entry)

	tests := []struct {
		name    string
		file    string
		content []byte
		want    Model
		wantErr error
	}{
		{"by content under its own name", entry.File, data, entry, nil},
		{"by content under another name", "renamed.bin", data, entry, nil},
		{"same size, other bytes, catalogue name", entry.File, []byte("A model file, for the purpose of this test"), Model{}, ErrChecksum},
		{"truncated", entry.File, data[:10], Model{}, ErrChecksum},
		{"unknown", "other.bin", data[:10], Model{}, ErrUnknownModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(p, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := verifyIn(p, cat)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("verifyIn = %v, %v; want %v", got, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("verifyIn = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestContentRange(t *testing.T) {
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes -5-9/10", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			start, total, ok := contentRange(tc.in)
			if ok != tc.ok || (ok && (start != tc.start || total != tc.total)) {
				t.Errorf("contentRange(%q) = %d, %d, %v; want %d, %d, %v", tc.in, start, total, ok, tc.start, tc.total, tc.ok)
			}
		})
	}
}
