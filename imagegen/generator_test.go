package imagegen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/imagegen"
	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

// fakeBackend is a Backend with settable answers that counts its calls.
type fakeBackend struct {
	name  string
	made  string // Result.Backend
	data  []byte
	ctype string
	err   error
	// block makes Generate wait for its context to end and return its
	// error; started is closed when the first such call begins.
	block   bool
	started chan struct{}

	mu       sync.Mutex
	calls    int
	reqs     []imagegen.Request
	deadline time.Time // of the last call's context
}

func (b *fakeBackend) Name() string { return b.name }

func (b *fakeBackend) Generate(ctx context.Context, req imagegen.Request) (*imagegen.Result, error) {
	b.mu.Lock()
	b.calls++
	b.reqs = append(b.reqs, req)
	b.deadline, _ = ctx.Deadline()
	first := b.calls == 1
	b.mu.Unlock()
	if b.block {
		if first && b.started != nil {
			close(b.started)
		}
		<-ctx.Done()
		return nil, fmt.Errorf("%s: %w: %w", b.name, ctx.Err(), proto.ErrUnavailable)
	}
	if b.err != nil {
		return nil, b.err
	}
	return &imagegen.Result{Data: b.data, ContentType: b.ctype, Backend: b.made}, nil
}

func (b *fakeBackend) callCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// testImage draws a black disc on white, w×h, as PNG or JPEG bytes.
func testImage(t testing.TB, w, h int, format string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := min(w, h) / 3
	for y := range h {
		for x := range w {
			dx, dy := x-w/2, y-h/2
			c := color.RGBA{255, 255, 255, 255}
			if dx*dx+dy*dy < r*r {
				c = color.RGBA{0, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkPrintable asserts that data is a 1-bit PNG of the given width with
// only pure black and white pixels, some of each.
func checkPrintable(t *testing.T, data []byte, width int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("printable PNG does not decode: %v", err)
	}
	if got := img.Bounds().Dx(); got != width {
		t.Errorf("printable PNG is %d wide, want %d", got, width)
	}
	if depth := data[24]; depth != 1 {
		t.Errorf("printable PNG has bit depth %d, want 1", depth)
	}
	var black, white int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			switch color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y {
			case 0:
				black++
			case 255:
				white++
			default:
				t.Fatalf("pixel (%d,%d) is %v, neither black nor white", x, y, img.At(x, y))
			}
		}
	}
	if black == 0 || white == 0 {
		t.Errorf("printable PNG has %d black and %d white pixels; want some of each", black, white)
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func newLogger(l *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestSticker(t *testing.T) {
	pngData := testImage(t, 512, 512, "png")
	jpegData := testImage(t, 640, 480, "jpeg")
	const text = "a dragon eating ice cream"
	unavailable := fmt.Errorf("sdapi http://127.0.0.1:9: dial tcp 127.0.0.1:9: connect: connection refused: %w: %w", proto.ErrUnavailable, imagegen.ErrBackend)
	serverError := fmt.Errorf("sdapi http://127.0.0.1:9: 500 Internal Server Error: CUDA out of memory: %w", imagegen.ErrBackend)
	refused := fmt.Errorf("sdapi http://127.0.0.1:9: content policy: %w", proto.ErrRefused)

	tests := []struct {
		name       string
		backend    *fakeBackend // nil: no backend
		noFallback bool
		classroom  bool
		blocked    []string
		width      int
		text       string

		wantErr      error  // nil: a sticker
		wantCalls    int    // backend calls
		wantBackend  string // Sticker.Backend
		wantFallback string // prefix of Sticker.Fallback
		wantInReason string
		wantOrigType string
		wantWidth    int
	}{
		{name: "png from the backend", backend: &fakeBackend{name: "sdapi http://127.0.0.1:9", data: pngData, ctype: "image/png"},
			wantCalls: 1, wantBackend: "sdapi http://127.0.0.1:9", wantOrigType: "image/png", wantWidth: 384},
		{name: "jpeg without a content type, 576 dots", backend: &fakeBackend{name: "openai", made: "openai:gpt-image-1", data: jpegData}, width: 576,
			wantCalls: 1, wantBackend: "openai:gpt-image-1", wantOrigType: "image/jpeg", wantWidth: 576},
		{name: "backend unavailable", backend: &fakeBackend{name: "sdapi http://127.0.0.1:9", err: unavailable},
			wantCalls: 1, wantBackend: "fallback", wantFallback: "image backend sdapi http://127.0.0.1:9 failed: dial tcp", wantInReason: "connection refused", wantWidth: 384},
		{name: "backend error", backend: &fakeBackend{name: "sdapi", err: serverError},
			wantCalls: 1, wantBackend: "fallback", wantFallback: "image backend sdapi http://127.0.0.1:9 failed: 500 Internal Server Error", wantInReason: "CUDA out of memory", wantWidth: 384},
		{name: "undecodable image", backend: &fakeBackend{name: "openai", data: []byte("<html>Bad gateway</html>"), ctype: "image/png"},
			wantCalls: 1, wantBackend: "fallback", wantFallback: "image backend openai failed: ", wantInReason: "render", wantWidth: 384},
		{name: "no image", backend: &fakeBackend{name: "openai"},
			wantCalls: 1, wantBackend: "fallback", wantFallback: "image backend openai failed: ", wantInReason: "no image", wantWidth: 384},
		{name: "backend refuses", backend: &fakeBackend{name: "openai", err: refused},
			wantCalls: 1, wantErr: proto.ErrRefused},
		{name: "backend refuses, no fallback", backend: &fakeBackend{name: "openai", err: refused}, noFallback: true,
			wantCalls: 1, wantErr: proto.ErrRefused},
		{name: "classroom mode blocks before the backend", backend: &fakeBackend{name: "openai", data: pngData}, classroom: true, text: "a dragon with a GUN!",
			wantCalls: 0, wantErr: proto.ErrRefused},
		{name: "classroom mode lets a harmless request through", backend: &fakeBackend{name: "openai", data: pngData}, classroom: true, text: "a class of grasshoppers",
			wantCalls: 1, wantBackend: "openai", wantOrigType: "image/png", wantWidth: 384},
		{name: "classroom mode blocks configured words", backend: &fakeBackend{name: "openai", data: pngData}, classroom: true, blocked: []string{"clown"}, text: "Clowns",
			wantCalls: 0, wantErr: proto.ErrRefused},
		{name: "configured words block without classroom mode", backend: &fakeBackend{name: "openai", data: pngData}, blocked: []string{"clown"}, text: "a clown's nose",
			wantCalls: 0, wantErr: proto.ErrRefused},
		{name: "default list needs classroom mode", backend: &fakeBackend{name: "openai", data: pngData}, blocked: []string{"clown"}, text: "a water pistol",
			wantCalls: 1, wantBackend: "openai", wantOrigType: "image/png", wantWidth: 384},
		{name: "classroom mode refuses with no backend", classroom: true, text: "a naked dragon",
			wantErr: proto.ErrRefused},
		{name: "no backend", wantBackend: "fallback", wantFallback: "no image backend configured", wantWidth: 384},
		{name: "no backend, no fallback", noFallback: true, wantErr: proto.ErrUnavailable},
		{name: "backend unavailable, no fallback", backend: &fakeBackend{name: "sdapi", err: unavailable}, noFallback: true,
			wantCalls: 1, wantErr: proto.ErrUnavailable},
		{name: "backend error, no fallback", backend: &fakeBackend{name: "sdapi", err: serverError}, noFallback: true,
			wantCalls: 1, wantErr: imagegen.ErrBackend},
		{name: "undecodable image, no fallback", backend: &fakeBackend{name: "sdapi", data: []byte("not an image")}, noFallback: true,
			wantCalls: 1, wantErr: imagegen.ErrDecode},
		{name: "empty words", backend: &fakeBackend{name: "sdapi", data: pngData}, text: " \n ",
			wantErr: imagegen.ErrEmptyText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			cfg := imagegen.DefaultConfig()
			cfg.Fallback = !tt.noFallback
			cfg.ClassroomMode = tt.classroom
			cfg.BlockedWords = tt.blocked
			cfg.Render.Width = tt.width
			var b imagegen.Backend
			if tt.backend != nil {
				b = tt.backend
			}
			g, err := imagegen.NewWithBackend(cfg, b, newLogger(&logs))
			if err != nil {
				t.Fatal(err)
			}
			in := tt.text
			if in == "" {
				in = text
			}
			st, err := g.Sticker(context.Background(), in)
			if tt.backend != nil {
				if n := tt.backend.callCount(); n != tt.wantCalls {
					t.Errorf("backend called %d times, want %d", n, tt.wantCalls)
				}
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Sticker error = %v, want %v", err, tt.wantErr)
				}
				if st != nil {
					t.Errorf("Sticker returned a sticker with the error: %+v", st)
				}
				if errors.Is(err, proto.ErrRefused) && tt.wantCalls == 0 && strings.Contains(err.Error(), "openai") {
					t.Errorf("a word filter refusal names the backend: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sticker: %v", err)
			}
			checkPrintable(t, st.PNG, tt.wantWidth)
			if st.Backend != tt.wantBackend {
				t.Errorf("Backend = %q, want %q", st.Backend, tt.wantBackend)
			}
			if !strings.HasPrefix(st.Fallback, tt.wantFallback) || (tt.wantFallback == "") != (st.Fallback == "") {
				t.Errorf("Fallback = %q, want it to start with %q", st.Fallback, tt.wantFallback)
			}
			if !strings.Contains(st.Fallback, tt.wantInReason) {
				t.Errorf("Fallback = %q, want it to mention %q", st.Fallback, tt.wantInReason)
			}
			if st.Fallback == "" {
				if !bytes.Equal(st.Original, tt.backend.data) {
					t.Errorf("Original is %d bytes, not the backend's %d", len(st.Original), len(tt.backend.data))
				}
				if st.OriginalType != tt.wantOrigType {
					t.Errorf("OriginalType = %q, want %q", st.OriginalType, tt.wantOrigType)
				}
			} else if st.Original != nil || st.OriginalType != "" {
				t.Errorf("fallback sticker keeps an original of %d bytes, type %q", len(st.Original), st.OriginalType)
			}
			if tt.backend != nil {
				req := tt.backend.reqs[0]
				if st.Prompt != req.Prompt {
					t.Errorf("Prompt = %q, but the backend got %q", st.Prompt, req.Prompt)
				}
				for _, want := range []string{in, "Bold thick black outlines", "pure white background"} {
					if !strings.Contains(req.Prompt, want) {
						t.Errorf("prompt %q lacks %q", req.Prompt, want)
					}
				}
				if req.NegativePrompt != imagegen.DefaultNegative {
					t.Errorf("negative prompt = %q, want the default", req.NegativePrompt)
				}
			} else if st.Prompt != "" {
				t.Errorf("Prompt = %q with no backend", st.Prompt)
			}

			recs := logs.records(t)
			if len(recs) != 1 {
				t.Fatalf("%d log records, want 1: %v", len(recs), recs)
			}
			rec := recs[0]
			if rec["level"] != "INFO" || rec["backend"] != st.Backend {
				t.Errorf("log record %v: want level INFO and backend %q", rec, st.Backend)
			}
			if _, ok := rec["ms"].(float64); !ok {
				t.Errorf("log record %v has no ms", rec)
			}
			if reason, _ := rec["fallback"].(string); reason != st.Fallback {
				t.Errorf("log record fallback = %q, want %q", reason, st.Fallback)
			}
		})
	}
}

func TestStickerContext(t *testing.T) {
	pngData := testImage(t, 256, 256, "png")
	t.Run("cancelled before", func(t *testing.T) {
		b := &fakeBackend{name: "sdapi", data: pngData}
		g, err := imagegen.NewWithBackend(imagegen.DefaultConfig(), b, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		st, err := g.Sticker(ctx, "a cat")
		if !errors.Is(err, context.Canceled) || st != nil {
			t.Errorf("Sticker = %v, %v; want context.Canceled", st, err)
		}
		if n := b.callCount(); n != 0 {
			t.Errorf("backend called %d times", n)
		}
	})
	t.Run("cancelled during the backend call, no fallback", func(t *testing.T) {
		b := &fakeBackend{name: "sdapi", block: true, started: make(chan struct{})}
		g, err := imagegen.NewWithBackend(imagegen.DefaultConfig(), b, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Ends when the backend call has begun (or the test times out).
		go func() {
			<-b.started
			cancel()
		}()
		st, err := g.Sticker(ctx, "a cat")
		if !errors.Is(err, context.Canceled) || st != nil {
			t.Errorf("Sticker = %+v, %v; want context.Canceled and no fallback", st, err)
		}
	})
	t.Run("caller's deadline, no fallback", func(t *testing.T) {
		b := &fakeBackend{name: "sdapi", block: true}
		cfg := imagegen.DefaultConfig()
		cfg.Fallback = false
		g, err := imagegen.NewWithBackend(cfg, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		st, err := g.Sticker(ctx, "a cat")
		if !errors.Is(err, context.DeadlineExceeded) || st != nil {
			t.Errorf("Sticker = %+v, %v; want context.DeadlineExceeded", st, err)
		}
	})
	t.Run("slow backend leaves time for the fallback", func(t *testing.T) {
		b := &fakeBackend{name: "sdapi", block: true}
		g, err := imagegen.NewWithBackend(imagegen.DefaultConfig(), b, nil)
		if err != nil {
			t.Fatal(err)
		}
		const budget = 600 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		deadline, _ := ctx.Deadline()
		st, err := g.Sticker(ctx, "a cat")
		if err != nil {
			t.Fatalf("Sticker: %v", err)
		}
		if st.Backend != "fallback" || !strings.Contains(st.Fallback, "deadline exceeded") {
			t.Errorf("Backend %q, Fallback %q; want a fallback for the backend's deadline", st.Backend, st.Fallback)
		}
		if ctx.Err() != nil {
			t.Errorf("the fallback sticker came after the caller's deadline")
		}
		if reserve := deadline.Sub(b.deadline); reserve < budget/4 {
			t.Errorf("the backend's deadline is %v before the caller's; want at least %v kept for the fallback", reserve, budget/4)
		}
		checkPrintable(t, st.PNG, 384)
	})
	t.Run("no deadline is added", func(t *testing.T) {
		b := &fakeBackend{name: "sdapi", data: pngData}
		g, err := imagegen.NewWithBackend(imagegen.DefaultConfig(), b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Sticker(context.Background(), "a cat"); err != nil {
			t.Fatal(err)
		}
		if !b.deadline.IsZero() {
			t.Errorf("the backend call got a deadline %v", b.deadline)
		}
	})
}

func TestStickerConcurrent(t *testing.T) {
	b := &fakeBackend{name: "sdapi", data: testImage(t, 256, 256, "png")}
	cfg := imagegen.DefaultConfig()
	cfg.ClassroomMode = true
	g, err := imagegen.NewWithBackend(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		// Ends when its Sticker call returns.
		wg.Go(func() {
			text := fmt.Sprintf("%d happy frogs", i)
			if i%2 == 1 {
				text = fmt.Sprintf("%d scary guns", i)
			}
			st, err := g.Sticker(context.Background(), text)
			switch {
			case i%2 == 1 && !errors.Is(err, proto.ErrRefused):
				errs <- fmt.Errorf("%q: error %v, want refused", text, err)
			case i%2 == 0 && (err != nil || !strings.Contains(st.Prompt, text)):
				errs <- fmt.Errorf("%q: %v, prompt %q", text, err, st.Prompt)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := b.callCount(); n != 4 {
		t.Errorf("backend called %d times, want 4", n)
	}
}

// TestStickerHTTP runs the Generator against the sdapi and OpenAI fakes
// over real loopback HTTP.
func TestStickerHTTP(t *testing.T) {
	const key = "sk-very-secret-key-0123"
	picture := imagegentest.PNG(512, 512)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name       string
		kind       string
		sdapi      *imagegentest.SDAPI // or
		openai     *imagegentest.OpenAI
		baseURL    string // instead of a fake
		classroom  bool
		text       string
		wantErr    error
		wantCalls  int
		wantBack   string
		wantReason []string // substrings of Sticker.Fallback
	}{
		{name: "sdapi draws", kind: "sdapi", sdapi: &imagegentest.SDAPI{APIKey: key, Image: picture},
			wantCalls: 1, wantBack: "sdapi:sd_xl_turbo"},
		{name: "openai draws", kind: "openai", openai: &imagegentest.OpenAI{APIKey: key, Image: picture},
			wantCalls: 1, wantBack: "openai:sd_xl_turbo"},
		{name: "sdapi 500", kind: "sdapi", sdapi: &imagegentest.SDAPI{APIKey: key, FailWith: http.StatusInternalServerError},
			wantCalls: 1, wantBack: "fallback", wantReason: []string{"image backend sdapi http://127.0.0.1:", " failed: ", "500"}},
		{name: "sdapi image bigger than allowed", kind: "sdapi", sdapi: &imagegentest.SDAPI{APIKey: key, DeclaredSize: image.Pt(20000, 20000)},
			wantCalls: 1, wantBack: "fallback", wantReason: []string{"image backend sdapi http://127.0.0.1:", "20000x20000"}},
		{name: "sdapi refuses", kind: "sdapi", sdapi: &imagegentest.SDAPI{APIKey: key, Refuse: true},
			wantCalls: 1, wantErr: proto.ErrRefused},
		{name: "openai refuses", kind: "openai", openai: &imagegentest.OpenAI{APIKey: key, Refuse: true},
			wantCalls: 1, wantErr: proto.ErrRefused},
		{name: "classroom mode never calls", kind: "sdapi", sdapi: &imagegentest.SDAPI{APIKey: key, Image: picture}, classroom: true, text: "a bloodbath",
			wantCalls: 0, wantErr: proto.ErrRefused},
		{name: "nothing listening", kind: "sdapi", baseURL: closedURL,
			wantBack: "fallback", wantReason: []string{"image backend sdapi " + closedURL + " failed: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tt.baseURL
			switch {
			case tt.sdapi != nil:
				base = tt.sdapi.Start(t)
			case tt.openai != nil:
				base = tt.openai.Start(t)
			}
			var logs logBuffer
			cfg := imagegen.DefaultConfig()
			cfg.ClassroomMode = tt.classroom
			cfg.Backend = &imagegen.BackendConfig{Kind: tt.kind, BaseURL: base, APIKey: key, Model: "sd_xl_turbo",
				Size: "512x512", MaxRetries: -1, Timeout: 5 * time.Second}
			g, err := imagegen.New(cfg, newLogger(&logs))
			if err != nil {
				t.Fatal(err)
			}
			text := tt.text
			if text == "" {
				text = "a happy whale"
			}
			st, err := g.Sticker(context.Background(), text)

			var reqs []imagegentest.Request
			switch {
			case tt.sdapi != nil:
				reqs = tt.sdapi.Requests()
			case tt.openai != nil:
				reqs = tt.openai.Requests()
			}
			if tt.baseURL == "" && len(reqs) != tt.wantCalls {
				t.Errorf("the fake got %d requests, want %d", len(reqs), tt.wantCalls)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || st != nil {
					t.Fatalf("Sticker = %+v, %v; want %v", st, err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatalf("Sticker: %v", err)
				}
				checkPrintable(t, st.PNG, 384)
				if st.Backend != tt.wantBack {
					t.Errorf("Backend = %q, want %q", st.Backend, tt.wantBack)
				}
				t.Logf("Backend %q, Fallback %q", st.Backend, st.Fallback)
				for _, want := range tt.wantReason {
					if !strings.Contains(st.Fallback, want) {
						t.Errorf("Fallback = %q, want it to mention %q", st.Fallback, want)
					}
				}
				if tt.wantBack != "fallback" {
					if st.Fallback != "" || !bytes.Equal(st.Original, picture) || st.OriginalType != "image/png" {
						t.Errorf("Fallback %q, Original %d bytes (type %q); want the fake's %d-byte PNG", st.Fallback, len(st.Original), st.OriginalType, len(picture))
					}
					body := reqs[0].JSON()
					if p, _ := body["prompt"].(string); !strings.Contains(p, text) || p != st.Prompt {
						t.Errorf("the fake got prompt %q, the sticker records %q", p, st.Prompt)
					}
					if tt.kind == "sdapi" && body["negative_prompt"] != imagegen.DefaultNegative {
						t.Errorf("the fake got negative_prompt %v", body["negative_prompt"])
					}
				}
			}
			for _, where := range []string{g.Describe(), logs.buf.String(), fmt.Sprint(err), fmt.Sprintf("%+v", st)} {
				if strings.Contains(where, key) {
					t.Errorf("the API key shows: %s", where)
				}
			}
		})
	}
}

func TestGeneratorDescribe(t *testing.T) {
	backendCfg := &imagegen.BackendConfig{Kind: "sdapi", BaseURL: "http://192.168.1.30:7860", APIKey: "sk-very-secret", Model: "sd_xl_turbo"}
	tests := []struct {
		name      string
		backend   imagegen.Backend
		cfg       *imagegen.BackendConfig
		fallback  bool
		classroom bool
		blocked   []string
		want      string
		available bool
	}{
		{"backend named alone", &fakeBackend{name: "sdapi"}, backendCfg, true, false, nil,
			"sdapi http://192.168.1.30:7860 model sd_xl_turbo (fallback on)", true},
		{"backend named with its address", &fakeBackend{name: "sdapi http://192.168.1.30:7860"}, backendCfg, false, false, nil,
			"sdapi http://192.168.1.30:7860 model sd_xl_turbo (fallback off)", true},
		{"no config", &fakeBackend{name: "openai"}, nil, true, false, []string{"clown"},
			"openai (fallback on, word filter on, 1 word)", true},
		{"no backend", nil, nil, true, false, nil, "no image backend (fallback on)", true},
		{"nothing at all", nil, nil, false, false, nil, "no image backend (fallback off)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := imagegen.Config{Backend: tt.cfg, Fallback: tt.fallback, ClassroomMode: tt.classroom, BlockedWords: tt.blocked}
			g, err := imagegen.NewWithBackend(cfg, tt.backend, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Describe(); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
			if strings.Contains(g.Describe(), "secret") {
				t.Errorf("Describe shows the API key: %q", g.Describe())
			}
			if got := g.Available(); got != tt.available {
				t.Errorf("Available = %v, want %v", got, tt.available)
			}
		})
	}
	t.Run("classroom", func(t *testing.T) {
		g, err := imagegen.NewWithBackend(imagegen.Config{ClassroomMode: true, Fallback: true}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("no image backend (fallback on, classroom filter on, %d words)", imagegen.NewFilter(nil, true).Len())
		if got := g.Describe(); got != want {
			t.Errorf("Describe = %q, want %q", got, want)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  imagegen.Config
		ok   bool
	}{
		{"default", imagegen.DefaultConfig(), true},
		{"zero", imagegen.Config{}, true},
		{"custom prompt", imagegen.Config{Prompt: imagegen.PromptConfig{Template: "line art: {{.Text}}"}}, true},
		{"template does not parse", imagegen.Config{Prompt: imagegen.PromptConfig{Template: "{{.Text"}}, false},
		{"template without the words", imagegen.Config{Prompt: imagegen.PromptConfig{Template: "a cat"}}, false},
		{"unknown backend kind", imagegen.Config{Backend: &imagegen.BackendConfig{Kind: "crayons", BaseURL: "http://127.0.0.1:9"}}, false},
		{"backend URL", imagegen.Config{Backend: &imagegen.BackendConfig{Kind: "sdapi", BaseURL: "ftp://127.0.0.1:9"}}, false},
		{"good backend", imagegen.Config{Backend: &imagegen.BackendConfig{Kind: "sdapi", BaseURL: "http://127.0.0.1:9"}}, true},
		{"render fit", imagegen.Config{Render: imagegen.RenderOptions{Fit: "stretch"}}, false},
		{"render width", imagegen.Config{Render: imagegen.RenderOptions{Width: 100}}, false},
		{"576 dots", imagegen.Config{Render: imagegen.RenderOptions{Width: 576, Dither: "atkinson"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, imagegen.ErrConfig)) {
				t.Errorf("Validate = %v, want ok %v (or ErrConfig)", err, tt.ok)
			}
			_, err = imagegen.New(tt.cfg, nil)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, imagegen.ErrConfig)) {
				t.Errorf("New = %v, want ok %v (or ErrConfig)", err, tt.ok)
			}
		})
	}
}

func ExampleNew() {
	// No backend configured: every sticker is the words in a frame.
	g, err := imagegen.New(imagegen.DefaultConfig(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Describe())
	st, err := g.Sticker(context.Background(), "a dragon eating ice cream")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(st.PNG))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s sticker (%s), %d dots wide\n", st.Backend, st.Fallback, cfg.Width)
	// Output:
	// no image backend (fallback on)
	// fallback sticker (no image backend configured), 384 dots wide
}
