package edge_test

import (
	"bytes"
	"image"
	"image/png"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/imagegen"
	"github.com/stikadoo/stikadoo-edge/imagegen/imagegentest"
)

// TestStickerFromImageModel runs the real generator and renderer behind the
// gateway, with an sdapi image model on loopback: the simulated printer
// downloads a printable sticker; with the model down it gets the fallback.
func TestStickerFromImageModel(t *testing.T) {
	model := &imagegentest.SDAPI{}
	base := model.Start(t)
	cfg := imagegen.DefaultConfig()
	cfg.Backend = &imagegen.BackendConfig{Kind: imagegen.KindSDAPI, BaseURL: base, MaxRetries: -1, Timeout: 5 * time.Second}
	gen, err := imagegen.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: &edgetest.Transcriber{Text: "a dragon eating ice cream"}, Images: gen})
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectStikadoo})

	check := func(res *edgetest.TurnResult) {
		t.Helper()
		if !res.ImageDelivered || len(res.Alerts) != 0 {
			t.Fatalf("turn %+v", res)
		}
		img, err := png.Decode(bytes.NewReader(res.Image))
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() != 384 {
			t.Errorf("sticker %d dots wide, want 384", img.Bounds().Dx())
		}
		pal, ok := img.(*image.Paletted)
		if !ok || len(pal.Palette) != 2 {
			t.Fatalf("sticker is %T, not a two-colour image", img)
		}
	}

	res, err := dev.RunTurn(turnCtx(t), edgetest.Speech(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	check(res)
	reqs := model.Requests()
	if len(reqs) != 1 {
		t.Fatalf("image model asked %d times", len(reqs))
	}
	_, turns := waitTurns(t, ts, dev.SessionID(), 1)
	tr := turns[0]
	if tr.Fallback != "" || tr.ImageID == "" || tr.OriginalID == "" || tr.Prompt == "" || tr.Backend == "" {
		t.Errorf("turn record %+v: want the model's sticker with its original and prompt kept", tr)
	}
	if orig, err := ts.Store.Image(tr.OriginalID); err != nil || len(orig.Data) == 0 {
		t.Errorf("original image: %v", err)
	}

	// The model goes down: the child still gets a sticker, recorded as a fallback.
	model.Update(func(m *imagegentest.SDAPI) { m.FailWith = 500 })
	res, err = dev.RunTurn(turnCtx(t), edgetest.Speech(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	check(res)
	_, turns = waitTurns(t, ts, dev.SessionID(), 2)
	if tr := turns[1]; tr.Outcome != proto.OutcomeOK || tr.Fallback == "" || tr.Backend != imagegen.FallbackBackend {
		t.Errorf("turn record %+v: want a fallback sticker", tr)
	}
}
