package imagegentest

import (
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// DashScope fakes DashScope's asynchronous text-to-image as Alibaba
// Cloud answers it: POST /api/v1/services/aigc/text2image/image-synthesis
// with X-DashScope-Async: enable creates a task, GET /api/v1/tasks/{id}
// reports PENDING, RUNNING, then SUCCEEDED with results[].url (served by
// a separate host when started with Start, like OSS) or FAILED with
// output.code and output.message. Errors come as {"code","message",
// "request_id"}.
type DashScope struct {
	// APIKey is the key to expect as "Authorization: Bearer"; a wrong
	// one gets 401 InvalidApiKey. Empty: any key is accepted, but one
	// must be sent, as at the real service.
	APIKey string
	// Image is the image the result URL serves (default: PNG(64, 64)).
	Image []byte
	// FailWith is an HTTP status to fail API calls (submit and polls) with.
	FailWith int
	// FailTimes: fail only the first FailTimes API calls (0: every call).
	FailTimes int
	// RetryAfter is sent as the Retry-After header of failures.
	RetryAfter string
	// Refuse answers the submission 400 DataInspectionFailed, as the
	// input inspection does.
	Refuse bool
	// Delay holds every API answer back this long.
	Delay time.Duration
	// HugeBody makes the result URL stream this many bytes.
	HugeBody int
	// DeclaredSize, if set, makes the result a tiny PNG whose header
	// claims this size.
	DeclaredSize image.Point
	// PollsBeforeDone is how many polls see the task PENDING or RUNNING
	// before it ends.
	PollsBeforeDone int
	// TaskStatus is how the task ends: "SUCCEEDED" (default), "FAILED",
	// "CANCELED" or "UNKNOWN".
	TaskStatus string
	// TaskCode and TaskMessage are a FAILED task's output.code and
	// output.message (default InternalError), e.g. "DataInspectionFailed"
	// for an output that failed inspection.
	TaskCode, TaskMessage string
	// ResultCode, if set, makes a SUCCEEDED task's only result an error
	// with this code instead of a URL.
	ResultCode string

	tasks map[string]*dashTask
	core
}

type dashTask struct {
	polls  int
	prompt string
}

// Update changes the fields safely while the fake is serving.
func (f *DashScope) Update(fn func(f *DashScope)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *DashScope) settings() behaviour {
	f.mu.Lock()
	defer f.mu.Unlock()
	return behaviour{apiKey: f.APIKey, image: f.Image, failWith: f.FailWith, failTimes: f.FailTimes,
		retryAfter: f.RetryAfter, refuse: f.Refuse, delay: f.Delay, hugeBody: f.HugeBody, declared: f.DeclaredSize}
}

// Start serves the fake on 127.0.0.1, with a second server for result
// downloads, both closed when the test ends. It returns the base URL.
func (f *DashScope) Start(t testing.TB) string {
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

// Handler returns the fake as a handler. Without Start, results are
// served by this handler too, under /oss/.
func (f *DashScope) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/services/aigc/text2image/image-synthesis", f.submit)
	mux.HandleFunc("/api/v1/tasks/{id}", f.poll)
	mux.HandleFunc("GET /oss/", f.serveFile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		dashError(w, http.StatusNotFound, "NotFound", "Not Found!")
	})
	return mux
}

// requestID makes a request id in the service's format.
func (f *DashScope) requestID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return fmt.Sprintf("7574ee8f-38a3-4b1e-9280-%012x", f.seq)
}

// dashError answers in DashScope's error shape.
func dashError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "request_id": "c5d4c4a6-0000-4000-8000-000000000000"})
}

