package imagegen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"runtime"
	"strings"
	"sync"

	// Formats Render accepts, registered with package image.
	_ "image/gif"
	_ "image/jpeg"

	_ "golang.org/x/image/webp"
)

// Printer widths of the Stikadoo printers, in dots.
const (
	// DefaultWidth is the print head of the Stikadoo printer (58 mm paper).
	DefaultWidth = 384
	// WideWidth is the print head of 80 mm printers.
	WideWidth = 576
)

// Render limits and defaults.
const (
	defaultAspect         = 1.0
	defaultMaxImagePixels = 4096 * 4096
	// maxImageSide bounds either side of an image whatever MaxImagePixels says.
	maxImageSide = 16384
	minWidth     = 8
	maxWidth     = 2048
	minAspect    = 0.25
	maxAspect    = 4.0
)

// Fit and dither names accepted in RenderOptions.
const (
	FitCrop              = "crop"
	FitPad               = "pad"
	DitherFloydSteinberg = "floyd-steinberg"
	DitherAtkinson       = "atkinson"
)

// RenderOptions says how an image becomes a printable sticker. The zero
// value is the Stikadoo printer's square 384-dot sticker.
type RenderOptions struct {
	Width          int     // printer dots: 384 (default) or 576; any multiple of 8 from 8 to 2048
	Aspect         float64 // height/width of the sticker (default 1.0, square), 0.25 to 4
	Fit            string  // "crop" (default: cover, centre crop) or "pad" (contain, white padding)
	Dither         string  // "floyd-steinberg" (default) or "atkinson"
	MaxImagePixels int     // default 4096*4096; checked with image.DecodeConfig before decoding
}

// WithDefaults returns o with every zero field set to its default.
func (o RenderOptions) WithDefaults() RenderOptions {
	if o.Width == 0 {
		o.Width = DefaultWidth
	}
	if o.Aspect == 0 {
		o.Aspect = defaultAspect
	}
	if o.Fit == "" {
		o.Fit = FitCrop
	}
	if o.Dither == "" {
		o.Dither = DitherFloydSteinberg
	}
	if o.MaxImagePixels == 0 {
		o.MaxImagePixels = defaultMaxImagePixels
	}
	return o
}

// Validate reports, wrapping ErrConfig, the first field of o (after
// defaults) that the renderer cannot honour.
func (o RenderOptions) Validate() error {
	o = o.WithDefaults()
	if o.Width < minWidth || o.Width > maxWidth || o.Width%8 != 0 {
		return fmt.Errorf("render options: width %d is not a multiple of 8 from %d to %d: %w", o.Width, minWidth, maxWidth, ErrConfig)
	}
	if !(o.Aspect >= minAspect && o.Aspect <= maxAspect) {
		return fmt.Errorf("render options: aspect %v is not between %v and %v: %w", o.Aspect, minAspect, maxAspect, ErrConfig)
	}
	switch o.Fit {
	case FitCrop, FitPad:
	default:
		return fmt.Errorf("render options: unknown fit %q (want %q or %q): %w", o.Fit, FitCrop, FitPad, ErrConfig)
	}
	switch o.Dither {
	case DitherFloydSteinberg, DitherAtkinson:
	default:
		return fmt.Errorf("render options: unknown dither %q (want %q or %q): %w", o.Dither, DitherFloydSteinberg, DitherAtkinson, ErrConfig)
	}
	if o.MaxImagePixels < 0 {
		return fmt.Errorf("render options: max image pixels %d is negative: %w", o.MaxImagePixels, ErrConfig)
	}
	return nil
}

// height is the sticker height in dots for the options (after defaults).
func (o RenderOptions) height() int {
	return max(1, int(math.Round(float64(o.Width)*o.Aspect)))
}

// Rendered is a printable sticker: pure black and white, exactly as wide
// as the print head.
type Rendered struct {
	PNG           []byte          // 1-bit PNG of Image
	Image         *image.Paletted // palette {black, white}: index 0 is black, 1 is white
	Width, Height int
}

