package edgetest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

func TestTranscriber(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		tr       *edgetest.Transcriber
		wantText string
		wantErr  error
	}{
		{"default", &edgetest.Transcriber{}, edgetest.DefaultTranscript, nil},
		{"text", &edgetest.Transcriber{Text: "a blue whale"}, "a blue whale", nil},
		{"no speech", &edgetest.Transcriber{Err: fmt.Errorf("fake: %w", proto.ErrNoSpeech)}, "", proto.ErrNoSpeech},
		{"delay", &edgetest.Transcriber{Text: "slow", Delay: 20 * time.Millisecond}, "slow", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := tt.tr.Transcribe(ctx, make([]float32, 1600))
			if got != tt.wantText || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Transcribe = %q, %v; want %q, %v", got, err, tt.wantText, tt.wantErr)
			}
			if time.Since(start) < tt.tr.Delay {
				t.Errorf("returned before Delay")
			}
			if tt.tr.Calls() != 1 || tt.tr.Samples() != 1600 || tt.tr.TotalSamples() != 1600 {
				t.Errorf("calls %d samples %d", tt.tr.Calls(), tt.tr.Samples())
			}
		})
	}
}

func TestTranscriberCancel(t *testing.T) {
	tr := &edgetest.Transcriber{Delay: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.Transcribe(ctx, nil)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("Transcribe = %v after %s, want context.Canceled at once", err, time.Since(start))
	}
}

func TestTranscriberConcurrent(t *testing.T) {
	tr := &edgetest.Transcriber{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { tr.Transcribe(context.Background(), make([]float32, i+1)) })
	}
	tr.Lock()
	tr.Text = "changed while in use"
	tr.Unlock()
	wg.Wait()
	if tr.Calls() != 8 || tr.TotalSamples() != 36 {
		t.Errorf("calls %d total %d, want 8 and 36", tr.Calls(), tr.TotalSamples())
	}
}

// checkSticker decodes a sticker PNG and checks it prints as is.
func checkSticker(t *testing.T, b []byte) image.Image {
	t.Helper()
	// IHDR: bit depth at byte 24, colour type 3 (palette) at 25.
	if len(b) < 26 || b[24] != 1 || b[25] != 3 {
		t.Fatalf("PNG is not 1-bit paletted: %x", b[:min(len(b), 26)])
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != edgetest.StickerWidth || img.Bounds().Dy() <= 0 {
		t.Fatalf("sticker %v, want %d px wide", img.Bounds(), edgetest.StickerWidth)
	}
	var black, white int
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			switch color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y {
			case 0:
				black++
			case 255:
				white++
			default:
				t.Fatalf("pixel %d,%d is neither black nor white", x, y)
			}
		}
	}
	if black == 0 || white == 0 {
		t.Errorf("%d black and %d white pixels: want a drawing", black, white)
	}
	return img
}

func TestImageGenerator(t *testing.T) {
	ctx := context.Background()
	g := &edgetest.ImageGenerator{}
	st, err := g.Sticker(ctx, "a cat")
	if err != nil {
		t.Fatal(err)
	}
	if st.Prompt != "a cat" || st.Backend != "fake" || st.Fallback != "" {
		t.Errorf("sticker %+v", st)
	}
	img := checkSticker(t, st.PNG)
	if color.GrayModel.Convert(img.At(0, 0)).(color.Gray).Y != 0 {
		t.Errorf("no frame at the corner")
	}
	shapes := map[string]bool{}
	for _, text := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		shapes[string(edgetest.StickerPNG(text))] = true
	}
	if len(shapes) < 2 {
		t.Errorf("every request draws the same sticker")
	}
	if !bytes.Equal(edgetest.StickerPNG("a cat"), st.PNG) {
		t.Errorf("StickerPNG is not deterministic")
	}

	g = &edgetest.ImageGenerator{PNG: []byte("given")}
	if st, err := g.Sticker(ctx, "x"); err != nil || string(st.PNG) != "given" {
		t.Errorf("PNG override: %v %v", st, err)
	}
	g = &edgetest.ImageGenerator{Err: fmt.Errorf("fake: %w", proto.ErrRefused)}
	if _, err := g.Sticker(ctx, "x"); !errors.Is(err, proto.ErrRefused) {
		t.Errorf("Err: %v", err)
	}
	g.Sticker(ctx, "y")
	if g.Calls() != 2 || fmt.Sprint(g.Texts()) != "[x y]" {
		t.Errorf("calls %d texts %v", g.Calls(), g.Texts())
	}

	g = &edgetest.ImageGenerator{Delay: time.Minute}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := g.Sticker(cctx, "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Delay with a deadline: %v", err)
	}
}
