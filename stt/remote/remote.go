package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// Defaults for the zero values of Config.
const (
	// DefaultTimeout bounds one transcription, upload included.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxResponseBytes caps the server's answer.
	DefaultMaxResponseBytes = 1 << 20
	// DefaultModel is the model name sent when Config.Model is empty.
	// whisper.cpp's server ignores it; faster-whisper-server, speaches
	// and LocalAI need the name of a model they serve.
	DefaultModel = "whisper-1"
)

// MinAudio is the shortest audio worth a request: anything shorter is
// reported as no speech without calling the server.
const MinAudio = 100 * time.Millisecond

// Limits and names of the exchange.
const (
	endpointPath   = "/audio/transcriptions"
	errorBodyLimit = 64 << 10
	messageLimit   = 200 // runes of a server's error message kept
	connectTimeout = 10 * time.Second
	userAgent      = "stikadoo-edge"
	minSamples     = int(stt.SampleRate * MinAudio / time.Second)
)

// Config says where the transcription server is and what to ask of it.
// Every field but BaseURL has a useful zero value.
type Config struct {
	// BaseURL is the server root, e.g. http://192.168.1.20:8000. A path
	// ending in /v1 or in /v1/audio/transcriptions is accepted and not
	// doubled; any other path is a prefix the API lives under.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>"; empty sends none
	// (most LAN servers). It never appears in errors or logs: String,
	// GoString and LogValue mask it.
	APIKey string `json:"-"`
	// Model is the model name the server is asked for (default
	// DefaultModel).
	Model string
	// Language is the ISO-639-1 code of the speech, e.g. "en"; empty or
	// "auto" lets the server detect it.
	Language string
	// Prompt is an initial prompt: words, names and spelling the server
	// should expect. Empty sends none.
	Prompt string
	// Timeout bounds one Transcribe, upload and answer included
	// (default DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes caps the answer body (default
	// DefaultMaxResponseBytes).
	MaxResponseBytes int64
}

// WithDefaults returns the configuration with every zero field set to its
// default and the strings trimmed.
func (c Config) WithDefaults() Config {
	c.BaseURL = strings.TrimSpace(c.BaseURL)
	c.Model = strings.TrimSpace(c.Model)
	c.Language = strings.ToLower(strings.TrimSpace(c.Language))
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.Language == "auto" {
		c.Language = ""
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c
}

// String describes the configuration with the API key masked.
func (c Config) String() string {
	return fmt.Sprintf("remote %s model=%q language=%q api_key=%s", redactURL(c.BaseURL), c.Model, c.Language, mask(c.APIKey))
}

// GoString is String, so that %#v does not print the key either.
func (c Config) GoString() string { return "remote.Config{" + c.String() + "}" }

// LogValue logs the configuration with the API key masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", redactURL(c.BaseURL)),
		slog.String("api_key", mask(c.APIKey)),
		slog.String("model", c.Model),
		slog.String("language", c.Language),
		slog.Int("prompt_chars", utf8.RuneCountInString(c.Prompt)),
		slog.Duration("timeout", c.Timeout),
		slog.Int64("max_response_bytes", c.MaxResponseBytes),
	)
}

// mask says whether a secret is set without showing any of it.
func mask(secret string) string {
	if secret == "" {
		return "none"
	}
	return "****"
}

// redactURL hides a password in a URL's user info and drops its query.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery = ""
	u.Fragment = ""
	return u.Redacted()
}

// Client transcribes utterances on a remote server. It is safe for
// concurrent use; each Transcribe is one HTTP request.
type Client struct {
	cfg      Config
	endpoint string // the full transcription URL
	server   string // endpoint with any password hidden, for messages
	hc       *http.Client
}

