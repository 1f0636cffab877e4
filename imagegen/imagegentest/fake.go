package imagegentest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxRecordedBody is how much of a request body is recorded.
const maxRecordedBody = 1 << 20

// Request is one request a fake received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object; nil if it is not one.
func (r Request) JSON() map[string]any {
	var m map[string]any
	if json.Unmarshal(r.Body, &m) != nil {
		return nil
	}
	return m
}

// PNG draws a w x h test picture: a black ring and dot on white, with a
// transparent corner, the kind of art a sticker prompt asks for.
func PNG(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy := float64(w)/2, float64(h)/2
	r := min(cx, cy)
	for y := range h {
		for x := range w {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			d2 := dx*dx + dy*dy
			c := color.NRGBA{255, 255, 255, 255}
			switch {
			case d2 < (r*0.3)*(r*0.3):
				c = color.NRGBA{0, 0, 0, 255}
			case d2 > (r*0.6)*(r*0.6) && d2 < (r*0.8)*(r*0.8):
				c = color.NRGBA{0, 0, 0, 255}
			case x < w/8 && y < h/8:
				c = color.NRGBA{0, 0, 0, 0}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("imagegentest: encode PNG: " + err.Error()) // cannot happen for an in-memory NRGBA
	}
	return buf.Bytes()
}

// DeclaredPNG returns a small, well-formed PNG whose header (IHDR) claims
// w x h pixels, with valid checksums: image.DecodeConfig reports w x h
// while the file is a few dozen bytes.
func DeclaredPNG(w, h int) []byte {
	b := PNG(1, 1)
	// Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4).
	binary.BigEndian.PutUint32(b[16:20], uint32(w))
	binary.BigEndian.PutUint32(b[20:24], uint32(h))
	// The CRC covers the chunk type and its 13 data bytes.
	binary.BigEndian.PutUint32(b[29:33], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// file is an image a fake serves for download.
type file struct {
	data []byte
	huge int // stream this many bytes of nonsense instead
}

// core is what every fake shares: the lock, the records, the files.
type core struct {
	mu        sync.Mutex
	requests  []Request
	downloads []Request
	calls     int
	files     map[string]file
	filesBase string // base URL of the separate download host, if started
	seq       int
}

// Requests returns the API requests received so far, oldest first.
func (c *core) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// Downloads returns the image downloads received so far, oldest first.
func (c *core) Downloads() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.downloads...)
}

// Calls returns how many API requests were received.
func (c *core) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// readRequest reads a request body and copies the request for the record.
func readRequest(r *http.Request) Request {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
	return Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
}

// record notes an API request and returns its number, from 1.
func (c *core) record(req Request) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, req)
	c.calls++
	return c.calls
}

// addFile stores an image for download and returns its URL, on the
// separate download host if one was started, else on the host r reached.
func (c *core) addFile(r *http.Request, prefix, ext, query string, f file) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	name := fmt.Sprintf("%s-%d.%s", strings.Trim(prefix, "/"), c.seq, ext)
	if c.files == nil {
		c.files = map[string]file{}
	}
	c.files[name] = f
	base := c.filesBase
	if base == "" {
		base = "http://" + r.Host
	}
	u := base + "/" + strings.Trim(prefix, "/") + "/" + name
	if query != "" {
		u += "?" + query
	}
	return u
}

// serveFile answers a download. It records the request.
func (c *core) serveFile(w http.ResponseWriter, r *http.Request) {
	req := readRequest(r)
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	c.mu.Lock()
	c.downloads = append(c.downloads, req)
	f, ok := c.files[name]
	c.mu.Unlock()
	if !ok || r.Method != http.MethodGet {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	if f.huge > 0 {
		stream(w, "", f.huge, "")
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
	w.Write(f.data)
}

// behaviour is a snapshot of a fake's settable fields.
type behaviour struct {
	apiKey        string
	image         []byte
	failWith      int
	failTimes     int
	retryAfter    string
	refuse        bool
	delay         time.Duration
	invalidBase64 bool
	hugeBody      int
	declared      image.Point
	returnURL     bool
}

// failing tells whether API call number n (from 1) must fail.
func (b behaviour) failing(n int) bool {
	return b.failWith != 0 && (b.failTimes <= 0 || n <= b.failTimes)
}

// picture is the image to answer with.
func (b behaviour) picture() []byte {
	switch {
	case b.declared.X > 0 && b.declared.Y > 0:
		return DeclaredPNG(b.declared.X, b.declared.Y)
	case b.image != nil:
		return b.image
	default:
		return PNG(64, 64)
	}
}

// wait sleeps d or until the client goes away; false if it went away.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("imagegentest: encode answer: " + err.Error()) // only fixed shapes are encoded
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// stream writes prefix, then 'A's, then suffix, n bytes in all, without a
// Content-Length, flushing as it goes, and stops when the client leaves.
func stream(w http.ResponseWriter, prefix string, n int, suffix string) {
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, prefix); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte{'A'}, 32<<10)
	left := n - len(prefix) - len(suffix)
	fl, _ := w.(http.Flusher)
	for left > 0 {
		k := min(left, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		left -= k
		if fl != nil {
			fl.Flush()
		}
	}
	io.WriteString(w, suffix)
}

// maskKey shows a key the way services echo a wrong one: a few characters
// at each end.
func maskKey(k string) string {
	if len(k) <= 8 {
		return "****"
	}
	return k[:3] + strings.Repeat("*", 12) + k[len(k)-4:]
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return strings.TrimSpace(tok), ok && strings.TrimSpace(tok) != ""
}
