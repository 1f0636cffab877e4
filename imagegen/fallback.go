package imagegen

import (
	"errors"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font/gofont/gobold"
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

// goBold is the Go Bold font, parsed once and read-only afterwards.
var goBold = sync.OnceValues(func() (*ttFont, error) {
	return parseTrueType(gobold.TTF)
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
	if err := drawText(ink, box, fnt, fallbackText(text, fnt)); err != nil {
		return nil, err
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

// fallbackText keeps the letters fnt can draw, collapses white space and
// shortens the text to fallbackMaxRunes with an ellipsis.
func fallbackText(text string, fnt *ttFont) string {
	kept := strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case !unicode.IsGraphic(r) || fnt.glyphIndex(r) == 0:
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
// whole when some size allows it.
func drawText(ink *image.Alpha, box image.Rectangle, fnt *ttFont, text string) error {
	s := min(ink.Bounds().Dx(), ink.Bounds().Dy())
	minSize, maxSize := max(8, s/24), max(8, s/4)
	if box.Dx() < minSize || box.Dy() < minSize {
		return nil // too small a sticker for words: the frame alone
	}
	words := strings.Fields(text)
	boxW, boxH := box.Dx()<<6, box.Dy()<<6
	// The largest size that fits with whole words; long words are broken
	// only when whole words would be small (under a tenth of the sticker)
	// and breaking makes the letters half as large again.
	fit := func(breakWords bool) (textFace, []string) {
		for size := maxSize; size >= minSize; size-- {
			f := textFace{fnt, size}
			if l, ok := wrapWords(f, words, boxW, breakWords); ok && f.lineHeight()*len(l) <= boxH {
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
		face = textFace{fnt, minSize}
		all, _ := wrapWords(face, words, boxW, true)
		n := boxH / face.lineHeight()
		if n < 1 {
			return nil
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

	lh := face.lineHeight()
	top := box.Min.Y<<6 + (boxH-lh*len(lines))/2
	for i, line := range lines {
		pen := box.Min.X<<6 + (boxW-face.measure(line))/2
		base := top + lh*i + face.ascent()
		for _, r := range line {
			g := fnt.glyphIndex(r)
			if err := face.drawGlyph(ink, g, pen, base); err != nil {
				return fmt.Errorf("fallback sticker: draw %q: %w", r, err)
			}
			pen += face.advance(g)
		}
	}
	return nil
}

// wrapWords fills lines no wider than maxW (26.6 fixed point) greedily. A
// word wider than a line is broken across lines when breakWords is set;
// otherwise wrapWords reports false.
func wrapWords(f textFace, words []string, maxW int, breakWords bool) ([]string, bool) {
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

// textFace is a font at a pixel size. Lengths are in 26.6 fixed point
// (1/64 pixel) integers, so the layout is exact on every machine.
type textFace struct {
	f    *ttFont
	size int
}

func (t textFace) units(v int) int {
	return (v*t.size*64 + t.f.unitsPerEm/2) / t.f.unitsPerEm
}

func (t textFace) ascent() int       { return t.units(t.f.ascent) }
func (t textFace) advance(g int) int { return t.units(t.f.advance(g)) }

// lineHeight is the distance between baselines: the font's ascent and
// descent, without extra leading, so big words sit close like a title.
func (t textFace) lineHeight() int { return t.units(t.f.ascent + t.f.descent) }

// measure is the advance width of s (no kerning).
func (t textFace) measure(s string) int {
	w := 0
	for _, r := range s {
		w += t.advance(t.f.glyphIndex(r))
	}
	return w
}

// drawGlyph rasterizes glyph g with its origin at (penX, baseY), in 26.6
// fixed point, and adds its coverage to ink, clipped to ink's bounds.
func (t textFace) drawGlyph(ink *image.Alpha, g, penX, baseY int) error {
	contours, err := t.f.contours(g, 0)
	if err != nil || len(contours) == 0 {
		return err
	}
	scale := float64(t.size) / float64(t.f.unitsPerEm)
	ox, oy := float64(penX)/64, float64(baseY)/64
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, c := range contours {
		for _, p := range c {
			x, y := ox+float64(p.x)*scale, oy-float64(p.y)*scale
			minX, maxX = min(minX, x), max(maxX, x)
			minY, maxY = min(minY, y), max(maxY, y)
		}
	}
	left, top := int(math.Floor(minX))-1, int(math.Floor(minY))-1
	w, h := int(math.Ceil(maxX))+1-left, int(math.Ceil(maxY))+1-top
	if w <= 0 || h <= 0 || w > 4096 || h > 4096 {
		return nil
	}
	z := vector.NewRasterizer(w, h)
	pt := func(x, y float64) (float32, float32) {
		return float32(ox + x*scale - float64(left)), float32(oy - y*scale - float64(top))
	}
	for _, c := range contours {
		traceContour(z, c, pt)
	}
	mask := image.NewAlpha(image.Rect(0, 0, w, h))
	z.Draw(mask, mask.Bounds(), image.Opaque, image.Point{})
	dst := mask.Bounds().Add(image.Pt(left, top)).Intersect(ink.Bounds())
	for y := dst.Min.Y; y < dst.Max.Y; y++ {
		for x := dst.Min.X; x < dst.Max.X; x++ {
			i := ink.PixOffset(x, y)
			ink.Pix[i] = max(ink.Pix[i], mask.Pix[mask.PixOffset(x-left, y-top)])
		}
	}
	return nil
}

// traceContour adds one closed TrueType contour (quadratic B-spline, with
// implied on-curve points between consecutive off-curve points) to z.
func traceContour(z *vector.Rasterizer, c []ttPoint, pt func(x, y float64) (float32, float32)) {
	n := len(c)
	if n < 2 {
		return
	}
	type fp struct{ x, y float64 }
	at := func(p ttPoint) fp { return fp{float64(p.x), float64(p.y)} }
	mid := func(a, b fp) fp { return fp{(a.x + b.x) / 2, (a.y + b.y) / 2} }
	var start fp
	var rest []ttPoint
	switch {
	case c[0].on:
		start, rest = at(c[0]), append(c[1:n:n], c[0])
	case c[n-1].on:
		start, rest = at(c[n-1]), c
	default:
		start, rest = mid(at(c[0]), at(c[n-1])), c
	}
	z.MoveTo(pt(start.x, start.y))
	var ctrl fp
	hasCtrl := false
	quad := func(b, e fp) {
		bx, by := pt(b.x, b.y)
		ex, ey := pt(e.x, e.y)
		z.QuadTo(bx, by, ex, ey)
	}
	for _, p := range rest {
		q := at(p)
		switch {
		case p.on && hasCtrl:
			quad(ctrl, q)
			hasCtrl = false
		case p.on:
			z.LineTo(pt(q.x, q.y))
		case hasCtrl:
			quad(ctrl, mid(ctrl, q))
			ctrl = q
		default:
			ctrl, hasCtrl = q, true
		}
	}
	if hasCtrl {
		quad(ctrl, start)
	}
	z.ClosePath()
}

// A minimal TrueType reader: the character map, horizontal metrics and
// glyph outlines (simple and composite) of a font with a glyf table, which
// is all the fallback sticker needs of Go Bold.

var errFont = errors.New("malformed TrueType font")

// ttFont is a parsed TrueType font. It is read-only after parsing, so it
// is safe for concurrent use.
type ttFont struct {
	unitsPerEm      int
	ascent, descent int // font units above and below the baseline
	numGlyphs       int
	numHMetrics     int
	longLoca        bool
	hmtx, loca      []byte
	glyf, cmap      []byte // cmap is the chosen Unicode subtable
	cmapFormat      int
}

// ttPoint is an outline point in font units, y up.
type ttPoint struct {
	x, y int32
	on   bool
}

// ttBytes reads big-endian values; a read out of range sets bad and
// yields zero, so a malformed font is reported, never a panic.
type ttBytes struct {
	b   []byte
	bad bool
}

func (r *ttBytes) u8(off int) int {
	if off < 0 || off >= len(r.b) {
		r.bad = true
		return 0
	}
	return int(r.b[off])
}

func (r *ttBytes) u16(off int) int {
	if off < 0 || off+2 > len(r.b) {
		r.bad = true
		return 0
	}
	return int(r.b[off])<<8 | int(r.b[off+1])
}

func (r *ttBytes) i16(off int) int { return int(int16(r.u16(off))) }

func (r *ttBytes) u32(off int) int {
	return r.u16(off)<<16 | r.u16(off+2)
}

func (r *ttBytes) sub(off, n int) []byte {
	if off < 0 || n < 0 || off > len(r.b) || n > len(r.b)-off {
		r.bad = true
		return nil
	}
	return r.b[off : off+n]
}

func parseTrueType(data []byte) (*ttFont, error) {
	r := &ttBytes{b: data}
	tables := map[string][]byte{}
	for i := range r.u16(4) {
		rec := 12 + 16*i
		tables[string(r.sub(rec, 4))] = r.sub(r.u32(rec+8), r.u32(rec+12))
	}
	for _, tag := range []string{"head", "hhea", "maxp", "hmtx", "loca", "glyf", "cmap"} {
		if len(tables[tag]) == 0 {
			return nil, fmt.Errorf("parse font: no %s table: %w", tag, errFont)
		}
	}
	head, hhea, maxp := &ttBytes{b: tables["head"]}, &ttBytes{b: tables["hhea"]}, &ttBytes{b: tables["maxp"]}
	f := &ttFont{
		unitsPerEm:  head.u16(18),
		longLoca:    head.i16(50) == 1,
		ascent:      hhea.i16(4),
		descent:     -hhea.i16(6),
		numHMetrics: hhea.u16(34),
		numGlyphs:   maxp.u16(4),
		hmtx:        tables["hmtx"],
		loca:        tables["loca"],
		glyf:        tables["glyf"],
	}
	if r.bad || head.bad || hhea.bad || maxp.bad || f.unitsPerEm == 0 || f.numHMetrics == 0 || f.numGlyphs == 0 || len(f.hmtx) < 4*f.numHMetrics {
		return nil, fmt.Errorf("parse font: bad header tables: %w", errFont)
	}
	// The Unicode character map: full repertoire (format 12) if present,
	// else the Basic Multilingual Plane (format 4).
	cm := &ttBytes{b: tables["cmap"]}
	best := 0
	for i := range cm.u16(2) {
		platform, encoding, off := cm.u16(4+8*i), cm.u16(6+8*i), cm.u32(8+8*i)
		format := cm.u16(off)
		unicodeMap := platform == 0 || (platform == 3 && (encoding == 1 || encoding == 10))
		if !unicodeMap || cm.bad {
			continue
		}
		rank := map[int]int{4: 1, 12: 2}[format]
		if rank > best {
			best, f.cmapFormat = rank, format
			if format == 12 {
				f.cmap = cm.sub(off, cm.u32(off+4))
			} else {
				f.cmap = cm.sub(off, cm.u16(off+2))
			}
		}
	}
	if best == 0 || cm.bad {
		return nil, fmt.Errorf("parse font: no Unicode character map: %w", errFont)
	}
	return f, nil
}

// glyphIndex is the glyph for r, 0 (the missing glyph) if the font has none.
func (f *ttFont) glyphIndex(r rune) int {
	c := int(r)
	t := &ttBytes{b: f.cmap}
	var g int
	switch f.cmapFormat {
	case 4:
		if c > 0xffff {
			return 0
		}
		segX2 := t.u16(6)
		ends, starts, deltas, ranges := 14, 16+segX2, 16+2*segX2, 16+3*segX2
		lo, hi := 0, segX2/2
		for lo < hi { // first segment whose end is at least c
			m := (lo + hi) / 2
			if t.u16(ends+2*m) < c {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == segX2/2 || t.u16(starts+2*lo) > c {
			return 0
		}
		delta, ro := t.u16(deltas+2*lo), t.u16(ranges+2*lo)
		if ro == 0 {
			g = (c + delta) & 0xffff
		} else if g = t.u16(ranges + 2*lo + ro + 2*(c-t.u16(starts+2*lo))); g != 0 {
			g = (g + delta) & 0xffff
		}
	case 12:
		lo, hi := 0, t.u32(12)
		for lo < hi {
			m := (lo + hi) / 2
			grp := 16 + 12*m
			switch {
			case c < t.u32(grp):
				hi = m
			case c > t.u32(grp+4):
				lo = m + 1
			default:
				g = t.u32(grp+8) + c - t.u32(grp)
				lo = hi
			}
			if t.bad {
				return 0
			}
		}
	}
	if t.bad || g >= f.numGlyphs {
		return 0
	}
	return g
}

// advance is the advance width of glyph g in font units.
func (f *ttFont) advance(g int) int {
	t := &ttBytes{b: f.hmtx}
	return t.u16(4 * min(g, f.numHMetrics-1))
}

// contours returns the outline of glyph g, following composite glyphs to
// a small depth.
func (f *ttFont) contours(g, depth int) ([][]ttPoint, error) {
	if depth > 8 || g < 0 || g >= f.numGlyphs {
		return nil, fmt.Errorf("glyph %d: %w", g, errFont)
	}
	loca := &ttBytes{b: f.loca}
	var start, end int
	if f.longLoca {
		start, end = loca.u32(4*g), loca.u32(4*g+4)
	} else {
		start, end = 2*loca.u16(2*g), 2*loca.u16(2*g+2)
	}
	if loca.bad || end < start || end > len(f.glyf) {
		return nil, fmt.Errorf("glyph %d: bad location: %w", g, errFont)
	}
	if end == start {
		return nil, nil // no outline (a space)
	}
	t := &ttBytes{b: f.glyf[start:end]}
	n := t.i16(0)
	var out [][]ttPoint
	if n >= 0 {
		out = simpleGlyph(t, n)
	} else {
		var err error
		if out, err = f.compositeGlyph(t, depth); err != nil {
			return nil, err
		}
	}
	if t.bad {
		return nil, fmt.Errorf("glyph %d: truncated outline: %w", g, errFont)
	}
	return out, nil
}

// simpleGlyph decodes the n contours of a simple glyph.
func simpleGlyph(t *ttBytes, n int) [][]ttPoint {
	if n == 0 {
		return nil
	}
	ends := make([]int, n)
	for i := range ends {
		ends[i] = t.u16(10 + 2*i)
	}
	numPts := ends[n-1] + 1
	p := 12 + 2*n + t.u16(10+2*n) // after the instructions
	if t.bad || numPts > len(t.b) {
		t.bad = true
		return nil
	}
	flags := make([]byte, 0, numPts)
	for len(flags) < numPts && !t.bad {
		fl := byte(t.u8(p))
		p++
		flags = append(flags, fl)
		if fl&0x08 != 0 { // repeat
			rep := t.u8(p)
			p++
			for ; rep > 0 && len(flags) < numPts; rep-- {
				flags = append(flags, fl)
			}
		}
	}
	pts := make([]ttPoint, numPts)
	coord := func(short, same byte, set func(*ttPoint, int32)) {
		v := int32(0)
		for i, fl := range flags {
			switch {
			case fl&short != 0:
				d := int32(t.u8(p))
				p++
				if fl&same == 0 {
					d = -d
				}
				v += d
			case fl&same == 0:
				v += int32(t.i16(p))
				p += 2
			}
			set(&pts[i], v)
		}
	}
	coord(0x02, 0x10, func(q *ttPoint, v int32) { q.x = v })
	coord(0x04, 0x20, func(q *ttPoint, v int32) { q.y = v })
	for i, fl := range flags {
		pts[i].on = fl&0x01 != 0
	}
	out := make([][]ttPoint, 0, n)
	first := 0
	for _, e := range ends {
		if e < first || e >= numPts {
			t.bad = true
			return nil
		}
		out = append(out, pts[first:e+1])
		first = e + 1
	}
	return out
}

// compositeGlyph assembles a glyph made of other glyphs, each moved and
// optionally scaled.
func (f *ttFont) compositeGlyph(t *ttBytes, depth int) ([][]ttPoint, error) {
	const (
		argWords     = 0x0001
		argsXY       = 0x0002
		haveScale    = 0x0008
		moreComps    = 0x0020
		haveXYScale  = 0x0040
		haveTwoByTwo = 0x0080
	)
	var out [][]ttPoint
	p := 10
	for {
		flags, g := t.u16(p), t.u16(p+2)
		p += 4
		var dx, dy int32
		if flags&argWords != 0 {
			dx, dy = int32(t.i16(p)), int32(t.i16(p+2))
			p += 4
		} else {
			dx, dy = int32(int8(t.u8(p))), int32(int8(t.u8(p+1)))
			p += 2
		}
		if flags&argsXY == 0 {
			dx, dy = 0, 0 // anchored by point numbers: not used by Go fonts
		}
		a, b, c, d := int32(1<<14), int32(0), int32(0), int32(1<<14) // F2Dot14
		switch {
		case flags&haveScale != 0:
			a = int32(t.i16(p))
			d = a
			p += 2
		case flags&haveXYScale != 0:
			a, d = int32(t.i16(p)), int32(t.i16(p+2))
			p += 4
		case flags&haveTwoByTwo != 0:
			a, b, c, d = int32(t.i16(p)), int32(t.i16(p+2)), int32(t.i16(p+4)), int32(t.i16(p+6))
			p += 8
		}
		if t.bad {
			return nil, nil
		}
		comp, err := f.contours(g, depth+1)
		if err != nil {
			return nil, err
		}
		for _, cont := range comp {
			moved := make([]ttPoint, len(cont))
			for i, q := range cont {
				moved[i] = ttPoint{
					x:  (a*q.x+c*q.y+1<<13)>>14 + dx,
					y:  (b*q.x+d*q.y+1<<13)>>14 + dy,
					on: q.on,
				}
			}
			out = append(out, moved)
		}
		if flags&moreComps == 0 {
			return out, nil
		}
	}
}