// Render decodes a PNG, JPEG, WebP or GIF (first frame) image and renders
// it as a sticker (see RenderImage). The image header is checked against
// MaxImagePixels before any pixel is decoded. Undecodable bytes wrap
// ErrDecode; an image over the limits wraps ErrTooLarge.
func Render(data []byte, opts RenderOptions) (*Rendered, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		// On 32-bit machines the PNG decoder itself refuses sizes whose
		// byte count overflows an int: report the size from the header.
		var unsupported png.UnsupportedError
		if errors.As(err, &unsupported) && strings.Contains(string(unsupported), "dimension overflow") {
			if len(data) >= 24 && string(data[12:16]) == "IHDR" {
				w, h := binary.BigEndian.Uint32(data[16:]), binary.BigEndian.Uint32(data[20:])
				if err := checkImageSize("png image", int(min(w, 1<<30)), int(min(h, 1<<30)), opts.MaxImagePixels); err != nil {
					return nil, err
				}
			}
			return nil, fmt.Errorf("render: %w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("render: %w: %w", ErrDecode, err)
	}
	if err := checkImageSize(format+" image", cfg.Width, cfg.Height, opts.MaxImagePixels); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("render: %w: %w", ErrDecode, err)
	}
	return RenderImage(img, opts)
}

// checkImageSize refuses empty images (ErrDecode) and images over the
// limits (ErrTooLarge); what names the image in the error.
func checkImageSize(what string, w, h, maxPixels int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("render: %s is %dx%d: %w", what, w, h, ErrDecode)
	}
	if w > maxImageSide || h > maxImageSide || int64(w)*int64(h) > int64(maxPixels) {
		return fmt.Errorf("render: %s %dx%d exceeds %d pixels or %d per side: %w", what, w, h, maxPixels, maxImageSide, ErrTooLarge)
	}
	return nil
}

// RenderImage renders img as a sticker: transparency flattened onto white,
// linear-light luminance, cropped (cover) or padded (contain) to the
// sticker's aspect, resized to Width dots with a Catmull-Rom filter (after
// an area pre-shrink for large images), levelled so light backgrounds
// print as clean white, dithered to pure black and white and encoded as a
// 1-bit PNG. An image over MaxImagePixels is refused with ErrTooLarge.
//
// Past the resampling weights (rounded to 14 bits) every step works in
// integers, so the pixels do not depend on the machine's floating point.
func RenderImage(img image.Image, opts RenderOptions) (*Rendered, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	if img == nil {
		return nil, fmt.Errorf("render: nil image: %w", ErrDecode)
	}
	b := img.Bounds()
	if err := checkImageSize("image", b.Dx(), b.Dy(), opts.MaxImagePixels); err != nil {
		return nil, err
	}

	w, h := opts.Width, opts.height()
	src, content := fitRects(b, w, h, opts.Fit)

	gray := linearGray(img, src)
	if k := min(gray.w/content.Dx(), gray.h/content.Dy()); k >= 2 {
		gray = boxShrink(gray, k)
	}
	gray = resample(gray, content.Dx(), content.Dy())
	levels(gray.pix)

	canvas := gray
	if content != image.Rect(0, 0, w, h) {
		canvas = newPlane(w, h, white16)
		for y := 0; y < gray.h; y++ {
			copy(canvas.pix[(content.Min.Y+y)*w+content.Min.X:], gray.pix[y*gray.w:(y+1)*gray.w])
		}
	}

	out := newBW(w, h)
	switch opts.Dither {
	case DitherAtkinson:
		ditherAtkinson(canvas, out)
	default:
		ditherFloydSteinberg(canvas, out)
	}
	return encodeRendered(out)
}

// fitRects returns the part of b to use and where it lands in a w x h
// sticker: for crop, the centred part of b with the sticker's aspect,
// filling the sticker; for pad, all of b, centred at its own aspect.
func fitRects(b image.Rectangle, w, h int, fit string) (src, dst image.Rectangle) {
	sw, sh := b.Dx(), b.Dy()
	// Compare sh/sw with h/w without division.
	taller := int64(sh)*int64(w) > int64(h)*int64(sw)
	if fit == FitPad {
		cw, ch := w, h
		if taller {
			cw = clampInt(int((int64(sw)*int64(h)+int64(sh)/2)/int64(sh)), 1, w)
		} else {
			ch = clampInt(int((int64(sh)*int64(w)+int64(sw)/2)/int64(sw)), 1, h)
		}
		x0, y0 := (w-cw)/2, (h-ch)/2
		return b, image.Rect(x0, y0, x0+cw, y0+ch)
	}
	cw, ch := sw, sh
	if taller {
		ch = clampInt(int((int64(sw)*int64(h)+int64(w)/2)/int64(w)), 1, sh)
	} else {
		cw = clampInt(int((int64(sh)*int64(w)+int64(h)/2)/int64(h)), 1, sw)
	}
	x0, y0 := b.Min.X+(sw-cw)/2, b.Min.Y+(sh-ch)/2
	return image.Rect(x0, y0, x0+cw, y0+ch), image.Rect(0, 0, w, h)
}

