package models

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
)

// Verify hashes the file at path and returns the catalogue entry it is.
// A file whose sum is in no entry gives an error wrapping ErrUnknownModel
// that states its size and sum; when its name is a catalogue file name
// (a damaged or truncated download, or another build of the model) the
// error wraps ErrChecksum instead and gives both sums.
func Verify(path string) (Model, error) {
	return verifyIn(path, catalogue)
}

// verifyIn is Verify against a given catalogue.
func verifyIn(path string, cat []Model) (Model, error) {
	sum, size, err := fileSum(path)
	if err != nil {
		return Model{}, fmt.Errorf("verify %q: %w", path, err)
	}
	for _, m := range cat {
		if m.SHA256 == sum && m.Size == size {
			return m, nil
		}
	}
	base := filepath.Base(path)
	for _, m := range cat {
		if m.File == base {
			return Model{}, fmt.Errorf("verify %q: %d bytes with SHA-256 %s, but %s is %d bytes with SHA-256 %s: the file is damaged, incomplete or another build: %w",
				path, size, sum, m.Name, m.Size, m.SHA256, ErrChecksum)
		}
	}
	return Model{}, fmt.Errorf("verify %q: %d bytes with SHA-256 %s matches no model in the catalogue: %w", path, size, sum, ErrUnknownModel)
}

// fileSum returns the hex SHA-256 sum and the size of a file.
func fileSum(path string) (sum string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %q: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// WriteList writes the catalogue as a table: name, size, languages, and
// what of each model is in dir ("downloaded" when a file of the right
// size is there, unverified; "partial NN%" for an interrupted download).
// An empty dir leaves the status column blank.
func WriteList(w io.Writer, dir string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tLANGUAGES\tFILE\tSTATUS")
	for _, m := range catalogue {
		lang := "English"
		switch {
		case m.VAD:
			lang = "(voice activity)"
		case m.Multilingual:
			lang = "multilingual"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, formatBytes(m.Size), lang, m.File, status(m, dir))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write model list: %w", err)
	}
	return nil
}

// status says what of m is in dir.
func status(m Model, dir string) string {
	if dir == "" {
		return ""
	}
	final := filepath.Join(dir, m.File)
	if fi, err := os.Stat(final); err == nil {
		if fi.Size() == m.Size {
			return "downloaded"
		}
		return fmt.Sprintf("wrong size (%d bytes)", fi.Size())
	}
	if fi, err := os.Stat(final + partSuffix); err == nil {
		return fmt.Sprintf("partial %.0f%%", 100*float64(fi.Size())/float64(m.Size))
	}
	return "-"
}
