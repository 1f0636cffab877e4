package imagegen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

func TestDashScopeTask(t *testing.T) {
	jpg := testJPEG(t)
	fake := &imagegentest.DashScope{APIKey: testKey, PollsBeforeDone: 2, Image: jpg}
	base := fake.Start(t)
	b, sl := newTestBackend(t, BackendConfig{Kind: "dashscope", BaseURL: base, APIKey: testKey, Size: "768x512",
		Extra: map[string]any{"seed": 42, "prompt_extend": false}})
	if b.Name() != "dashscope" {
		t.Errorf("Name = %q", b.Name())
	}
	res, err := b.Generate(context.Background(), Request{Prompt: "a dragon eating ice cream", NegativePrompt: "shading"})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if res.ContentType != "image/jpeg" || !bytes.Equal(res.Data, jpg) || res.Backend != "dashscope:wanx2.1-t2i-turbo" {
		t.Errorf("result %q %q, %d bytes", res.ContentType, res.Backend, len(res.Data))
	}

	reqs := fake.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d API requests, want a submission and 3 polls", len(reqs))
	}
	sub := reqs[0]
	if sub.Method != "POST" || sub.Path != "/api/v1/services/aigc/text2image/image-synthesis" {
		t.Errorf("submission %s %s", sub.Method, sub.Path)
	}
	if sub.Header.Get("X-DashScope-Async") != "enable" || sub.Header.Get("Authorization") != "Bearer "+testKey ||
		sub.Header.Get("Content-Type") != "application/json" {
		t.Errorf("submission headers %v", sub.Header)
	}
	body := sub.JSON()
	input, _ := body["input"].(map[string]any)
	params, _ := body["parameters"].(map[string]any)
	if body["model"] != "wanx2.1-t2i-turbo" || input["prompt"] != "a dragon eating ice cream" || input["negative_prompt"] != "shading" {
		t.Errorf("body %s", sub.Body)
	}
	if params["size"] != "768*512" || params["n"] != 1.0 || params["seed"] != 42.0 || params["prompt_extend"] != false {
		t.Errorf("parameters %v", params)
	}
	for _, poll := range reqs[1:] {
		if poll.Method != "GET" || !strings.HasPrefix(poll.Path, "/api/v1/tasks/") || poll.Header.Get("Authorization") != "Bearer "+testKey {
			t.Errorf("poll %s %s %v", poll.Method, poll.Path, poll.Header)
		}
		if poll.Header.Get("X-DashScope-Async") != "" {
			t.Errorf("poll sent X-DashScope-Async")
		}
	}
	dl := fake.Downloads()
	if len(dl) != 1 || dl[0].Header.Get("Authorization") != "" || !strings.Contains(dl[0].Query, "Signature=") {
		t.Errorf("downloads %+v", dl)
	}
	if got := fmt.Sprint(sl.waits); got != fmt.Sprint([]time.Duration{testPoll, testPoll, testPoll}) {
		t.Errorf("waits %s, want three poll intervals", got)
	}
}

