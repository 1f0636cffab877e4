package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/imagegen"
)

// maxRenderInput bounds the image file `sticker --render` reads.
const maxRenderInput = 64 << 20

// cmdSticker makes one sticker with the configured backend and renderer,
// or renders a local image, and writes the printable PNG (and optionally
// its ESC/POS raster form).
func cmdSticker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sticker", `["WORDS" | --render IMAGE] -o OUT.png [--escpos OUT.bin] [--config FILE]`)
	file := fs.String("config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
	out := fs.String("o", "", "write the printable PNG here")
	render := fs.String("render", "", "render this PNG, JPEG or WebP file instead of asking the image model")
	escpos := fs.String("escpos", "", "also write the ESC/POS raster (GS v 0) form here, for a printer wired to this machine")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	words := strings.TrimSpace(strings.Join(pos, " "))
	switch {
	case *out == "":
		return fmt.Errorf("sticker: -o OUT.png is required: %w", errUsage)
	case *render == "" && words == "":
		return fmt.Errorf("sticker: give the words to draw, or --render IMAGE: %w", errUsage)
	case *render != "" && words != "":
		return fmt.Errorf("sticker: give either words or --render, not both: %w", errUsage)
	}
	cfg, err := loadConfig(configPath(*file), flagOverrides{}, os.Getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var png []byte
	var summary string
	start := time.Now()
	if *render != "" {
		data, err := readLimited(*render, maxRenderInput)
		if err != nil {
			return err
		}
		r, err := imagegen.Render(data, cfg.Image.Generator.Render)
		if err != nil {
			return fmt.Errorf("render %s: %w", *render, err)
		}
		png = r.PNG
		summary = fmt.Sprintf("rendered %s as %dx%d", *render, r.Width, r.Height)
	} else {
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		gen, err := imagegen.New(cfg.Image.generatorConfig(), log)
		if err != nil {
			return fmt.Errorf("image settings: %w: %w", err, errConfig)
		}
		st, err := gen.Sticker(ctx, words)
		if err != nil {
			return fmt.Errorf("sticker: %w", err)
		}
		png = st.PNG
		summary = "drawn by " + st.Backend
		if st.Fallback != "" {
			summary += " (" + st.Fallback + ")"
		}
	}
	if err := writeFileAtomic(*out, func(w io.Writer) error { _, err := w.Write(png); return err }); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if *escpos != "" {
		r, err := imagegen.Render(png, cfg.Image.Generator.Render)
		if err != nil {
			return fmt.Errorf("escpos: %w", err)
		}
		raster := imagegen.ESCPOSRaster(r.Image)
		if err := writeFileAtomic(*escpos, func(w io.Writer) error { _, err := w.Write(raster); return err }); err != nil {
			return fmt.Errorf("write %s: %w", *escpos, err)
		}
	}
	fmt.Fprintf(stdout, "%s: %s, %d bytes, %s\n", *out, summary, len(png), time.Since(start).Round(time.Millisecond))
	return nil
}

// readLimited reads a whole file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d MiB", path, limit>>20)
	}
	return data, nil
}