func clampInt(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// newBW returns a w x h image with the black-and-white palette, all black.
func newBW(w, h int) *image.Paletted {
	return image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Gray{Y: 0}, color.Gray{Y: 255}})
}

// Palette indices of newBW images.
const (
	bwBlack = 0
	bwWhite = 1
)

// encodeRendered encodes a newBW image. Go's encoder writes a palette of
// two colours at bit depth 1.
func encodeRendered(img *image.Paletted) (*Rendered, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("render: encode png: %w", err)
	}
	b := img.Bounds()
	return &Rendered{PNG: buf.Bytes(), Image: img, Width: b.Dx(), Height: b.Dy()}, nil
}

// plane is a grey image in linear light, 0 (black) to 65535 (white).
type plane struct {
	w, h int
	pix  []uint16
}

const white16 = 0xffff

func newPlane(w, h int, fill uint16) plane {
	p := plane{w: w, h: h, pix: make([]uint16, w*h)}
	if fill != 0 {
		for i := range p.pix {
			p.pix[i] = fill
		}
	}
	return p
}

// srgbToLinear maps an 8-bit sRGB value to linear light, 0 to 65535.
var srgbToLinear = func() (t [256]uint16) {
	for i := range t {
		t[i] = uint16(math.Round(65535 * srgbToLinearFloat(float64(i)/255)))
	}
	return t
}()

func srgbToLinearFloat(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// luminance weights (Rec. 709) in 1/65536, summing to 65536.
const (
	lumR = 13933
	lumG = 46871
	lumB = 4732
)

// lum8 is the linear luminance of an opaque 8-bit sRGB colour.
func lum8(r, g, b uint8) uint16 {
	return uint16((lumR*uint32(srgbToLinear[r]) + lumG*uint32(srgbToLinear[g]) + lumB*uint32(srgbToLinear[b]) + 1<<15) >> 16)
}

// overWhite8 flattens a non-premultiplied 8-bit channel with alpha a onto white.
func overWhite8(c, a uint8) uint8 {
	return uint8((uint32(c)*uint32(a) + 255*(255-uint32(a)) + 127) / 255)
}

// linearGray converts the part r of img to linear luminance, flattened
// onto white. Common decoder outputs have fast paths, run on several cores
// for large images.
func linearGray(img image.Image, r image.Rectangle) plane {
	p := newPlane(r.Dx(), r.Dy(), 0)
	var row func(y int, dst []uint16) // converts row y of img (r.Min.X to r.Max.X)
	concurrent := true
	switch m := img.(type) {
	case *image.RGBA:
		row = func(y int, dst []uint16) {
			src := m.Pix[m.PixOffset(r.Min.X, y):][:4*len(dst)]
			for i := range dst {
				px := src[4*i : 4*i+4]
				w := 255 - uint32(px[3]) // premultiplied over white
				dst[i] = lum8(sat8(uint32(px[0])+w), sat8(uint32(px[1])+w), sat8(uint32(px[2])+w))
			}
		}
	case *image.NRGBA:
		row = func(y int, dst []uint16) {
			src := m.Pix[m.PixOffset(r.Min.X, y):][:4*len(dst)]
			for i := range dst {
				px := src[4*i : 4*i+4]
				cr, cg, cb, a := px[0], px[1], px[2], px[3]
				if a != 255 {
					cr, cg, cb = overWhite8(cr, a), overWhite8(cg, a), overWhite8(cb, a)
				}
				dst[i] = lum8(cr, cg, cb)
			}
		}
	case *image.YCbCr:
		row = func(y int, dst []uint16) {
			for i := range dst {
				x := r.Min.X + i
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				dst[i] = lum8(color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci]))
			}
		}
	case *image.NYCbCrA:
		row = func(y int, dst []uint16) {
			for i := range dst {
				x := r.Min.X + i
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				cr, cg, cb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				if a := m.A[m.AOffset(x, y)]; a != 255 {
					cr, cg, cb = overWhite8(cr, a), overWhite8(cg, a), overWhite8(cb, a)
				}
				dst[i] = lum8(cr, cg, cb)
			}
		}
	case *image.Gray:
		row = func(y int, dst []uint16) {
			for i, v := range m.Pix[m.PixOffset(r.Min.X, y):][:len(dst)] {
				dst[i] = srgbToLinear[v]
			}
		}
	case *image.Paletted:
		var lut [256]uint16
		for j := range lut {
			lut[j] = white16 // out-of-palette indices read as transparent
		}
		for j, c := range m.Palette {
			if j < len(lut) {
				lut[j] = lumRGBA64(c.RGBA())
			}
		}
		row = func(y int, dst []uint16) {
			for i, v := range m.Pix[m.PixOffset(r.Min.X, y):][:len(dst)] {
				dst[i] = lut[v]
			}
		}
	case image.RGBA64Image:
		concurrent = false // other implementations need not be safe for concurrent reads
		row = func(y int, dst []uint16) {
			for i := range dst {
				c := m.RGBA64At(r.Min.X+i, y)
				dst[i] = lumRGBA64(uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A))
			}
		}
	default:
		concurrent = false
		row = func(y int, dst []uint16) {
			for i := range dst {
				dst[i] = lumRGBA64(img.At(r.Min.X+i, y).RGBA())
			}
		}
	}
	work := p.w * p.h
	if !concurrent {
		work = 0
	}
	parallelRows(p.h, work, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			row(r.Min.Y+y, p.pix[y*p.w:(y+1)*p.w])
		}
	})
	return p
}

