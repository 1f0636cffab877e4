package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of Downloader.
const (
	DefaultConnectTimeout   = 30 * time.Second
	DefaultStallTimeout     = 60 * time.Second
	DefaultRetries          = 5
	DefaultRetryWait        = 2 * time.Second
	DefaultProgressInterval = 250 * time.Millisecond
)

// Download internals.
const (
	maxRetryWait = 30 * time.Second
	copyBuffer   = 256 << 10
	partSuffix   = ".part"
	userAgent    = "stikadoo-edge"
)

// Downloader fetches model files. The zero value is ready to use and
// fetches from DefaultBaseURL.
//
// A download writes to "<dir>/<file>.part", hashing as it goes, and
// renames the file to "<dir>/<file>" only once its size and SHA-256 sum
// are the catalogue's. A download that stops (a lost connection, a stall,
// a cancelled context) keeps the .part file; the next one resumes from its
// end with a Range request, or starts again when the server ignores
// Range. Two downloads of the same model into the same directory must not
// run at once.
type Downloader struct {
	// BaseURL is where the files are: a file is fetched from BaseURL +
	// "/" + Model.File (default DefaultBaseURL). A mirror on the LAN
	// works as well as Hugging Face.
	BaseURL string
	// ConnectTimeout bounds connecting and the TLS handshake (default
	// DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// StallTimeout ends an attempt that receives no bytes for this long,
	// waiting for the answer included (default DefaultStallTimeout).
	// There is no overall time limit: a slow link may take hours.
	StallTimeout time.Duration
	// Retries is how many failed attempts in a row that received nothing
	// are retried (default DefaultRetries; negative: none). An attempt
	// that received bytes before it failed resets the count.
	Retries int
	// RetryWait is the first wait before a retry, doubled after each
	// failed attempt up to 30 s (default DefaultRetryWait).
	RetryWait time.Duration
	// ProgressInterval is the least time between two progress updates
	// (default DefaultProgressInterval).
	ProgressInterval time.Duration
	// HTTPClient is the client to use (default: one with ConnectTimeout
	// and no overall timeout). Its Timeout, if any, caps each attempt.
	HTTPClient *http.Client
}

// Download fetches m from baseURL (empty: DefaultBaseURL) into dir with
// the default settings; see Downloader.Download.
func Download(ctx context.Context, m Model, baseURL, dir string, progress io.Writer) (path string, err error) {
	return Downloader{BaseURL: baseURL}.Download(ctx, m, dir, progress)
}

// withDefaults fills the zero fields.
func (d Downloader) withDefaults() Downloader {
	d.BaseURL = strings.TrimRight(strings.TrimSpace(d.BaseURL), "/")
	if d.BaseURL == "" {
		d.BaseURL = DefaultBaseURL
	}
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = DefaultConnectTimeout
	}
	if d.StallTimeout <= 0 {
		d.StallTimeout = DefaultStallTimeout
	}
	if d.Retries == 0 {
		d.Retries = DefaultRetries
	}
	if d.RetryWait <= 0 {
		d.RetryWait = DefaultRetryWait
	}
	if d.ProgressInterval <= 0 {
		d.ProgressInterval = DefaultProgressInterval
	}
	if d.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: d.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
		tr.TLSHandshakeTimeout = d.ConnectTimeout
		d.HTTPClient = &http.Client{Transport: tr}
	}
	return d
}

// Download fetches m into dir (created if missing) and returns the path
// of the verified file. If the file is already there with the right sum,
// it returns at once. Progress goes to progress as one updating line
// (nothing when progress is nil).
//
// Errors wrap ErrChecksum or ErrSize (the .part file is then deleted),
// ErrDownload, ErrStalled, ErrInvalid or the context's error; after a
// lost connection, a stall or a cancel the .part file is kept, and
// downloading again resumes it.
func (d Downloader) Download(ctx context.Context, m Model, dir string, progress io.Writer) (path string, err error) {
	if err := m.check(); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	m.SHA256 = strings.ToLower(m.SHA256)
	d = d.withDefaults()
	base, err := url.Parse(d.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return "", fmt.Errorf("download %s: base URL %q is not an http or https URL: %w", m.Name, d.BaseURL, ErrInvalid)
	}
	src := d.BaseURL + "/" + m.File
	if m.Home != "" && d.BaseURL == DefaultBaseURL {
		// No mirror configured: the file's own home.
		src = m.Home + "/" + m.File
	}
	dl := &download{
		d:     d,
		m:     m,
		src:   src,
		shown: redact(src),
		final: filepath.Join(dir, m.File),
		bar:   newProgressLine(progress, m.File, m.Size, d.ProgressInterval),
	}
	dl.part = dl.final + partSuffix
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("download %s: create %q: %w", m.Name, dir, err)
	}
	return dl.run(ctx)
}

