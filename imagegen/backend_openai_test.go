package imagegen

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

func TestOpenAIRequests(t *testing.T) {
	jpg := testJPEG(t)
	tests := []struct {
		name       string
		fake       *imagegentest.OpenAI
		cfg        BackendConfig // Kind and BaseURL are filled in
		baseSuffix string
		wantBody   map[string]any
		absent     []string // body fields that must not be sent
		wantAuth   string
		wantType   string
		wantImage  []byte
	}{
		{
			name: "gpt-image-1 answers b64_json, Extra merged",
			fake: &imagegentest.OpenAI{APIKey: testKey},
			cfg:  BackendConfig{APIKey: testKey, Size: "1024*1024", Extra: map[string]any{"quality": "low", "background": "opaque", "prompt": "ignored"}},
			wantBody: map[string]any{"model": "gpt-image-1", "prompt": "a dragon eating ice cream", "n": 1.0, "size": "1024x1024",
				"quality": "low", "background": "opaque"},
			absent:   []string{"response_format", "negative_prompt"},
			wantAuth: "Bearer " + testKey, wantType: "image/png", wantImage: imagegentest.PNG(64, 64),
		},
		{
			name:       "dall-e-3 asks b64_json, base URL ending in /v1",
			fake:       &imagegentest.OpenAI{APIKey: testKey, Image: jpg},
			cfg:        BackendConfig{APIKey: testKey, Model: "dall-e-3", Extra: map[string]any{"style": "natural", "quality": "standard"}},
			baseSuffix: "/v1",
			wantBody: map[string]any{"model": "dall-e-3", "n": 1.0, "size": "1024x1024", "response_format": "b64_json",
				"style": "natural", "quality": "standard"},
			wantAuth: "Bearer " + testKey, wantType: "image/jpeg", wantImage: jpg,
		},
		{
			name:     "LocalAI on the LAN without a key",
			fake:     &imagegentest.OpenAI{},
			cfg:      BackendConfig{Model: "stablediffusion", Size: "512x512", Extra: map[string]any{"step": 10.0}},
			wantBody: map[string]any{"model": "stablediffusion", "size": "512x512", "response_format": "b64_json", "step": 10.0},
			wantAuth: "", wantType: "image/png", wantImage: imagegentest.PNG(64, 64),
		},
		{
			name:     "Extra overrides response_format",
			fake:     &imagegentest.OpenAI{APIKey: testKey},
			cfg:      BackendConfig{APIKey: testKey, Model: "dall-e-2", Size: "512x512", Extra: map[string]any{"response_format": "url"}},
			wantBody: map[string]any{"model": "dall-e-2", "response_format": "url"},
			wantAuth: "Bearer " + testKey, wantType: "image/png", wantImage: imagegentest.PNG(64, 64),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := tt.fake
			cfg := tt.cfg
			cfg.Kind = "openai"
			cfg.BaseURL = fake.Start(t) + tt.baseSuffix
			b, _ := newTestBackend(t, cfg)
			if b.Name() != "openai" {
				t.Errorf("Name = %q", b.Name())
			}
			res, err := b.Generate(context.Background(), Request{Prompt: "a dragon eating ice cream", NegativePrompt: "shading"})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if res.ContentType != tt.wantType || !bytes.Equal(res.Data, tt.wantImage) {
				t.Errorf("result %q, %d bytes; want %q, %d bytes", res.ContentType, len(res.Data), tt.wantType, len(tt.wantImage))
			}
			if want := "openai:" + cfg.WithDefaults().Model; res.Backend != want {
				t.Errorf("Backend = %q, want %q", res.Backend, want)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != "POST" || r.Path != "/v1/images/generations" {
				t.Errorf("request %s %s", r.Method, r.Path)
			}
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", got, tt.wantAuth)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			body := r.JSON()
			if body["prompt"] != "a dragon eating ice cream" {
				t.Errorf("prompt %v", body["prompt"])
			}
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
			if strings.Contains(string(r.Body), "shading") {
				t.Errorf("the negative prompt was sent: %s", r.Body)
			}
		})
	}
}