func TestDashScopeTaskEnds(t *testing.T) {
	tests := []struct {
		name  string
		fake  *imagegentest.DashScope
		errs  []error
		not   []error
		words string
	}{
		{"output inspection", &imagegentest.DashScope{TaskStatus: "FAILED", TaskCode: "DataInspectionFailed", TaskMessage: "Output data may contain inappropriate content."},
			[]error{proto.ErrRefused}, []error{ErrBackend, proto.ErrUnavailable}, "refused by content policy: DataInspectionFailed"},
		{"IP infringement", &imagegentest.DashScope{TaskStatus: "FAILED", TaskCode: "IPInfringementSuspect", TaskMessage: "Input data is suspected of being involved in IP infringement."},
			[]error{proto.ErrRefused}, nil, "IPInfringementSuspect"},
		{"result refused", &imagegentest.DashScope{ResultCode: "DataInspectionFailed"},
			[]error{proto.ErrRefused}, nil, "DataInspectionFailed: Output data"},
		{"failed", &imagegentest.DashScope{TaskStatus: "FAILED"},
			[]error{ErrBackend}, []error{proto.ErrRefused, proto.ErrUnavailable}, "failed: InternalError"},
		{"canceled", &imagegentest.DashScope{TaskStatus: "CANCELED", PollsBeforeDone: 1},
			[]error{ErrBackend}, []error{proto.ErrRefused}, "ended CANCELED"},
		{"unknown", &imagegentest.DashScope{TaskStatus: "UNKNOWN"},
			[]error{ErrBackend}, nil, "ended UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fake.APIKey = testKey
			base := tt.fake.Start(t)
			b, _ := newTestBackend(t, BackendConfig{Kind: "dashscope", BaseURL: base, APIKey: testKey})
			_, err := b.Generate(context.Background(), Request{Prompt: "a cat"})
			if err == nil {
				t.Fatal("Generate succeeded")
			}
			t.Logf("error: %v", err)
			for _, e := range tt.errs {
				if !errors.Is(err, e) {
					t.Errorf("error %q does not wrap %v", err, e)
				}
			}
			for _, e := range tt.not {
				if errors.Is(err, e) {
					t.Errorf("error %q wraps %v", err, e)
				}
			}
			if !strings.Contains(err.Error(), tt.words) || !strings.HasPrefix(err.Error(), "dashscope "+base+": ") {
				t.Errorf("error %q does not say %q", err, tt.words)
			}
		})
	}
}

// TestDashScopePollFailure breaks the service down after the submission:
// the polls are retried, then the task is given up as unavailable.
func TestDashScopePollFailure(t *testing.T) {
	fake := &imagegentest.DashScope{APIKey: testKey, PollsBeforeDone: 5}
	base := fake.Start(t)
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		if len(waits) == 0 {
			fake.Update(func(f *imagegentest.DashScope) { f.FailWith = http.StatusBadGateway })
		}
		waits = append(waits, d)
		return ctx.Err()
	}
	b, err := bkNew(BackendConfig{Kind: "dashscope", BaseURL: base, APIKey: testKey, PollInterval: testPoll},
		bkHooks{sleep: sleep, jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Generate(context.Background(), Request{Prompt: "a cat"})
	if !errors.Is(err, proto.ErrUnavailable) || !errors.Is(err, ErrBackend) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), ": task ") || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("error %q does not name the task and the status", err)
	}
	if fake.Calls() != 4 {
		t.Errorf("%d calls, want a submission and 3 tries of one poll", fake.Calls())
	}
	if fmt.Sprint(waits) != fmt.Sprint([]time.Duration{testPoll, 500 * time.Millisecond, time.Second}) {
		t.Errorf("waits %v", waits)
	}
}

// TestDashScopePollTimeout checks that a task that never ends is given up
// at the overall timeout, while waiting between polls, with the last
// status it had. The waits are scripted: the first three return at once,
// the fourth lasts until the deadline, so no poll races the clock.
func TestDashScopePollTimeout(t *testing.T) {
	fake := &imagegentest.DashScope{APIKey: testKey, PollsBeforeDone: 1 << 30}
	const timeout = time.Second // room for four loopback requests on a loaded machine
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) > 3 {
			<-ctx.Done()
		}
		return ctx.Err()
	}
	b, err := bkNew(BackendConfig{Kind: "dashscope", BaseURL: fake.Start(t), APIKey: testKey,
		PollInterval: 20 * time.Millisecond, Timeout: timeout}, bkHooks{sleep: sleep, jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.Generate(context.Background(), Request{Prompt: "a cat"})
	took := time.Since(start)
	if !errors.Is(err, proto.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrBackend) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "timed out while RUNNING (overall timeout 1s)") {
		t.Errorf("error %q", err)
	}
	if took < timeout {
		t.Errorf("gave up after %v, before the overall timeout of %v", took, timeout)
	}
	if fmt.Sprint(waits) != "[20ms 20ms 20ms 20ms]" {
		t.Errorf("waits between polls %v, want four of the poll interval", waits)
	}
	if n := fake.Calls(); n != 4 {
		t.Errorf("%d API calls, want the submit and three polls", n)
	}
}
