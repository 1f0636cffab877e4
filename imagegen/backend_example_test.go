package imagegen_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/stikadoo/stikadoo-edge/imagegen"
	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

// A Stable Diffusion PC on the classroom LAN, reached through the sdapi
// txt2img API. Here a fake of that API stands in for it.
func ExampleNewBackend() {
	sd := httptest.NewServer((&imagegentest.SDAPI{}).Handler())
	defer sd.Close()

	backend, err := imagegen.NewBackend(imagegen.BackendConfig{
		Kind:    imagegen.KindSDAPI,
		BaseURL: sd.URL, // e.g. http://192.168.1.30:7860
		Size:    "512x512",
		Extra:   map[string]any{"cfg_scale": 7, "sampler_name": "Euler a"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := backend.Generate(context.Background(), imagegen.Request{
		Prompt:         "a cute sticker of a dragon eating ice cream, bold black outlines, white background",
		NegativePrompt: "shading, gradient, text",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(backend.Name(), res.ContentType, len(res.Data) > 0)
	// Output: sdapi image/png true
}
