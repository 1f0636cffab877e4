package imagegen

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"testing"
)

// bwFromRows builds a newBW image from rows of '#' (black) and '.' (white).
func bwFromRows(rows ...string) *image.Paletted {
	img := newBW(len(rows[0]), len(rows))
	for y, row := range rows {
		for x, c := range row {
			if c == '.' {
				img.SetColorIndex(x, y, bwWhite)
			}
		}
	}
	return img
}

func TestESCPOSRaster(t *testing.T) {
	tests := []struct {
		name string
		img  *image.Paletted
		want []byte
	}{
		{
			name: "10x3",
			img: bwFromRows(
				"#........#",
				".#.#.#.#.#",
				"##########",
			),
			want: []byte{
				0x1D, 0x76, 0x30, 0x00, 2, 0, 3, 0, // GS v 0, mode 0, 2 bytes wide, 3 rows
				0b10000000, 0b01000000, // the last byte's unused bits are 0
				0b01010101, 0b01000000,
				0b11111111, 0b11000000,
			},
		},
		{
			name: "8x1 exact byte",
			img:  bwFromRows("#.#.##.."),
			want: []byte{0x1D, 0x76, 0x30, 0x00, 1, 0, 1, 0, 0b10101100},
		},
		{
			name: "1x1 white",
			img:  bwFromRows("."),
			want: []byte{0x1D, 0x76, 0x30, 0x00, 1, 0, 1, 0, 0},
		},
		{
			name: "empty",
			img:  newBW(0, 0),
			want: nil,
		},
		{
			name: "nil",
			img:  nil,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ESCPOSRaster(tt.img); !bytes.Equal(got, tt.want) {
				t.Errorf("ESCPOSRaster =\n% x\nwant\n% x", got, tt.want)
			}
		})
	}
}

func TestESCPOSRasterBands(t *testing.T) {
	// 384 x 600: bands of 255, 255 and 90 rows, each with its own header;
	// row y has black dots at x = y (mod 384).
	const w, h = 384, 600
	img := newBW(w, h)
	for i := range img.Pix {
		img.Pix[i] = bwWhite
	}
	for y := range h {
		img.SetColorIndex(y%w, y, bwBlack)
	}
	got := ESCPOSRaster(img)
	off := 0
	for _, rows := range []int{255, 255, 90} {
		header := []byte{0x1D, 0x76, 0x30, 0x00, 48, 0, byte(rows), 0}
		if !bytes.Equal(got[off:off+8], header) {
			t.Fatalf("band header at %d = % x, want % x", off, got[off:off+8], header)
		}
		off += 8 + rows*48
	}
	if off != len(got) {
		t.Fatalf("output is %d bytes, want %d", len(got), off)
	}
	// Check each row's single dot.
	off = 0
	for y := range h {
		if y%255 == 0 {
			off += 8
		}
		row := got[off : off+48]
		x := y % w
		for i, b := range row {
			want := byte(0)
			if i == x/8 {
				want = 0x80 >> (x % 8)
			}
			if b != want {
				t.Fatalf("row %d byte %d = %08b, want %08b", y, i, b, want)
			}
		}
		off += 48
	}
}

func TestESCPOSRasterPalette(t *testing.T) {
	// A palette in the other order, and an image not at the origin: black
	// is whatever colour is dark.
	img := image.NewPaletted(image.Rect(5, 7, 13, 8), color.Palette{color.White, color.Black})
	img.SetColorIndex(5, 7, 1)
	img.SetColorIndex(12, 7, 1)
	want := []byte{0x1D, 0x76, 0x30, 0x00, 1, 0, 1, 0, 0b10000001}
	if got := ESCPOSRaster(img); !bytes.Equal(got, want) {
		t.Errorf("ESCPOSRaster = % x, want % x", got, want)
	}
}

func TestESCPOSRasterOfRender(t *testing.T) {
	// The raster form of a rendered sticker has as many black dots as the
	// sticker.
	r, err := RenderImage(shapesImage(300, 300), RenderOptions{Width: 576, Aspect: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	raster := ESCPOSRaster(r.Image)
	black := 0
	for _, v := range r.Image.Pix {
		if v == bwBlack {
			black++
		}
	}
	ones := 0
	off := 0
	for y := 0; y < r.Height; y += 255 {
		rows := min(255, r.Height-y)
		off += 8
		for _, b := range raster[off : off+rows*72] {
			for ; b != 0; b &= b - 1 {
				ones++
			}
		}
		off += rows * 72
	}
	if ones != black {
		t.Errorf("raster has %d dots, sticker %d black pixels", ones, black)
	}
}

func ExampleESCPOSRaster() {
	r, err := Fallback("hello", RenderOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	raster := ESCPOSRaster(r.Image)
	// Send raster to a printer's serial or USB port, after ESC @ (0x1B 0x40).
	fmt.Printf("% x ... (%d bytes)\n", raster[:8], len(raster))
	// Output: 1d 76 30 00 30 00 ff 00 ... (18448 bytes)
}
