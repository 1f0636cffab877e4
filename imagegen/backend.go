package imagegen

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request is what a backend is asked to draw.
type Request struct {
	// Prompt describes the picture.
	Prompt string
	// NegativePrompt lists what the picture must not hold; backends
	// without a negative prompt (the OpenAI Images API) ignore it.
	NegativePrompt string
}

// Result is an image as a backend returned it, before rendering.
type Result struct {
	// Data holds the image bytes exactly as the backend sent them.
	Data []byte
	// ContentType is sniffed from the bytes: "image/png", "image/jpeg"
	// or "image/webp".
	ContentType string
	// Backend names the backend and model that drew it, e.g.
	// "openai:gpt-image-1" or "sdapi".
	Backend string
}

// Backend is an image model behind an HTTP API.
//
// Generate returns an error wrapping proto.ErrRefused when the service
// refuses the prompt on content-policy grounds. Every other failure wraps
// ErrBackend; failures where the service could not be reached or did not
// answer in time (network errors, 429 and 5xx after retries, timeouts)
// also wrap proto.ErrUnavailable, and oversized answers ErrTooLarge. A
// cancelled ctx yields an error wrapping context.Canceled only. Messages
// start with the backend name and base URL and never contain the API key.
type Backend interface {
	Name() string
	Generate(ctx context.Context, req Request) (*Result, error)
}

// Backend kinds for BackendConfig.Kind.
const (
	// KindOpenAI is the OpenAI Images API shape: OpenAI itself, LocalAI,
	// stable-diffusion.cpp's server and most gateways.
	KindOpenAI = "openai"
	// KindSDAPI is the sdapi txt2img shape of AUTOMATIC1111, Forge and
	// stable-diffusion.cpp.
	KindSDAPI = "sdapi"
	// KindDashScope is Alibaba DashScope's asynchronous text-to-image.
	KindDashScope = "dashscope"
)

// Defaults for the zero values of BackendConfig.
const (
	bkDefaultAttemptTimeout   = 60 * time.Second
	bkDefaultTimeout          = 120 * time.Second
	bkDefaultMaxRetries       = 2
	bkDefaultMaxResponseBytes = 16 << 20
	bkDefaultMaxImagePixels   = 4096 * 4096
	bkDefaultPollInterval     = 2 * time.Second
	bkDefaultSize             = "1024x1024"
	bkDefaultSDAPISize        = "512x512"
	bkMaxSide                 = 16384
)

// BackendConfig chooses and tunes an image backend. Every field has a
// useful zero value except Kind (and APIKey for DashScope).
type BackendConfig struct {
	// Kind is KindOpenAI, KindSDAPI or KindDashScope.
	Kind string
	// BaseURL is the service root, e.g. https://api.openai.com,
	// http://192.168.1.30:7860 or https://dashscope-intl.aliyuncs.com.
	// A trailing /v1 (openai), /sdapi/v1 (sdapi) or /api/v1 (dashscope)
	// is accepted and not doubled. Empty: the public service of the kind
	// (http://127.0.0.1:7860 for sdapi).
	BaseURL string
	// APIKey is sent as a Bearer token; empty sends none (LocalAI on the
	// LAN). For sdapi a key of the form "user:password" is sent as HTTP
	// basic auth (AUTOMATIC1111's --api-auth). It is never logged and
	// never appears in errors; String and LogValue mask it.
	APIKey string `json:"-"`
	// Model is the model name: "gpt-image-1" (openai default),
	// "wanx2.1-t2i-turbo" (dashscope default); for sdapi a checkpoint
	// name sent as override_settings.sd_model_checkpoint (empty: the one
	// loaded).
	Model string
	// Size is "WxH" (default 1024x1024, 512x512 for sdapi); "W*H" is
	// accepted too, and "auto" for openai.
	Size string
	// Extra is merged into the request body as is (into "parameters" for
	// DashScope): steps, cfg_scale, sampler_name, quality, seed... Its
	// keys override the built-in fields, except the prompts.
	Extra map[string]any
	// AttemptTimeout bounds one HTTP exchange (default 60 s).
	AttemptTimeout time.Duration
	// Timeout bounds a whole Generate, retries and polling included
	// (default 120 s).
	Timeout time.Duration
	// MaxRetries is how many times a failed exchange is retried after a
	// network error, 429 or 5xx (default 2; negative: never).
	MaxRetries int
	// MaxResponseBytes caps any response body (default 16 MiB).
	MaxResponseBytes int64
	// MaxImagePixels caps width*height, read from the image header
	// before anything decodes it (default 4096*4096).
	MaxImagePixels int
	// PollInterval is the wait between DashScope task polls (default 2 s).
	PollInterval time.Duration
	// HTTPClient is the client to use (default: a client of its own with
	// no overall timeout; the timeouts above apply).
	HTTPClient *http.Client
}

