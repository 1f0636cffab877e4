package imagegen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	// Decoders for the image header check.
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/webp"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Retry and message limits shared by the backends.
const (
	bkBackoffBase    = 500 * time.Millisecond
	bkBackoffMax     = 10 * time.Second
	bkMaxRetryAfter  = 24 * time.Hour
	bkErrorBodyLimit = 64 << 10
	bkMessageLimit   = 200
	bkFirstChunk     = 64 << 10
	bkMaxChunk       = 1 << 20
	bkUserAgent      = "stikadoo-edge"
)

// bkHooks are the clock of a backend: how it waits and how it jitters.
// Tests replace them so that back-off costs no time.
type bkHooks struct {
	// sleep waits d or until ctx is done, returning ctx.Err() then.
	sleep func(ctx context.Context, d time.Duration) error
	// jitter returns a number in [0, 1).
	jitter func() float64
	// backoffBase is the first back-off (zero: bkBackoffBase).
	backoffBase time.Duration
}

// bkSleep waits d or until ctx is done.
func bkSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bkClient is the HTTP side shared by the backends: timeouts, retries,
// size limits, error messages.
type bkClient struct {
	kind  string
	base  *url.URL
	label string // "<kind> <base URL>", the start of every error message
	cfg   BackendConfig
	hc    *http.Client
	hooks bkHooks
	// apiMessage pulls the service's own message out of an error body
	// and says whether the error is a content-policy refusal.
	apiMessage func(body []byte) (msg string, refused bool)
	// authorize sets the authentication headers of a request.
	authorize func(h http.Header)
}

// bkError is an error of a backend: a finished message and the sentinels
// and causes it wraps.
type bkError struct {
	msg     string
	wrapped []error
}

func (e *bkError) Error() string   { return e.msg }
func (e *bkError) Unwrap() []error { return e.wrapped }

// bkCall is one HTTP exchange, retried as a whole.
type bkCall struct {
	what   string // "" for the main request, else e.g. "task 42" or "download <url>"
	method string
	url    string
	body   []byte // JSON, or nil
	accept string
	header map[string]string
	auth   bool // send the API credentials
}

// bkRetry describes an attempt that failed in a way worth retrying.
type bkRetry struct {
	reason        string
	retryAfter    time.Duration
	hasRetryAfter bool
	cause         error
	cutShort      bool // the overall deadline or the caller ended the attempt
}

// errorf builds a backend error: label, what, message, wrapped errors.
// The API key is scrubbed from the message.
func (c *bkClient) errorf(what string, wrap []error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if what != "" {
		msg = what + ": " + msg
	}
	var ws []error
	for _, w := range wrap {
		if w != nil {
			ws = append(ws, w)
		}
	}
	return &bkError{msg: c.scrub(c.label + ": " + msg), wrapped: ws}
}

// scrub removes the API key (and the password of a user:password key)
// from a message.
func (c *bkClient) scrub(s string) string {
	key := c.cfg.APIKey
	if len(key) >= 4 {
		s = strings.ReplaceAll(s, key, "****")
	}
	if _, pw, ok := strings.Cut(key, ":"); ok && len(pw) >= 4 {
		s = strings.ReplaceAll(s, pw, "****")
	}
	return s
}

// overall bounds a whole Generate by the configured timeout.
func (c *bkClient) overall(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

// maxRetries is the configured number of retries; negative means none.
func (c *bkClient) maxRetries() int {
	return max(c.cfg.MaxRetries, 0)
}

// do performs call, retrying network errors, 429 and 5xx with back-off,
// and returns the body of a 2xx answer.
func (c *bkClient) do(ctx context.Context, call bkCall) ([]byte, error) {
	for attempts := 1; ; attempts++ {
		body, retry, err := c.attempt(ctx, call)
		if err != nil {
			return nil, err
		}
		if retry == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, c.stopped(ctx, call, attempts, retry)
		}
		if attempts > c.maxRetries() {
			return nil, c.errorf(call.what, []error{proto.ErrUnavailable, ErrBackend, retry.cause},
				"%s (%s)", retry.reason, bkAttempts(attempts))
		}
		wait := c.backoff(attempts-1, retry)
		if dl, ok := ctx.Deadline(); ok && wait >= time.Until(dl) {
			return nil, c.errorf(call.what, []error{proto.ErrUnavailable, ErrBackend, retry.cause},
				"%s (%s; the next, in %v, would pass the deadline)", retry.reason, bkAttempts(attempts), wait.Round(time.Millisecond))
		}
		if err := c.hooks.sleep(ctx, wait); err != nil {
			return nil, c.stopped(ctx, call, attempts, retry)
		}
	}
}