// checkCall does what every API call shares: record, delay, auth,
// injected failures. It returns false when it has answered.
func (f *DashScope) checkCall(w http.ResponseWriter, r *http.Request) (Request, bool) {
	req := readRequest(r)
	n := f.record(req)
	s := f.settings()
	if !wait(r, s.delay) {
		return req, false
	}
	tok, ok := bearer(r)
	switch {
	case !ok:
		dashError(w, http.StatusUnauthorized, "InvalidApiKey", "No API-key provided.")
		return req, false
	case s.apiKey != "" && tok != s.apiKey:
		dashError(w, http.StatusUnauthorized, "InvalidApiKey", "Invalid API-key provided.")
		return req, false
	}
	if s.failing(n) {
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		switch {
		case s.failWith == http.StatusTooManyRequests:
			dashError(w, s.failWith, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
		case s.failWith >= 500:
			dashError(w, s.failWith, "InternalError", "An internal error has occured, please try again later or contact service support.")
		default:
			dashError(w, s.failWith, "InvalidParameter", "The request is invalid.")
		}
		return req, false
	}
	return req, true
}

var dashSize = regexp.MustCompile(`^[0-9]+\*[0-9]+$`)

func (f *DashScope) submit(w http.ResponseWriter, r *http.Request) {
	req, ok := f.checkCall(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		dashError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Method not allowed.")
		return
	}
	if r.Header.Get("X-DashScope-Async") != "enable" {
		dashError(w, http.StatusForbidden, "AccessDenied", "current user api does not support synchronous calls")
		return
	}
	var body struct {
		Model string `json:"model"`
		Input struct {
			Prompt string `json:"prompt"`
		} `json:"input"`
		Parameters map[string]any `json:"parameters"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		dashError(w, http.StatusBadRequest, "InvalidParameter", "The request body is not valid JSON.")
		return
	}
	if body.Model == "" {
		dashError(w, http.StatusBadRequest, "InvalidParameter", "Model not exist.")
		return
	}
	if strings.TrimSpace(body.Input.Prompt) == "" {
		dashError(w, http.StatusBadRequest, "InvalidParameter", "Field required: input.prompt")
		return
	}
	if size, has := body.Parameters["size"]; has {
		if s, _ := size.(string); !dashSize.MatchString(s) {
			dashError(w, http.StatusBadRequest, "InvalidParameter", "The size is not match the allowed size, please check the size parameter.")
			return
		}
	}
	if f.settings().refuse {
		dashError(w, http.StatusBadRequest, "DataInspectionFailed", "Input data may contain inappropriate content.")
		return
	}
	rid := f.requestID()
	id := "0385dc79-5ff8-4d82-bcb6-" + rid[len(rid)-12:]
	f.mu.Lock()
	if f.tasks == nil {
		f.tasks = map[string]*dashTask{}
	}
	f.tasks[id] = &dashTask{prompt: body.Input.Prompt}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"output":     map[string]any{"task_status": "PENDING", "task_id": id},
		"request_id": rid,
	})
}

func (f *DashScope) poll(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.checkCall(w, r); !ok {
		return
	}
	if r.Method != http.MethodGet {
		dashError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Method not allowed.")
		return
	}
	id := r.PathValue("id")
	rid := f.requestID()
	s := f.settings()
	f.mu.Lock()
	task := f.tasks[id]
	var polls int
	if task != nil {
		task.polls++
		polls = task.polls
	}
	before, final := f.PollsBeforeDone, f.TaskStatus
	code, msg, resultCode := f.TaskCode, f.TaskMessage, f.ResultCode
	f.mu.Unlock()
	times := map[string]any{"submit_time": "2025-01-08 16:03:59.840", "scheduled_time": "2025-01-08 16:03:59.863"}
	out := map[string]any{"task_id": id}
	for k, v := range times {
		out[k] = v
	}
	answer := map[string]any{"request_id": rid, "output": out}
	switch {
	case task == nil:
		out["task_status"] = "UNKNOWN"
		delete(out, "submit_time")
		delete(out, "scheduled_time")
	case polls <= before:
		out["task_status"] = "RUNNING"
		if polls == 1 {
			out["task_status"] = "PENDING"
		}
		out["task_metrics"] = map[string]any{"TOTAL": 1, "SUCCEEDED": 0, "FAILED": 0}
	case final == "" || final == "SUCCEEDED":
		out["task_status"] = "SUCCEEDED"
		out["end_time"] = "2025-01-08 16:04:10.660"
		if resultCode != "" {
			out["results"] = []any{map[string]any{"code": resultCode, "message": "Output data may contain inappropriate content."}}
			out["task_metrics"] = map[string]any{"TOTAL": 1, "SUCCEEDED": 0, "FAILED": 1}
		} else {
			u := f.addFile(r, "oss", "png", "Expires=1736409850&OSSAccessKeyId=LTAI000000000000&Signature=c2lnbmF0dXJl",
				file{data: s.picture(), huge: s.hugeBody})
			out["results"] = []any{map[string]any{"orig_prompt": task.prompt, "actual_prompt": task.prompt, "url": u}}
			out["task_metrics"] = map[string]any{"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}
			answer["usage"] = map[string]any{"image_count": 1}
		}
	case final == "FAILED":
		if code == "" {
			code, msg = "InternalError", "An internal error has occured during execution, please try again later or contact service support."
		}
		out["task_status"] = "FAILED"
		out["code"] = code
		out["message"] = msg
		out["end_time"] = "2025-01-08 16:04:10.660"
	default:
		out["task_status"] = final
	}
	writeJSON(w, http.StatusOK, answer)
}