// WithDefaults returns the configuration with every zero field set to its
// default and Kind and BaseURL normalised.
func (c BackendConfig) WithDefaults() BackendConfig {
	c.Kind = strings.ToLower(strings.TrimSpace(c.Kind))
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if c.BaseURL == "" {
		switch c.Kind {
		case KindOpenAI:
			c.BaseURL = "https://api.openai.com"
		case KindSDAPI:
			c.BaseURL = "http://127.0.0.1:7860"
		case KindDashScope:
			c.BaseURL = "https://dashscope-intl.aliyuncs.com"
		}
	}
	if c.Model == "" {
		switch c.Kind {
		case KindOpenAI:
			c.Model = "gpt-image-1"
		case KindDashScope:
			c.Model = "wanx2.1-t2i-turbo"
		}
	}
	if c.Size == "" {
		c.Size = bkDefaultSize
		if c.Kind == KindSDAPI {
			c.Size = bkDefaultSDAPISize
		}
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = bkDefaultAttemptTimeout
	}
	if c.Timeout == 0 {
		c.Timeout = bkDefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = bkDefaultMaxRetries
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = bkDefaultMaxResponseBytes
	}
	if c.MaxImagePixels == 0 {
		c.MaxImagePixels = bkDefaultMaxImagePixels
	}
	if c.PollInterval == 0 {
		c.PollInterval = bkDefaultPollInterval
	}
	return c
}

// Validate reports the first unusable field of the configuration (after
// WithDefaults) as an error wrapping ErrConfig.
func (c BackendConfig) Validate() error {
	c = c.WithDefaults()
	switch c.Kind {
	case KindOpenAI, KindSDAPI, KindDashScope:
	case "":
		return fmt.Errorf("image backend kind: empty, want openai, sdapi or dashscope: %w", ErrConfig)
	default:
		return fmt.Errorf("image backend kind %q: want openai, sdapi or dashscope: %w", c.Kind, ErrConfig)
	}
	if _, err := bkParseBase(c.BaseURL); err != nil {
		return fmt.Errorf("image backend %s base URL: %v: %w", c.Kind, err, ErrConfig)
	}
	if _, _, err := bkParseSize(c.Size, c.Kind == KindOpenAI); err != nil {
		return fmt.Errorf("image backend %s size %q: %v: %w", c.Kind, c.Size, err, ErrConfig)
	}
	if c.Kind == KindDashScope && c.APIKey == "" {
		return fmt.Errorf("image backend dashscope: an API key is required: %w", ErrConfig)
	}
	if strings.ContainsAny(c.APIKey, "\r\n") {
		return fmt.Errorf("image backend %s API key: holds a line break: %w", c.Kind, ErrConfig)
	}
	switch {
	case c.AttemptTimeout < 0:
		return fmt.Errorf("image backend %s attempt timeout %v: negative: %w", c.Kind, c.AttemptTimeout, ErrConfig)
	case c.Timeout < 0:
		return fmt.Errorf("image backend %s timeout %v: negative: %w", c.Kind, c.Timeout, ErrConfig)
	case c.PollInterval < 0:
		return fmt.Errorf("image backend %s poll interval %v: negative: %w", c.Kind, c.PollInterval, ErrConfig)
	case c.MaxResponseBytes < 0:
		return fmt.Errorf("image backend %s max response bytes %d: negative: %w", c.Kind, c.MaxResponseBytes, ErrConfig)
	case c.MaxImagePixels < 0:
		return fmt.Errorf("image backend %s max image pixels %d: negative: %w", c.Kind, c.MaxImagePixels, ErrConfig)
	}
	if _, err := json.Marshal(c.Extra); err != nil {
		return fmt.Errorf("image backend %s extra parameters: %v: %w", c.Kind, err, ErrConfig)
	}
	return nil
}