// parallelMinWork is the number of samples below which a step runs on one
// core: smaller jobs finish before extra goroutines would start paying off.
const parallelMinWork = 1 << 17

// parallelRows calls fn on consecutive ranges of rows 0..rows, on up to
// four cores when work (samples touched) is large enough, and returns
// when all are done. fn must only write its own rows.
func parallelRows(rows, work int, fn func(y0, y1 int)) {
	n := min(runtime.GOMAXPROCS(0), 4, rows)
	if n < 2 || work < parallelMinWork {
		fn(0, rows)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		y0, y1 := rows*i/n, rows*(i+1)/n
		// Ends when fn has done rows y0..y1; wg.Wait below waits for it.
		wg.Go(func() { fn(y0, y1) })
	}
	fn(0, rows/n)
	wg.Wait()
}

// sat8 clamps v to 255 (a premultiplied channel above its alpha is invalid
// but must not wrap).
func sat8(v uint32) uint8 {
	return uint8(min(v, 255))
}

// lumRGBA64 is the luminance of a premultiplied 16-bit colour over white.
func lumRGBA64(r, g, b, a uint32) uint16 {
	w := 0xffff - min(a, 0xffff)
	return lum8(sat8((r+w)>>8), sat8((g+w)>>8), sat8((b+w)>>8))
}

// boxShrink averages k x k blocks (partial blocks at the right and bottom
// edges average what they have).
func boxShrink(p plane, k int) plane {
	ow, oh := (p.w+k-1)/k, (p.h+k-1)/k
	out := newPlane(ow, oh, 0)
	parallelRows(oh, p.w*p.h, func(oy0, oy1 int) {
		sums := make([]uint64, ow) // a block holds up to 16384^2 samples
		for oy := oy0; oy < oy1; oy++ {
			clear(sums)
			y0, y1 := oy*k, min(oy*k+k, p.h)
			for y := y0; y < y1; y++ {
				row := p.pix[y*p.w : (y+1)*p.w]
				for ox := range sums {
					var s uint64
					for _, v := range row[ox*k : min(ox*k+k, p.w)] {
						s += uint64(v)
					}
					sums[ox] += s
				}
			}
			for ox := range sums {
				n := uint64((min(ox*k+k, p.w) - ox*k) * (y1 - y0))
				out.pix[oy*ow+ox] = uint16((sums[ox] + n/2) / n)
			}
		}
	})
	return out
}

// Resampling weights are fixed point with weightBits fractional bits.
const weightBits = 14

// taps are the source indices and weights of one output sample.
type taps struct {
	first   int
	weights []int32
}

