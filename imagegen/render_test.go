package imagegen

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/makeworld-the-better-one/dither/v2"
	xdraw "golang.org/x/image/draw"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

const goldenDir = "testdata/render"

// ---- synthetic inputs (integer arithmetic only, so they are the same
// bytes on every machine) ----

// shapesImage is a grey gradient with a black ring, a red square, a blue
// disc and a thin dark outline, like a simple sticker drawing.
func shapesImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy, r := w/3, h/2, min(w, h)/4
	for y := range h {
		for x := range w {
			g := uint8(255 - 120*x/w) // light to mid grey, left to right
			c := color.NRGBA{g, g, g, 255}
			dx, dy := x-cx, y-cy
			d2 := dx*dx + dy*dy
			switch {
			case d2 <= r*r && d2 >= (r-r/5)*(r-r/5):
				c = color.NRGBA{0, 0, 0, 255}
			case x > 2*w/3 && x < 2*w/3+w/6 && y > h/6 && y < h/6+w/6:
				c = color.NRGBA{220, 30, 40, 255}
			case (x-3*w/4)*(x-3*w/4)+(y-3*h/4)*(y-3*h/4) <= (h/8)*(h/8):
				c = color.NRGBA{40, 60, 200, 255}
			case x == w/10 || y == h-h/10:
				c = color.NRGBA{20, 20, 20, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// photoImage is photo-like: smooth colour fields, soft discs and sensor
// noise, from a seeded generator.
func photoImage(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type disc struct{ x, y, r, cr, cg, cb int }
	discs := make([]disc, 6)
	for i := range discs {
		discs[i] = disc{rng.IntN(w), rng.IntN(h), w/12 + rng.IntN(w/6), rng.IntN(256), rng.IntN(256), rng.IntN(256)}
	}
	for y := range h {
		for x := range w {
			r := 60 + 150*x/w
			g := 200 - 120*y/h
			b := 90 + 100*((x+y)%w)/w
			for _, d := range discs {
				dx, dy := x-d.x, y-d.y
				if e := dx*dx + dy*dy; e < d.r*d.r {
					// Soft edge: blend by distance.
					t := 256 * e / (d.r * d.r)
					r = (r*t + d.cr*(256-t)) / 256
					g = (g*t + d.cg*(256-t)) / 256
					b = (b*t + d.cb*(256-t)) / 256
				}
			}
			n := rng.IntN(25) - 12
			img.SetRGBA(x, y, color.RGBA{clamp8(r + n), clamp8(g + n), clamp8(b + n), 255})
		}
	}
	return img
}

func clamp8(v int) uint8 { return uint8(clampInt(v, 0, 255)) }

// transparentImage has a transparent background (whose hidden colour is
// black), an opaque black disc and a half-transparent blue bar.
func transparentImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{0, 0, 0, 0}
			dx, dy := x-w/2, y-h/2
			switch {
			case dx*dx+dy*dy <= (h/4)*(h/4):
				c = color.NRGBA{0, 0, 0, 255}
			case y > h-h/5:
				c = color.NRGBA{0, 0, 255, 128}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encodeWebPLossless writes img as a lossless WebP (VP8L) file. It is a
// minimal encoder for tests: every channel of every pixel must be 0 or
// 255, so each channel is coded with a two-symbol "simple" prefix code,
// one bit per channel per pixel, no transforms and no colour cache.
func encodeWebPLossless(t testing.TB, img *image.NRGBA) []byte {
	t.Helper()
	b := img.Bounds()
	var bw lsbWriter
	bw.write(0x2f, 8)
	bw.write(uint32(b.Dx()-1), 14)
	bw.write(uint32(b.Dy()-1), 14)
	bw.write(1, 1) // alpha is used
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	// Green, red, blue, alpha: symbols 0 (code 0) and 255 (code 1).
	for range 4 {
		bw.write(1, 1) // simple code
		bw.write(1, 1) // two symbols
		bw.write(1, 1) // first symbol has 8 bits
		bw.write(0, 8)
		bw.write(255, 8)
	}
	bw.write(1, 1) // distance: simple code, one 1-bit symbol 0, never used
	bw.write(0, 1)
	bw.write(0, 1)
	bw.write(0, 1)
	bit := func(v uint8) uint32 {
		switch v {
		case 0:
			return 0
		case 255:
			return 1
		}
		t.Fatalf("encodeWebPLossless: channel value %d is not 0 or 255", v)
		return 0
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.NRGBAAt(x, y)
			bw.write(bit(c.G), 1)
			bw.write(bit(c.R), 1)
			bw.write(bit(c.B), 1)
			bw.write(bit(c.A), 1)
		}
	}
	data := bw.bytes()
	chunk := append([]byte("VP8L"), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	chunk = append(chunk, data...)
	if len(data)%2 == 1 {
		chunk = append(chunk, 0)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(chunk)))...)
	out = append(out, "WEBP"...)
	return append(out, chunk...)
}

// lsbWriter packs bits least significant first, as VP8L reads them.
type lsbWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

func (w *lsbWriter) write(v uint32, n uint) {
	w.acc |= uint64(v&(1<<n-1)) << w.nbits
	w.nbits += n
	for w.nbits >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.nbits -= 8
	}
}

func (w *lsbWriter) bytes() []byte {
	if w.nbits > 0 {
		return append(w.buf, byte(w.acc))
	}
	return w.buf
}

// webpImage is a small picture in the colours encodeWebPLossless allows:
// a transparent background, a black ring, a red square and a half-hidden
// (transparent) blue bar.
func webpImage() *image.NRGBA {
	const w, h = 96, 64
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{255, 255, 255, 0}
			dx, dy := x-32, y-32
			switch d2 := dx*dx + dy*dy; {
			case d2 <= 20*20 && d2 >= 14*14:
				c = color.NRGBA{0, 0, 0, 255}
			case x >= 60 && x < 84 && y >= 20 && y < 44:
				c = color.NRGBA{255, 0, 0, 255}
			case y >= 56:
				c = color.NRGBA{0, 0, 255, 0} // transparent: must print white
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// pngHeader is a PNG signature and IHDR chunk (with a correct CRC) for an
// 8-bit RGB image of w x h, and no image data.
func pngHeader(w, h uint32) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := []byte("IHDR")
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // depth 8, RGB, deflate, no filter, no interlace
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// ---- checks ----

// checkSticker asserts everything a printable sticker must be.
func checkSticker(t *testing.T, r *Rendered, wantW, wantH int) {
	t.Helper()
	if r.Width != wantW || r.Height != wantH {
		t.Fatalf("Rendered is %dx%d, want %dx%d", r.Width, r.Height, wantW, wantH)
	}
	if b := r.Image.Bounds(); b != image.Rect(0, 0, wantW, wantH) {
		t.Fatalf("Image bounds %v, want %dx%d at the origin", b, wantW, wantH)
	}
	if len(r.Image.Palette) != 2 || !sameColor(r.Image.Palette[0], color.Black) || !sameColor(r.Image.Palette[1], color.White) {
		t.Fatalf("palette %v, want {black, white}", r.Image.Palette)
	}
	for i, v := range r.Image.Pix {
		if v > 1 {
			t.Fatalf("pixel %d has palette index %d", i, v)
		}
	}
	// The PNG: IHDR first, bit depth 1, colour type 3 (palette).
	if len(r.PNG) < 33 || string(r.PNG[12:16]) != "IHDR" {
		t.Fatalf("PNG does not start with IHDR")
	}
	if w, h := binary.BigEndian.Uint32(r.PNG[16:]), binary.BigEndian.Uint32(r.PNG[20:]); int(w) != wantW || int(h) != wantH {
		t.Errorf("PNG IHDR says %dx%d, want %dx%d", w, h, wantW, wantH)
	}
	if depth, ctype := r.PNG[24], r.PNG[25]; depth != 1 || ctype != 3 {
		t.Errorf("PNG bit depth %d colour type %d, want 1 and 3", depth, ctype)
	}
	dec, err := png.Decode(bytes.NewReader(r.PNG))
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	for y := range wantH {
		for x := range wantW {
			g := color.GrayModel.Convert(dec.At(x, y)).(color.Gray).Y
			want := uint8(0)
			if r.Image.ColorIndexAt(x, y) == bwWhite {
				want = 255
			}
			if g != want {
				t.Fatalf("PNG pixel (%d,%d) is %d, Image says %d", x, y, g, want)
			}
		}
	}
}

func sameColor(a, b color.Color) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// checkGolden compares the SHA-256 of got with the one recorded for name
// in testdata/render/SHA256SUMS; with -update it records it and writes the
// PNG next to it for people to look at.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	sumsPath := filepath.Join(goldenDir, "SHA256SUMS")
	sums := readSums(t, sumsPath)
	sum := sha256.Sum256(got)
	gotHex := hex.EncodeToString(sum[:])
	file := name + ".png"
	if *update {
		sums[file] = gotHex
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(goldenDir, file), got, 0o644); err != nil {
			t.Fatal(err)
		}
		writeSums(t, sumsPath, sums)
		return
	}
	want, ok := sums[file]
	if !ok {
		t.Fatalf("no golden SHA-256 for %s in %s; run go test -run %s -update", file, sumsPath, t.Name())
	}
	if gotHex == want {
		return
	}
	// Say whether the pixels changed or only the PNG encoding.
	why := "the pixels differ from"
	if old, err := os.ReadFile(filepath.Join(goldenDir, file)); err == nil {
		a, errA := png.Decode(bytes.NewReader(old))
		b, errB := png.Decode(bytes.NewReader(got))
		if errA == nil && errB == nil && samePixels(a, b) {
			why = "the pixels match but the PNG encoding differs from"
		}
	}
	t.Errorf("%s: SHA-256 %s, want %s: %s %s (run with -update after checking the picture)", name, gotHex, want, why, filepath.Join(goldenDir, file))
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if !sameColor(a.At(x, y), b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return sums
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sum, file, ok := strings.Cut(sc.Text(), "  "); ok {
			sums[file] = sum
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

// writeSums writes the sums in sha256sum's format, sorted by file name.
func writeSums(t *testing.T, path string, sums map[string]string) {
	t.Helper()
	files := make([]string, 0, len(sums))
	for f := range sums {
		files = append(files, f)
	}
	slices.Sort(files)
	var buf bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&buf, "%s  %s\n", sums[f], f)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ---- tests ----

func TestRenderOptions(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		got := RenderOptions{}.WithDefaults()
		want := RenderOptions{Width: 384, Aspect: 1, Fit: "crop", Dither: "floyd-steinberg", MaxImagePixels: 4096 * 4096}
		if got != want {
			t.Errorf("WithDefaults() = %+v, want %+v", got, want)
		}
		set := RenderOptions{Width: 576, Aspect: 1.5, Fit: "pad", Dither: "atkinson", MaxImagePixels: 100}
		if got := set.WithDefaults(); got != set {
			t.Errorf("WithDefaults() changed set fields: %+v", got)
		}
	})
	tests := []struct {
		name    string
		opts    RenderOptions
		wantErr string // substring naming the bad value; "" for valid
	}{
		{"zero value", RenderOptions{}, ""},
		{"576 dots", RenderOptions{Width: 576}, ""},
		{"multiple of 8", RenderOptions{Width: 200}, ""},
		{"smallest", RenderOptions{Width: 8, Aspect: 0.25}, ""},
		{"largest", RenderOptions{Width: 2048, Aspect: 4}, ""},
		{"pad atkinson", RenderOptions{Fit: "pad", Dither: "atkinson"}, ""},
		{"width not multiple of 8", RenderOptions{Width: 100}, "width 100"},
		{"width negative", RenderOptions{Width: -384}, "width -384"},
		{"width too large", RenderOptions{Width: 4096}, "width 4096"},
		{"aspect too small", RenderOptions{Aspect: 0.2}, "aspect 0.2"},
		{"aspect too large", RenderOptions{Aspect: 5}, "aspect 5"},
		{"aspect NaN", RenderOptions{Aspect: math.NaN()}, "aspect NaN"},
		{"aspect negative", RenderOptions{Aspect: -1}, "aspect -1"},
		{"unknown fit", RenderOptions{Fit: "stretch"}, `fit "stretch"`},
		{"unknown dither", RenderOptions{Dither: "ordered"}, `dither "ordered"`},
		{"negative pixels", RenderOptions{MaxImagePixels: -1}, "max image pixels -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want ErrConfig naming %s", err, tt.wantErr)
			}
			// Every entry point refuses the options the same way.
			if _, err := Render(encodePNG(t, shapesImage(16, 16)), tt.opts); !errors.Is(err, ErrConfig) {
				t.Errorf("Render() = %v, want ErrConfig", err)
			}
			if _, err := RenderImage(shapesImage(16, 16), tt.opts); !errors.Is(err, ErrConfig) {
				t.Errorf("RenderImage() = %v, want ErrConfig", err)
			}
			if _, err := Fallback("hello", tt.opts); !errors.Is(err, ErrConfig) {
				t.Errorf("Fallback() = %v, want ErrConfig", err)
			}
		})
	}
}

