package systemd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// IsJournal reports whether f is the stream journald gave the service, as
// JOURNAL_STREAM ("DEV:INODE", systemd.exec(5)) names it. It compares
// device and inode, so a stderr redirected elsewhere by the service (or a
// child that inherited the variable) is not mistaken for the journal.
func IsJournal(f *os.File, getenv func(string) string) bool {
	want := getenv(EnvJournalStream)
	if want == "" || f == nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return want == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// Priority is the syslog priority journald records for a level: error 3,
// warning 4, info 6, debug 7; a level between two takes the more severe.
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// JournalHandler writes each record as one line prefixed with its
// sd-daemon priority ("<4>level=WARN msg=..."), which journald strips and
// records as the entry's priority, so `journalctl -p warning` works. The
// line itself comes from the wrapped text or JSON handler.
type JournalHandler struct {
	inner slog.Handler
	buf   *bytes.Buffer // inner writes here
	mu    *sync.Mutex   // guards buf and w; shared by derived handlers
	w     io.Writer
}

// NewJournalHandler returns a handler writing to w. newInner builds the
// handler that formats one record (slog.NewTextHandler or
// slog.NewJSONHandler with the caller's options) on the writer it is
// given.
func NewJournalHandler(w io.Writer, newInner func(io.Writer) slog.Handler) *JournalHandler {
	buf := new(bytes.Buffer)
	return &JournalHandler{inner: newInner(buf), buf: buf, mu: new(sync.Mutex), w: w}
}

// Enabled reports whether the wrapped handler takes records of level l.
func (h *JournalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle writes r as one prefixed line.
func (h *JournalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	fmt.Fprintf(h.buf, "<%d>", Priority(r.Level))
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.w.Write(h.buf.Bytes())
	return err
}

// WithAttrs returns a handler whose records carry attrs.
func (h *JournalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.inner = h.inner.WithAttrs(attrs)
	return &h2
}

// WithGroup returns a handler that puts later attributes in group name.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.inner = h.inner.WithGroup(name)
	return &h2
}
