package remote_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/stikadoo/stikadoo-edge/stt/remote"
)

func ExampleClient_Transcribe() {
	// A stand-in for faster-whisper-server on the LAN.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"text":"A dragon eating ice cream."}`)
	}))
	defer srv.Close()

	c, err := remote.New(remote.Config{BaseURL: srv.URL, Model: "Systran/faster-whisper-base.en", Language: "en"})
	if err != nil {
		log.Fatal(err)
	}
	samples := make([]float32, 16000) // one second at 16 kHz
	text, err := c.Transcribe(context.Background(), samples)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(text)
	// Output: A dragon eating ice cream.
}