// stopped explains why do stopped when ctx ended.
func (c *bkClient) stopped(ctx context.Context, call bkCall, attempts int, last *bkRetry) error {
	detail := bkAttempts(attempts)
	if !last.cutShort {
		detail += "; last: " + last.reason
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return c.errorf(call.what, []error{context.Canceled}, "canceled (%s)", detail)
	}
	return c.errorf(call.what, []error{proto.ErrUnavailable, ErrBackend, context.DeadlineExceeded},
		"timed out (overall timeout %v, %s)", c.cfg.Timeout, detail)
}

func bkAttempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// backoff is the wait before retry n+1: the server's Retry-After if it
// gave one, else exponential back-off with jitter.
func (c *bkClient) backoff(n int, r *bkRetry) time.Duration {
	if r.hasRetryAfter {
		return r.retryAfter
	}
	base := c.hooks.backoffBase
	if base <= 0 {
		base = bkBackoffBase
	}
	d := bkBackoffMax
	if n < 16 {
		d = min(base<<n, bkBackoffMax)
	}
	return d/2 + time.Duration(c.hooks.jitter()*float64(d))
}

// attempt performs one exchange under the attempt timeout. It returns the
// body of a 2xx answer, or a failure worth retrying, or a final error.
func (c *bkClient) attempt(ctx context.Context, call bkCall) ([]byte, *bkRetry, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	var rd io.Reader
	if call.body != nil {
		rd = bytes.NewReader(call.body)
	}
	req, err := http.NewRequestWithContext(actx, call.method, call.url, rd)
	if err != nil {
		return nil, nil, c.errorf(call.what, []error{ErrBackend, err}, "build request: %v", err)
	}
	if call.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	accept := call.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", bkUserAgent)
	for k, v := range call.header {
		req.Header.Set(k, v)
	}
	if call.auth && c.authorize != nil {
		c.authorize(req.Header)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			return nil, nil, c.errorf(call.what, []error{proto.ErrUnavailable, ErrBackend, err}, "%v", certErr)
		}
		return nil, c.networkFailure(ctx, actx, err), nil
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, bkErrorBodyLimit))
		var msg string
		var refused bool
		if c.apiMessage != nil {
			msg, refused = c.apiMessage(body)
		}
		if msg == "" {
			msg = bkPlainMessage(body)
		}
		reason := resp.Status
		if reason == "" {
			reason = strconv.Itoa(resp.StatusCode)
		}
		if msg = bkTruncate(msg); msg != "" {
			reason += ": " + msg
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			ra, ok := bkRetryAfter(resp.Header, time.Now())
			return nil, &bkRetry{reason: reason, retryAfter: ra, hasRetryAfter: ok}, nil
		case refused:
			return nil, nil, c.errorf(call.what, []error{proto.ErrRefused}, "refused by content policy: %s", reason)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			hint := "check the API key"
			if c.cfg.APIKey == "" {
				hint = "no API key is configured"
			}
			if !call.auth {
				hint = "no credentials were sent"
			}
			return nil, nil, c.errorf(call.what, []error{ErrBackend}, "%s (%s)", reason, hint)
		default:
			return nil, nil, c.errorf(call.what, []error{ErrBackend}, "%s", reason)
		}
	}

	limit := c.cfg.MaxResponseBytes
	if resp.ContentLength > limit {
		return nil, nil, c.errorf(call.what, []error{ErrTooLarge, ErrBackend},
			"answer of %d bytes is over the limit of %d bytes", resp.ContentLength, limit)
	}
	body, tooLarge, err := bkReadLimited(resp.Body, limit, resp.ContentLength)
	if tooLarge {
		return nil, nil, c.errorf(call.what, []error{ErrTooLarge, ErrBackend}, "answer is over the limit of %d bytes", limit)
	}
	if err != nil {
		return nil, c.networkFailure(ctx, actx, err), nil
	}
	return body, nil, nil
}

// networkFailure describes a failed exchange: the attempt timeout, or the
// network error without the repeated request URL.
func (c *bkClient) networkFailure(ctx, actx context.Context, err error) *bkRetry {
	reason := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		reason = ue.Err.Error()
	}
	if ctx.Err() == nil && actx.Err() != nil {
		reason = fmt.Sprintf("no answer within %v (attempt timeout)", c.cfg.AttemptTimeout)
	}
	return &bkRetry{reason: reason, cause: err, cutShort: ctx.Err() != nil}
}

