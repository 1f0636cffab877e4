package imagegen

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// dashScopeBackend speaks DashScope's asynchronous text-to-image: submit
// the task with X-DashScope-Async: enable, poll it until it ends, download
// the result URL at once (it expires).
type dashScopeBackend struct {
	c         *bkClient
	submitURL string
	tasksURL  string
}

func newDashScopeBackend(c *bkClient) *dashScopeBackend {
	c.apiMessage = dashScopeMessage
	c.authorize = func(h http.Header) {
		h.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	return &dashScopeBackend{
		c:         c,
		submitURL: bkEndpoint(c.base, "/api/v1", "/services/aigc/text2image/image-synthesis"),
		tasksURL:  bkEndpoint(c.base, "/api/v1", "/tasks/"),
	}
}

// Name returns "dashscope".
func (b *dashScopeBackend) Name() string { return KindDashScope }

// dashScopeTask is a submit or poll answer.
type dashScopeTask struct {
	Output struct {
		TaskID     string `json:"task_id"`
		TaskStatus string `json:"task_status"`
		Code       string `json:"code"`
		Message    string `json:"message"`
		Results    []struct {
			URL     string `json:"url"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"results"`
	} `json:"output"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// Generate submits a task, polls it every PollInterval until it ends or
// the overall timeout passes, and downloads the image.
func (b *dashScopeBackend) Generate(ctx context.Context, req Request) (*Result, error) {
	ctx, cancel := b.c.overall(ctx)
	defer cancel()
	cfg := b.c.cfg
	w, h, _ := bkParseSize(cfg.Size, false) // checked by Validate
	input := map[string]any{"prompt": req.Prompt}
	if req.NegativePrompt != "" {
		input["negative_prompt"] = req.NegativePrompt
	}
	params := map[string]any{"size": strconv.Itoa(w) + "*" + strconv.Itoa(h), "n": 1}
	bkMerge(params, cfg.Extra)
	raw, err := b.c.json(map[string]any{"model": cfg.Model, "input": input, "parameters": params})
	if err != nil {
		return nil, err
	}
	answer, err := b.c.do(ctx, bkCall{
		method: http.MethodPost,
		url:    b.submitURL,
		body:   raw,
		header: map[string]string{"X-DashScope-Async": "enable"},
		auth:   true,
	})
	if err != nil {
		return nil, err
	}
	task, err := b.parse(answer, "")
	if err != nil {
		return nil, err
	}
	id := task.Output.TaskID
	if id == "" {
		if task.Code != "" {
			return nil, b.fail("", task.Code, task.Message)
		}
		return nil, b.c.errorf("", []error{ErrBackend}, "answer holds no task_id")
	}
	what := "task " + id
	status := task.Output.TaskStatus
	for {
		if err := b.c.hooks.sleep(ctx, cfg.PollInterval); err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, b.c.errorf(what, []error{context.Canceled}, "canceled while %s", status)
			}
			return nil, b.c.errorf(what, []error{proto.ErrUnavailable, ErrBackend, context.DeadlineExceeded},
				"timed out while %s (overall timeout %v)", status, cfg.Timeout)
		}
		answer, err := b.c.do(ctx, bkCall{method: http.MethodGet, url: b.tasksURL + url.PathEscape(id), what: what, auth: true})
		if err != nil {
			return nil, err
		}
		task, err := b.parse(answer, what)
		if err != nil {
			return nil, err
		}
		status = strings.ToUpper(task.Output.TaskStatus)
		switch status {
		case "SUCCEEDED":
			for _, r := range task.Output.Results {
				if r.URL != "" {
					data, err := b.c.download(ctx, r.URL)
					if err != nil {
						return nil, err
					}
					return b.c.result(data)
				}
			}
			if rs := task.Output.Results; len(rs) > 0 && rs[0].Code != "" {
				return nil, b.fail(what, rs[0].Code, rs[0].Message)
			}
			return nil, b.c.errorf(what, []error{ErrBackend}, "succeeded without an image URL")
		case "FAILED":
			return nil, b.fail(what, task.Output.Code, task.Output.Message)
		case "CANCELED", "UNKNOWN":
			return nil, b.c.errorf(what, []error{ErrBackend}, "ended %s", status)
		case "":
			if task.Code != "" {
				return nil, b.fail(what, task.Code, task.Message)
			}
			status = "PENDING"
		}
		// PENDING, RUNNING, SUSPENDED: poll again.
	}
}

// parse reads a submit or poll answer.
func (b *dashScopeBackend) parse(answer []byte, what string) (*dashScopeTask, error) {
	var t dashScopeTask
	if err := json.Unmarshal(answer, &t); err != nil {
		return nil, b.c.errorf(what, []error{ErrBackend, err}, "answer is not DashScope JSON: %v", err)
	}
	return &t, nil
}

// fail reports a failed task or result by its code and message.
func (b *dashScopeBackend) fail(what, code, message string) error {
	msg := bkTruncate(strings.TrimSpace(code + ": " + message))
	if dashScopeRefused(code) {
		return b.c.errorf(what, []error{proto.ErrRefused}, "refused by content policy: %s", msg)
	}
	return b.c.errorf(what, []error{ErrBackend}, "failed: %s", msg)
}

// dashScopeMessage reads a DashScope error body: {"code","message","request_id"}.
func dashScopeMessage(body []byte) (string, bool) {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || (e.Code == "" && e.Message == "") {
		return "", false
	}
	msg := e.Message
	if e.Code != "" {
		msg = e.Code + ": " + e.Message
	}
	return strings.TrimSpace(msg), dashScopeRefused(e.Code)
}

// dashScopeRefused tells whether an error code is a content-policy refusal:
// DataInspectionFailed (input or output inspection), IPInfringementSuspect,
// and the inappropriate-content codes.
func dashScopeRefused(code string) bool {
	return strings.Contains(code, "DataInspection") || strings.Contains(code, "IPInfringement") ||
		strings.Contains(code, "Inappropriate")
}
