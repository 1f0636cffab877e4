package edge_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

func TestStickerServing(t *testing.T) {
	ts := startServer(t, edge.Config{}, edge.Deps{})
	const id = "0123456789abcdef0123456789abcdef"
	data := []byte("\x89PNG\r\n\x1a\nnot really a png but bytes")
	if err := ts.Store.PutImage(proto.Image{ID: id, ContentType: "image/png", Created: time.Now(), Data: data}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("/stickers/" + id + ".png")
	if resp.StatusCode != 200 || string(body) != string(data) {
		t.Fatalf("sticker: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp.Header.Get("Content-Length") != strconv.Itoa(len(data)) || len(resp.TransferEncoding) != 0 {
		t.Errorf("Content-Length %q, transfer encoding %v: the device needs a length", resp.Header.Get("Content-Length"), resp.TransferEncoding)
	}
	if resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Cache-Control") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	for _, p := range []string{
		"/stickers/ffffffffffffffffffffffffffffffff.png", // unknown id
		"/stickers/" + id,    // no extension
		"/stickers/0123.png", // too short
		"/stickers/..%2f..%2fetc%2fpasswd",
		"/stickers/../storage/edge.db",
		"/stickers/" + id + ".png/../../edge.db",
		"/stickers/",
	} {
		if resp, _ := get(p); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}