// renderCase is one golden rendering.
type renderCase struct {
	name  string
	input func(t testing.TB) []byte
	opts  RenderOptions
	w, h  int
}

func renderCases() []renderCase {
	shapes := func(t testing.TB) []byte { return encodePNG(t, shapesImage(640, 480)) }
	return []renderCase{
		{"shapes-crop-floyd", shapes, RenderOptions{}, 384, 384},
		{"shapes-pad-atkinson", shapes, RenderOptions{Fit: FitPad, Dither: DitherAtkinson}, 384, 384},
		{"shapes-576-tall", shapes, RenderOptions{Width: 576, Aspect: 1.5}, 576, 864},
		{"shapes-wide-strip", shapes, RenderOptions{Aspect: 0.25, Fit: FitPad}, 384, 96},
		{"photo-jpeg", func(t testing.TB) []byte { return encodeJPEG(t, photoImage(800, 600, 1), 85) }, RenderOptions{}, 384, 384},
		{"transparent-png", func(t testing.TB) []byte { return encodePNG(t, transparentImage(300, 200)) }, RenderOptions{}, 384, 384},
		{"webp-lossless", func(t testing.TB) []byte { return encodeWebPLossless(t, webpImage()) }, RenderOptions{Fit: FitPad}, 384, 384},
		{"small-gray-upscaled", func(t testing.TB) []byte {
			g := image.NewGray(image.Rect(0, 0, 40, 30))
			for i := range g.Pix {
				g.Pix[i] = uint8(i * 7)
			}
			return encodePNG(t, g)
		}, RenderOptions{}, 384, 384},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.input(t)
			r, err := Render(data, tc.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkSticker(t, r, tc.w, tc.h)
			again, err := Render(data, tc.opts)
			if err != nil {
				t.Fatalf("Render again: %v", err)
			}
			if !bytes.Equal(r.PNG, again.PNG) {
				t.Fatalf("two renders of the same input differ")
			}
			checkGolden(t, tc.name, r.PNG)
		})
	}
}

