package imagegentest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// SDAPI fakes the sdapi txt2img API of AUTOMATIC1111 and Forge (POST
// /sdapi/v1/txt2img), as those servers answer: {"images":[base64 PNG],
// "parameters":{...},"info":"<JSON text>"}; errors in their exception
// shape {"error","detail","body","errors"}; request validation as 422
// {"detail":[{"loc","msg","type"}]}.
type SDAPI struct {
	// APIKey is the credential to expect: "user:password" as HTTP basic
	// auth (AUTOMATIC1111's --api-auth), anything else as a Bearer token
	// (a gateway in front). Empty: none is checked.
	APIKey string
	// Image is the image to return (default: PNG(64, 64)).
	Image []byte
	// FailWith is an HTTP status to fail with; 500 answers the way
	// AUTOMATIC1111 reports CUDA running out of memory.
	FailWith int
	// FailTimes: fail only the first FailTimes calls (0: every call).
	FailTimes int
	// RetryAfter is sent as the Retry-After header of failures.
	RetryAfter string
	// Refuse answers 400 with an NSFW rejection. The servers have no
	// content policy of their own; this is what a safety extension or a
	// gateway in front of them says.
	Refuse bool
	// Delay holds every answer back this long.
	Delay time.Duration
	// InvalidBase64 puts text that is not base64 in images[0].
	InvalidBase64 bool
	// HugeBody streams an answer of this many bytes, without Content-Length.
	HugeBody int
	// DeclaredSize, if set, returns a tiny PNG whose header claims this size.
	DeclaredSize image.Point

	core
}

// Update changes the fields safely while the fake is serving.
func (f *SDAPI) Update(fn func(f *SDAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *SDAPI) settings() behaviour {
	f.mu.Lock()
	defer f.mu.Unlock()
	return behaviour{apiKey: f.APIKey, image: f.Image, failWith: f.FailWith, failTimes: f.FailTimes,
		retryAfter: f.RetryAfter, refuse: f.Refuse, delay: f.Delay, invalidBase64: f.InvalidBase64,
		hugeBody: f.HugeBody, declared: f.DeclaredSize}
}

// Start serves the fake on 127.0.0.1 until the test ends and returns its
// base URL.
func (f *SDAPI) Start(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// Handler returns the fake as a handler.
func (f *SDAPI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/sdapi/v1/txt2img", f.txt2img)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	})
	return mux
}

// sdapiError answers in AUTOMATIC1111's exception shape.
func sdapiError(w http.ResponseWriter, status int, name, detail, errs string) {
	writeJSON(w, status, map[string]any{"error": name, "detail": detail, "body": "", "errors": errs})
}

func (f *SDAPI) txt2img(w http.ResponseWriter, r *http.Request) {
	req := readRequest(r)
	n := f.record(req)
	s := f.settings()
	if !wait(r, s.delay) {
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
		return
	}
	if s.apiKey != "" {
		if user, pw, basic := strings.Cut(s.apiKey, ":"); basic {
			gu, gp, ok := r.BasicAuth()
			if !ok {
				w.Header().Set("WWW-Authenticate", "Basic")
				sdapiError(w, http.StatusUnauthorized, "HTTPException", "Not authenticated", "401: Not authenticated")
				return
			}
			if gu != user || gp != pw {
				w.Header().Set("WWW-Authenticate", "Basic")
				sdapiError(w, http.StatusUnauthorized, "HTTPException", "Incorrect username or password", "401: Incorrect username or password")
				return
			}
		} else if tok, _ := bearer(r); tok != s.apiKey {
			sdapiError(w, http.StatusUnauthorized, "HTTPException", "Invalid API key", "401: Invalid API key")
			return
		}
	}
	if s.failing(n) {
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		switch {
		case s.failWith == http.StatusInternalServerError:
			sdapiError(w, s.failWith, "OutOfMemoryError", "", "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity; 5.12 GiB already allocated)")
		case s.failWith == http.StatusTooManyRequests:
			sdapiError(w, s.failWith, "HTTPException", "Too many requests, the queue is full", "429: Too many requests, the queue is full")
		default:
			text := http.StatusText(s.failWith)
			sdapiError(w, s.failWith, "HTTPException", text, fmt.Sprintf("%d: %s", s.failWith, text))
		}
		return
	}
	var body map[string]any
	if err := json.Unmarshal(req.Body, &body); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{
			map[string]any{"loc": []any{"body", 0}, "msg": "Expecting value", "type": "value_error.jsondecode"},
		}})
		return
	}
	var bad []any
	for _, k := range []string{"width", "height", "steps", "batch_size", "n_iter"} {
		v, ok := body[k]
		if !ok {
			continue
		}
		if x, isNum := v.(float64); !isNum || x != math.Trunc(x) {
			bad = append(bad, map[string]any{"loc": []any{"body", k}, "msg": "value is not a valid integer", "type": "type_error.integer"})
		}
	}
	if len(bad) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": bad})
		return
	}
	if s.refuse {
		sdapiError(w, http.StatusBadRequest, "HTTPException", "Prompt rejected: NSFW content detected", "400: Prompt rejected: NSFW content detected")
		return
	}
	if s.hugeBody > 0 {
		stream(w, `{"images":["`, s.hugeBody, `"],"parameters":{},"info":"{}"}`)
		return
	}
	img := base64.StdEncoding.EncodeToString(s.picture())
	if s.invalidBase64 {
		img = "this is *not* base64!"
	}
	info, _ := json.Marshal(map[string]any{
		"prompt": body["prompt"], "negative_prompt": body["negative_prompt"], "seed": 1234567890,
		"width": body["width"], "height": body["height"], "sampler_name": body["sampler_name"], "steps": body["steps"],
	})
	writeJSON(w, http.StatusOK, map[string]any{"images": []string{img}, "parameters": body, "info": string(info)})
}
