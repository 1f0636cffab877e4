package remote_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
	"github.com/stikadoo/stikadoo-edge/stt/remote"
)

const testKey = "sk-test-0123456789abcdef"

// upload is what the fake server received in one request.
type upload struct {
	method, path  string
	auth          string
	contentType   string
	fields        map[string]string
	fileName      string
	fileType      string
	wav           []byte
	fieldsPresent map[string]bool
}

// fakeServer reproduces the transcription endpoint: it parses the
// multipart form like the real servers do, records it, and answers with
// respond (default: {"text": "hello"}).
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	uploads []upload
	calls   atomic.Int32
	respond func(w http.ResponseWriter, r *http.Request)
}

func newFakeServer(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *fakeServer {
	t.Helper()
	fs := &fakeServer{respond: respond}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.handle))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	fs.calls.Add(1)
	up := upload{
		method:        r.Method,
		path:          r.URL.Path,
		auth:          r.Header.Get("Authorization"),
		contentType:   r.Header.Get("Content-Type"),
		fields:        map[string]string{},
		fieldsPresent: map[string]bool{},
	}
	mt, params, err := mime.ParseMediaType(up.contentType)
	if err != nil || mt != "multipart/form-data" {
		http.Error(w, "want multipart/form-data", http.StatusBadRequest)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, "bad multipart body: "+err.Error(), http.StatusBadRequest)
			return
		}
		data, _ := io.ReadAll(p)
		up.fieldsPresent[p.FormName()] = true
		if p.FormName() == "file" {
			up.fileName = p.FileName()
			up.fileType = p.Header.Get("Content-Type")
			up.wav = data
			continue
		}
		up.fields[p.FormName()] = string(data)
	}
	fs.mu.Lock()
	fs.uploads = append(fs.uploads, up)
	fs.mu.Unlock()
	if fs.respond != nil {
		fs.respond(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"text":" hello "}`)
}

func (fs *fakeServer) last(t *testing.T) upload {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.uploads) == 0 {
		t.Fatal("the server received no complete request")
	}
	return fs.uploads[len(fs.uploads)-1]
}

// tone is d seconds of a 440 Hz tone at 16 kHz.
func tone(d float64) []float32 {
	s := make([]float32, int(d*stt.SampleRate))
	for i := range s {
		s[i] = float32(0.5 * math.Sin(2*math.Pi*440*float64(i)/stt.SampleRate))
	}
	return s
}

func newClient(t *testing.T, cfg remote.Config) *remote.Client {
	t.Helper()
	c, err := remote.New(cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg, err)
	}
	return c
}

func TestTranscribeSendsTheAPIRequest(t *testing.T) {
	fs := newFakeServer(t, nil)
	c := newClient(t, remote.Config{
		BaseURL:  fs.URL,
		APIKey:   testKey,
		Model:    "Systran/faster-whisper-small",
		Language: "EN",
		Prompt:   "Stikadoo, sticker, unicorn",
	})
	samples := tone(1.5)
	text, err := c.Transcribe(context.Background(), samples)
	if err != nil {
		t.Fatalf("Transcribe: %v", err)
	}
	if text != "hello" {
		t.Errorf("text = %q, want %q (trimmed)", text, "hello")
	}
	up := fs.last(t)
	if up.method != http.MethodPost || up.path != "/v1/audio/transcriptions" {
		t.Errorf("request = %s %s, want POST /v1/audio/transcriptions", up.method, up.path)
	}
	if up.auth != "Bearer "+testKey {
		t.Errorf("Authorization = %q, want the Bearer key", up.auth)
	}
	want := map[string]string{
		"model":           "Systran/faster-whisper-small",
		"language":        "en",
		"prompt":          "Stikadoo, sticker, unicorn",
		"response_format": "json",
		"temperature":     "0",
	}
	for k, v := range want {
		if up.fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, up.fields[k], v)
		}
	}
	if len(up.fields) != len(want) {
		t.Errorf("fields = %v, want exactly %v", up.fields, want)
	}
	if up.fileName != "audio.wav" || up.fileType != "audio/wav" {
		t.Errorf("file part = %q (%s), want audio.wav (audio/wav)", up.fileName, up.fileType)
	}

	// The WAV header: RIFF/WAVE, PCM, mono, 16 kHz, 16-bit, exact sizes.
	w := up.wav
	if len(w) != 44+2*len(samples) {
		t.Fatalf("WAV is %d bytes, want %d", len(w), 44+2*len(samples))
	}
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want any
	}{
		{"RIFF", string(w[0:4]), "RIFF"},
		{"RIFF size", le.Uint32(w[4:8]), uint32(36 + 2*len(samples))},
		{"WAVE", string(w[8:12]), "WAVE"},
		{"fmt ", string(w[12:16]), "fmt "},
		{"fmt size", le.Uint32(w[16:20]), uint32(16)},
		{"format", le.Uint16(w[20:22]), uint16(1)},
		{"channels", le.Uint16(w[22:24]), uint16(1)},
		{"rate", le.Uint32(w[24:28]), uint32(16000)},
		{"byte rate", le.Uint32(w[28:32]), uint32(32000)},
		{"block align", le.Uint16(w[32:34]), uint16(2)},
		{"bits", le.Uint16(w[34:36]), uint16(16)},
		{"data", string(w[36:40]), "data"},
		{"data size", le.Uint32(w[40:44]), uint32(2 * len(samples))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("WAV %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	back, rate, err := stt.ReadWAV(bytes.NewReader(w))
	if err != nil || rate != stt.SampleRate || len(back) != len(samples) {
		t.Fatalf("ReadWAV of the upload: %d samples at %d Hz, %v", len(back), rate, err)
	}
	for i := range back {
		if d := math.Abs(float64(back[i] - samples[i])); d > 1.0/16000 {
			t.Fatalf("sample %d = %v, sent %v", i, back[i], samples[i])
		}
	}
}

func TestTranscribeOptionalFields(t *testing.T) {
	fs := newFakeServer(t, nil)
	c := newClient(t, remote.Config{BaseURL: fs.URL, Language: "auto"})
	if _, err := c.Transcribe(context.Background(), tone(0.5)); err != nil {
		t.Fatalf("Transcribe: %v", err)
	}
	up := fs.last(t)
	if up.auth != "" {
		t.Errorf("Authorization = %q without an API key, want none", up.auth)
	}
	for _, f := range []string{"language", "prompt"} {
		if up.fieldsPresent[f] {
			t.Errorf("field %s sent although not configured", f)
		}
	}
	if up.fields["model"] != remote.DefaultModel {
		t.Errorf("model = %q, want the default %q", up.fields["model"], remote.DefaultModel)
	}
}

func TestBaseURLForms(t *testing.T) {
	tests := []struct {
		suffix string // appended to the server URL
		path   string // path the request must reach
	}{
		{"", "/v1/audio/transcriptions"},
		{"/", "/v1/audio/transcriptions"},
		{"/v1", "/v1/audio/transcriptions"},
		{"/v1/", "/v1/audio/transcriptions"},
		{"/v1/audio/transcriptions", "/v1/audio/transcriptions"},
		{"/stt", "/stt/v1/audio/transcriptions"},
		{"/stt/v1", "/stt/v1/audio/transcriptions"},
	}
	fs := newFakeServer(t, nil)
	for _, tc := range tests {
		t.Run("base"+tc.suffix, func(t *testing.T) {
			c := newClient(t, remote.Config{BaseURL: fs.URL + tc.suffix})
			if _, err := c.Transcribe(context.Background(), tone(0.2)); err != nil {
				t.Fatalf("Transcribe: %v", err)
			}
			if got := fs.last(t).path; got != tc.path {
				t.Errorf("path = %q, want %q", got, tc.path)
			}
		})
	}
}

func TestNoSpeech(t *testing.T) {
	answers := []struct {
		name, body string
	}{
		{"empty", `{"text":""}`},
		{"blank", `{"text":"   \n "}`},
		{"blank audio", `{"text":" [BLANK_AUDIO]"}`},
		{"silence note", `{"text":"[ Silence ] ."}`},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, a.body) })
			c := newClient(t, remote.Config{BaseURL: fs.URL})
			text, err := c.Transcribe(context.Background(), tone(1))
			if !errors.Is(err, proto.ErrNoSpeech) || text != "" {
				t.Fatalf("Transcribe = %q, %v; want ErrNoSpeech", text, err)
			}
			if errors.Is(err, proto.ErrUnavailable) {
				t.Errorf("no speech must not read as unavailable: %v", err)
			}
		})
	}
	t.Run("words beside a note", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"text":"[MUSIC] a red dragon"}`) })
		c := newClient(t, remote.Config{BaseURL: fs.URL})
		text, err := c.Transcribe(context.Background(), tone(1))
		if err != nil || text != "[MUSIC] a red dragon" {
			t.Fatalf("Transcribe = %q, %v", text, err)
		}
	})
}