// catmullRom is the Catmull-Rom cubic (a = -0.5), support [-2, 2].
func catmullRom(x float64) float64 {
	x = math.Abs(x)
	switch {
	case x < 1:
		return (1.5*x-2.5)*x*x + 1
	case x < 2:
		return ((-0.5*x+2.5)*x-4)*x + 2
	}
	return 0
}

// resampleTaps computes, for n output samples from m input samples, the
// Catmull-Rom weights stretched over the input when shrinking, with edge
// samples repeated, quantized so each set sums to exactly 1<<weightBits.
func resampleTaps(m, n int) []taps {
	ratio := float64(m) / float64(n)
	scale := max(ratio, 1)
	radius := 2 * scale
	out := make([]taps, n)
	var fw []float64
	for i := range out {
		centre := (float64(i)+0.5)*ratio - 0.5
		lo := int(math.Ceil(centre - radius))
		hi := int(math.Floor(centre + radius))
		first, last := max(lo, 0), min(hi, m-1)
		fw = fw[:0]
		for j := first; j <= last; j++ {
			fw = append(fw, 0)
		}
		sum := 0.0
		for j := lo; j <= hi; j++ {
			wt := catmullRom((float64(j) - centre) / scale)
			fw[clampInt(j, first, last)-first] += wt
			sum += wt
		}
		ws := make([]int32, len(fw))
		total, big := int32(0), 0
		for k, v := range fw {
			ws[k] = int32(math.Round(v / sum * (1 << weightBits)))
			total += ws[k]
			if ws[k] > ws[big] {
				big = k
			}
		}
		ws[big] += 1<<weightBits - total
		out[i] = taps{first: first, weights: ws}
	}
	return out
}

// resample scales p to w x h with a separable Catmull-Rom filter.
func resample(p plane, w, h int) plane {
	if p.w == w && p.h == h {
		return p
	}
	xt, yt := resampleTaps(p.w, w), resampleTaps(p.h, h)
	// Horizontal pass: p.h rows of w samples, unclamped, in 16-bit units.
	tmp := make([]int32, p.h*w)
	parallelRows(p.h, p.h*w*len(xt[0].weights), func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			row := p.pix[y*p.w : (y+1)*p.w]
			dst := tmp[y*w : (y+1)*w]
			for x, t := range xt {
				src := row[t.first : t.first+len(t.weights)]
				src = src[:len(t.weights)]
				var acc int64
				for k, wt := range t.weights {
					acc += int64(wt) * int64(src[k])
				}
				dst[x] = int32((acc + 1<<(weightBits-1)) >> weightBits)
			}
		}
	})
	// Vertical pass, a row at a time, clamped to 0..65535.
	out := newPlane(w, h, 0)
	parallelRows(h, h*w*len(yt[0].weights), func(y0, y1 int) {
		acc := make([]int64, w)
		for y := y0; y < y1; y++ {
			t := yt[y]
			clear(acc)
			for k, wt := range t.weights {
				src := tmp[(t.first+k)*w : (t.first+k+1)*w]
				acc := acc[:len(src)]
				for x, v := range src {
					acc[x] += int64(wt) * int64(v)
				}
			}
			dst := out.pix[y*w : (y+1)*w]
			for x, a := range acc {
				dst[x] = uint16(clampInt(int((a+1<<(weightBits-1))>>weightBits), 0, white16))
			}
		}
	})
	return out
}

// Levels: the grey levels that become pure black and pure white.
const (
	levelBins = 256
	// clipFraction of the pixels may be clipped at each end.
	clipFraction = 0.005
	// The white point never drops below minWhite, nor the black point above
	// maxBlack, so a dark or pale picture is not stretched beyond recognition.
	minWhite = 45 * white16 / 100
	maxBlack = 15 * white16 / 100
	minRange = 30 * white16 / 100
	// A light tone covering at least backgroundFraction of the picture
	// within a window of backgroundWindow bins is its background: it and
	// everything lighter become white.
	backgroundFraction = 0.20
	backgroundWindow   = 7
	backgroundMin      = 55 * white16 / 100
	// After stretching, tones above snapWhite print white and below
	// snapBlack print black: no stray dots in flat light areas.
	snapWhite = 92 * white16 / 100
	snapBlack = 4 * white16 / 100
)