// bkRetryAfter reads a Retry-After header: seconds or an HTTP date.
func bkRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return min(time.Duration(min(n, int64(bkMaxRetryAfter/time.Second)))*time.Second, bkMaxRetryAfter), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), bkMaxRetryAfter), true
	}
	return 0, false
}

// bkReadLimited reads r to the end, but never more than limit+1 bytes:
// beyond limit it stops and reports tooLarge. hint is the announced
// length, if any. Memory grows in chunks with the bytes actually read.
func bkReadLimited(r io.Reader, limit, hint int64) (data []byte, tooLarge bool, err error) {
	lr := io.LimitReader(r, limit+1)
	size := int64(bkFirstChunk)
	if hint > 0 && hint <= limit {
		size = hint + 1 // room to see EOF without another chunk
	}
	size = min(size, limit+1)
	var chunks [][]byte
	var total int64
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			chunks = append(chunks, buf)
			next := min(max(2*int64(cap(buf)), bkFirstChunk), bkMaxChunk, limit+1-total)
			if next <= 0 {
				break
			}
			buf = make([]byte, 0, next)
		}
		n, rerr := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		total += int64(n)
		if rerr == io.EOF {
			chunks = append(chunks, buf)
			break
		}
		if rerr != nil {
			return nil, false, rerr
		}
	}
	if total > limit {
		return nil, true, nil
	}
	if len(chunks) == 1 {
		return chunks[0], false, nil
	}
	out := make([]byte, 0, total)
	for _, ch := range chunks {
		out = append(out, ch...)
	}
	return out, false, nil
}

// bkPlainMessage is the text of an error body that is not the service's
// JSON: short plain text is kept, HTML pages and binary are not.
func bkPlainMessage(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" || strings.HasPrefix(s, "<") || !utf8.ValidString(s) {
		return ""
	}
	return s
}

// bkTruncate folds white space and cuts a message to bkMessageLimit runes.
func bkTruncate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= bkMessageLimit {
		return s
	}
	r := []rune(s)
	return string(r[:bkMessageLimit]) + "…"
}

// decodeBase64 decodes an image the service sent as base64, with or
// without padding or a data: URI prefix.
func (c *bkClient) decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "data:") {
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = s[i+1:]
		}
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 && !strings.ContainsAny(s, "=\r\n") {
		enc = base64.RawStdEncoding
	}
	data, err := enc.DecodeString(s)
	if err != nil {
		return nil, c.errorf("", []error{ErrBackend, err}, "invalid base64 in answer: %v", err)
	}
	return data, nil
}

// download fetches an image URL the service answered with, at once, with
// the same limits and client. Credentials go only to the service's own
// host.
func (c *bkClient) download(ctx context.Context, raw string) ([]byte, error) {
	u, err := c.base.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, c.errorf("", []error{ErrBackend}, "answer holds an unusable image URL %q", bkTruncate(bkRedactURL(raw)))
	}
	same := strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host)
	return c.do(ctx, bkCall{
		what:   "download " + bkRedactURL(u.String()),
		method: http.MethodGet,
		url:    u.String(),
		accept: "image/png, image/jpeg, image/webp, */*;q=0.5",
		auth:   same,
	})
}

// result checks an image's header against the limits and wraps it.
func (c *bkClient) result(data []byte) (*Result, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, c.errorf("", []error{ErrDecode, ErrBackend, err}, "answer is not a PNG, JPEG or WebP image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, c.errorf("", []error{ErrDecode, ErrBackend}, "image of %dx%d pixels", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(c.cfg.MaxImagePixels) {
		return nil, c.errorf("", []error{ErrTooLarge, ErrBackend}, "image of %dx%d pixels is over the limit of %d pixels",
			cfg.Width, cfg.Height, c.cfg.MaxImagePixels)
	}
	ct := "image/" + format // "png", "jpeg" and "webp" are the registered names
	name := c.kind
	if c.cfg.Model != "" {
		name += ":" + c.cfg.Model
	}
	return &Result{Data: data, ContentType: ct, Backend: name}, nil
}

// json encodes a request body, leaving <, > and & as they are.
func (c *bkClient) json(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		return nil, c.errorf("", []error{ErrBackend, err}, "encode request: %v", err)
	}
	return b, nil
}
