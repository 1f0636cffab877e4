package imagegen

import (
	"bytes"
	"fmt"
	"image"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
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
	ts := &typesetter{font: fnt}
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
			got := fallbackText(tt.in, ts)
			if got != tt.want {
				t.Errorf("fallbackText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > fallbackMaxRunes {
				t.Errorf("%d runes, more than %d", n, fallbackMaxRunes)
			}
		})
	}
}

func TestTypesetter(t *testing.T) {
	fnt, err := goBold()
	if err != nil {
		t.Fatal(err)
	}
	ts := &typesetter{font: fnt}
	for r := rune(0x21); r < 0x7f; r++ {
		if ts.glyph(r) == 0 {
			t.Fatalf("no glyph for %q", r)
		}
	}
	for _, r := range "éñÜЖΩ…" { // composites and other scripts of Go Bold
		if ts.glyph(r) == 0 {
			t.Errorf("no glyph for %q", r)
		}
	}
	for _, r := range "你龍🐉\U0010ffff" {
		if g := ts.glyph(r); g != 0 {
			t.Errorf("glyph %d for %q, which Go Bold lacks", g, r)
		}
	}

	face := ts.face(48)
	if face.ascent <= 0 || face.lineHeight <= face.ascent || face.lineHeight > fixed.I(64) {
		t.Errorf("at 48 pixels: ascent %v, line height %v", face.ascent, face.lineHeight)
	}
	if w, i := face.measure("W"), face.measure("i"); w <= i || i <= 0 {
		t.Errorf("advance of W %v, of i %v", w, i)
	}
	if got, want := face.measure("Wi"), face.measure("W")+face.measure("i"); got != want {
		t.Errorf("measure(Wi) = %v, want %v", got, want)
	}
	if big, small := ts.face(96).measure("dragon"), face.measure("dragon"); big < 2*small-fixed.I(1) || big > 2*small+fixed.I(1) {
		t.Errorf("dragon is %v wide at 96 pixels and %v at 48; want twice as wide", big, small)
	}

	// A glyph is drawn about the pen: its ink lies above the baseline and
	// right of the pen, within the advance.
	for _, tt := range []struct {
		name string
		r    rune
	}{{"letter", 'H'}, {"composite", 'é'}, {"Cyrillic", 'Ж'}} {
		t.Run(tt.name, func(t *testing.T) {
			ink := image.NewAlpha(image.Rect(0, 0, 96, 96))
			pen := fixed.P(20, 70)
			g := ts.glyph(tt.r)
			face.drawGlyph(ink, g, pen)
			got := inkBounds(ink)
			want := image.Rect(20, 70-48, 20+face.advance(g).Ceil(), 70+1)
			if got.Empty() || !got.In(want) {
				t.Errorf("ink of %q at %v, want inside %v", tt.r, got, want)
			}
		})
	}
	ink := image.NewAlpha(image.Rect(0, 0, 96, 96))
	face.drawGlyph(ink, ts.glyph(' '), fixed.P(20, 70))
	if got := inkBounds(ink); !got.Empty() {
		t.Errorf("a space left ink at %v", got)
	}
	if ts.err != nil {
		t.Fatalf("typesetter error: %v", ts.err)
	}

	// A glyph the font does not have is an error, not a panic.
	face.drawGlyph(ink, sfnt.GlyphIndex(fnt.NumGlyphs()), fixed.P(20, 70))
	if ts.err == nil {
		t.Error("drawing a glyph past the end: no error")
	}
}

// inkBounds is the smallest rectangle holding every dot of ink at least
// half covered.
func inkBounds(ink *image.Alpha) image.Rectangle {
	var r image.Rectangle
	b := ink.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if ink.AlphaAt(x, y).A >= 0x80 {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func TestFallbackConcurrent(t *testing.T) {
	// Each Fallback call has its own font buffer: calls at once give the
	// same stickers as calls one by one (run with -race).
	texts := []string{"a dragon eating ice cream", longText, "Ünïcödé café Привет", "", strings.Repeat("abcdefghij", 6), "up"}
	want := make([][]byte, len(texts))
	for i, text := range texts {
		r, err := Fallback(text, RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r.PNG
	}
	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		// Ends after drawing every text once.
		go func() {
			defer wg.Done()
			for j := range texts {
				i := (w + j) % len(texts)
				r, err := Fallback(texts[i], RenderOptions{})
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(r.PNG, want[i]) {
					errs <- fmt.Errorf("worker %d: sticker for %q differs from the one drawn alone", w, texts[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
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
