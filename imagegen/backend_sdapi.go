package imagegen

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// sdapiDefaultSteps is the sampling steps sent unless Extra says otherwise.
const sdapiDefaultSteps = 20

// sdapiBackend speaks the sdapi txt2img shape of AUTOMATIC1111, Forge and
// stable-diffusion.cpp: POST /sdapi/v1/txt2img, base64 images in images[].
type sdapiBackend struct {
	c             *bkClient
	endpoint      string
	width, height int
}

func newSDAPIBackend(c *bkClient) *sdapiBackend {
	c.apiMessage = sdapiMessage
	c.authorize = func(h http.Header) {
		key := c.cfg.APIKey
		if key == "" {
			return
		}
		if user, pw, ok := strings.Cut(key, ":"); ok {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pw)))
			return
		}
		h.Set("Authorization", "Bearer "+key)
	}
	w, h, _ := bkParseSize(c.cfg.Size, false) // checked by Validate
	return &sdapiBackend{c: c, endpoint: bkEndpoint(c.base, "/sdapi/v1", "/txt2img"), width: w, height: h}
}

// Name returns "sdapi".
func (b *sdapiBackend) Name() string { return KindSDAPI }

// Generate asks for one image. A Model, if set, is sent as
// override_settings.sd_model_checkpoint unless Extra sets override_settings.
func (b *sdapiBackend) Generate(ctx context.Context, req Request) (*Result, error) {
	ctx, cancel := b.c.overall(ctx)
	defer cancel()
	cfg := b.c.cfg
	body := map[string]any{
		"prompt":          req.Prompt,
		"negative_prompt": req.NegativePrompt,
		"width":           b.width,
		"height":          b.height,
		"steps":           sdapiDefaultSteps,
	}
	if cfg.Model != "" {
		body["override_settings"] = map[string]any{"sd_model_checkpoint": cfg.Model}
	}
	bkMerge(body, cfg.Extra, "prompt", "negative_prompt")
	raw, err := b.c.json(body)
	if err != nil {
		return nil, err
	}
	answer, err := b.c.do(ctx, bkCall{method: http.MethodPost, url: b.endpoint, body: raw, auth: true})
	if err != nil {
		return nil, err
	}
	var a struct {
		Images []string `json:"images"`
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		return nil, b.c.errorf("", []error{ErrBackend, err}, "answer is not txt2img JSON: %v", err)
	}
	if len(a.Images) == 0 || a.Images[0] == "" {
		return nil, b.c.errorf("", []error{ErrBackend}, "answer holds no image")
	}
	data, err := b.c.decodeBase64(a.Images[0])
	if err != nil {
		return nil, err
	}
	return b.c.result(data)
}

// sdapiMessage reads an sdapi error body. AUTOMATIC1111 and Forge answer
// {"error":"<exception>","detail":...,"body":...,"errors":"<text>"}
// (detail set for HTTP exceptions, errors the exception's text);
// request validation answers {"detail":[{"loc":[...],"msg":...}]};
// other servers {"error":"<text>"}. The servers themselves have no
// content policy; a refusal is recognised in the words of safety
// extensions and gateways in front of them.
func sdapiMessage(body []byte) (string, bool) {
	var e struct {
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
		Errors json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", false
	}
	msg := ""
	for _, f := range []json.RawMessage{e.Detail, e.Errors, e.Error} {
		if msg = sdapiText(f); msg != "" {
			break
		}
	}
	low := strings.ToLower(msg + " " + sdapiText(e.Error))
	refused := strings.Contains(low, "nsfw") || strings.Contains(low, "content policy") ||
		strings.Contains(low, "safety") || strings.Contains(low, "moderation") || strings.Contains(low, "inappropriate")
	return msg, refused
}

// sdapiText renders a JSON error field: a string, or FastAPI's list of
// validation errors.
func sdapiText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) == nil {
		var parts []string
		for _, it := range list {
			var loc []string
			for _, l := range it.Loc {
				if ls, ok := l.(string); ok {
					loc = append(loc, ls)
				}
			}
			parts = append(parts, strings.TrimSpace(strings.Join(loc, ".")+": "+it.Msg))
		}
		return strings.Join(parts, "; ")
	}
	return ""
}
