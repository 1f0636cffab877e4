package edgetest

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"sync"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// DefaultTranscript is what a Transcriber with no Text hears.
const DefaultTranscript = "a cat wearing a party hat"

// StickerWidth is the printer's width in dots, the width of every sticker.
const StickerWidth = 384

// Transcriber is a fake of the gateway's speech recognition. Set the
// fields before use, or hold the embedded mutex while changing them.
type Transcriber struct {
	sync.Mutex
	// Text is returned for every utterance. Empty: DefaultTranscript.
	// (A blank Text such as " " reads to the gateway as no words.)
	Text string
	// Err, if set, is returned instead of Text (wrap proto.ErrNoSpeech or
	// proto.ErrUnavailable to exercise those paths).
	Err error
	// Delay is how long each call takes; the call returns early with the
	// context's error when ctx ends first.
	Delay time.Duration

	calls   int
	samples int // of the last call
	total   int
}

// Transcribe records the call and returns Text or Err after Delay.
func (t *Transcriber) Transcribe(ctx context.Context, samples []float32) (string, error) {
	t.Lock()
	t.calls++
	t.samples = len(samples)
	t.total += len(samples)
	text, err, delay := t.Text, t.Err, t.Delay
	t.Unlock()
	if err := sleep(ctx, delay); err != nil {
		return "", fmt.Errorf("fake transcriber: %w", err)
	}
	if err != nil {
		return "", err
	}
	if text == "" {
		text = DefaultTranscript
	}
	return text, nil
}

// Calls is the number of Transcribe calls so far.
func (t *Transcriber) Calls() int {
	t.Lock()
	defer t.Unlock()
	return t.calls
}

// Samples is the number of samples the last call received.
func (t *Transcriber) Samples() int {
	t.Lock()
	defer t.Unlock()
	return t.samples
}

// TotalSamples is the number of samples received by all calls.
func (t *Transcriber) TotalSamples() int {
	t.Lock()
	defer t.Unlock()
	return t.total
}

// ImageGenerator is a fake of the gateway's sticker generator. By default
// it draws a real sticker itself: a 384-px-wide 1-bit black-and-white PNG
// with a frame and a shape chosen by the request. Set the fields before
// use, or hold the embedded mutex while changing them.
type ImageGenerator struct {
	sync.Mutex
	// PNG, if set, is returned instead of a drawn sticker.
	PNG []byte
	// Err, if set, is returned instead of a sticker (wrap proto.ErrRefused
	// or proto.ErrUnavailable to exercise those paths).
	Err error
	// Delay is how long each call takes; the call returns early with the
	// context's error when ctx ends first.
	Delay time.Duration
	// Fallback, if set, marks the sticker as drawn on the Pi because the
	// image model could not serve, with this reason (Backend "fallback").
	Fallback string

	texts []string
}

// Sticker records the request and returns a sticker (Backend "fake",
// Prompt the request) or Err after Delay.
func (g *ImageGenerator) Sticker(ctx context.Context, text string) (*proto.Sticker, error) {
	g.Lock()
	g.texts = append(g.texts, text)
	pngData, err, delay, fallback := g.PNG, g.Err, g.Delay, g.Fallback
	g.Unlock()
	if err := sleep(ctx, delay); err != nil {
		return nil, fmt.Errorf("fake image generator: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if pngData == nil {
		pngData = StickerPNG(text)
	}
	if fallback != "" {
		return &proto.Sticker{PNG: pngData, Prompt: text, Backend: "fallback", Fallback: fallback}, nil
	}
	return &proto.Sticker{PNG: pngData, Prompt: text, Backend: "fake"}, nil
}

// Calls is the number of Sticker calls so far.
func (g *ImageGenerator) Calls() int {
	g.Lock()
	defer g.Unlock()
	return len(g.texts)
}

// Texts returns the requests received, in order.
func (g *ImageGenerator) Texts() []string {
	g.Lock()
	defer g.Unlock()
	return append([]string(nil), g.texts...)
}

// sleep waits d or until ctx ends, returning the context's cause then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// StickerPNG draws the fake generator's sticker for text: a 384x384 1-bit
// PNG, white with a black frame and a black shape (a circle, square,
// triangle or diamond, chosen by the text), as the printer prints it
// without scaling or dithering.
func StickerPNG(text string) []byte {
	const size = StickerWidth
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	h := fnv.New32a()
	h.Write([]byte(text))
	shape := h.Sum32() % 4
	const frame = 8
	c := float64(size) / 2
	for y := range size {
		for x := range size {
			fx, fy := float64(x)+0.5-c, float64(y)+0.5-c
			black := x < frame || y < frame || x >= size-frame || y >= size-frame
			switch shape {
			case 0: // circle
				black = black || fx*fx+fy*fy <= 110*110
			case 1: // square
				black = black || (abs(fx) <= 95 && abs(fy) <= 95)
			case 2: // triangle, point up
				black = black || (fy <= 90 && fy >= -110 && abs(fx) <= (fy+110)*0.6)
			default: // diamond
				black = black || abs(fx)+abs(fy) <= 130
			}
			if black {
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		panic("encode sticker PNG: " + err.Error()) // cannot fail writing to memory
	}
	return buf.Bytes()
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
