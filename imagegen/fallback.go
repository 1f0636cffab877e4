package imagegen

import (
	"fmt"
	"image"
	"image/draw"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// Fallback sticker text.
const (
	// FallbackDefaultText is set when the words are empty or the font has
	// none of their letters.
	FallbackDefaultText = "Stikadoo!"
	// fallbackMaxRunes bounds the words set on a fallback sticker; longer
	// text is cut at a word boundary where it can be and ends with an ellipsis.
	fallbackMaxRunes = 80
	ellipsis         = "…"
)

// goBold is the Go Bold font, parsed once. An sfnt.Font is safe for
// concurrent use as long as each caller brings its own sfnt.Buffer.
var goBold = sync.OnceValues(func() (*sfnt.Font, error) {
	f, err := sfnt.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse Go Bold: %w", err)
	}
	return f, nil
})

// Fallback draws the offline sticker: text (trimmed, at most about 80
// characters) in Go Bold, word-wrapped at the largest size that fits,
// centred in a frame of a thick rounded border, a thin inner border and a
// star in each corner. It is drawn in black on white at opts.Width dots
// and opts.Aspect, so it is already 1-bit. Letters the font lacks are left
// out; with nothing left, or empty text, it says "Stikadoo!".
func Fallback(text string, opts RenderOptions) (*Rendered, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	fnt, err := goBold()
	if err != nil {
		return nil, fmt.Errorf("fallback sticker: %w", err)
	}
	w, h := opts.Width, opts.height()
	ink := image.NewAlpha(image.Rect(0, 0, w, h))
	box := drawFrame(ink)
	ts := &typesetter{font: fnt}
	drawText(ink, box, ts, fallbackText(text, ts))
	if ts.err != nil {
		return nil, fmt.Errorf("fallback sticker: %w", ts.err)
	}
	out := newBW(w, h)
	for i, a := range ink.Pix {
		if a >= 0x80 {
			out.Pix[i] = bwBlack
		} else {
			out.Pix[i] = bwWhite
		}
	}
	return encodeRendered(out)
}

// fallbackText keeps the letters the font can draw, collapses white space
// and shortens the text to fallbackMaxRunes with an ellipsis.
func fallbackText(text string, ts *typesetter) string {
	kept := strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case !unicode.IsGraphic(r) || ts.glyph(r) == 0:
			return -1
		}
		return r
	}, text)
	s := strings.Join(strings.Fields(kept), " ")
	if s == "" {
		return FallbackDefaultText
	}
	if utf8.RuneCountInString(s) <= fallbackMaxRunes {
		return s
	}
	runes := []rune(s)[:fallbackMaxRunes-1]
	cut := len(runes)
	// Cut at the last space if that keeps most of the text.
	for i := len(runes) - 1; i >= fallbackMaxRunes*3/4; i-- {
		if runes[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimSpace(string(runes[:cut])) + ellipsis
}

// drawFrame draws the decorated frame into ink and returns the box left
// for the text.
func drawFrame(ink *image.Alpha) image.Rectangle {
	b := ink.Bounds()
	s := min(b.Dx(), b.Dy())
	margin := max(2, s/64)
	thick := max(3, s/28)
	radius := max(thick+2, s/10)
	gap := max(2, s/64)
	thin := max(1, s/128)

	outer := b.Inset(margin)
	innerBorder := outer.Inset(thick + gap)
	innerRadius := max(2, radius-thick-gap)
	fillRing(ink, outer, radius, thick)
	fillRing(ink, innerBorder, innerRadius, thin)

	area := innerBorder.Inset(thin)
	star := max(3, s/30) // outer radius of the corner stars
	off := star + max(2, s/64)
	for _, c := range []image.Point{
		{area.Min.X + off, area.Min.Y + off},
		{area.Max.X - 1 - off, area.Min.Y + off},
		{area.Min.X + off, area.Max.Y - 1 - off},
		{area.Max.X - 1 - off, area.Max.Y - 1 - off},
	} {
		fillStar(ink, c, star)
	}
	return area.Inset(off + star + max(2, s/64))
}

// fillRing fills the border of width t inside the rounded rectangle r with
// corner radius rad.
func fillRing(ink *image.Alpha, r image.Rectangle, rad, t int) {
	if r.Empty() {
		return
	}
	in := r.Inset(t)
	inRad := max(0, rad-t)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if insideRoundRect(x, y, r, rad) && !insideRoundRect(x, y, in, inRad) {
				ink.Pix[ink.PixOffset(x, y)] = 0xff
			}
		}
	}
}