// TestOpenAIURLMode checks that a url answer is downloaded at once, with
// the key only when the file is on the service's own host.
func TestOpenAIURLMode(t *testing.T) {
	t.Run("other host", func(t *testing.T) {
		fake := &imagegentest.OpenAI{APIKey: testKey, ReturnURL: true, Image: testJPEG(t)}
		b, _ := newTestBackend(t, BackendConfig{Kind: "openai", BaseURL: fake.Start(t), APIKey: testKey, Model: "dall-e-3"})
		res, err := b.Generate(context.Background(), Request{Prompt: "a whale"})
		if err != nil {
			t.Fatal(err)
		}
		if res.ContentType != "image/jpeg" || !bytes.Equal(res.Data, fake.Image) {
			t.Errorf("result %q, %d bytes", res.ContentType, len(res.Data))
		}
		dl := fake.Downloads()
		if len(dl) != 1 {
			t.Fatalf("%d downloads", len(dl))
		}
		if got := dl[0].Header.Get("Authorization"); got != "" {
			t.Errorf("the key went to the download host: %q", got)
		}
	})
	t.Run("same host", func(t *testing.T) {
		fake := &imagegentest.OpenAI{APIKey: testKey}
		srv := httptest.NewServer(fake.Handler())
		defer srv.Close()
		// dall-e-2 without response_format answers with a url by default.
		b, _ := newTestBackend(t, BackendConfig{Kind: "openai", BaseURL: srv.URL, APIKey: testKey, Model: "dall-e-2",
			Size: "256x256", Extra: map[string]any{"response_format": "url"}})
		res, err := b.Generate(context.Background(), Request{Prompt: "a whale"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.Data, imagegentest.PNG(64, 64)) {
			t.Errorf("got %d bytes", len(res.Data))
		}
		dl := fake.Downloads()
		if len(dl) != 1 || dl[0].Header.Get("Authorization") != "Bearer "+testKey {
			t.Errorf("downloads %v", dl)
		}
	})
	t.Run("download too large", func(t *testing.T) {
		fake := &imagegentest.OpenAI{ReturnURL: true, HugeBody: 3 << 20}
		b, _ := newTestBackend(t, BackendConfig{Kind: "openai", BaseURL: fake.Start(t), Model: "dall-e-3", MaxResponseBytes: 1 << 20})
		_, err := b.Generate(context.Background(), Request{Prompt: "a whale"})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "download http://127.0.0.1") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "sig=") {
			t.Errorf("error shows the URL's signature: %v", err)
		}
	})
}

func TestOpenAIServiceErrors(t *testing.T) {
	t.Run("gpt-image refusal", func(t *testing.T) {
		fake := &imagegentest.OpenAI{Refuse: true}
		b, _ := newTestBackend(t, BackendConfig{Kind: "openai", BaseURL: fake.Start(t)})
		_, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if !errors.Is(err, proto.ErrRefused) || !strings.Contains(err.Error(), "moderation_blocked") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("size the model does not take", func(t *testing.T) {
		fake := &imagegentest.OpenAI{}
		b, _ := newTestBackend(t, BackendConfig{Kind: "openai", BaseURL: fake.Start(t), Model: "dall-e-3", Size: "512x512"})
		_, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if !errors.Is(err, ErrBackend) || errors.Is(err, proto.ErrUnavailable) || !strings.Contains(err.Error(), "Invalid value: '512x512'") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing key", func(t *testing.T) {
		fake := &imagegentest.OpenAI{APIKey: testKey}
		b, _ := newTestBackend(t, BackendConfig{Kind: "openai", BaseURL: fake.Start(t)})
		_, err := b.Generate(context.Background(), Request{Prompt: "x"})
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "no API key is configured") || fake.Calls() != 1 {
			t.Fatalf("err = %v after %d calls", err, fake.Calls())
		}
	})
}
