package imagegen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// openAIBackend speaks the OpenAI Images API: POST /v1/images/generations,
// the image in data[0].b64_json or at data[0].url.
type openAIBackend struct {
	c        *bkClient
	endpoint string
}

func newOpenAIBackend(c *bkClient) *openAIBackend {
	c.apiMessage = openAIMessage
	c.authorize = func(h http.Header) {
		if c.cfg.APIKey != "" {
			h.Set("Authorization", "Bearer "+c.cfg.APIKey)
		}
	}
	return &openAIBackend{c: c, endpoint: bkEndpoint(c.base, "/v1", "/images/generations")}
}

// Name returns "openai".
func (b *openAIBackend) Name() string { return KindOpenAI }

// Generate asks for one image. The API has no negative prompt, so
// req.NegativePrompt is not sent.
func (b *openAIBackend) Generate(ctx context.Context, req Request) (*Result, error) {
	ctx, cancel := b.c.overall(ctx)
	defer cancel()
	cfg := b.c.cfg
	body := map[string]any{
		"model":  cfg.Model,
		"prompt": req.Prompt,
		"n":      1,
		"size":   strings.ReplaceAll(cfg.Size, "*", "x"),
	}
	if openAITakesResponseFormat(cfg.Model) {
		body["response_format"] = "b64_json"
	}
	bkMerge(body, cfg.Extra, "prompt")
	raw, err := b.c.json(body)
	if err != nil {
		return nil, err
	}
	answer, err := b.c.do(ctx, bkCall{method: http.MethodPost, url: b.endpoint, body: raw, auth: true})
	if err != nil {
		return nil, err
	}
	var a openAIAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return nil, b.c.errorf("", []error{ErrBackend, err}, "answer is not Images API JSON: %v", err)
	}
	if len(a.Data) == 0 {
		if msg, refused := openAIMessage(answer); msg != "" {
			if refused {
				return nil, b.c.errorf("", []error{proto.ErrRefused}, "refused by content policy: %s", bkTruncate(msg))
			}
			return nil, b.c.errorf("", []error{ErrBackend}, "answer holds no image: %s", bkTruncate(msg))
		}
		return nil, b.c.errorf("", []error{ErrBackend}, "answer holds no image")
	}
	var data []byte
	switch d := a.Data[0]; {
	case d.B64JSON != "":
		data, err = b.c.decodeBase64(d.B64JSON)
	case d.URL != "":
		data, err = b.c.download(ctx, d.URL)
	default:
		err = b.c.errorf("", []error{ErrBackend}, "answer holds neither b64_json nor url")
	}
	if err != nil {
		return nil, err
	}
	return b.c.result(data)
}

// openAITakesResponseFormat tells whether a model accepts
// "response_format". The gpt-image models always answer in b64_json and
// reject the field; DALL-E and the compatible servers take it.
func openAITakesResponseFormat(model string) bool {
	m := strings.ToLower(model)
	return !strings.HasPrefix(m, "gpt-image") && !strings.HasPrefix(m, "chatgpt-image")
}

// openAIAnswer is the part of an Images API answer the backend reads.
type openAIAnswer struct {
	Data []struct {
		B64JSON string `json:"b64_json"`
		URL     string `json:"url"`
	} `json:"data"`
}

// openAIMessage reads an Images API error body:
// {"error":{"message","type","param","code"}}. The code is a string at
// OpenAI and a number at some compatible servers.
func openAIMessage(body []byte) (string, bool) {
	var e struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		return "", false
	}
	code := ""
	if e.Error.Code != nil {
		code = fmt.Sprint(e.Error.Code)
	}
	msg := e.Error.Message
	if code != "" {
		msg = strings.TrimSpace(msg + " (" + code + ")")
	}
	kind := strings.ToLower(code + " " + e.Error.Type)
	refused := strings.Contains(kind, "content_policy") || strings.Contains(kind, "content_filter") ||
		strings.Contains(kind, "moderation") || strings.Contains(kind, "safety")
	return msg, refused
}