// insideRoundRect reports whether the centre of pixel (x, y) lies inside
// r with corners rounded to radius rad. It works in half pixels.
func insideRoundRect(x, y int, r image.Rectangle, rad int) bool {
	if r.Empty() || !(image.Point{x, y}).In(r) {
		return false
	}
	rad = min(rad, r.Dx()/2, r.Dy()/2)
	px, py := 2*x+1, 2*y+1
	x0, x1 := 2*(r.Min.X+rad), 2*(r.Max.X-rad)
	y0, y1 := 2*(r.Min.Y+rad), 2*(r.Max.Y-rad)
	cx, cy := clampInt(px, x0, x1), clampInt(py, y0, y1)
	dx, dy := px-cx, py-cy
	return dx*dx+dy*dy <= 4*rad*rad
}

// starUnit holds the ten corners of a five-pointed star of radius 1024,
// point up, inner radius 0.45 of the outer, alternating outer and inner.
var starUnit = func() (pts [10]image.Point) {
	for i := range pts {
		rad := 1024.0
		if i%2 == 1 {
			rad = 0.45 * 1024
		}
		a := -math.Pi/2 + float64(i)*math.Pi/5
		pts[i] = image.Pt(int(math.Round(rad*math.Cos(a))), int(math.Round(rad*math.Sin(a))))
	}
	return pts
}()

// fillStar fills a five-pointed star of outer radius rad centred on the
// centre of pixel c. Coordinates are integers in 1/1024 of the radius, so
// the result does not depend on floating-point details of the machine.
func fillStar(ink *image.Alpha, c image.Point, rad int) {
	b := ink.Bounds()
	for y := max(b.Min.Y, c.Y-rad); y <= min(b.Max.Y-1, c.Y+rad); y++ {
		for x := max(b.Min.X, c.X-rad); x <= min(b.Max.X-1, c.X+rad); x++ {
			// Pixel offset from the centre, in 1/1024 of the radius.
			px, py := int64(x-c.X)*1024, int64(y-c.Y)*1024
			if insidePolygon(px*1024/int64(rad), py*1024/int64(rad), starUnit[:]) {
				ink.Pix[ink.PixOffset(x, y)] = 0xff
			}
		}
	}
}

// insidePolygon is the even-odd rule for the point (px, py) scaled by 1024.
func insidePolygon(px, py int64, pts []image.Point) bool {
	in := false
	for i, j := 0, len(pts)-1; i < len(pts); j, i = i, i+1 {
		xi, yi := int64(pts[i].X)*1024, int64(pts[i].Y)*1024
		xj, yj := int64(pts[j].X)*1024, int64(pts[j].Y)*1024
		if (yi > py) != (yj > py) {
			// px < xi + (py-yi)*(xj-xi)/(yj-yi), without division.
			lhs := (px - xi) * (yj - yi)
			rhs := (py - yi) * (xj - xi)
			if (yj-yi > 0 && lhs < rhs) || (yj-yi < 0 && lhs > rhs) {
				in = !in
			}
		}
	}
	return in
}

