package imagegentest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// OpenAI fakes the OpenAI Images API (POST /v1/images/generations) as
// OpenAI answers it: b64_json or a url to download (on a separate host
// when started with Start, like OpenAI's blob store), and its error
// shape {"error":{"message","type","param","code"}}.
//
// Like the real service, DALL-E models answer with a url unless the
// request asks response_format "b64_json", and gpt-image models always
// answer b64_json and reject a response_format field with 400.
type OpenAI struct {
	// APIKey is the key to expect as "Authorization: Bearer"; a missing
	// or wrong one gets 401. Empty: no key is checked (LocalAI).
	APIKey string
	// Image is the image to return (default: PNG(64, 64)).
	Image []byte
	// FailWith is an HTTP status to fail with, in the service's error shape.
	FailWith int
	// FailTimes: fail only the first FailTimes calls (0: every call).
	FailTimes int
	// RetryAfter is sent as the Retry-After header of failures.
	RetryAfter string
	// Refuse answers 400 content_policy_violation (DALL-E) or
	// moderation_blocked (gpt-image), as the safety system does.
	Refuse bool
	// Delay holds every API answer back this long.
	Delay time.Duration
	// InvalidBase64 puts text that is not base64 in b64_json.
	InvalidBase64 bool
	// HugeBody streams an answer of this many bytes (a never-ending
	// b64_json, or the downloaded file in url mode), without Content-Length.
	HugeBody int
	// DeclaredSize, if set, returns a tiny PNG whose header claims this size.
	DeclaredSize image.Point
	// ReturnURL answers with a url even when b64_json was asked for.
	ReturnURL bool

	core
}

