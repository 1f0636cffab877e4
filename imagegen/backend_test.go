package imagegen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

// sleepLog is a clock hook that records the waits asked for and returns
// at once (or really sleeps, if real is set).
type sleepLog struct {
	real  bool
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	if s.real {
		return bkSleep(ctx, d)
	}
	return ctx.Err()
}

// retryWaits returns the waits other than DashScope's poll interval.
func (s *sleepLog) retryWaits(poll time.Duration) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, w := range s.waits {
		if w != poll {
			out = append(out, w)
		}
	}
	return out
}

// testPoll is the DashScope poll interval in tests, distinct from any
// back-off.
const testPoll = 7 * time.Millisecond

// newTestBackend builds a backend whose back-off costs no time and has no
// randomness: waits are 500 ms, 1 s, 2 s...
func newTestBackend(t *testing.T, cfg BackendConfig) (Backend, *sleepLog) {
	t.Helper()
	sl := &sleepLog{}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = testPoll
	}
	b, err := bkNew(cfg, bkHooks{sleep: sl.sleep, jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatalf("new backend: %v", err)
	}
	return b, sl
}

// testKey is an API key the tests look for in every message and log.
const testKey = "sk-test-9f8e7d6c5b4a39281706"

// testJPEG encodes a small JPEG.
func testJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testWebPHeader builds the header of a lossless WebP of w x h (RIFF,
// WEBP, a VP8L chunk with its signature and packed dimensions): enough
// for image.DecodeConfig.
func testWebPHeader(w, h int) []byte {
	var vp8l [5]byte
	vp8l[0] = 0x2f
	binary.LittleEndian.PutUint32(vp8l[1:], uint32(w-1)|uint32(h-1)<<14)
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+len(vp8l)+1))
	b.WriteString("WEBPVP8L")
	binary.Write(&b, binary.LittleEndian, uint32(len(vp8l)))
	b.Write(vp8l[:])
	b.WriteByte(0) // pad to an even chunk size
	return b.Bytes()
}

func TestBackendConfigDefaults(t *testing.T) {
	tests := []struct {
		kind, base, model, size string
	}{
		{"openai", "https://api.openai.com", "gpt-image-1", "1024x1024"},
		{" SDAPI ", "http://127.0.0.1:7860", "", "512x512"},
		{"dashscope", "https://dashscope-intl.aliyuncs.com", "wanx2.1-t2i-turbo", "1024x1024"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			c := BackendConfig{Kind: tt.kind}.WithDefaults()
			if c.BaseURL != tt.base || c.Model != tt.model || c.Size != tt.size {
				t.Errorf("defaults = %q %q %q, want %q %q %q", c.BaseURL, c.Model, c.Size, tt.base, tt.model, tt.size)
			}
			if c.AttemptTimeout != 60*time.Second || c.Timeout != 120*time.Second || c.MaxRetries != 2 ||
				c.MaxResponseBytes != 16<<20 || c.MaxImagePixels != 4096*4096 || c.PollInterval != 2*time.Second {
				t.Errorf("limits = %+v", c)
			}
		})
	}
	c := BackendConfig{Kind: "sdapi", BaseURL: "http://pc:7860/", Model: "sd_xl", Size: "768x512", MaxRetries: -1}.WithDefaults()
	if c.BaseURL != "http://pc:7860" || c.Model != "sd_xl" || c.Size != "768x512" || c.MaxRetries != -1 {
		t.Errorf("set fields changed: %+v", c)
	}
}

func TestBackendConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  BackendConfig
		want string // "" for valid
	}{
		{"openai defaults", BackendConfig{Kind: "openai"}, ""},
		{"localai without key", BackendConfig{Kind: "openai", BaseURL: "http://192.168.1.30:8080/v1", Model: "stablediffusion"}, ""},
		{"sdapi", BackendConfig{Kind: "sdapi", BaseURL: "http://192.168.1.30:7860", Size: "512*768"}, ""},
		{"openai auto size", BackendConfig{Kind: "openai", Size: "auto"}, ""},
		{"dashscope", BackendConfig{Kind: "dashscope", APIKey: testKey}, ""},
		{"empty kind", BackendConfig{}, "kind"},
		{"unknown kind", BackendConfig{Kind: "midjourney"}, `"midjourney"`},
		{"ftp URL", BackendConfig{Kind: "sdapi", BaseURL: "ftp://pc"}, "scheme"},
		{"no host", BackendConfig{Kind: "sdapi", BaseURL: "http:///x"}, "no host"},
		{"query", BackendConfig{Kind: "sdapi", BaseURL: "http://pc?a=1"}, "query"},
		{"bad size", BackendConfig{Kind: "sdapi", Size: "big"}, "size"},
		{"zero side", BackendConfig{Kind: "sdapi", Size: "0x512"}, "size"},
		{"auto for sdapi", BackendConfig{Kind: "sdapi", Size: "auto"}, "size"},
		{"dashscope without key", BackendConfig{Kind: "dashscope"}, "API key"},
		{"key with newline", BackendConfig{Kind: "openai", APIKey: "a\nb"}, "line break"},
		{"negative timeout", BackendConfig{Kind: "openai", Timeout: -time.Second}, "timeout"},
		{"negative attempt timeout", BackendConfig{Kind: "openai", AttemptTimeout: -1}, "attempt timeout"},
		{"negative poll", BackendConfig{Kind: "dashscope", APIKey: "k", PollInterval: -1}, "poll"},
		{"negative bytes", BackendConfig{Kind: "openai", MaxResponseBytes: -1}, "bytes"},
		{"negative pixels", BackendConfig{Kind: "openai", MaxImagePixels: -1}, "pixels"},
		{"extra not JSON", BackendConfig{Kind: "openai", Extra: map[string]any{"f": func() {}}}, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			_, nerr := NewBackend(tt.cfg)
			if tt.want == "" {
				if err != nil || nerr != nil {
					t.Fatalf("Validate = %v, NewBackend = %v", err, nerr)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !errors.Is(nerr, ErrConfig) {
				t.Fatalf("Validate = %v, NewBackend = %v; want ErrConfig", err, nerr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestBackendConfigMasksKey(t *testing.T) {
	cfg := BackendConfig{Kind: "openai", BaseURL: "http://user:hunter2secret@gw.local/v1", APIKey: testKey, Model: "dall-e-3"}
	type wrapper struct{ Backend *BackendConfig }
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("image backend", "config", cfg)
	log.Info("image backend", "config", &cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("image backend", "config", cfg)
	outputs := map[string]string{
		"Sprint":    fmt.Sprint(cfg),
		"Sprint &":  fmt.Sprint(&cfg),
		"%v":        fmt.Sprintf("%v", cfg),
		"%+v":       fmt.Sprintf("%+v", cfg),
		"%#v":       fmt.Sprintf("%#v", cfg),
		"nested %v": fmt.Sprintf("%+v", wrapper{&cfg}),
		"slog":      logs.String(),
	}
	//lint:ignore S1025 the %s verb is what this case checks
	outputs["%s"] = fmt.Sprintf("%s", cfg)
	for name, out := range outputs {
		if strings.Contains(out, testKey) || strings.Contains(out, testKey[5:15]) {
			t.Errorf("%s shows the key: %s", name, out)
		}
		if strings.Contains(out, "hunter2secret") {
			t.Errorf("%s shows the URL password: %s", name, out)
		}
		if !strings.Contains(out, "dall-e-3") || !strings.Contains(out, "gw.local") {
			t.Errorf("%s lost the useful fields: %s", name, out)
		}
	}
	if !strings.Contains(fmt.Sprint(cfg), "api_key=****") || !strings.Contains(fmt.Sprint(BackendConfig{Kind: "openai"}), "api_key=none") {
		t.Errorf("String does not say whether a key is set: %s", cfg)
	}
}

func TestBackendEndpoint(t *testing.T) {
	tests := []struct{ base, prefix, rest, want string }{
		{"https://api.openai.com", "/v1", "/images/generations", "https://api.openai.com/v1/images/generations"},
		{"http://localai:8080/v1", "/v1", "/images/generations", "http://localai:8080/v1/images/generations"},
		{"https://gw.example/openai/v1/", "/v1", "/images/generations", "https://gw.example/openai/v1/images/generations"},
		{"http://pc:7860", "/sdapi/v1", "/txt2img", "http://pc:7860/sdapi/v1/txt2img"},
		{"http://pc:7860/sdapi/v1", "/sdapi/v1", "/txt2img", "http://pc:7860/sdapi/v1/txt2img"},
		{"https://dashscope.aliyuncs.com/api/v1", "/api/v1", "/tasks/", "https://dashscope.aliyuncs.com/api/v1/tasks/"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			u, err := bkParseBase(strings.TrimRight(tt.base, "/"))
			if err != nil {
				t.Fatal(err)
			}
			if got := bkEndpoint(u, tt.prefix, tt.rest); got != tt.want {
				t.Errorf("endpoint = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBackendRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 8, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{" 30 ", 30 * time.Second, true},
		{"0", 0, true},
		{"-5", 0, false},
		{"99999999999999", 24 * time.Hour, true},
		{"Wed, 08 Jan 2025 16:00:07 GMT", 7 * time.Second, true},
		{"Wed, 08 Jan 2025 15:00:00 GMT", 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			got, ok := bkRetryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Retry-After %q = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBackendReadLimited(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB: several chunks
	tests := []struct {
		name        string
		n           int
		limit, hint int64
		tooLarge    bool
	}{
		{"empty", 0, 100, 0, false},
		{"small", 10, 100, 0, false},
		{"exactly the limit", 100, 100, 0, false},
		{"one over", 101, 100, 0, true},
		{"many chunks", len(data), int64(len(data)), 0, false},
		{"many chunks one over", len(data), int64(len(data) - 1), 0, true},
		{"hint right", 5000, 10000, 5000, false},
		{"hint short", 5000, 10000, 10, false},
		{"hint long", 5000, 10000, 9000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tooLarge, err := bkReadLimited(bytes.NewReader(data[:tt.n]), tt.limit, tt.hint)
			if err != nil || tooLarge != tt.tooLarge {
				t.Fatalf("tooLarge = %v, err = %v; want %v", tooLarge, err, tt.tooLarge)
			}
			if !tt.tooLarge && !bytes.Equal(got, data[:tt.n]) {
				t.Errorf("read %d bytes, want %d", len(got), tt.n)
			}
		})
	}
}

func TestBackendDeclaredContentLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "20971520")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	b, _ := newTestBackend(t, BackendConfig{Kind: "sdapi", BaseURL: srv.URL})
	_, err := b.Generate(context.Background(), Request{Prompt: "a cat"})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "20971520 bytes") {
		t.Fatalf("err = %v, want ErrTooLarge naming the size", err)
	}
}

func TestBackendImageFormats(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
		err  error
	}{
		{"png", imagegentest.PNG(8, 8), "image/png", nil},
		{"jpeg", testJPEG(t), "image/jpeg", nil},
		{"webp", testWebPHeader(300, 200), "image/webp", nil},
		{"webp too large", testWebPHeader(16384, 16384), "", ErrTooLarge},
		{"png header too large", imagegentest.DeclaredPNG(20000, 20000), "", ErrTooLarge},
		{"text", []byte("CUDA out of memory"), "", ErrDecode},
		{"html", []byte("<html>502 Bad Gateway</html>"), "", ErrDecode},
	}
	c := &bkClient{kind: "sdapi", label: "sdapi http://pc", cfg: BackendConfig{Kind: "sdapi"}.WithDefaults()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.result(tt.data)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !errors.Is(err, ErrBackend) {
					t.Fatalf("err = %v, want %v and ErrBackend", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.ContentType != tt.want || !bytes.Equal(res.Data, tt.data) || res.Backend != "sdapi" {
				t.Errorf("result = %q %q, %d bytes", res.ContentType, res.Backend, len(res.Data))
			}
		})
	}
}

func TestBackendBase64Forms(t *testing.T) {
	c := &bkClient{kind: "sdapi", label: "sdapi http://pc"}
	want := []byte("sticker bytes!")
	for _, s := range []string{
		"c3RpY2tlciBieXRlcyE=",
		"c3RpY2tlciBieXRlcyE",
		"data:image/png;base64,c3RpY2tlciBieXRlcyE=",
		" c3RpY2tl\nciBieXRlcyE=\n",
	} {
		got, err := c.decodeBase64(s)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("decode %q = %q, %v", s, got, err)
		}
	}
	if _, err := c.decodeBase64("not base64!"); !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "invalid base64 in answer") {
		t.Errorf("err = %v", err)
	}
}

// faults are the failure settings every fake shares.
type faults struct {
	FailWith, FailTimes int
	RetryAfter          string
	Refuse              bool
	Delay               time.Duration
	InvalidBase64       bool
	HugeBody            int
	DeclaredSize        image.Point
	FakeKey             string // the key the fake expects ("": testKey)
}

// fakeKind starts the fake of one backend kind with the given faults.
type fakeKind struct {
	kind string
	// start serves a fake and returns its base URL and call counter.
	start func(t *testing.T, f faults) (base string, calls func() int)
	// words is what the service says on a 500.
	words string
	// after is how many API calls follow a successful submission.
	after int
	// base64 tells whether images come inline (not DashScope).
	base64 bool
}

var fakeKinds = []fakeKind{
	{
		kind: "openai", words: "The server had an error", base64: true,
		start: func(t *testing.T, f faults) (string, func() int) {
			fk := &imagegentest.OpenAI{APIKey: f.FakeKey, FailWith: f.FailWith, FailTimes: f.FailTimes, RetryAfter: f.RetryAfter,
				Refuse: f.Refuse, Delay: f.Delay, InvalidBase64: f.InvalidBase64, HugeBody: f.HugeBody, DeclaredSize: f.DeclaredSize}
			return fk.Start(t), fk.Calls
		},
	},
	{
		kind: "sdapi", words: "CUDA out of memory", base64: true,
		start: func(t *testing.T, f faults) (string, func() int) {
			fk := &imagegentest.SDAPI{APIKey: f.FakeKey, FailWith: f.FailWith, FailTimes: f.FailTimes, RetryAfter: f.RetryAfter,
				Refuse: f.Refuse, Delay: f.Delay, InvalidBase64: f.InvalidBase64, HugeBody: f.HugeBody, DeclaredSize: f.DeclaredSize}
			return fk.Start(t), fk.Calls
		},
	},
	{
		kind: "dashscope", words: "InternalError", after: 1,
		start: func(t *testing.T, f faults) (string, func() int) {
			fk := &imagegentest.DashScope{APIKey: f.FakeKey, FailWith: f.FailWith, FailTimes: f.FailTimes, RetryAfter: f.RetryAfter,
				Refuse: f.Refuse, Delay: f.Delay, HugeBody: f.HugeBody, DeclaredSize: f.DeclaredSize}
			return fk.Start(t), fk.Calls
		},
	},
}

// TestBackendFailures runs every failure against every backend kind.
func TestBackendFailures(t *testing.T) {
	type want struct {
		ok          bool
		errs        []error // the error must wrap each
		notErrs     []error // and none of these
		calls       int     // API calls before the end (plus fakeKind.after on success or if late)
		late        bool    // the failure comes after the task ran (DashScope's download)
		waits       []time.Duration
		words       []string // the message must contain each ("WORDS": the service's own)
		maxDuration time.Duration
	}
	tests := []struct {
		name    string
		faults  faults
		cfg     func(*BackendConfig)
		base64  bool // only for backends that send base64
		memory  bool // check the bytes allocated
		closed  bool // a closed port instead of the fake
		want    want
		timeout bool
	}{
		{name: "500 then success", faults: faults{FailWith: 500, FailTimes: 1},
			want: want{ok: true, calls: 2, waits: []time.Duration{500 * time.Millisecond}}},
		{name: "503 twice then success", faults: faults{FailWith: 503, FailTimes: 2},
			want: want{ok: true, calls: 3, waits: []time.Duration{500 * time.Millisecond, time.Second}}},
		{name: "500 always", faults: faults{FailWith: 500},
			want: want{errs: []error{proto.ErrUnavailable, ErrBackend}, notErrs: []error{proto.ErrRefused}, calls: 3,
				waits: []time.Duration{500 * time.Millisecond, time.Second},
				words: []string{"500 Internal Server Error", "WORDS", "3 attempts"}}},
		{name: "500 always without retries", faults: faults{FailWith: 500}, cfg: func(c *BackendConfig) { c.MaxRetries = -1 },
			want: want{errs: []error{proto.ErrUnavailable, ErrBackend}, calls: 1, words: []string{"1 attempt"}}},
		{name: "429 with Retry-After", faults: faults{FailWith: 429, FailTimes: 1, RetryAfter: "1"},
			want: want{ok: true, calls: 2, waits: []time.Duration{time.Second}}},
		{name: "429 with Retry-After past the deadline", faults: faults{FailWith: 429, RetryAfter: "3600"},
			want: want{errs: []error{proto.ErrUnavailable, ErrBackend}, calls: 1,
				words: []string{"429 Too Many Requests", "would pass the deadline"}}},
		{name: "400 not retried", faults: faults{FailWith: 400},
			want: want{errs: []error{ErrBackend}, notErrs: []error{proto.ErrUnavailable, proto.ErrRefused}, calls: 1,
				words: []string{"400 Bad Request"}}},
		{name: "404 not retried", faults: faults{FailWith: 404},
			want: want{errs: []error{ErrBackend}, notErrs: []error{proto.ErrUnavailable}, calls: 1, words: []string{"404 Not Found"}}},
		{name: "content policy refusal", faults: faults{Refuse: true},
			want: want{errs: []error{proto.ErrRefused}, notErrs: []error{proto.ErrUnavailable, ErrBackend}, calls: 1,
				words: []string{"refused by content policy", "400 Bad Request"}}},
		{name: "wrong API key", faults: faults{FakeKey: "sk-the-right-key-000000000000"},
			want: want{errs: []error{ErrBackend}, notErrs: []error{proto.ErrUnavailable, proto.ErrRefused}, calls: 1,
				words: []string{"401 Unauthorized", "check the API key"}}},
		{name: "attempt timeout", faults: faults{Delay: 5 * time.Second},
			cfg: func(c *BackendConfig) { c.AttemptTimeout = 60 * time.Millisecond },
			want: want{errs: []error{proto.ErrUnavailable, ErrBackend, context.DeadlineExceeded}, calls: 3,
				waits: []time.Duration{500 * time.Millisecond, time.Second},
				words: []string{"no answer within 60ms (attempt timeout)", "3 attempts"}, maxDuration: 2 * time.Second}},
		{name: "overall timeout", faults: faults{Delay: 5 * time.Second}, timeout: true,
			cfg: func(c *BackendConfig) {
				c.AttemptTimeout = 100 * time.Millisecond
				c.Timeout = 250 * time.Millisecond
				c.MaxRetries = 10
			},
			want: want{errs: []error{proto.ErrUnavailable, ErrBackend, context.DeadlineExceeded}, calls: 3,
				words: []string{"timed out (overall timeout 250ms, 3 attempts"}, maxDuration: time.Second}},
		{name: "invalid base64", faults: faults{InvalidBase64: true}, base64: true,
			want: want{errs: []error{ErrBackend}, notErrs: []error{proto.ErrUnavailable}, calls: 1, words: []string{"invalid base64 in answer"}}},
		{name: "20 MB body", faults: faults{HugeBody: 20 << 20}, memory: true,
			want: want{errs: []error{ErrTooLarge, ErrBackend}, notErrs: []error{proto.ErrUnavailable}, calls: 1,
				words: []string{"over the limit of 16777216 bytes"}, late: true}},
		{name: "20000x20000 image header", faults: faults{DeclaredSize: image.Pt(20000, 20000)},
			want: want{errs: []error{ErrTooLarge, ErrBackend}, calls: 1, words: []string{"20000x20000"}, late: true}},
		{name: "connection refused", closed: true,
			want: want{errs: []error{proto.ErrUnavailable, ErrBackend, syscall.ECONNREFUSED}, calls: 0,
				waits: []time.Duration{500 * time.Millisecond, time.Second}, words: []string{"connection refused", "3 attempts"}}},
	}
	for _, fk := range fakeKinds {
		for _, tt := range tests {
			t.Run(fk.kind+"/"+tt.name, func(t *testing.T) {
				if tt.base64 && !fk.base64 {
					t.Skip("this service answers with URLs, not base64")
				}
				f := tt.faults
				if f.FakeKey == "" {
					f.FakeKey = testKey
				}
				var base string
				calls := func() int { return 0 }
				if tt.closed {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					base = "http://" + ln.Addr().String()
					ln.Close()
				} else {
					base, calls = fk.start(t, f)
				}
				cfg := BackendConfig{Kind: fk.kind, BaseURL: base, APIKey: testKey}
				if tt.cfg != nil {
					tt.cfg(&cfg)
				}
				var b Backend
				var sl *sleepLog
				if tt.timeout {
					// Back-off of 1 ms, so that the overall timeout, not the
					// prediction of the next wait, ends it.
					sl = &sleepLog{}
					cfg.PollInterval = testPoll
					var err error
					b, err = bkNew(cfg, bkHooks{sleep: sl.sleep, jitter: func() float64 { return 0.5 }, backoffBase: time.Millisecond})
					if err != nil {
						t.Fatal(err)
					}
				} else {
					b, sl = newTestBackend(t, cfg)
				}

				var before runtime.MemStats
				if tt.memory {
					runtime.GC()
					runtime.ReadMemStats(&before)
				}
				start := time.Now()
				res, err := b.Generate(context.Background(), Request{Prompt: "a dragon eating ice cream", NegativePrompt: "shading"})
				took := time.Since(start)
				if tt.memory {
					var after runtime.MemStats
					runtime.ReadMemStats(&after)
					// The answer is cut at the 16 MiB limit: a read of the
					// whole 20 MB (and its decoding) would allocate far more.
					if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 28<<20 {
						t.Errorf("allocated %d MiB reading a 20 MB answer", alloc>>20)
					}
				}

				w := tt.want
				if w.ok {
					if err != nil {
						t.Fatalf("Generate: %v", err)
					}
					if res.ContentType != "image/png" || len(res.Data) == 0 {
						t.Errorf("result %q, %d bytes", res.ContentType, len(res.Data))
					}
					if got := calls(); got != w.calls+fk.after {
						t.Errorf("%d API calls, want %d", got, w.calls+fk.after)
					}
				} else {
					if err == nil {
						t.Fatal("Generate succeeded")
					}
					wantCalls := w.calls
					if w.late {
						wantCalls += fk.after
					}
					if got := calls(); got != wantCalls {
						t.Errorf("%d API calls, want %d", got, wantCalls)
					}
				}
				if err != nil {
					msg := err.Error()
					t.Logf("error: %s", msg)
					if prefix := fk.kind + " " + base + ": "; !strings.HasPrefix(msg, prefix) {
						t.Errorf("error %q does not start with %q", msg, prefix)
					}
					for _, e := range w.errs {
						if !errors.Is(err, e) {
							t.Errorf("error %q does not wrap %v", msg, e)
						}
					}
					for _, e := range w.notErrs {
						if errors.Is(err, e) {
							t.Errorf("error %q wraps %v", msg, e)
						}
					}
					for _, word := range w.words {
						if word == "WORDS" {
							word = fk.words
						}
						if !strings.Contains(msg, word) {
							t.Errorf("error %q does not say %q", msg, word)
						}
					}
					if strings.Contains(msg, testKey) || strings.Contains(msg, testKey[5:]) {
						t.Errorf("error shows the API key: %q", msg)
					}
					if len(msg) > 600 {
						t.Errorf("error of %d bytes", len(msg))
					}
				}
				if w.waits != nil || !tt.timeout {
					got := sl.retryWaits(testPoll)
					if fmt.Sprint(got) != fmt.Sprint(w.waits) {
						t.Errorf("back-off waits %v, want %v", got, w.waits)
					}
				}
				if w.maxDuration > 0 && took > w.maxDuration {
					t.Errorf("took %v, want under %v", took, w.maxDuration)
				}
			})
		}
	}
}

// TestBackendCallerCancel checks that a cancelled caller gets
// context.Canceled, not an outage to fall back from.
func TestBackendCallerCancel(t *testing.T) {
	for _, fk := range fakeKinds {
		t.Run(fk.kind, func(t *testing.T) {
			base, _ := fk.start(t, faults{FakeKey: testKey, Delay: 5 * time.Second})
			b, _ := newTestBackend(t, BackendConfig{Kind: fk.kind, BaseURL: base, APIKey: testKey})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { // ends after cancelling, at once
				time.Sleep(20 * time.Millisecond)
				cancel()
			}()
			_, err := b.Generate(ctx, Request{Prompt: "a cat"})
			if !errors.Is(err, context.Canceled) || errors.Is(err, proto.ErrUnavailable) || errors.Is(err, ErrBackend) {
				t.Fatalf("err = %v, want context.Canceled only", err)
			}
		})
	}
}
