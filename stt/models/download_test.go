package models_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/stt/models"
)

// fakeModel is a small stand-in for a model file and its catalogue entry.
func fakeModel(t *testing.T, size int) ([]byte, models.Model) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	sum := sha256.Sum256(data)
	return data, models.Model{
		Name:   "fake.en",
		File:   "ggml-fake.en.bin",
		Size:   int64(size),
		SHA256: hex.EncodeToString(sum[:]),
	}
}

// Behaviours of the model server, one per request.
const (
	serveOK          = "ok"           // honour Range
	serveCut         = "cut"          // send half of what is asked, then drop the connection
	serveIgnoreRange = "ignore-range" // always 200 with the whole file
	serveStall       = "stall"        // send half, then nothing until the client gives up
	serveStallFirst  = "stall-first"  // send nothing, not even headers
	serve503         = "503"
	serve404         = "404"
	serveChunkedMore = "chunked-more" // the whole file and more, with no Content-Length
	serveTrickle     = "trickle"      // the file in ten pieces, 60 ms apart
)

// modelServer serves one file, like Hugging Face's resolve URLs, and
// behaves as plan says for the first requests ("ok" after that).
type modelServer struct {
	*httptest.Server
	data []byte
	path string

	mu       sync.Mutex
	plan     []string
	requests []string // Range header of each request ("" for none)
}

func newModelServer(t *testing.T, data []byte, file string, plan ...string) *modelServer {
	t.Helper()
	ms := &modelServer{data: data, path: "/" + file, plan: plan}
	ms.Server = httptest.NewServer(http.HandlerFunc(ms.handle))
	t.Cleanup(ms.Close)
	return ms
}

func (ms *modelServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ms.path {
		http.NotFound(w, r)
		return
	}
	ms.mu.Lock()
	mode := serveOK
	if n := len(ms.requests); n < len(ms.plan) {
		mode = ms.plan[n]
	}
	ms.requests = append(ms.requests, r.Header.Get("Range"))
	ms.mu.Unlock()

	switch mode {
	case serve503:
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	case serve404:
		http.NotFound(w, r)
		return
	case serveStallFirst:
		<-r.Context().Done()
		return
	case serveChunkedMore:
		w.Write(ms.data)
		w.(http.Flusher).Flush()
		w.Write([]byte("and some more bytes"))
		return
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && mode != serveIgnoreRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		if n >= len(ms.data) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(ms.data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
	}
	body := ms.data[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if start > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(ms.data)-1, len(ms.data)))
		w.WriteHeader(http.StatusPartialContent)
	}
	switch mode {
	case serveTrickle:
		step := max(1, len(body)/10)
		for i := 0; i < len(body); i += step {
			w.Write(body[i:min(i+step, len(body))])
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
		return
	case serveCut, serveStall:
		w.Write(body[:max(1, len(body)/2)])
		w.(http.Flusher).Flush()
		if mode == serveStall {
			<-r.Context().Done()
		}
		panic(http.ErrAbortHandler) // drops the connection
	}
	w.Write(body)
}

// ranges returns the Range header of each request so far.
func (ms *modelServer) ranges() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string(nil), ms.requests...)
}

// fast is a Downloader with waits short enough for tests.
func fast(base string) models.Downloader {
	return models.Downloader{BaseURL: base, RetryWait: time.Millisecond, StallTimeout: 5 * time.Second}
}

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read downloaded file: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("downloaded file differs from the served one (%d vs %d bytes)", len(got), len(want))
	}
	if _, err := os.Stat(path + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".part file left behind: %v", err)
	}
}

func partSize(t *testing.T, dir string, m models.Model) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, m.File+".part"))
	if err != nil {
		t.Fatalf(".part file: %v", err)
	}
	return fi.Size()
}

