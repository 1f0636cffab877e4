package imagegen

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

func TestSDAPIRequests(t *testing.T) {
	tests := []struct {
		name       string
		fake       *imagegentest.SDAPI
		cfg        BackendConfig // Kind and BaseURL are filled in
		baseSuffix string
		wantBody   map[string]any
		absent     []string
		wantAuth   string
	}{
		{
			name: "defaults",
			fake: &imagegentest.SDAPI{},
			cfg:  BackendConfig{},
			wantBody: map[string]any{"prompt": "a dragon eating ice cream", "negative_prompt": "shading",
				"width": 512.0, "height": 512.0, "steps": 20.0},
			absent: []string{"sampler_name", "override_settings", "model", "size"},
		},
		{
			name: "size, model and Extra",
			fake: &imagegentest.SDAPI{},
			cfg: BackendConfig{Size: "768*512", Model: "sd_xl_turbo_1.0", Extra: map[string]any{
				"sampler_name": "Euler a", "cfg_scale": 7.5, "steps": 8, "seed": -1, "negative_prompt": "ignored"}},
			baseSuffix: "/sdapi/v1",
			wantBody: map[string]any{"width": 768.0, "height": 512.0, "steps": 8.0, "sampler_name": "Euler a",
				"cfg_scale": 7.5, "seed": -1.0, "negative_prompt": "shading"},
		},
		{
			name:     "basic auth for --api-auth",
			fake:     &imagegentest.SDAPI{APIKey: "teacher:hunter2-classroom"},
			cfg:      BackendConfig{APIKey: "teacher:hunter2-classroom"},
			wantAuth: "Basic " + base64.StdEncoding.EncodeToString([]byte("teacher:hunter2-classroom")),
		},
		{
			name:     "bearer for a gateway",
			fake:     &imagegentest.SDAPI{APIKey: testKey},
			cfg:      BackendConfig{APIKey: testKey},
			wantAuth: "Bearer " + testKey,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Kind = "sdapi"
			cfg.BaseURL = tt.fake.Start(t) + tt.baseSuffix
			b, _ := newTestBackend(t, cfg)
			if b.Name() != "sdapi" {
				t.Errorf("Name = %q", b.Name())
			}
			res, err := b.Generate(context.Background(), Request{Prompt: "a dragon eating ice cream", NegativePrompt: "shading"})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if res.ContentType != "image/png" || !bytes.Equal(res.Data, imagegentest.PNG(64, 64)) {
				t.Errorf("result %q, %d bytes", res.ContentType, len(res.Data))
			}
			reqs := tt.fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != "POST" || r.Path != "/sdapi/v1/txt2img" {
				t.Errorf("request %s %s", r.Method, r.Path)
			}
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", got, tt.wantAuth)
			}
			body := r.JSON()
			for k, v := range tt.wantBody {
				if body[k] != v {
					t.Errorf("body[%q] = %v, want %v", k, body[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := body[k]; ok {
					t.Errorf("body has %q", k)
				}
			}
			if cfg.Model != "" {
				os, _ := body["override_settings"].(map[string]any)
				if os["sd_model_checkpoint"] != cfg.Model {
					t.Errorf("override_settings = %v", body["override_settings"])
				}
			}
		})
	}
}

func TestSDAPIServiceErrors(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		fake := &imagegentest.SDAPI{APIKey: "teacher:right-password"}
		b, _ := newTestBackend(t, BackendConfig{Kind: "sdapi", BaseURL: fake.Start(t), APIKey: "teacher:wrong-password"})
		_, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if !errors.Is(err, ErrBackend) || errors.Is(err, proto.ErrUnavailable) || fake.Calls() != 1 {
			t.Fatalf("err = %v after %d calls", err, fake.Calls())
		}
		if msg := err.Error(); !strings.Contains(msg, "Incorrect username or password") || strings.Contains(msg, "wrong-password") {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		fake := &imagegentest.SDAPI{APIKey: "teacher:right-password"}
		b, _ := newTestBackend(t, BackendConfig{Kind: "sdapi", BaseURL: fake.Start(t)})
		_, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "401 Unauthorized: Not authenticated (no API key is configured)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("validation error", func(t *testing.T) {
		fake := &imagegentest.SDAPI{}
		b, _ := newTestBackend(t, BackendConfig{Kind: "sdapi", BaseURL: fake.Start(t), Extra: map[string]any{"steps": "many"}})
		_, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if !errors.Is(err, ErrBackend) || fake.Calls() != 1 ||
			!strings.Contains(err.Error(), "422 Unprocessable Entity: body.steps: value is not a valid integer") {
			t.Fatalf("err = %v after %d calls", err, fake.Calls())
		}
	})
	t.Run("JPEG answer", func(t *testing.T) {
		jpg := testJPEG(t)
		fake := &imagegentest.SDAPI{Image: jpg}
		b, _ := newTestBackend(t, BackendConfig{Kind: "sdapi", BaseURL: fake.Start(t)})
		res, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if err != nil || res.ContentType != "image/jpeg" || !bytes.Equal(res.Data, jpg) {
			t.Fatalf("res = %v, err = %v", res, err)
		}
	})
	t.Run("no image", func(t *testing.T) {
		fake := &imagegentest.SDAPI{Image: []byte{}}
		b, _ := newTestBackend(t, BackendConfig{Kind: "sdapi", BaseURL: fake.Start(t)})
		_, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "answer holds no image") {
			t.Fatalf("err = %v", err)
		}
	})
}