// Update changes the fields safely while the fake is serving.
func (f *OpenAI) Update(fn func(f *OpenAI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *OpenAI) settings() behaviour {
	f.mu.Lock()
	defer f.mu.Unlock()
	return behaviour{apiKey: f.APIKey, image: f.Image, failWith: f.FailWith, failTimes: f.FailTimes,
		retryAfter: f.RetryAfter, refuse: f.Refuse, delay: f.Delay, invalidBase64: f.InvalidBase64,
		hugeBody: f.HugeBody, declared: f.DeclaredSize, returnURL: f.ReturnURL}
}

// Start serves the fake on 127.0.0.1, with a second server for url
// downloads, both closed when the test ends. It returns the base URL.
func (f *OpenAI) Start(t testing.TB) string {
	t.Helper()
	files := httptest.NewServer(http.HandlerFunc(f.serveFile))
	t.Cleanup(files.Close)
	f.mu.Lock()
	f.filesBase = files.URL
	f.mu.Unlock()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// Handler returns the fake as a handler. Without Start, url downloads are
// served by this handler too, under /files/.
func (f *OpenAI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/images/generations", f.generate)
	mux.HandleFunc("GET /files/", f.serveFile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		openAIError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", nil)
	})
	return mux
}

// openAIError answers in the Images API error shape.
func openAIError(w http.ResponseWriter, status int, msg, typ, param string, code any) {
	var p any
	if param != "" {
		p = param
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": code}})
}

func (f *OpenAI) generate(w http.ResponseWriter, r *http.Request) {
	req := readRequest(r)
	n := f.record(req)
	s := f.settings()
	if !wait(r, s.delay) {
		return
	}
	if r.Method != http.MethodPost {
		openAIError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", nil)
		return
	}
	if s.apiKey != "" {
		tok, ok := bearer(r)
		switch {
		case !ok:
			openAIError(w, http.StatusUnauthorized, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error", "", nil)
			return
		case tok != s.apiKey:
			openAIError(w, http.StatusUnauthorized, "Incorrect API key provided: "+maskKey(tok)+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key")
			return
		}
	}
	if s.failing(n) {
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		switch {
		case s.failWith == http.StatusTooManyRequests:
			openAIError(w, s.failWith, "Rate limit reached for images per minute. Please try again later.", "requests", "", "rate_limit_exceeded")
		case s.failWith == http.StatusServiceUnavailable:
			openAIError(w, s.failWith, "The engine is currently overloaded, please try again later.", "server_error", "", nil)
		case s.failWith >= 500:
			openAIError(w, s.failWith, "The server had an error while processing your request. Sorry about that!", "server_error", "", nil)
		default:
			openAIError(w, s.failWith, "Invalid request.", "invalid_request_error", "", nil)
		}
		return
	}
	var body map[string]any
	if err := json.Unmarshal(req.Body, &body); err != nil {
		openAIError(w, http.StatusBadRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)", "invalid_request_error", "", nil)
		return
	}
	prompt, _ := body["prompt"].(string)
	if prompt == "" {
		openAIError(w, http.StatusBadRequest, "Missing required parameter: 'prompt'.", "invalid_request_error", "prompt", "missing_required_parameter")
		return
	}
	model, _ := body["model"].(string)
	if model == "" {
		model = "dall-e-2"
	}
	gptImage := strings.HasPrefix(model, "gpt-image")
	format, hasFormat := body["response_format"].(string)
	if gptImage && hasFormat {
		openAIError(w, http.StatusBadRequest, "Unknown parameter: 'response_format'.", "invalid_request_error", "response_format", "unknown_parameter")
		return
	}
	if size, ok := body["size"].(string); ok && !openAISizeOK(model, size) {
		openAIError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value: '%s'. Supported values are: %s.", size, openAISizes[model]), "invalid_request_error", "size", "invalid_value")
		return
	}
	if s.refuse {
		if gptImage {
			openAIError(w, http.StatusBadRequest, "Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID.", "image_generation_user_error", "", "moderation_blocked")
		} else {
			openAIError(w, http.StatusBadRequest, "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.", "invalid_request_error", "", "content_policy_violation")
		}
		return
	}
	if !hasFormat {
		format = "url"
		if gptImage {
			format = "b64_json"
		}
	}
	if s.returnURL {
		format = "url"
	}
	created := time.Now().Unix()
	item := map[string]any{}
	switch {
	case format == "url":
		fl := file{data: s.picture(), huge: s.hugeBody}
		item["url"] = f.addFile(r, "files", "png", "st=2025-01-01T00%3A00%3A00Z&se=2025-01-01T01%3A00%3A00Z&sig=c2VjcmV0c2lnbmF0dXJl", fl)
	case s.hugeBody > 0:
		stream(w, fmt.Sprintf(`{"created":%d,"data":[{"b64_json":"`, created), s.hugeBody, `"}]}`)
		return
	case s.invalidBase64:
		item["b64_json"] = "this is *not* base64!"
	default:
		item["b64_json"] = base64.StdEncoding.EncodeToString(s.picture())
	}
	if model == "dall-e-3" {
		item["revised_prompt"] = prompt
	}
	answer := map[string]any{"created": created, "data": []any{item}}
	if gptImage {
		answer["usage"] = map[string]any{"total_tokens": 100, "input_tokens": 50, "output_tokens": 50,
			"input_tokens_details": map[string]any{"text_tokens": 50, "image_tokens": 0}}
	}
	writeJSON(w, http.StatusOK, answer)
}

// openAISizes lists the sizes each OpenAI model accepts; other models
// (LocalAI, gateways) take any WxH.
var openAISizes = map[string]string{
	"dall-e-2":    "256x256, 512x512, 1024x1024",
	"dall-e-3":    "1024x1024, 1792x1024, 1024x1792",
	"gpt-image-1": "1024x1024, 1536x1024, 1024x1536, auto",
}

func openAISizeOK(model, size string) bool {
	list, ok := openAISizes[model]
	if !ok {
		var w, h int
		_, err := fmt.Sscanf(size, "%dx%d", &w, &h)
		return err == nil && w > 0 && h > 0
	}
	for _, s := range strings.Split(list, ", ") {
		if s == size {
			return true
		}
	}
	return false
}
