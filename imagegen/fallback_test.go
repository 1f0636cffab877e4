package imagegen

import (
	"bytes"
	"fmt"
	"image"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/image/font/gofont/gobold"
)

// frameGeometry draws just the frame of a w x h fallback sticker and
// returns its ink and the text box.
func frameGeometry(w, h int) (*image.Alpha, image.Rectangle) {
	ink := image.NewAlpha(image.Rect(0, 0, w, h))
	return ink, drawFrame(ink)
}

// textRows counts the bands of rows with black dots inside box: the lines
// of text.
func textRows(img *image.Paletted, box image.Rectangle) int {
	bands, inBand := 0, false
	for y := box.Min.Y; y < box.Max.Y; y++ {
		ink := false
		for x := box.Min.X; x < box.Max.X && !ink; x++ {
			ink = img.ColorIndexAt(x, y) == bwBlack
		}
		if ink && !inBand {
			bands++
		}
		inBand = ink
	}
	return bands
}

const longText = "once upon a time a very small dragon ate a gigantic strawberry ice cream cone on the moon and then it sneezed rainbows"

func TestFallback(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		opts      RenderOptions
		w, h      int
		wantLines int // lines of text; 0: do not check
		golden    string
	}{
		{"words", "a dragon eating ice cream", RenderOptions{}, 384, 384, 3, "fallback-words"},
		{"empty", "", RenderOptions{}, 384, 384, 1, "fallback-empty"},
		{"one short word", "Hi", RenderOptions{}, 384, 384, 1, ""},
		{"long text", longText, RenderOptions{}, 384, 384, 0, "fallback-long"},
		{"long word", strings.Repeat("abcdefghij", 6), RenderOptions{}, 384, 384, 0, ""},
		{"non-Latin", "Ünïcödé café Привет 你好 🐉", RenderOptions{}, 384, 384, 0, "fallback-non-latin"},
		{"576 wide, half height", "a big printer", RenderOptions{Width: 576, Aspect: 0.5}, 576, 288, 0, "fallback-576"},
		{"tall", "up and up", RenderOptions{Aspect: 2}, 384, 768, 0, ""},
		{"tiny sticker", "tiny", RenderOptions{Width: 8, Aspect: 0.25}, 8, 2, 0, ""},
		{"small sticker", "small words here", RenderOptions{Width: 64}, 64, 64, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Fallback(tt.text, tt.opts)
			if err != nil {
				t.Fatalf("Fallback: %v", err)
			}
			checkSticker(t, r, tt.w, tt.h)
			again, err := Fallback(tt.text, tt.opts)
			if err != nil || !bytes.Equal(again.PNG, r.PNG) {
				t.Fatalf("a second Fallback differs (err %v)", err)
			}
			if tt.w < 64 {
				return
			}
			frame, box := frameGeometry(tt.w, tt.h)
			// The thick border is black halfway down the left side.
			s := min(tt.w, tt.h)
			if x := max(2, s/64) + max(3, s/28)/2; r.Image.ColorIndexAt(x, tt.h/2) != bwBlack {
				t.Errorf("no black border at (%d,%d)", x, tt.h/2)
			}
			// Every black dot is frame or inside the text box, and the box
			// has some.
			for y := range tt.h {
				for x := range tt.w {
					if r.Image.ColorIndexAt(x, y) == bwBlack && frame.AlphaAt(x, y).A == 0 && !(image.Pt(x, y).In(box)) {
						t.Fatalf("black dot at (%d,%d) outside the frame and the text box %v", x, y, box)
					}
				}
			}
			if blackBox(r.Image, box).Empty() {
				t.Fatalf("no text in the box %v", box)
			}
			if n := textRows(r.Image, box); tt.wantLines > 0 && n != tt.wantLines {
				t.Errorf("%d lines of text, want %d", n, tt.wantLines)
			}
			if tt.golden != "" {
				if runtime.GOARCH != "amd64" {
					t.Logf("golden %s checked on amd64 only: glyph curves are flattened in float32", tt.golden)
				} else {
					checkGolden(t, tt.golden, r.PNG)
				}
			}
		})
	}
}

