package systemd_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stikadoo/stikadoo-edge/systemd"
)

func TestJournalHandler(t *testing.T) {
	var out bytes.Buffer
	h := systemd.NewJournalHandler(&out, func(w io.Writer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
				if len(g) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		})
	})
	log := slog.New(h).With("device", "aa:bb").WithGroup("turn")
	log.Debug("frame", "n", 1)
	log.Info("stt", "text", "a\nb")
	log.Warn("slow")
	log.Error("store", "err", "disk full")
	log.Log(t.Context(), slog.LevelWarn+2, "between warn and error")
	want := []string{
		`<7>level=DEBUG msg=frame device=aa:bb turn.n=1`,
		`<6>level=INFO msg=stt device=aa:bb turn.text="a\nb"`,
		`<4>level=WARN msg=slow device=aa:bb`,
		`<3>level=ERROR msg=store device=aa:bb turn.err="disk full"`,
		`<4>level=WARN+2 msg="between warn and error" device=aa:bb`,
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestJournalHandlerLevel(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(systemd.NewJournalHandler(&out, func(w io.Writer) slog.Handler {
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})
	}))
	log.Info("dropped")
	log.Warn("kept")
	if s := out.String(); !strings.HasPrefix(s, `<4>{"time":`) || strings.Contains(s, "dropped") || strings.Count(s, "\n") != 1 {
		t.Errorf("got %q", s)
	}
}

func TestIsJournal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	if !systemd.IsJournal(f, env(systemd.EnvJournalStream, id)) {
		t.Errorf("file %s not recognised as the journal stream", id)
	}
	if systemd.IsJournal(f, env(systemd.EnvJournalStream, fmt.Sprintf("%d:%d", st.Dev, st.Ino+1))) {
		t.Error("another inode recognised as the journal stream")
	}
	if systemd.IsJournal(f, env()) {
		t.Error("recognised without JOURNAL_STREAM")
	}
}