func TestRenderWebPDecodes(t *testing.T) {
	data := encodeWebPLossless(t, webpImage())
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "webp" || cfg.Width != 96 || cfg.Height != 64 {
		t.Fatalf("DecodeConfig = %+v, %q, %v; want a 96x64 webp", cfg, format, err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !samePixels(img, webpImage()) {
		t.Fatalf("the test encoder's WebP does not decode to its picture")
	}
}

// blackBox returns the bounding box of the black pixels in the part r of img.
func blackBox(img *image.Paletted, r image.Rectangle) image.Rectangle {
	box := image.Rectangle{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.ColorIndexAt(x, y) == bwBlack {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

func TestRenderFitGeometry(t *testing.T) {
	// An 800x400 white image with a 100x100 red square in the middle.
	src := image.NewRGBA(image.Rect(0, 0, 800, 400))
	for y := range 400 {
		for x := range 800 {
			c := color.RGBA{255, 255, 255, 255}
			if x >= 350 && x < 450 && y >= 150 && y < 250 {
				c = color.RGBA{230, 0, 0, 255}
			}
			src.SetRGBA(x, y, c)
		}
	}
	tests := []struct {
		fit  string
		want image.Rectangle // where the square must land, give or take a dot
	}{
		// Crop keeps the middle 400x400: scale 384/400, square 96 wide.
		{FitCrop, image.Rect(144, 144, 240, 240)},
		// Pad fits 800 into 384: scale 0.48, content 384x192 from y=96.
		{FitPad, image.Rect(168, 168, 216, 216)},
	}
	for _, tt := range tests {
		t.Run(tt.fit, func(t *testing.T) {
			r, err := RenderImage(src, RenderOptions{Fit: tt.fit})
			if err != nil {
				t.Fatal(err)
			}
			checkSticker(t, r, 384, 384)
			got := blackBox(r.Image, r.Image.Bounds())
			for _, d := range []struct {
				name      string
				got, want int
			}{
				{"left", got.Min.X, tt.want.Min.X}, {"top", got.Min.Y, tt.want.Min.Y},
				{"right", got.Max.X, tt.want.Max.X}, {"bottom", got.Max.Y, tt.want.Max.Y},
			} {
				if d.got < d.want-2 || d.got > d.want+2 {
					t.Errorf("black area %v: %s edge at %d, want %d±2 (square at %v)", got, d.name, d.got, d.want, tt.want)
				}
			}
			// The square prints mostly black.
			var black int
			in := tt.want.Inset(3)
			for y := in.Min.Y; y < in.Max.Y; y++ {
				for x := in.Min.X; x < in.Max.X; x++ {
					if r.Image.ColorIndexAt(x, y) == bwBlack {
						black++
					}
				}
			}
			if frac := float64(black) / float64(in.Dx()*in.Dy()); frac < 0.7 {
				t.Errorf("red square is %.0f%% black, want most of it", 100*frac)
			}
		})
	}
}

func TestRenderTransparencyBecomesWhite(t *testing.T) {
	t.Run("fully transparent", func(t *testing.T) {
		img := image.NewNRGBA(image.Rect(0, 0, 64, 64)) // transparent black
		r, err := Render(encodePNG(t, img), RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if box := blackBox(r.Image, r.Image.Bounds()); !box.Empty() {
			t.Errorf("a transparent image printed black dots in %v", box)
		}
	})
	t.Run("transparent background", func(t *testing.T) {
		r, err := Render(encodePNG(t, transparentImage(300, 200)), RenderOptions{Fit: FitPad})
		if err != nil {
			t.Fatal(err)
		}
		// Pad: 300x200 becomes 384x256 from y=64. The disc (radius 50 at
		// the centre) becomes radius 64 around (192, 192).
		img := r.Image
		if box := blackBox(img, image.Rect(0, 64, 384, 100)); !box.Empty() {
			t.Errorf("transparent background above the disc has black dots at %v", box)
		}
		if img.ColorIndexAt(192, 192) != bwBlack || img.ColorIndexAt(192, 140) != bwBlack {
			t.Errorf("the opaque black disc did not print black")
		}
	})
	t.Run("premultiplied and generic", func(t *testing.T) {
		// The same transparent picture as *image.RGBA and behind a type
		// that only has At: identical output.
		src := transparentImage(120, 80)
		rgba := image.NewRGBA(src.Bounds())
		xdraw.Copy(rgba, image.Point{}, src, src.Bounds(), xdraw.Src, nil)
		a, err := RenderImage(rgba, RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := RenderImage(atOnly{rgba}, RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.PNG, b.PNG) {
			t.Errorf("RGBA fast path and generic path differ")
		}
	})
}

func TestRenderPastelBackgroundBecomesWhite(t *testing.T) {
	// Black outlines on pastel backgrounds, as image models often draw
	// "on white".
	for _, bg := range []color.RGBA{{255, 230, 240, 255}, {220, 240, 255, 255}, {255, 250, 205, 255}, {235, 235, 235, 255}} {
		t.Run(fmt.Sprintf("%02x%02x%02x", bg.R, bg.G, bg.B), func(t *testing.T) {
			img := image.NewRGBA(image.Rect(0, 0, 512, 512))
			for y := range 512 {
				for x := range 512 {
					c := bg
					dx, dy := x-256, y-256
					if d2 := dx*dx + dy*dy; d2 <= 150*150 && d2 >= 135*135 {
						c = color.RGBA{0, 0, 0, 255}
					}
					img.SetRGBA(x, y, c)
				}
			}
			r, err := RenderImage(img, RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Background areas inside and outside the ring are pure white.
			for _, area := range []image.Rectangle{image.Rect(0, 0, 384, 60), image.Rect(150, 150, 234, 234)} {
				if box := blackBox(r.Image, area); !box.Empty() {
					t.Errorf("pastel background printed black dots in %v (area %v)", box, area)
				}
			}
			// The ring (radius 135..150 of 512 -> 101..112 of 384) is black.
			if r.Image.ColorIndexAt(192+106, 192) != bwBlack || r.Image.ColorIndexAt(192, 192-106) != bwBlack {
				t.Errorf("the black outline did not print black")
			}
		})
	}
}

func TestRenderNearestNeighbourUnchanged(t *testing.T) {
	for _, tc := range renderCases() {
		if tc.w != 384 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(tc.input(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			printed, err := png.Decode(bytes.NewReader(r.PNG))
			if err != nil {
				t.Fatal(err)
			}
			// What the printer does: scale to at most 384 dots wide.
			b := printed.Bounds()
			h := b.Dy() * 384 / b.Dx()
			scaled := image.NewRGBA(image.Rect(0, 0, 384, h))
			xdraw.NearestNeighbor.Scale(scaled, scaled.Bounds(), printed, b, xdraw.Src, nil)
			if h != b.Dy() {
				t.Fatalf("scaled height %d, printed %d", h, b.Dy())
			}
			for y := range h {
				for x := range 384 {
					if !sameColor(scaled.At(x, y), printed.At(x, y)) {
						t.Fatalf("pixel (%d,%d) changed in the printer's downscale: %v -> %v", x, y, printed.At(x, y), scaled.At(x, y))
					}
					if g := color.GrayModel.Convert(scaled.At(x, y)).(color.Gray).Y; g != 0 && g != 255 {
						t.Fatalf("pixel (%d,%d) is grey %d after the downscale", x, y, g)
					}
				}
			}
		})
	}
}

func TestRenderLimits(t *testing.T) {
	t.Run("huge header refused before decoding", func(t *testing.T) {
		data := pngHeader(20000, 20000)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := Render(data, RenderOptions{})
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Render(20000x20000 header) = %v, want ErrTooLarge", err)
		}
		if !strings.Contains(err.Error(), "20000x20000") {
			t.Errorf("error %q does not give the size", err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("refusing the header allocated %d bytes", alloc)
		}
		if elapsed > 100*time.Millisecond {
			t.Errorf("refusing the header took %v", elapsed)
		}
	})
	tests := []struct {
		name    string
		data    []byte
		opts    RenderOptions
		wantErr error
	}{
		{"over MaxImagePixels", encodePNG(t, shapesImage(100, 100)), RenderOptions{MaxImagePixels: 5000}, ErrTooLarge},
		{"side over 16384", pngHeader(20000, 10), RenderOptions{MaxImagePixels: 1 << 30}, ErrTooLarge},
		{"tall side over 16384", pngHeader(1, 16385), RenderOptions{MaxImagePixels: 1 << 30}, ErrTooLarge},
		{"jpeg over MaxImagePixels", encodeJPEG(t, shapesImage(100, 100), 80), RenderOptions{MaxImagePixels: 9999}, ErrTooLarge},
		{"garbage", []byte("this is not an image at all, just words"), RenderOptions{}, ErrDecode},
		{"empty", nil, RenderOptions{}, ErrDecode},
		{"header only", pngHeader(64, 64), RenderOptions{}, ErrDecode},
		{"truncated png", encodePNG(t, shapesImage(64, 64))[:200], RenderOptions{}, ErrDecode},
		{"zero width", pngHeader(0, 64), RenderOptions{}, ErrDecode},
		{"webp header only", encodeWebPLossless(t, webpImage())[:30], RenderOptions{}, ErrDecode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Render(tt.data, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Render() = %v, %v; want %v", r, err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "render") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
	t.Run("exactly at the limit", func(t *testing.T) {
		if _, err := Render(encodePNG(t, shapesImage(100, 50)), RenderOptions{MaxImagePixels: 5000}); err != nil {
			t.Fatalf("Render(100x50, limit 5000) = %v", err)
		}
	})
	t.Run("RenderImage limit", func(t *testing.T) {
		if _, err := RenderImage(shapesImage(100, 100), RenderOptions{MaxImagePixels: 9999}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("RenderImage = %v, want ErrTooLarge", err)
		}
		if _, err := RenderImage(image.NewRGBA(image.Rect(0, 0, 0, 10)), RenderOptions{}); !errors.Is(err, ErrDecode) {
			t.Fatalf("RenderImage(empty) = %v, want ErrDecode", err)
		}
		if _, err := RenderImage(nil, RenderOptions{}); !errors.Is(err, ErrDecode) {
			t.Fatalf("RenderImage(nil) = %v, want ErrDecode", err)
		}
	})
}

// atOnly hides an image's concrete type, so only the generic path sees it.
type atOnly struct{ image.Image }

// rgba64Only exposes RGBA64At but no concrete type.
type rgba64Only struct{ image.RGBA64Image }

func TestLinearGrayPaths(t *testing.T) {
	src := photoImage(97, 61, 7) // odd sizes exercise strides and offsets
	rect := image.Rect(5, 3, 90, 58)
	want := linearGray(atOnly{src}, rect)

	nrgba := image.NewNRGBA(src.Bounds())
	xdraw.Copy(nrgba, image.Point{}, src, src.Bounds(), xdraw.Src, nil)
	gray := image.NewGray(src.Bounds())
	xdraw.Copy(gray, image.Point{}, src, src.Bounds(), xdraw.Src, nil)
	pal := image.NewPaletted(src.Bounds(), color.Palette{color.Black, color.White, color.RGBA{200, 0, 0, 255}, color.Transparent})
	xdraw.Copy(pal, image.Point{}, src, src.Bounds(), xdraw.Src, nil)
	ycc := image.NewYCbCr(src.Bounds(), image.YCbCrSubsampleRatio444)
	nycca := image.NewNYCbCrA(src.Bounds(), image.YCbCrSubsampleRatio420)
	for y := range src.Bounds().Dy() {
		for x := range src.Bounds().Dx() {
			c := src.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
			nycca.Y[nycca.YOffset(x, y)], nycca.Cb[nycca.COffset(x, y)], nycca.Cr[nycca.COffset(x, y)] = yy, cb, cr
			nycca.A[nycca.AOffset(x, y)] = uint8(x * 255 / 96)
		}
	}
	tests := []struct {
		name string
		fast image.Image
		tol  int // in 1/65535 of linear light
	}{
		{"RGBA", src, 0},
		{"RGBA64Image", rgba64Only{src}, 0},
		{"NRGBA", nrgba, 0},
		// These hold other pixels than src, so they compare with their own
		// generic path.
		{"Gray", gray, 0},
		{"Paletted", pal, 0},
		{"YCbCr", ycc, 600},     // 8-bit conversion vs 16-bit: a step of one in sRGB
		{"NYCbCrA", nycca, 600}, // and alpha flattening rounding
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := linearGray(tt.fast, rect)
			ref := want
			if tt.name != "RGBA" && tt.name != "RGBA64Image" && tt.name != "NRGBA" {
				ref = linearGray(atOnly{tt.fast}, rect)
			}
			if got.w != ref.w || got.h != ref.h {
				t.Fatalf("plane %dx%d, want %dx%d", got.w, got.h, ref.w, ref.h)
			}
			worst := 0
			for i := range got.pix {
				worst = max(worst, absInt(int(got.pix[i])-int(ref.pix[i])))
			}
			if worst > tt.tol {
				t.Errorf("fast path differs from the generic path by up to %d, want at most %d", worst, tt.tol)
			}
		})
	}
}

func TestLinearGrayParallel(t *testing.T) {
	// Large enough to be split across cores: the same plane as the one-core
	// generic path, and the same sticker twice.
	src := photoImage(700, 500, 9)
	rect := image.Rect(3, 2, 699, 497)
	got, want := linearGray(src, rect), linearGray(atOnly{src}, rect)
	if !slices.Equal(got.pix, want.pix) {
		t.Fatalf("parallel conversion differs from the one-core path")
	}
	shrunk := boxShrink(got, 3)
	if one := boxShrinkRows(got, 3); !slices.Equal(shrunk.pix, one.pix) {
		t.Fatalf("parallel box shrink differs from one row range")
	}
}

// boxShrinkRows is a plain one-core box shrink, the reference for boxShrink.
func boxShrinkRows(p plane, k int) plane {
	out := newPlane((p.w+k-1)/k, (p.h+k-1)/k, 0)
	for oy := range out.h {
		for ox := range out.w {
			var s, n uint64
			for y := oy * k; y < min(oy*k+k, p.h); y++ {
				for x := ox * k; x < min(ox*k+k, p.w); x++ {
					s += uint64(p.pix[y*p.w+x])
					n++
				}
			}
			out.pix[oy*out.w+ox] = uint16((s + n/2) / n)
		}
	}
	return out
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestSRGBTableIsExact checks that no entry of the sRGB table lies near a
// rounding boundary, so the table (and so every golden) is the same on
// machines whose math.Pow differs in the last bit.
func TestSRGBTableIsExact(t *testing.T) {
	for i := range 256 {
		v := 65535 * srgbToLinearFloat(float64(i)/255)
		if frac := v - math.Floor(v); math.Abs(frac-0.5) < 1e-6 {
			t.Errorf("entry %d = %.9f is too close to a rounding boundary", i, v)
		}
	}
	if srgbToLinear[0] != 0 || srgbToLinear[255] != 65535 {
		t.Errorf("table ends are %d and %d", srgbToLinear[0], srgbToLinear[255])
	}
	if lum8(255, 255, 255) != white16 || lum8(0, 0, 0) != 0 {
		t.Errorf("luminance of white %d, of black %d", lum8(255, 255, 255), lum8(0, 0, 0))
	}
}

func TestResampleTaps(t *testing.T) {
	for _, tt := range []struct{ m, n int }{{1024, 384}, {512, 384}, {40, 384}, {384, 384}, {3, 7}, {1, 5}, {5000, 8}} {
		t.Run(fmt.Sprintf("%d-to-%d", tt.m, tt.n), func(t *testing.T) {
			for i, tp := range resampleTaps(tt.m, tt.n) {
				var sum int32
				for _, w := range tp.weights {
					sum += w
				}
				if sum != 1<<weightBits {
					t.Fatalf("output %d: weights sum to %d", i, sum)
				}
				if tp.first < 0 || tp.first+len(tp.weights) > tt.m {
					t.Fatalf("output %d: taps %d..%d outside 0..%d", i, tp.first, tp.first+len(tp.weights), tt.m)
				}
			}
		})
	}
	// A flat plane stays flat through box shrink and resampling.
	p := newPlane(1000, 700, 30000)
	out := resample(boxShrink(p, 2), 384, 269)
	for i, v := range out.pix {
		if v != 30000 {
			t.Fatalf("flat plane resampled to %d at %d", v, i)
		}
	}
	// A white picture stays white however far it shrinks (box sums of
	// hundreds of thousands of samples).
	white := image.NewGray(image.Rect(0, 0, 3000, 3000))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	r, err := RenderImage(white, RenderOptions{Width: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range r.Image.Pix {
		if v != bwWhite {
			t.Fatalf("white 3000x3000 printed black at %d", i)
		}
	}
}

func TestDitherTones(t *testing.T) {
	// Linear-light dithering: the share of white dots is the grey's
	// linear value. Atkinson drops a quarter of the error, so it keeps
	// this only around the middle (dark greys go black, light ones white).
	for _, d := range []string{DitherFloydSteinberg, DitherAtkinson} {
		for _, level := range []uint16{0, 8192, 32768, 49152, 65535} {
			if d == DitherAtkinson && (level == 8192 || level == 49152) {
				continue
			}
			t.Run(fmt.Sprintf("%s-%d", d, level), func(t *testing.T) {
				p := newPlane(128, 128, level)
				out := newBW(128, 128)
				if d == DitherAtkinson {
					ditherAtkinson(p, out)
				} else {
					ditherFloydSteinberg(p, out)
				}
				white := 0
				for _, v := range out.Pix {
					white += int(v)
				}
				got, want := float64(white)/float64(len(out.Pix)), float64(level)/65535
				tol := 0.02
				if math.Abs(got-want) > tol {
					t.Errorf("%.3f white, want %.3f±%.2f", got, want, tol)
				}
			})
		}
	}
}

// FuzzRender feeds arbitrary bytes to the decoder: it must return a
// sticker or an error wrapping ErrDecode or ErrTooLarge, never panic.
func FuzzRender(f *testing.F) {
	f.Add(encodePNG(f, shapesImage(24, 16)))
	f.Add(encodeJPEG(f, photoImage(24, 16, 3), 50))
	f.Add(encodeWebPLossless(f, webpImage()))
	f.Add(pngHeader(20000, 20000))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	f.Add([]byte{})
	opts := RenderOptions{Width: 32, MaxImagePixels: 256 * 256}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Render(data, opts)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Render error %v wraps neither ErrDecode nor ErrTooLarge", err)
			}
			return
		}
		if r.Width != 32 || r.Height != 32 || len(r.Image.Pix) != 32*32 {
			t.Fatalf("Rendered %dx%d", r.Width, r.Height)
		}
	})
}

func ExampleRender() {
	// A PNG, JPEG or WebP from an image backend (here a drawn disc).
	img := image.NewRGBA(image.Rect(0, 0, 1024, 1024))
	for y := range 1024 {
		for x := range 1024 {
			if dx, dy := x-512, y-512; dx*dx+dy*dy < 300*300 {
				img.Set(x, y, color.RGBA{255, 140, 0, 255})
			} else {
				img.Set(x, y, color.White)
			}
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)

	r, err := Render(buf.Bytes(), RenderOptions{}) // 384 dots, square, Floyd-Steinberg
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%dx%d, %d-colour palette, PNG bit depth %d\n", r.Width, r.Height, len(r.Image.Palette), r.PNG[24])
	// Output: 384x384, 2-colour palette, PNG bit depth 1
}

// ---- benchmarks ----

func benchmarkRender(b *testing.B, size int) {
	data := encodePNG(b, photoImage(size, size, 42))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Render(data, RenderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender512(b *testing.B)  { benchmarkRender(b, 512) }
func BenchmarkRender1024(b *testing.B) { benchmarkRender(b, 1024) }

// BenchmarkRenderImage1024 is BenchmarkRender1024 without the PNG decoding.
func BenchmarkRenderImage1024(b *testing.B) {
	img := photoImage(1024, 1024, 42)
	for b.Loop() {
		if _, err := RenderImage(img, RenderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderStages splits BenchmarkRender1024 into its steps.
func BenchmarkRenderStages(b *testing.B) {
	data := encodePNG(b, photoImage(1024, 1024, 42))
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gray", func(b *testing.B) {
		for b.Loop() {
			linearGray(img, img.Bounds())
		}
	})
	g := linearGray(img, img.Bounds())
	b.Run("resize", func(b *testing.B) {
		for b.Loop() {
			resample(boxShrink(g, 2), 384, 384)
		}
	})
	small := resample(boxShrink(g, 2), 384, 384)
	out := newBW(384, 384)
	b.Run("dither", func(b *testing.B) {
		for b.Loop() {
			ditherFloydSteinberg(small, out)
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeRendered(out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDither compares this package's Floyd-Steinberg with
// github.com/makeworld-the-better-one/dither/v2 on the same 384x384 grey
// picture (the comment above ditherFloydSteinberg quotes the numbers).
func BenchmarkDither(b *testing.B) {
	img := photoImage(384, 384, 5)
	p := linearGray(img, img.Bounds())
	out := newBW(384, 384)
	b.Run("own", func(b *testing.B) {
		for b.Loop() {
			ditherFloydSteinberg(p, out)
		}
	})
	gray := image.NewGray(img.Bounds())
	xdraw.Copy(gray, image.Point{}, img, img.Bounds(), xdraw.Src, nil)
	d := dither.NewDitherer([]color.Color{color.Black, color.White})
	d.Matrix = dither.FloydSteinberg
	b.Run("library", func(b *testing.B) {
		for b.Loop() {
			d.DitherPaletted(gray)
		}
	})
}