func TestShortAudioMakesNoRequest(t *testing.T) {
	fs := newFakeServer(t, nil)
	c := newClient(t, remote.Config{BaseURL: fs.URL})
	for _, n := range []int{0, 1, 1599} {
		t.Run(fmt.Sprint(n, " samples"), func(t *testing.T) {
			_, err := c.Transcribe(context.Background(), make([]float32, n))
			if !errors.Is(err, proto.ErrNoSpeech) {
				t.Fatalf("Transcribe(%d samples) = %v, want ErrNoSpeech", n, err)
			}
		})
	}
	if n := fs.calls.Load(); n != 0 {
		t.Errorf("server called %d times for too-short audio", n)
	}
	if _, err := c.Transcribe(context.Background(), make([]float32, 1600)); err != nil {
		t.Errorf("Transcribe(0.1 s) = %v, want a request and an answer", err)
	}
}

func TestServerFailures(t *testing.T) {
	long := strings.Repeat("very long explanation ", 40)
	tests := []struct {
		name        string
		status      int
		body        string
		unavailable bool
		contains    []string
	}{
		{"500", 500, `{"error":{"message":"CUDA out of memory","type":"server_error"}}`, true, []string{"500", "CUDA out of memory"}},
		{"503 html", 503, "<html><body>Bad gateway</body></html>", true, []string{"503"}},
		{"429", 429, `{"detail":"busy"}`, true, []string{"429", "busy"}},
		{"408", 408, ``, true, []string{"408"}},
		{"400 openai", 400, `{"error":{"message":"Invalid file format.","type":"invalid_request_error","code":"bad_file"}}`, false, []string{"400", "Invalid file format. (bad_file)"}},
		{"400 whisper.cpp", 400, `{"error":"failed to read audio data"}`, false, []string{"failed to read audio data"}},
		{"422 fastapi", 422, `{"detail":[{"loc":["body","model"],"msg":"Field required"}]}`, false, []string{"422", "Field required"}},
		{"404 plain", 404, "404 page not found", false, []string{"404", "--inference-path"}},
		{"401", 401, `{"detail":"Invalid API key"}`, false, []string{"401", "Invalid API key", "check the API key"}},
		{"400 long", 400, `{"detail":"` + long + `"}`, false, []string{"very long explanation", "…"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			c := newClient(t, remote.Config{BaseURL: fs.URL, APIKey: testKey})
			_, err := c.Transcribe(context.Background(), tone(0.5))
			if err == nil {
				t.Fatal("Transcribe succeeded")
			}
			if got := errors.Is(err, proto.ErrUnavailable); got != tc.unavailable {
				t.Errorf("errors.Is(ErrUnavailable) = %v, want %v: %v", got, tc.unavailable, err)
			}
			if got := errors.Is(err, remote.ErrRejected); got == tc.unavailable {
				t.Errorf("errors.Is(ErrRejected) = %v, want %v: %v", got, !tc.unavailable, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, fs.URL) {
				t.Errorf("error does not name the server %s: %v", fs.URL, msg)
			}
			for _, s := range tc.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("error lacks %q: %v", s, msg)
				}
			}
			if n := utf8.RuneCountInString(msg); n > 500 {
				t.Errorf("error of %d runes is not truncated: %v", n, msg)
			}
		})
	}
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		want       error
	}{
		{"not json", "hello there", remote.ErrBadAnswer},
		{"no text", `{"segments":[]}`, remote.ErrBadAnswer},
		{"error in 200", `{"error":"model not loaded"}`, remote.ErrBadAnswer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) })
			c := newClient(t, remote.Config{BaseURL: fs.URL})
			_, err := c.Transcribe(context.Background(), tone(0.5))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Transcribe = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestResponseSizeLimit(t *testing.T) {
	big := `{"text":"` + strings.Repeat("a", 1000) + `"}`
	tests := []struct {
		name    string
		chunked bool
	}{
		{"announced", false},
		{"chunked", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				rest := big
				if tc.chunked {
					// A flush before the end sends no Content-Length.
					io.WriteString(w, big[:10])
					w.(http.Flusher).Flush()
					rest = big[10:]
				}
				io.WriteString(w, rest)
			})
			c := newClient(t, remote.Config{BaseURL: fs.URL, MaxResponseBytes: 100})
			_, err := c.Transcribe(context.Background(), tone(0.5))
			if !errors.Is(err, remote.ErrTooLarge) {
				t.Fatalf("Transcribe = %v, want ErrTooLarge", err)
			}
		})
	}
	t.Run("within", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
		c := newClient(t, remote.Config{BaseURL: fs.URL, MaxResponseBytes: int64(len(big))})
		if text, err := c.Transcribe(context.Background(), tone(0.5)); err != nil || len(text) != 1000 {
			t.Fatalf("Transcribe = %d chars, %v", len(text), err)
		}
	})
}

func TestNetworkErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		fs := newFakeServer(t, nil)
		url := fs.URL
		fs.Close()
		c := newClient(t, remote.Config{BaseURL: url})
		_, err := c.Transcribe(context.Background(), tone(0.5))
		if !errors.Is(err, proto.ErrUnavailable) || !strings.Contains(err.Error(), url) {
			t.Fatalf("Transcribe = %v, want ErrUnavailable naming %s", err, url)
		}
	})
	t.Run("dropped", func(t *testing.T) {
		fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		c := newClient(t, remote.Config{BaseURL: fs.URL})
		_, err := c.Transcribe(context.Background(), tone(0.5))
		if !errors.Is(err, proto.ErrUnavailable) {
			t.Fatalf("Transcribe = %v, want ErrUnavailable", err)
		}
	})
}

func TestTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	t.Run("timeout", func(t *testing.T) {
		fs := newFakeServer(t, slow)
		c := newClient(t, remote.Config{BaseURL: fs.URL, Timeout: 150 * time.Millisecond})
		start := time.Now()
		_, err := c.Transcribe(context.Background(), tone(0.5))
		if !errors.Is(err, proto.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Transcribe = %v, want ErrUnavailable and DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "150ms") || !strings.Contains(err.Error(), fs.URL) {
			t.Errorf("error should give the timeout and the server: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Transcribe took %v with a 150 ms timeout", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		fs := newFakeServer(t, slow)
		c := newClient(t, remote.Config{BaseURL: fs.URL})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Transcribe(ctx, tone(0.5))
		if !errors.Is(err, context.Canceled) || errors.Is(err, proto.ErrUnavailable) {
			t.Fatalf("Transcribe = %v, want context.Canceled only", err)
		}
	})
}

func TestKeyNeverShown(t *testing.T) {
	cfg := remote.Config{BaseURL: "http://user:hunter22@192.168.1.20:8000", APIKey: testKey, Model: "m"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("stt", "config", cfg)
	shown := map[string]string{
		"String": cfg.String(),
		"%v":     fmt.Sprintf("%v", cfg),
		"%+v":    fmt.Sprintf("%+v", cfg),
		"%#v":    fmt.Sprintf("%#v", cfg),
		"slog":   logged.String(),
	}
	c := newClient(t, cfg)
	shown["Client"] = c.String()
	data, _ := json.Marshal(cfg)
	shown["json"] = string(data)
	for how, s := range shown {
		if strings.Contains(s, testKey) {
			t.Errorf("%s shows the API key: %s", how, s)
		}
		if how != "json" && strings.Contains(s, "hunter22") {
			t.Errorf("%s shows the URL's password: %s", how, s)
		}
	}
	if !strings.Contains(cfg.String(), "api_key=****") || !strings.Contains(logged.String(), `"api_key":"****"`) {
		t.Errorf("masked key not shown as set: %s / %s", cfg.String(), logged.String())
	}

	// A server that echoes the key in its error message.
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s"}}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	})
	c = newClient(t, remote.Config{BaseURL: fs.URL, APIKey: testKey})
	_, err := c.Transcribe(context.Background(), tone(0.5))
	if !errors.Is(err, remote.ErrRejected) {
		t.Fatalf("Transcribe = %v, want ErrRejected", err)
	}
	if strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "Incorrect API key provided: ****") {
		t.Errorf("error does not mask the key: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  remote.Config
	}{
		{"no base URL", remote.Config{}},
		{"blank base URL", remote.Config{BaseURL: "  "}},
		{"scheme", remote.Config{BaseURL: "ftp://host"}},
		{"no host", remote.Config{BaseURL: "http://"}},
		{"query", remote.Config{BaseURL: "http://host/?a=b"}},
		{"negative timeout", remote.Config{BaseURL: "http://host", Timeout: -time.Second}},
		{"negative limit", remote.Config{BaseURL: "http://host", MaxResponseBytes: -1}},
		{"key with newline", remote.Config{BaseURL: "http://host", APIKey: "a\nb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := remote.New(tc.cfg); !errors.Is(err, remote.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got := remote.Config{BaseURL: " http://h ", Language: " Auto "}.WithDefaults()
	want := remote.Config{
		BaseURL:          "http://h",
		Model:            remote.DefaultModel,
		Timeout:          remote.DefaultTimeout,
		MaxResponseBytes: remote.DefaultMaxResponseBytes,
	}
	if got != want {
		t.Errorf("WithDefaults = %#v, want %#v", got, want)
	}
}