func TestFallbackLongTextWraps(t *testing.T) {
	r, err := Fallback(longText, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, box := frameGeometry(384, 384)
	if n := textRows(r.Image, box); n < 4 {
		t.Errorf("long text set in %d lines, want it wrapped into several", n)
	}
	// The text runs across most of the box's width and height.
	ink := blackBox(r.Image, box)
	if ink.Dx() < box.Dx()*3/4 || ink.Dy() < box.Dy()/2 {
		t.Errorf("text covers %v of the box %v; want it sized to fill", ink, box)
	}
}

func TestFallbackDefaultText(t *testing.T) {
	want, err := Fallback(FallbackDefaultText, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing drawable: the friendly default.
	for _, text := range []string{"", "   \n\t ", "你好世界", "🐉🍦", "\x00\x01"} {
		t.Run(fmt.Sprintf("%q", text), func(t *testing.T) {
			got, err := Fallback(text, RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.PNG, want.PNG) {
				t.Errorf("Fallback(%q) is not the %q sticker", text, FallbackDefaultText)
			}
		})
	}
}

func TestFallbackText(t *testing.T) {
	fnt, err := goBold()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("word ", 30)
	tests := []struct {
		name, in, want string
	}{
		{"trimmed", "  a dragon  ", "a dragon"},
		{"white space collapsed", "a\n\tdragon   eating", "a dragon eating"},
		{"empty", "", FallbackDefaultText},
		{"missing glyphs dropped", "dragon 龍 eats", "dragon eats"},
		{"only missing glyphs", "龍", FallbackDefaultText},
		{"control characters dropped", "ice\x00cream\u200b", "icecream"},
		{"accents and Cyrillic kept", "café Привет", "café Привет"},
		{"cut at a word", long, strings.TrimSpace(long[:75]) + "…"},
		{"long word cut", strings.Repeat("x", 100), strings.Repeat("x", 79) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fallbackText(tt.in, fnt)
			if got != tt.want {
				t.Errorf("fallbackText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > fallbackMaxRunes {
				t.Errorf("%d runes, more than %d", n, fallbackMaxRunes)
			}
		})
	}
}

func TestTrueTypeReader(t *testing.T) {
	fnt, err := goBold()
	if err != nil {
		t.Fatal(err)
	}
	if fnt.unitsPerEm != 2048 || fnt.ascent <= 0 || fnt.descent <= 0 {
		t.Errorf("units per em %d, ascent %d, descent %d", fnt.unitsPerEm, fnt.ascent, fnt.descent)
	}
	for r := rune(0x21); r < 0x7f; r++ {
		g := fnt.glyphIndex(r)
		if g == 0 {
			t.Fatalf("no glyph for %q", r)
		}
		c, err := fnt.contours(g, 0)
		if err != nil || len(c) == 0 {
			t.Fatalf("glyph for %q: %d contours, %v", r, len(c), err)
		}
	}
	for _, r := range "éñÜЖΩ…" { // composites and other scripts of Go Bold
		g := fnt.glyphIndex(r)
		if c, err := fnt.contours(g, 0); g == 0 || err != nil || len(c) == 0 {
			t.Errorf("glyph for %q: index %d, %d contours, %v", r, g, len(c), err)
		}
	}
	for _, r := range "你龍🐉\U0010ffff" {
		if g := fnt.glyphIndex(r); g != 0 {
			t.Errorf("glyph %d for %q, which Go Bold lacks", g, r)
		}
	}
	if c, err := fnt.contours(fnt.glyphIndex(' '), 0); err != nil || len(c) != 0 {
		t.Errorf("space has %d contours, %v", len(c), err)
	}
	if w, i := fnt.advance(fnt.glyphIndex('W')), fnt.advance(fnt.glyphIndex('i')); w <= i || i <= 0 {
		t.Errorf("advance of W %d, of i %d", w, i)
	}
	if _, err := fnt.contours(fnt.numGlyphs, 0); err == nil {
		t.Errorf("glyph past the end: no error")
	}
}

func TestTrueTypeReaderMalformed(t *testing.T) {
	// Truncated or damaged font data gives errors or odd shapes, never a
	// panic.
	for _, n := range []int{0, 11, 12, 100, 400, len(gobold.TTF) / 2, len(gobold.TTF) - 1} {
		if f, err := parseTrueType(gobold.TTF[:n]); err == nil {
			drawAll(f)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		data := bytes.Clone(gobold.TTF)
		for range 200 {
			data[rng.IntN(len(data))] = byte(rng.UintN(256))
		}
		if f, err := parseTrueType(data); err == nil {
			drawAll(f)
		}
	}
}

func drawAll(f *ttFont) {
	ink := image.NewAlpha(image.Rect(0, 0, 64, 64))
	face := textFace{f, 24}
	for _, r := range "Aé,Жx" {
		_ = face.drawGlyph(ink, f.glyphIndex(r), 10<<6, 40<<6)
	}
	face.measure("hello")
}

func BenchmarkFallback(b *testing.B) {
	for b.Loop() {
		if _, err := Fallback("a dragon eating ice cream on a rainbow", RenderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleFallback() {
	// No image backend answered: the child's words in a frame.
	r, err := Fallback("a dragon eating ice cream", RenderOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%dx%d, PNG bit depth %d\n", r.Width, r.Height, r.PNG[24])
	// Output: 384x384, PNG bit depth 1
}