// download is one Download in progress.
type download struct {
	d           Downloader
	m           Model
	src, shown  string // URL, and URL for messages
	final, part string
	bar         *progressLine

	f    *os.File
	h    hash.Hash
	have int64 // bytes in the .part file, all hashed into h
}

func (dl *download) errorf(format string, args ...any) error {
	return fmt.Errorf("download %s from %s: "+format, append([]any{dl.m.Name, dl.shown}, args...)...)
}

func (dl *download) run(ctx context.Context) (string, error) {
	if fi, err := os.Stat(dl.final); err == nil && fi.Size() == dl.m.Size {
		sum, _, err := fileSum(dl.final)
		if err == nil && sum == dl.m.SHA256 {
			dl.bar.note(fmt.Sprintf("%s is already downloaded and verified", dl.final))
			return dl.final, nil
		}
		dl.bar.note(fmt.Sprintf("%s is there but its checksum is wrong; downloading it again", dl.final))
	}
	f, err := os.OpenFile(dl.part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", dl.errorf("open %q: %w", dl.part, err)
	}
	dl.f = f
	defer func() {
		if dl.f != nil {
			dl.f.Close()
		}
	}()
	dl.h = sha256.New()
	n, err := io.Copy(dl.h, f)
	if err != nil {
		return "", dl.errorf("read %q: %w", dl.part, err)
	}
	dl.have = n
	if dl.have > dl.m.Size {
		dl.bar.note(fmt.Sprintf("%s is longer than the model; starting again", dl.part))
		if err := dl.restart(); err != nil {
			return "", err
		}
	} else if dl.have > 0 {
		dl.bar.note(fmt.Sprintf("resuming %s at %s of %s", dl.m.File, formatBytes(dl.have), formatBytes(dl.m.Size)))
	}

	wait := dl.d.RetryWait
	failures := 0
	for dl.have < dl.m.Size {
		got, fail := dl.attempt(ctx)
		if fail == nil {
			continue
		}
		if fail.final {
			dl.bar.end()
			return "", fail.err
		}
		if ctx.Err() != nil {
			dl.bar.end()
			return "", dl.errorf("stopped at %s of %s; %s is kept, download again to resume: %w",
				formatBytes(dl.have), formatBytes(dl.m.Size), dl.part, ctx.Err())
		}
		if got > 0 {
			failures, wait = 0, dl.d.RetryWait
		}
		failures++
		if dl.d.Retries < 0 || failures > dl.d.Retries {
			dl.bar.end()
			tries := ""
			if failures > 1 {
				tries = fmt.Sprintf(" (%d attempts in a row failed)", failures)
			}
			return "", dl.errorf("%s at %s of %s%s; %s is kept, download again to resume: %w",
				fail.reason, formatBytes(dl.have), formatBytes(dl.m.Size), tries, dl.part, fail.err)
		}
		dl.bar.note(fmt.Sprintf("%s; retrying in %v", fail.reason, wait))
		if err := sleep(ctx, wait); err != nil {
			dl.bar.end()
			return "", dl.errorf("stopped at %s of %s; %s is kept, download again to resume: %w",
				formatBytes(dl.have), formatBytes(dl.m.Size), dl.part, err)
		}
		wait = min(2*wait, maxRetryWait)
	}
	dl.bar.update(dl.have, true)
	dl.bar.end()

	sum := hex.EncodeToString(dl.h.Sum(nil))
	if sum != dl.m.SHA256 {
		dl.f.Close()
		dl.f = nil
		rmErr := os.Remove(dl.part)
		what := "deleted " + dl.part
		if rmErr != nil {
			what = fmt.Sprintf("could not delete %s: %v", dl.part, rmErr)
		}
		return "", dl.errorf("SHA-256 of the downloaded file is %s, the catalogue says %s (%s): %w", sum, dl.m.SHA256, what, ErrChecksum)
	}
	if err := dl.f.Sync(); err != nil {
		return "", dl.errorf("sync %q: %w", dl.part, err)
	}
	err = dl.f.Close()
	dl.f = nil
	if err != nil {
		return "", dl.errorf("close %q: %w", dl.part, err)
	}
	if err := os.Rename(dl.part, dl.final); err != nil {
		return "", dl.errorf("rename %q: %w", dl.part, err)
	}
	syncDir(filepath.Dir(dl.final))
	dl.bar.note(fmt.Sprintf("%s: SHA-256 verified", dl.final))
	return dl.final, nil
}

