package imagegen

import (
	"image"
	"image/color"
)

// escposMaxBandRows is the most rows one GS v 0 command carries; taller
// images are sent as several commands, which every ESC/POS printer accepts.
const escposMaxBandRows = 255

// ESCPOSRaster returns img as ESC/POS raster bit image commands (GS v 0,
// mode 0: 0x1D 0x76 0x30 0x00 xL xH yL yH, then the rows), in bands of at
// most 255 rows, each with its own header. Each row is ceil(width/8)
// bytes, most significant bit first, 1 for a black dot; pixels past the
// width in the last byte are 0. A pixel is black when its palette colour
// is darker than mid grey. An empty image gives nil.
func ESCPOSRaster(img *image.Paletted) []byte {
	if img == nil {
		return nil
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil
	}
	var dark [256]bool
	for i, c := range img.Palette {
		if i < len(dark) {
			dark[i] = color.GrayModel.Convert(c).(color.Gray).Y < 128
		}
	}
	rowBytes := (w + 7) / 8
	bands := (h + escposMaxBandRows - 1) / escposMaxBandRows
	out := make([]byte, 0, bands*8+rowBytes*h)
	for y0 := 0; y0 < h; y0 += escposMaxBandRows {
		rows := min(escposMaxBandRows, h-y0)
		out = append(out, 0x1D, 0x76, 0x30, 0x00,
			byte(rowBytes), byte(rowBytes>>8), byte(rows), byte(rows>>8))
		for y := y0; y < y0+rows; y++ {
			pix := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for xb := 0; xb < rowBytes; xb++ {
				var v byte
				for bit := 0; bit < 8; bit++ {
					if x := xb*8 + bit; x < w && dark[pix[x]] {
						v |= 0x80 >> bit
					}
				}
				out = append(out, v)
			}
		}
	}
	return out
}
