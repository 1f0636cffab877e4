package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// cmdSessionsList prints the most recent sessions, newest first.
func cmdSessionsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sessions list", "[--limit N] [--json] [--config FILE] [--state-dir DIR] [--server URL]")
	var rf recordFlags
	rf.register(fs)
	limit := fs.Int("limit", 20, "how many sessions to list (1 to 10000)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return fmt.Errorf("sessions list: --limit %d is not from 1 to 10000: %w", *limit, errUsage)
	}
	r, err := openRecords(rf, false)
	if err != nil {
		return err
	}
	defer r.Close()
	list, err := r.Sessions(ctx, *limit)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	if *asJSON {
		return writeJSON(stdout, list)
	}
	return writeSessionTable(stdout, list)
}

func writeSessionTable(w io.Writer, list []proto.Session) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEVICE\tDIALECT\tSTART\tDURATION\tTURNS\tCLOSE")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, dash(s.DeviceID), dash(s.Dialect),
			formatTime(s.Start), sessionDuration(s), s.Turns, closeText(s))
	}
	return tw.Flush()
}

// cmdSessionsShow prints one session and its turns.
func cmdSessionsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sessions show", "ID [--json] [--config FILE] [--state-dir DIR] [--server URL]")
	var rf recordFlags
	rf.register(fs)
	asJSON := fs.Bool("json", false, `print {"session":{...},"turns":[...]} as JSON`)
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 1, "one session ID"); err != nil {
		return err
	}
	r, err := openRecords(rf, false)
	if err != nil {
		return err
	}
	defer r.Close()
	s, turns, err := r.Session(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("show session: %w", err)
	}
	if *asJSON {
		if turns == nil {
			turns = []proto.Turn{}
		}
		return writeJSON(stdout, map[string]any{"session": s, "turns": turns})
	}
	return writeSession(stdout, s, turns)
}

func writeSession(w io.Writer, s proto.Session, turns []proto.Turn) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	line("session", s.ID)
	line("device", s.DeviceID)
	line("client", s.ClientID)
	line("remote", s.RemoteAddr)
	line("dialect", s.Dialect)
	line("start", formatTime(s.Start))
	if !s.End.IsZero() {
		line("end", formatTime(s.End)+" ("+sessionDuration(s)+")")
	} else {
		line("end", "open (or the server stopped before recording its end)")
	}
	line("close", closeText(s))
	line("tools", strings.Join(s.Tools, ", "))
	line("turns", strconv.Itoa(s.Turns))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range turns {
		fmt.Fprintf(w, "\nturn %d  %s  %s  %s  %s\n", t.Seq, dash(t.Source), dash(t.Outcome),
			formatTime(t.Start), humanDuration(t.End.Sub(t.Start)))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		field := func(k, v string) {
			if v != "" {
				fmt.Fprintf(tw, "  %s\t%s\n", k, v)
			}
		}
		field("id", t.ID)
		field("mode", t.Mode)
		if t.AudioMs > 0 {
			a := humanDuration(time.Duration(t.AudioMs) * time.Millisecond)
			if t.Truncated {
				a += " (cut at the maximum length)"
			}
			field("audio", a)
		}
		if t.Transcript != "" {
			field("transcript", strconv.Quote(t.Transcript))
		}
		if t.Prompt != "" {
			field("prompt", strconv.Quote(t.Prompt))
		}
		field("image", t.ImageID)
		field("original", t.OriginalID)
		field("backend", t.Backend)
		field("cloud", t.Cloud) // the stage relayed to the cloud
		field("fallback", t.Fallback)
		field("error", t.Error)
		field("timings", formatTimings(t.TimingsMs))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// formatTimings writes stage timings as "stt=120ms image=2.1s", sorted by
// stage name.
func formatTimings(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + humanDuration(time.Duration(m[k])*time.Millisecond)
	}
	return strings.Join(parts, " ")
}

// cmdSessionsExport writes sessions and their turns as JSON lines.
func cmdSessionsExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sessions export", "[--since RFC3339|DURATION] [-o FILE] [--config FILE] [--state-dir DIR] [--server URL]")
	var rf recordFlags
	rf.register(fs)
	sinceFlag := fs.String("since", "", `export sessions that started at or after this time: RFC 3339 ("2025-06-01T00:00:00Z") or an age ("24h", "7d"); default all`)
	out := fs.String("o", "", "write to FILE (created with mode 0600) instead of standard output")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	since, err := parseSince(*sinceFlag, time.Now())
	if err != nil {
		return fmt.Errorf("sessions export: --since: %v: %w", err, errUsage)
	}
	r, err := openRecords(rf, false)
	if err != nil {
		return err
	}
	defer r.Close()
	if *out == "" {
		if err := r.Export(ctx, stdout, since); err != nil {
			return fmt.Errorf("export sessions: %w", err)
		}
		return nil
	}
	return writeFileAtomic(*out, func(w io.Writer) error {
		if err := r.Export(ctx, w, since); err != nil {
			return fmt.Errorf("export sessions: %w", err)
		}
		return nil
	})
}

// parseSince reads an RFC 3339 time or an age before now (a Go duration,
// or a whole number of days such as "7d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or an age such as \"24h\" or \"7d\"", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or an age such as \"24h\" or \"7d\"", s)
		}
	}
	return now.Add(-d), nil
}

// writeFileAtomic writes a file (mode 0600) through fn, so that the file
// appears complete or not at all.
func writeFileAtomic(path string, fn func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = fn(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", path, cerr)
	}
	if err == nil {
		if rerr := os.Rename(f.Name(), path); rerr != nil {
			err = fmt.Errorf("write %s: %w", path, rerr)
		}
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func sessionDuration(s proto.Session) string {
	if s.End.IsZero() {
		return "open"
	}
	return humanDuration(s.End.Sub(s.Start))
}

// humanDuration rounds a duration for people: milliseconds under a
// second, tenths under a minute, seconds beyond.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return formatDuration(d.Round(time.Second))
}

func closeText(s proto.Session) string {
	switch {
	case s.CloseReason != "" && s.CloseCode != 0:
		return fmt.Sprintf("%d %s", s.CloseCode, s.CloseReason)
	case s.CloseReason != "":
		return s.CloseReason
	case s.CloseCode != 0:
		return strconv.Itoa(s.CloseCode)
	}
	return "-"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