// restart empties the .part file and the hash.
func (dl *download) restart() error {
	if err := dl.f.Truncate(0); err != nil {
		return dl.errorf("truncate %q: %w", dl.part, err)
	}
	if _, err := dl.f.Seek(0, io.SeekStart); err != nil {
		return dl.errorf("seek %q: %w", dl.part, err)
	}
	dl.h.Reset()
	dl.have = 0
	return nil
}

// failure is why an attempt ended early: final ones end the download,
// the others are retried.
type failure struct {
	final  bool
	reason string // for retried failures: what happened, in words
	err    error
}

func retry(err error, format string, args ...any) *failure {
	return &failure{reason: fmt.Sprintf(format, args...), err: err}
}

// attempt is one HTTP request, resuming at dl.have. It returns the bytes
// it added and why it ended early, if it did.
func (dl *download) attempt(ctx context.Context) (got int64, fail *failure) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	watchdog := time.AfterFunc(dl.d.StallTimeout, func() {
		stalled.Store(true)
		cancel()
	})
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(actx, http.MethodGet, dl.src, nil)
	if err != nil {
		return 0, &failure{final: true, err: dl.errorf("build request: %w: %w", ErrInvalid, err)}
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept-Encoding", "identity")
	if dl.have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(dl.have, 10)+"-")
	}
	resp, err := dl.d.HTTPClient.Do(req)
	if err != nil {
		if stalled.Load() {
			return 0, retry(ErrStalled, "no answer for %v", dl.d.StallTimeout)
		}
		return 0, retry(fmt.Errorf("%w: %w", ErrDownload, err), "%s", netReason(err))
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		switch {
		case !ok || start != dl.have:
			if err := dl.restart(); err != nil {
				return 0, &failure{final: true, err: err}
			}
			return 0, retry(ErrDownload, "the server answered with another range (%q); starting again", resp.Header.Get("Content-Range"))
		case total >= 0 && total != dl.m.Size:
			return 0, dl.sizeMismatch(total)
		}
	case code == http.StatusOK:
		if dl.have > 0 {
			dl.bar.note("the server ignores range requests; starting again from the beginning")
			if err := dl.restart(); err != nil {
				return 0, &failure{final: true, err: err}
			}
		}
		if resp.ContentLength >= 0 && resp.ContentLength != dl.m.Size {
			return 0, dl.sizeMismatch(resp.ContentLength)
		}
	case code == http.StatusRequestedRangeNotSatisfiable && dl.have > 0:
		if err := dl.restart(); err != nil {
			return 0, &failure{final: true, err: err}
		}
		return 0, retry(ErrDownload, "the server refused to resume at %s; starting again", formatBytes(dl.have))
	case code == http.StatusNotFound:
		return 0, &failure{final: true, err: dl.errorf("%s: no such file on the server: %w", resp.Status, ErrDownload)}
	case code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout:
		return 0, retry(ErrDownload, "the server answered %s", resp.Status)
	default:
		return 0, &failure{final: true, err: dl.errorf("the server answered %s: %w", resp.Status, ErrDownload)}
	}

	buf := make([]byte, copyBuffer)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(dl.d.StallTimeout)
			if dl.have+int64(n) > dl.m.Size {
				return got, dl.tooLong()
			}
			if _, err := dl.f.Write(buf[:n]); err != nil {
				return got, &failure{final: true, err: dl.errorf("write %q: %w", dl.part, err)}
			}
			dl.h.Write(buf[:n])
			dl.have += int64(n)
			got += int64(n)
			dl.bar.update(dl.have, false)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if stalled.Load() {
				return got, retry(ErrStalled, "no data for %v", dl.d.StallTimeout)
			}
			return got, retry(fmt.Errorf("%w: %w", ErrDownload, rerr), "connection lost (%s)", netReason(rerr))
		}
	}
	if dl.have < dl.m.Size {
		return got, retry(ErrDownload, "the server closed the connection early")
	}
	return got, nil
}