// New checks cfg and returns a client for it, or an error wrapping
// ErrConfig. It makes no network call.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("remote transcriber base URL: empty: %w", ErrConfig)
	}
	endpoint, err := endpointURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("remote transcriber base URL %q: %v: %w", redactURL(cfg.BaseURL), err, ErrConfig)
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("remote transcriber timeout %v: negative: %w", cfg.Timeout, ErrConfig)
	case cfg.MaxResponseBytes < 0:
		return nil, fmt.Errorf("remote transcriber max response bytes %d: negative: %w", cfg.MaxResponseBytes, ErrConfig)
	case strings.ContainsAny(cfg.APIKey, "\r\n"):
		return nil, fmt.Errorf("remote transcriber API key: holds a line break: %w", ErrConfig)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: min(connectTimeout, cfg.Timeout), KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = min(connectTimeout, cfg.Timeout)
	return &Client{
		cfg:      cfg,
		endpoint: endpoint.String(),
		server:   endpoint.Redacted(),
		hc:       &http.Client{Transport: tr},
	}, nil
}

// endpointURL turns a base URL into the transcription endpoint.
func endpointURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("has a query or fragment")
	}
	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/v1"+endpointPath):
	case strings.HasSuffix(p, "/v1"):
		p += endpointPath
	default:
		p += "/v1" + endpointPath
	}
	u.Path, u.RawPath = p, ""
	return u, nil
}

// String names the server and model, for logs. It never holds the key.
func (c *Client) String() string {
	return fmt.Sprintf("remote %s model=%q", c.server, c.cfg.Model)
}

// Transcribe sends 16 kHz mono samples to the server as a 16-bit WAV file
// and returns the text it heard.
//
// Audio shorter than MinAudio, and an answer with no words in it (empty,
// or only bracketed notes such as "[BLANK_AUDIO]"), give an error
// wrapping proto.ErrNoSpeech. Network errors, timeouts, 408, 429 and 5xx
// answers wrap proto.ErrUnavailable; other 4xx answers wrap ErrRejected
// with the server's message. A cancelled ctx gives an error wrapping
// context.Canceled only. Messages name the server and never hold the API
// key.
func (c *Client) Transcribe(ctx context.Context, samples []float32) (string, error) {
	if len(samples) < minSamples {
		d := time.Duration(len(samples)) * time.Second / stt.SampleRate
		return "", c.errorf([]error{proto.ErrNoSpeech}, "%v of audio is shorter than %v", d, MinAudio)
	}
	body, contentType, err := c.form(samples)
	if err != nil {
		return "", err
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", c.errorf([]error{err}, "build request: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", c.failure(ctx, rctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", c.statusError(resp)
	}
	limit := c.cfg.MaxResponseBytes
	if resp.ContentLength > limit {
		return "", c.errorf([]error{ErrTooLarge}, "answer of %d bytes is over the limit of %d bytes", resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return "", c.failure(ctx, rctx, err)
	}
	if int64(len(data)) > limit {
		return "", c.errorf([]error{ErrTooLarge}, "answer is over the limit of %d bytes", limit)
	}
	var a struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return "", c.errorf([]error{ErrBadAnswer, err}, "answer is not JSON: %v", err)
	}
	if a.Text == nil {
		if msg := serverMessage(data); msg != "" {
			return "", c.errorf([]error{ErrBadAnswer}, "answer holds no text: %s", msg)
		}
		return "", c.errorf([]error{ErrBadAnswer}, `answer holds no "text"`)
	}
	text := strings.TrimSpace(*a.Text)
	if !hasWords(text) {
		return "", c.errorf([]error{proto.ErrNoSpeech}, "the server heard no words (%q)", truncate(text))
	}
	return text, nil
}

