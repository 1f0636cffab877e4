package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

func TestStickerCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "dragon.png")
	raster := filepath.Join(dir, "dragon.bin")
	cfg := writeConfig(t, "") // no image model: the sticker is drawn here
	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), []string{"sticker", "a dragon eating ice cream", "-o", out, "--escpos", raster, "--config", cfg}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "fallback") {
		t.Errorf("output %q does not say the sticker is a fallback", stdout.String())
	}
	checkSticker(t, out, 384)
	b, err := os.ReadFile(raster)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1d, 0x76, 0x30, 0x00, 384 / 8, 0}) {
		t.Errorf("ESC/POS raster starts % x, want GS v 0 with 48 bytes a row", b[:min(8, len(b))])
	}

	// A picture from an image model, rendered at 576 dots.
	src := filepath.Join(dir, "photo.png")
	if err := os.WriteFile(src, imagegentest.PNG(800, 600), 0o600); err != nil {
		t.Fatal(err)
	}
	wide := writeConfig(t, "[image]\nwidth = 576\n")
	out2 := filepath.Join(dir, "photo-print.png")
	stdout.Reset()
	if code := runMain(context.Background(), []string{"sticker", "--render", src, "-o", out2, "--config", wide}, &stdout, &stderr); code != exitOK {
		t.Fatalf("render: exit %d: %s", code, stderr.String())
	}
	checkSticker(t, out2, 576)

	for _, args := range [][]string{
		{"sticker", "-o", out},                           // no words
		{"sticker", "words"},                             // no -o
		{"sticker", "words", "--render", src, "-o", out}, // both
	} {
		if code := runMain(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code := runMain(context.Background(), []string{"sticker", "--render", filepath.Join(dir, "missing.jpg"), "-o", out}, &stdout, &stderr); code != exitError {
		t.Errorf("missing file: exit %d, want %d", code, exitError)
	}
}

func checkSticker(t *testing.T, path string, width int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := img.(*image.Paletted)
	if !ok || len(p.Palette) != 2 || img.Bounds().Dx() != width {
		t.Errorf("%s: %T %v, want a two-colour image %d wide", path, img, img.Bounds(), width)
	}
}