// drawText sets text in box at the largest size that fits, keeping words
// whole when some size allows it. Errors from the font are kept in ts.
func drawText(ink *image.Alpha, box image.Rectangle, ts *typesetter, text string) {
	s := min(ink.Bounds().Dx(), ink.Bounds().Dy())
	minSize, maxSize := max(8, s/24), max(8, s/4)
	if box.Dx() < minSize || box.Dy() < minSize {
		return // too small a sticker for words: the frame alone
	}
	words := strings.Fields(text)
	boxW, boxH := fixed.I(box.Dx()), fixed.I(box.Dy())
	// The largest size that fits with whole words; long words are broken
	// only when whole words would be small (under a tenth of the sticker)
	// and breaking makes the letters half as large again.
	fit := func(breakWords bool) (textFace, []string) {
		for size := maxSize; size >= minSize; size-- {
			f := ts.face(size)
			if l, ok := wrapWords(f, words, boxW, breakWords); ok && f.lineHeight*fixed.Int26_6(len(l)) <= boxH {
				return f, l
			}
		}
		return textFace{}, nil
	}
	face, lines := fit(false)
	if lines == nil || face.size < s/10 {
		if bf, bl := fit(true); bl != nil && (lines == nil || 2*bf.size >= 3*face.size) {
			face, lines = bf, bl
		}
	}
	if lines == nil {
		// Even the smallest size overflows: as many lines as fit, the last
		// ending in an ellipsis.
		face = ts.face(minSize)
		if face.lineHeight <= 0 {
			return // the font failed; ts holds the error
		}
		all, _ := wrapWords(face, words, boxW, true)
		n := int(boxH / face.lineHeight)
		if n < 1 {
			return
		}
		lines = all[:min(n, len(all))]
		if len(all) > n {
			last := []rune(lines[n-1])
			for len(last) > 0 && face.measure(string(last)+ellipsis) > boxW {
				last = last[:len(last)-1]
			}
			lines[n-1] = strings.TrimSpace(string(last)) + ellipsis
		}
	}

	lh := face.lineHeight
	top := fixed.I(box.Min.Y) + (boxH-lh*fixed.Int26_6(len(lines)))/2
	for i, line := range lines {
		pen := fixed.Point26_6{
			X: fixed.I(box.Min.X) + (boxW-face.measure(line))/2,
			Y: top + lh*fixed.Int26_6(i) + face.ascent, // the baseline
		}
		for _, r := range line {
			g := ts.glyph(r)
			face.drawGlyph(ink, g, pen)
			pen.X += face.advance(g)
		}
	}
}

// wrapWords fills lines no wider than maxW greedily. A word wider than a
// line is broken across lines when breakWords is set; otherwise wrapWords
// reports false.
func wrapWords(f textFace, words []string, maxW fixed.Int26_6, breakWords bool) ([]string, bool) {
	var pieces []string
	for _, w := range words {
		if f.measure(w) <= maxW {
			pieces = append(pieces, w)
			continue
		}
		if !breakWords {
			return nil, false
		}
		runes := []rune(w)
		for len(runes) > 0 {
			n := 1
			for n < len(runes) && f.measure(string(runes[:n+1])) <= maxW {
				n++
			}
			pieces = append(pieces, string(runes[:n]))
			runes = runes[n:]
		}
	}
	var lines []string
	for _, p := range pieces {
		if n := len(lines); n > 0 && f.measure(lines[n-1]+" "+p) <= maxW {
			lines[n-1] += " " + p
			continue
		}
		lines = append(lines, p)
	}
	for _, l := range lines {
		if f.measure(l) > maxW {
			return lines, false // a single letter wider than the line
		}
	}
	return lines, true
}

// typesetter reads Go Bold for one Fallback call. Its sfnt.Buffer, its
// rasterizer and its glyph mask are reused from glyph to glyph and are not
// safe for concurrent use, so each call has its own. The first error the
// font reports is kept in err for Fallback to return.
type typesetter struct {
	font   *sfnt.Font
	buf    sfnt.Buffer
	raster vector.Rasterizer
	mask   []byte
	err    error
}

func (t *typesetter) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// glyph is the glyph for r, 0 (the missing glyph) if the font has none.
func (t *typesetter) glyph(r rune) sfnt.GlyphIndex {
	g, err := t.font.GlyphIndex(&t.buf, r)
	if err != nil {
		t.fail(fmt.Errorf("glyph for %q: %w", r, err))
		return 0
	}
	return g
}