// String describes the configuration with the API key masked.
func (c BackendConfig) String() string {
	return fmt.Sprintf("%s %s model=%q size=%q api_key=%s", c.Kind, bkRedactURL(c.BaseURL), c.Model, c.Size, bkMask(c.APIKey))
}

// GoString is String, so that %#v does not print the key either.
func (c BackendConfig) GoString() string { return "imagegen.BackendConfig{" + c.String() + "}" }

// LogValue logs the configuration with the API key masked.
func (c BackendConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", c.Kind),
		slog.String("base_url", bkRedactURL(c.BaseURL)),
		slog.String("api_key", bkMask(c.APIKey)),
		slog.String("model", c.Model),
		slog.String("size", c.Size),
		slog.Int("extra_params", len(c.Extra)),
		slog.Duration("attempt_timeout", c.AttemptTimeout),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_retries", c.MaxRetries),
	)
}

// bkMask says whether a secret is set without showing any of it.
func bkMask(secret string) string {
	if secret == "" {
		return "none"
	}
	return "****"
}

// NewBackend returns the backend cfg describes, or an error wrapping
// ErrConfig. It makes no network call.
func NewBackend(cfg BackendConfig) (Backend, error) {
	return bkNew(cfg, bkHooks{sleep: bkSleep, jitter: rand.Float64})
}

// bkNew is NewBackend with the clock hooks given, for tests.
func bkNew(cfg BackendConfig, hooks bkHooks) (Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	base, _ := bkParseBase(cfg.BaseURL) // checked by Validate
	c := &bkClient{
		kind:  cfg.Kind,
		base:  base,
		label: cfg.Kind + " " + bkRedactURL(cfg.BaseURL),
		cfg:   cfg,
		hc:    cfg.HTTPClient,
		hooks: hooks,
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	switch cfg.Kind {
	case KindOpenAI:
		return newOpenAIBackend(c), nil
	case KindSDAPI:
		return newSDAPIBackend(c), nil
	default:
		return newDashScopeBackend(c), nil
	}
}

// bkParseBase checks a base URL: http or https, a host, no query.
func bkParseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("has a query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// bkRedactURL hides a password in a URL's user info and drops its query
// (which may hold a signature).
func bkRedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery = ""
	u.Fragment = ""
	return u.Redacted()
}

// bkParseSize parses "WxH" or "W*H"; "auto" (openai only) gives 0, 0.
func bkParseSize(s string, allowAuto bool) (w, h int, err error) {
	if allowAuto && s == "auto" {
		return 0, 0, nil
	}
	ws, hs, ok := strings.Cut(strings.ReplaceAll(strings.ToLower(s), "*", "x"), "x")
	if !ok {
		return 0, 0, fmt.Errorf("want WIDTHxHEIGHT")
	}
	w, err1 := strconv.Atoi(strings.TrimSpace(ws))
	h, err2 := strconv.Atoi(strings.TrimSpace(hs))
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("want WIDTHxHEIGHT in whole pixels")
	}
	if w <= 0 || h <= 0 || w > bkMaxSide || h > bkMaxSide {
		return 0, 0, fmt.Errorf("each side must be 1..%d pixels", bkMaxSide)
	}
	return w, h, nil
}

// bkMerge copies extra into body, except the keys in keep.
func bkMerge(body, extra map[string]any, keep ...string) {
	for k, v := range extra {
		if !slices.Contains(keep, k) {
			body[k] = v
		}
	}
}

// bkEndpoint joins the base URL with an API path, not doubling a version
// prefix (prefix) the base URL already ends with.
func bkEndpoint(base *url.URL, prefix, rest string) string {
	u := *base
	p := u.Path
	if !strings.HasSuffix(p, prefix) {
		p += prefix
	}
	u.Path = p + rest
	return u.String()
}