// sizeMismatch ends a download whose server announces another size: the
// .part file (which may hold another file's bytes) is deleted.
func (dl *download) sizeMismatch(total int64) *failure {
	dl.f.Close()
	dl.f = nil
	os.Remove(dl.part)
	return &failure{final: true, err: dl.errorf("the server's file is %d bytes, the catalogue says %d (deleted %s): %w",
		total, dl.m.Size, dl.part, ErrSize)}
}

// tooLong ends a download whose server sends more than the model's size.
func (dl *download) tooLong() *failure {
	dl.f.Close()
	dl.f = nil
	os.Remove(dl.part)
	return &failure{final: true, err: dl.errorf("the server sent more than the %d bytes of the model (deleted %s): %w",
		dl.m.Size, dl.part, ErrSize)}
}

// contentRange parses "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func contentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, false
	}
	span, size, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if size == "*" {
		return start, -1, true
	}
	total, err = strconv.ParseInt(size, 10, 64)
	if err != nil || total < 0 {
		return 0, 0, false
	}
	return start, total, true
}

// netReason is a network error without the repeated request URL.
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// redact hides a password in a URL and drops its query.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery = ""
	return u.Redacted()
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// syncDir makes a rename in dir durable, where the system allows it.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// progressLine draws "file  12.3 MiB / 141.1 MiB  8.7%  4.2 MiB/s  ETA 31s"
// on one line, redrawn in place with a carriage return at most once per
// interval. A nil writer draws nothing.
type progressLine struct {
	w        io.Writer
	name     string
	total    int64
	every    time.Duration
	start    time.Time
	from     int64 // bytes present when counting began, for the rate
	last     time.Time
	drawn    int // length of the line on screen; 0: none
	started  bool
	lastHave int64 // bytes at the last update
	shown    int64 // bytes on the line on screen
}

func newProgressLine(w io.Writer, name string, total int64, every time.Duration) *progressLine {
	return &progressLine{w: w, name: name, total: total, every: every}
}

// update redraws the line if the interval has passed (or force is set).
func (p *progressLine) update(have int64, force bool) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if !p.started || have < p.lastHave {
		p.started, p.start, p.from = true, now, have
	}
	p.lastHave = have
	if !force && now.Sub(p.last) < p.every {
		return
	}
	if force && p.drawn > 0 && have == p.shown {
		return
	}
	p.last, p.shown = now, have
	line := fmt.Sprintf("%s  %s / %s  %5.1f%%", p.name, formatBytes(have), formatBytes(p.total), 100*float64(have)/float64(p.total))
	if el := now.Sub(p.start).Seconds(); el >= 0.5 && have > p.from {
		rate := float64(have-p.from) / el
		line += fmt.Sprintf("  %s/s", formatBytes(int64(rate)))
		if have < p.total {
			eta := time.Duration(float64(p.total-have) / rate * float64(time.Second))
			line += "  ETA " + eta.Round(time.Second).String()
		}
	}
	pad := ""
	if n := p.drawn - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(p.w, "\r"+line+pad)
	p.drawn = len(line)
}

// end brings the line on screen up to date and finishes it, if one is
// drawn.
func (p *progressLine) end() {
	if p.w != nil && p.drawn > 0 {
		p.update(p.lastHave, true)
		fmt.Fprintln(p.w)
		p.drawn = 0
	}
}

// note writes a message on a line of its own.
func (p *progressLine) note(msg string) {
	if p.w == nil {
		return
	}
	p.end()
	fmt.Fprintln(p.w, msg)
}