// form builds the multipart/form-data body of a transcription request.
func (c *Client) form(samples []float32) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	buf.Grow(len(samples)*2 + 44 + 1024 + len(c.cfg.Prompt))
	mw := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="audio.wav"`)
	h.Set("Content-Type", "audio/wav")
	part, err := mw.CreatePart(h)
	if err == nil {
		err = stt.WriteWAV(part, samples, stt.SampleRate)
	}
	fields := [][2]string{
		{"model", c.cfg.Model},
		{"language", c.cfg.Language},
		{"prompt", c.cfg.Prompt},
		{"response_format", "json"},
		{"temperature", "0"},
	}
	for _, f := range fields {
		if err == nil && f[1] != "" {
			err = mw.WriteField(f[0], f[1])
		}
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return nil, "", c.errorf([]error{err}, "build request body: %v", err)
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// failure describes an exchange that ended without a usable answer.
func (c *Client) failure(ctx, rctx context.Context, err error) error {
	reason := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		reason = ue.Err.Error()
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return c.errorf([]error{context.Canceled}, "canceled")
	case ctx.Err() != nil:
		return c.errorf([]error{proto.ErrUnavailable, context.DeadlineExceeded}, "no answer before the caller's deadline")
	case rctx.Err() != nil:
		return c.errorf([]error{proto.ErrUnavailable, context.DeadlineExceeded}, "no answer within %v", c.cfg.Timeout)
	}
	return c.errorf([]error{proto.ErrUnavailable, err}, "%s", reason)
}

// statusError describes a non-2xx answer.
func (c *Client) statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	reason := resp.Status
	if reason == "" {
		reason = strconv.Itoa(resp.StatusCode)
	}
	if msg := serverMessage(body); msg != "" {
		reason += ": " + msg
	}
	switch code := resp.StatusCode; {
	case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return c.errorf([]error{proto.ErrUnavailable}, "%s", reason)
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		hint := "check the API key"
		if c.cfg.APIKey == "" {
			hint = "no API key is configured"
		}
		return c.errorf([]error{ErrRejected}, "%s (%s)", reason, hint)
	case code == http.StatusNotFound:
		return c.errorf([]error{ErrRejected}, "%s (is this an OpenAI-compatible transcription server? whisper.cpp's server needs --inference-path /v1/audio/transcriptions)", reason)
	}
	return c.errorf([]error{ErrRejected}, "%s", reason)
}

// serverMessage pulls a server's own message out of an answer body: the
// OpenAI shape {"error":{"message"}}, {"error":"..."} (whisper.cpp),
// {"detail":...} (FastAPI servers), {"message":"..."}, or short plain
// text. It returns "" for HTML pages and binary.
func serverMessage(body []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Detail  json.RawMessage `json:"detail"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		for _, raw := range []json.RawMessage{e.Error, e.Detail} {
			if msg := jsonMessage(raw); msg != "" {
				return truncate(msg)
			}
		}
		if e.Message != "" {
			return truncate(e.Message)
		}
		return ""
	}
	s := strings.TrimSpace(string(body))
	if s == "" || strings.HasPrefix(s, "<") || !utf8.ValidString(s) {
		return ""
	}
	return truncate(s)
}

// jsonMessage reads a message that is a string, an object with a
// "message" or "msg", or a list of those.
func jsonMessage(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Message string `json:"message"`
		Msg     string `json:"msg"`
		Code    any    `json:"code"`
	}
	if json.Unmarshal(raw, &o) == nil {
		msg := o.Message + o.Msg
		if msg != "" && o.Code != nil {
			msg += fmt.Sprintf(" (%v)", o.Code)
		}
		return msg
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var parts []string
		for _, item := range list {
			if m := jsonMessage(item); m != "" {
				parts = append(parts, m)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

// truncate folds white space and cuts a message to messageLimit runes.
func truncate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= messageLimit {
		return s
	}
	return string([]rune(s)[:messageLimit]) + "…"
}

// hasWords reports whether text holds a letter or digit outside bracketed
// notes such as "[BLANK_AUDIO]" or "[ Silence ]", which whisper writes for
// audio without speech.
func hasWords(text string) bool {
	depth := 0
	for _, r := range text {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth = max(0, depth-1)
		case depth == 0 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			return true
		}
	}
	return false
}

// clientError is an error of the client: a finished message that names
// the server, and the sentinels and causes it wraps.
type clientError struct {
	msg     string
	wrapped []error
}

func (e *clientError) Error() string   { return e.msg }
func (e *clientError) Unwrap() []error { return e.wrapped }

// errorf builds an error "transcribe at <server>: <message>" wrapping
// wrap, with the API key scrubbed from the message.
func (c *Client) errorf(wrap []error, format string, args ...any) error {
	msg := "transcribe at " + c.server + ": " + fmt.Sprintf(format, args...)
	if k := c.cfg.APIKey; len(k) >= 4 {
		msg = strings.ReplaceAll(msg, k, "****")
	}
	return &clientError{msg: msg, wrapped: wrap}
}