// levels stretches pix in place so the lightest tones (and a light flat
// background such as a pastel wash) become pure white and the darkest pure
// black, mildly: outlines on white stay as they are.
func levels(pix []uint16) {
	if len(pix) == 0 {
		return
	}
	var hist [levelBins]int
	for _, v := range pix {
		hist[v>>8]++
	}
	n := len(pix)
	clip := int(float64(n) * clipFraction)

	black, seen := 0, 0
	for b := range hist {
		seen += hist[b]
		if seen > clip {
			black = b << 8
			break
		}
	}
	white, seen := white16, 0
	for b := levelBins - 1; b >= 0; b-- {
		seen += hist[b]
		if seen > clip {
			white = b<<8 | 0xff
			break
		}
	}
	// A dominant light background sets the white point at its darker edge.
	bestSum, bestLo := 0, -1
	for lo := backgroundMin >> 8; lo+backgroundWindow <= levelBins; lo++ {
		s := 0
		for b := lo; b < lo+backgroundWindow; b++ {
			s += hist[b]
		}
		if s > bestSum {
			bestSum, bestLo = s, lo
		}
	}
	if bestLo >= 0 && float64(bestSum) >= backgroundFraction*float64(n) {
		white = min(white, bestLo<<8)
	}
	white = max(white, minWhite)
	black = min(black, maxBlack)
	if white-black < minRange {
		black = max(0, white-minRange)
	}

	span := white - black
	for i, v := range pix {
		s := int((int64(v) - int64(black)) * white16 / int64(span)) // int64: 32-bit ARM too
		switch {
		case s >= snapWhite:
			s = white16
		case s <= snapBlack:
			s = 0
		}
		pix[i] = uint16(s)
	}
}

// Dithering works on the linear-light plane with integer error diffusion.
// It is done here rather than with github.com/makeworld-the-better-one/dither/v2
// (v2.4.0): on a 384x384 picture the library takes 40 to 60 ms and 740,000
// allocations (float RGBA through image.Image and color.Color per pixel),
// these loops about 0.7 ms and none per pixel (BenchmarkDither, 2-core
// AMD EPYC), and integers make the output the same on every architecture.

// ditherFloydSteinberg dithers p into out with Floyd-Steinberg error
// diffusion (7/16 ahead, 3/16, 5/16, 1/16 below), scanning alternate rows
// in opposite directions so the error does not drift into diagonal worms.
func ditherFloydSteinberg(p plane, out *image.Paletted) {
	w := p.w
	cur := make([]int32, w+2) // error for the row, offset by one
	next := make([]int32, w+2)
	for y := 0; y < p.h; y++ {
		src := p.pix[y*w : (y+1)*w]
		dst := out.Pix[y*out.Stride : y*out.Stride+w]
		ltr := y%2 == 0
		for i := range w {
			x, dir := i, 1
			if !ltr {
				x, dir = w-1-i, -1
			}
			v := int32(src[x]) + cur[x+1]
			var e int32
			if v >= 1<<15 {
				dst[x] = bwWhite
				e = v - white16
			} else {
				dst[x] = bwBlack
				e = v
			}
			e7, e3, e5 := e*7/16, e*3/16, e*5/16
			cur[x+1+dir] += e7
			next[x+1-dir] += e3
			next[x+1] += e5
			next[x+1+dir] += e - e7 - e3 - e5
		}
		cur, next = next, cur
		clear(next)
	}
}

// ditherAtkinson dithers p into out with Atkinson's diffusion: 1/8 of the
// error to each of six neighbours, the rest dropped, which keeps light and
// dark areas clean and contrast high.
func ditherAtkinson(p plane, out *image.Paletted) {
	w := p.w
	rows := [3][]int32{make([]int32, w+4), make([]int32, w+4), make([]int32, w+4)} // offset by two
	for y := 0; y < p.h; y++ {
		src := p.pix[y*w : (y+1)*w]
		dst := out.Pix[y*out.Stride : y*out.Stride+w]
		r0, r1, r2 := rows[0], rows[1], rows[2]
		for x := range w {
			v := int32(src[x]) + r0[x+2]
			var e int32
			if v >= 1<<15 {
				dst[x] = bwWhite
				e = (v - white16) / 8
			} else {
				dst[x] = bwBlack
				e = v / 8
			}
			r0[x+3] += e
			r0[x+4] += e
			r1[x+1] += e
			r1[x+2] += e
			r1[x+3] += e
			r2[x+2] += e
		}
		clear(r0)
		rows[0], rows[1], rows[2] = r1, r2, r0
	}
}
