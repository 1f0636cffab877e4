package edgetest_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// A Stikadoo printer boots against a gateway, connects, and asks for a
// sticker by voice.
func ExampleDevice() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &edgetest.Device{
		Dialect: proto.DialectStikadoo,
		OTAURL:  "http://127.0.0.1:8000/xiaozhi/ota/",
	}
	if _, err := d.Boot(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := d.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	if _, err := d.Hello(ctx); err != nil {
		fmt.Println(err)
		return
	}
	res, err := d.RunTurn(ctx, edgetest.Speech(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range res.Timeline {
		fmt.Printf("%6dms  %-10s %s\n", s.At.Milliseconds(), s.Name, s.Detail)
	}
	fmt.Println("delivered:", res.ImageDelivered)
}

func ExampleImageGenerator() {
	g := &edgetest.ImageGenerator{}
	st, err := g.Sticker(context.Background(), "a robot")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg, _ := png.DecodeConfig(bytes.NewReader(st.PNG))
	fmt.Println(cfg.Width, st.Backend, st.Prompt)
	// Output: 384 fake a robot
}

func ExampleSpeech() {
	words := edgetest.Speech(2 * time.Second)
	quiet := edgetest.Silence(time.Second)
	fmt.Println(len(words), len(quiet))
	// Output: 32000 16000
}