// face is the font at size pixels per em.
func (t *typesetter) face(size int) textFace {
	ppem := fixed.I(size)
	m, err := t.font.Metrics(&t.buf, ppem, font.HintingNone)
	if err != nil {
		t.fail(fmt.Errorf("metrics at %d pixels: %w", size, err))
	}
	// Go Bold has no line gap, so Height is ascent plus descent: big words
	// sit close like a title.
	return textFace{t: t, size: size, ppem: ppem, ascent: m.Ascent, lineHeight: m.Height}
}

// textFace is the font at a pixel size. Lengths are in 26.6 fixed point,
// which sfnt rounds from font units the same way on every machine.
type textFace struct {
	t          *typesetter
	size       int // pixels per em
	ppem       fixed.Int26_6
	ascent     fixed.Int26_6 // baseline below the top of a line
	lineHeight fixed.Int26_6 // between baselines
}

// advance is the advance width of glyph g.
func (f textFace) advance(g sfnt.GlyphIndex) fixed.Int26_6 {
	a, err := f.t.font.GlyphAdvance(&f.t.buf, g, f.ppem, font.HintingNone)
	if err != nil {
		f.t.fail(fmt.Errorf("advance of glyph %d: %w", g, err))
	}
	return a
}

// measure is the advance width of s (no kerning).
func (f textFace) measure(s string) fixed.Int26_6 {
	var w fixed.Int26_6
	for _, r := range s {
		w += f.advance(f.t.glyph(r))
	}
	return w
}

// drawGlyph rasterizes glyph g with its origin at pen and adds its
// coverage to ink, clipped to ink's bounds.
func (f textFace) drawGlyph(ink *image.Alpha, g sfnt.GlyphIndex, pen fixed.Point26_6) {
	// The segments live in f.t.buf until its next use: draw them first.
	segs, err := f.t.font.LoadGlyph(&f.t.buf, g, f.ppem, nil)
	if err != nil {
		f.t.fail(fmt.Errorf("outline of glyph %d: %w", g, err))
		return
	}
	if len(segs) == 0 {
		return // no outline: a space
	}
	b := segs.Bounds().Add(pen)
	left, top := b.Min.X.Floor()-1, b.Min.Y.Floor()-1
	w, h := b.Max.X.Ceil()+1-left, b.Max.Y.Ceil()+1-top
	if w <= 0 || h <= 0 || w > 4096 || h > 4096 {
		return
	}
	// Segment coordinates are relative to the pen, y down; the mask's
	// origin is (left, top).
	origin := pen.Sub(fixed.P(left, top))
	pt := func(p fixed.Point26_6) (float32, float32) {
		p = p.Add(origin)
		return float32(p.X) / 64, float32(p.Y) / 64
	}
	z := &f.t.raster
	z.Reset(w, h)
	z.DrawOp = draw.Src
	for i, s := range segs {
		a := s.Args
		switch s.Op {
		case sfnt.SegmentOpMoveTo:
			if i > 0 {
				z.ClosePath()
			}
			z.MoveTo(pt(a[0]))
		case sfnt.SegmentOpLineTo:
			z.LineTo(pt(a[0]))
		case sfnt.SegmentOpQuadTo:
			bx, by := pt(a[0])
			cx, cy := pt(a[1])
			z.QuadTo(bx, by, cx, cy)
		case sfnt.SegmentOpCubeTo:
			bx, by := pt(a[0])
			cx, cy := pt(a[1])
			dx, dy := pt(a[2])
			z.CubeTo(bx, by, cx, cy, dx, dy)
		}
	}
	z.ClosePath()
	if cap(f.t.mask) < w*h {
		f.t.mask = make([]byte, w*h)
	}
	mask := &image.Alpha{Pix: f.t.mask[:w*h], Stride: w, Rect: image.Rect(0, 0, w, h)}
	z.Draw(mask, mask.Bounds(), image.Opaque, image.Point{}) // draw.Src sets every dot
	dst := mask.Bounds().Add(image.Pt(left, top)).Intersect(ink.Bounds())
	for y := dst.Min.Y; y < dst.Max.Y; y++ {
		for x := dst.Min.X; x < dst.Max.X; x++ {
			i := ink.PixOffset(x, y)
			ink.Pix[i] = max(ink.Pix[i], mask.Pix[mask.PixOffset(x-left, y-top)])
		}
	}
}