func TestDownload(t *testing.T) {
	data, m := fakeModel(t, 300<<10)
	ms := newModelServer(t, data, m.File)
	dir := filepath.Join(t.TempDir(), "models")
	var progress bytes.Buffer
	path, err := fast(ms.URL).Download(context.Background(), m, dir, &progress)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if path != filepath.Join(dir, m.File) {
		t.Errorf("path = %q, want %q", path, filepath.Join(dir, m.File))
	}
	checkFile(t, path, data)
	if got := ms.ranges(); len(got) != 1 || got[0] != "" {
		t.Errorf("requests (Range headers) = %q, want one without Range", got)
	}
	out := progress.String()
	for _, s := range []string{m.File, "300.0 KiB / 300.0 KiB", "100.0%", "SHA-256 verified"} {
		if !strings.Contains(out, s) {
			t.Errorf("progress lacks %q:\n%s", s, out)
		}
	}

	// Again: the verified file is there, so nothing is fetched.
	progress.Reset()
	if _, err := fast(ms.URL).Download(context.Background(), m, dir, &progress); err != nil {
		t.Fatalf("second Download: %v", err)
	}
	if n := len(ms.ranges()); n != 1 {
		t.Errorf("second Download made %d more requests, want none", n-1)
	}
	if !strings.Contains(progress.String(), "already downloaded and verified") {
		t.Errorf("progress = %q", progress.String())
	}
}

func TestDownloadReplacesADamagedFile(t *testing.T) {
	data, m := fakeModel(t, 64<<10)
	ms := newModelServer(t, data, m.File)
	dir := t.TempDir()
	final := filepath.Join(dir, m.File)
	bad := bytes.Clone(data)
	bad[100] ^= 1
	if err := os.WriteFile(final, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fast(ms.URL).Download(context.Background(), m, dir, nil); err != nil {
		t.Fatalf("Download: %v", err)
	}
	checkFile(t, final, data)
}

func TestDownloadResumesAfterACut(t *testing.T) {
	data, m := fakeModel(t, 300<<10)
	ms := newModelServer(t, data, m.File, serveCut)
	dir := t.TempDir()
	var progress bytes.Buffer
	path, err := fast(ms.URL).Download(context.Background(), m, dir, &progress)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	checkFile(t, path, data)
	want := []string{"", fmt.Sprintf("bytes=%d-", len(data)/2)}
	if got := ms.ranges(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Range headers = %q, want %q", got, want)
	}
	if !strings.Contains(progress.String(), "retrying") {
		t.Errorf("progress does not mention the retry:\n%s", progress.String())
	}
}

func TestDownloadResumesAcrossRuns(t *testing.T) {
	data, m := fakeModel(t, 300<<10)
	ms := newModelServer(t, data, m.File, serveCut)
	dir := t.TempDir()
	d := fast(ms.URL)
	d.Retries = -1
	_, err := d.Download(context.Background(), m, dir, nil)
	if !errors.Is(err, models.ErrDownload) {
		t.Fatalf("first Download = %v, want ErrDownload", err)
	}
	if !strings.Contains(err.Error(), "is kept") {
		t.Errorf("error should say the partial file is kept: %v", err)
	}
	if n := partSize(t, dir, m); n != int64(len(data)/2) {
		t.Fatalf(".part holds %d bytes, want %d", n, len(data)/2)
	}
	if _, err := os.Stat(filepath.Join(dir, m.File)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("final file exists after a failed download: %v", err)
	}
	path, err := d.Download(context.Background(), m, dir, nil)
	if err != nil {
		t.Fatalf("second Download: %v", err)
	}
	checkFile(t, path, data)
	if got := ms.ranges(); len(got) != 2 || got[1] != fmt.Sprintf("bytes=%d-", len(data)/2) {
		t.Errorf("Range headers = %q, want the second to resume at %d", got, len(data)/2)
	}
}

func TestDownloadServerIgnoringRange(t *testing.T) {
	tests := []struct {
		name string
		part func(data []byte) []byte // what is in the .part file before
	}{
		{"good part", func(data []byte) []byte { return data[:len(data)/3] }},
		{"damaged part", func(data []byte) []byte { return bytes.Repeat([]byte{0xAA}, len(data)/3) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, m := fakeModel(t, 200<<10)
			ms := newModelServer(t, data, m.File, serveIgnoreRange)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, m.File+".part"), tc.part(data), 0o644); err != nil {
				t.Fatal(err)
			}
			var progress bytes.Buffer
			path, err := fast(ms.URL).Download(context.Background(), m, dir, &progress)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			checkFile(t, path, data)
			if got := ms.ranges(); len(got) != 1 || got[0] != fmt.Sprintf("bytes=%d-", len(data)/3) {
				t.Errorf("Range headers = %q, want one resuming at %d", got, len(data)/3)
			}
			out := progress.String()
			if !strings.Contains(out, "resuming") || !strings.Contains(out, "ignores range requests") {
				t.Errorf("progress should tell of the resume and the restart:\n%s", out)
			}
		})
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	t.Run("wrong file", func(t *testing.T) {
		data, m := fakeModel(t, 100<<10)
		_, other := fakeModel(t, 100<<10+1)
		m.SHA256 = other.SHA256
		ms := newModelServer(t, data, m.File)
		dir := t.TempDir()
		_, err := fast(ms.URL).Download(context.Background(), m, dir, nil)
		if !errors.Is(err, models.ErrChecksum) {
			t.Fatalf("Download = %v, want ErrChecksum", err)
		}
		if !strings.Contains(err.Error(), other.SHA256) || !strings.Contains(err.Error(), "deleted") {
			t.Errorf("error should give the expected sum and say the file was deleted: %v", err)
		}
		assertEmpty(t, dir)
	})
	t.Run("damaged part resumed", func(t *testing.T) {
		data, m := fakeModel(t, 100<<10)
		ms := newModelServer(t, data, m.File)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, m.File+".part"), make([]byte, 10<<10), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := fast(ms.URL).Download(context.Background(), m, dir, nil)
		if !errors.Is(err, models.ErrChecksum) {
			t.Fatalf("Download = %v, want ErrChecksum", err)
		}
		assertEmpty(t, dir)
		// The next download starts from scratch and succeeds.
		path, err := fast(ms.URL).Download(context.Background(), m, dir, nil)
		if err != nil {
			t.Fatalf("Download after the mismatch: %v", err)
		}
		checkFile(t, path, data)
	})
}

// assertEmpty fails if dir holds any file.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s left in %s", e.Name(), dir)
	}
}

func TestDownloadStall(t *testing.T) {
	for _, mode := range []string{serveStall, serveStallFirst} {
		t.Run(mode, func(t *testing.T) {
			data, m := fakeModel(t, 300<<10)
			ms := newModelServer(t, data, m.File, mode)
			dir := t.TempDir()
			d := fast(ms.URL)
			d.StallTimeout = 200 * time.Millisecond
			d.Retries = -1
			start := time.Now()
			_, err := d.Download(context.Background(), m, dir, nil)
			if !errors.Is(err, models.ErrStalled) {
				t.Fatalf("Download = %v, want ErrStalled", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("a 200 ms stall timeout took %v to fire", el)
			}
			if !strings.Contains(err.Error(), "200ms") {
				t.Errorf("error should give the stall timeout: %v", err)
			}
			want := int64(len(data) / 2)
			if mode == serveStallFirst {
				want = 0
			}
			if n := partSize(t, dir, m); n != want {
				t.Errorf(".part holds %d bytes, want %d", n, want)
			}
		})
	}
	t.Run("retried", func(t *testing.T) {
		data, m := fakeModel(t, 300<<10)
		ms := newModelServer(t, data, m.File, serveStallFirst, serveStall)
		d := fast(ms.URL)
		d.StallTimeout = 200 * time.Millisecond
		path, err := d.Download(context.Background(), m, t.TempDir(), nil)
		if err != nil {
			t.Fatalf("Download: %v", err)
		}
		checkFile(t, path, data)
		if n := len(ms.ranges()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
}

// A slow but steady server is no stall: the stall timeout counts from the
// last bytes received, and there is no overall time limit.
func TestDownloadSlowIsNotAStall(t *testing.T) {
	data, m := fakeModel(t, 100<<10)
	ms := newModelServer(t, data, m.File, serveTrickle)
	d := fast(ms.URL)
	d.StallTimeout = 200 * time.Millisecond
	d.Retries = -1
	var progress bytes.Buffer
	d.ProgressInterval = 100 * time.Millisecond
	path, err := d.Download(context.Background(), m, t.TempDir(), &progress)
	if err != nil {
		t.Fatalf("Download from a slow server: %v", err)
	}
	checkFile(t, path, data)
	if n := strings.Count(progress.String(), "\r"); n < 3 {
		t.Errorf("progress redrawn %d times over ~600 ms at a 100 ms interval, want several:\n%q", n, progress.String())
	}
	if strings.Count(progress.String(), "\r") > 12 {
		t.Errorf("progress redrawn more often than the interval allows:\n%q", progress.String())
	}
	if !strings.Contains(progress.String(), "/s") {
		t.Errorf("progress shows no rate:\n%q", progress.String())
	}
}

func TestDownloadHTTPErrors(t *testing.T) {
	tests := []struct {
		name     string
		plan     []string
		retries  int
		wantErr  error
		requests int
	}{
		{"404 is final", []string{serve404}, 5, models.ErrDownload, 1},
		{"503 is retried", []string{serve503, serve503}, 5, nil, 3},
		{"503 beyond the retries", []string{serve503, serve503, serve503}, 2, models.ErrDownload, 3},
		{"too long", []string{serveChunkedMore}, 5, models.ErrSize, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, m := fakeModel(t, 50<<10)
			ms := newModelServer(t, data, m.File, tc.plan...)
			dir := t.TempDir()
			d := fast(ms.URL)
			d.Retries = tc.retries
			path, err := d.Download(context.Background(), m, dir, nil)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Download = %v, want %v", err, tc.wantErr)
			}
			if n := len(ms.ranges()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if err == nil {
				checkFile(t, path, data)
			} else if !strings.Contains(err.Error(), ms.URL) {
				t.Errorf("error does not name the URL: %v", err)
			}
		})
	}
}

func TestDownloadSizeMismatch(t *testing.T) {
	data, m := fakeModel(t, 50<<10)
	m.Size++ // the catalogue expects one byte more than the server has
	ms := newModelServer(t, data, m.File)
	dir := t.TempDir()
	_, err := fast(ms.URL).Download(context.Background(), m, dir, nil)
	if !errors.Is(err, models.ErrSize) {
		t.Fatalf("Download = %v, want ErrSize", err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(len(data))) {
		t.Errorf("error should give the server's size: %v", err)
	}
	assertEmpty(t, dir)
}

func TestDownloadCancel(t *testing.T) {
	data, m := fakeModel(t, 300<<10)
	ms := newModelServer(t, data, m.File, serveStall)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := fast(ms.URL).Download(ctx, m, dir, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Download = %v, want context.Canceled", err)
	}
	if n := partSize(t, dir, m); n != int64(len(data)/2) {
		t.Errorf(".part holds %d bytes after a cancel, want %d kept", n, len(data)/2)
	}
}

func TestDownloadRejectsBadEntries(t *testing.T) {
	_, good := fakeModel(t, 1000)
	tests := []struct {
		name   string
		change func(m *models.Model)
	}{
		{"path in file", func(m *models.Model) { m.File = "../ggml-evil.bin" }},
		{"not ggml", func(m *models.Model) { m.File = "model.bin" }},
		{"dot dot", func(m *models.Model) { m.File = "ggml-..bin" }},
		{"short sum", func(m *models.Model) { m.SHA256 = "abc" }},
		{"zero size", func(m *models.Model) { m.Size = 0 }},
	}
	ms := newModelServer(t, nil, "none")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := good
			tc.change(&m)
			if _, err := fast(ms.URL).Download(context.Background(), m, t.TempDir(), nil); !errors.Is(err, models.ErrInvalid) {
				t.Fatalf("Download = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := fast("ftp://host").Download(context.Background(), good, t.TempDir(), nil); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("Download from an ftp URL = %v, want ErrInvalid", err)
	}
	if n := len(ms.ranges()); n != 0 {
		t.Errorf("%d requests for invalid entries", n)
	}
}

func TestDownloadFunction(t *testing.T) {
	data, m := fakeModel(t, 20<<10)
	ms := newModelServer(t, data, "mirror/"+m.File)
	path, err := models.Download(context.Background(), m, ms.URL+"/mirror/", t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	checkFile(t, path, data)
}

func TestDownloadHomeAndMirror(t *testing.T) {
	data, m := fakeModel(t, 64<<10)
	home := newModelServer(t, data, m.File)
	mirror := newModelServer(t, data, m.File)
	m.Home = home.URL

	// No mirror configured: the model's own home.
	d := fast("")
	if _, err := d.Download(context.Background(), m, filepath.Join(t.TempDir(), "a"), io.Discard); err != nil {
		t.Fatalf("Download from home: %v", err)
	}
	if len(home.ranges()) != 1 || len(mirror.ranges()) != 0 {
		t.Errorf("requests: home %d, mirror %d; want 1 and 0", len(home.ranges()), len(mirror.ranges()))
	}
	// A mirror serves every file, the home's too.
	if _, err := fast(mirror.URL).Download(context.Background(), m, filepath.Join(t.TempDir(), "b"), io.Discard); err != nil {
		t.Fatalf("Download from mirror: %v", err)
	}
	if len(home.ranges()) != 1 || len(mirror.ranges()) != 1 {
		t.Errorf("requests: home %d, mirror %d; want 1 and 1", len(home.ranges()), len(mirror.ranges()))
	}
}
