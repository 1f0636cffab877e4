package edgetest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// gwOptions change how the scripted gateway behaves.
type gwOptions struct {
	alert         bool // end every turn with an alert
	wakeIsRequest bool // take the browser's wake phrase as a request (a bug)
	closeInTurn   bool // drop the connection instead of answering
	silent        bool // never answer a turn
}

// gwStats is what the scripted gateway saw.
type gwStats struct {
	wakes   atomic.Int32 // wake-phrase detects
	samples atomic.Int64 // audio samples of the last utterance
}

// gateway is a scripted gateway session, enough to run turns of every
// dialect: it end-points auto-mode audio with the stt end-pointer, and
// delivers the fake server's sticker over MCP.
func gateway(opt gwOptions, stats *gwStats) func(*serverConn) {
	return func(c *serverConn) {
		hello := c.hello()
		if hello == nil {
			return
		}
		ap, _ := hello["audio_params"].(map[string]any)
		stikadoo := ap != nil && ap["format"] == "pcm"
		version := 1
		if v, ok := hello["version"].(float64); ok && ap != nil && ap["format"] == "opus" {
			version = int(v)
		}
		dec, err := stt.NewOpusDecoder()
		if err != nil {
			c.t.Error(err)
			return
		}
		ep := stt.NewEndpointer(stt.EndpointConfig{})
		listening, mode := false, ""
		var samples int64
		turn := func(text string) bool {
			listening = false
			stats.samples.Store(samples)
			if opt.closeInTurn {
				c.conn.Close()
				return false
			}
			if opt.silent {
				return true
			}
			end := func() {
				if stikadoo {
					c.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
				} else {
					c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
				}
			}
			if !stikadoo {
				c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart})
			}
			if opt.alert {
				c.send(proto.Alert{Type: proto.TypeAlert, Status: "Can't draw yet", Message: "Sticker drawing isn't set up.", Emotion: "sad"})
				end()
				return true
			}
			c.send(proto.STT{Type: proto.TypeSTT, Text: text})
			if stikadoo {
				c.send(proto.Thinking{Type: proto.TypeThinking, Status: "start"})
			} else {
				c.send(proto.LLM{Type: proto.TypeLLM, Emotion: "thinking", Text: "🤔"})
				c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Drawing your sticker…"})
			}
			r, ok := c.call(proto.MethodToolsCall, map[string]any{"name": proto.ToolPreviewImage, "arguments": map[string]any{"url": c.imgURL("sticker.png")}})
			if !ok || r.Error != nil {
				c.send(proto.Alert{Type: proto.TypeAlert, Status: "Printer trouble", Message: "The sticker couldn't be shown.", Emotion: "sad"})
				end()
				return ok
			}
			if stikadoo {
				c.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
				c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart})
			} else {
				c.send(proto.LLM{Type: proto.TypeLLM, Emotion: "happy", Text: "🙂"})
			}
			c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Here is your sticker!"})
			c.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
			return true
		}
		for {
			f, ok := c.next(10 * time.Second)
			if !ok {
				return
			}
			switch {
			case f.mt == websocket.TextMessage && proto.IsJSONObject(f.data):
				m, err := proto.DecodeMessage(f.data)
				if err != nil || m.Type != proto.TypeListen {
					continue
				}
				switch m.State {
				case proto.ListenStart:
					listening, mode, samples = true, m.Mode, 0
					ep.Reset()
				case proto.ListenStop:
					if listening && mode == proto.ModeManual && !turn(fmt.Sprintf("heard %d samples", samples)) {
						return
					}
				case proto.ListenDetect:
					if m.Text == edgetest.BrowserWakePhrase && !opt.wakeIsRequest {
						stats.wakes.Add(1)
						continue
					}
					if !turn(m.Text) {
						return
					}
				}
			case f.mt == websocket.TextMessage:
				pcm, err := proto.DecodePCMText(nil, f.data)
				if err != nil {
					c.t.Errorf("PCM frame: %v", err)
					return
				}
				if listening {
					samples += int64(len(pcm))
				}
			case f.mt == websocket.BinaryMessage:
				bf, err := proto.DecodeBinary(version, f.data)
				if err != nil {
					c.t.Errorf("binary frame: %v", err)
					return
				}
				if !listening {
					continue
				}
				if len(bf.Payload) == 0 {
					if !turn(fmt.Sprintf("heard %d samples", samples)) {
						return
					}
					continue
				}
				pcm, err := dec.Decode(nil, bf.Payload)
				if err != nil {
					c.t.Errorf("Opus packet: %v", err)
					return
				}
				samples += int64(len(pcm))
				if ep.Feed(pcm) == stt.EventSpeechEnd && !turn(fmt.Sprintf("heard %d samples", samples)) {
					return
				}
			}
		}
	}
}

func newGateway(t *testing.T, opt gwOptions) (*fakeServer, *gwStats) {
	stats := &gwStats{}
	fs := newFakeServer(t, func(fs *fakeServer) {
		fs.images["sticker.png"] = imgSpec{body: edgetest.StickerPNG("a red balloon")}
		fs.script = gateway(opt, stats)
	})
	return fs, stats
}

func TestRunTurn(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			fs, stats := newGateway(t, gwOptions{})
			d := newDevice(t, fs, dialect)
			connect(t, d)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			res, err := d.RunTurn(ctx, edgetest.Speech(2*time.Second))
			if err != nil {
				t.Fatalf("RunTurn: %v\n%+v", err, d.Timeline())
			}
			if !strings.HasPrefix(res.STT, "heard ") || !res.ImageDelivered || len(res.Alerts) != 0 || res.ImageError != "" {
				t.Errorf("result %+v", res)
			}
			if dialect == proto.DialectStikadoo && stats.samples.Load() != 34*960 {
				t.Errorf("gateway heard %d samples, want all 34 frames", stats.samples.Load())
			}
			if img, err := png.Decode(bytes.NewReader(res.Image)); err != nil || img.Bounds().Dx() != edgetest.StickerWidth ||
				res.ImageWidth != edgetest.StickerWidth || res.ImageBytes != len(res.Image) || !strings.HasSuffix(res.ImageURL, "/img/sticker.png") {
				t.Errorf("image %d bytes %dx%d from %q: %v", len(res.Image), res.ImageWidth, res.ImageHeight, res.ImageURL, err)
			}
			if !slices.Contains(res.TTS, "Here is your sticker!") || res.Dialect != dialect || res.SessionID != "sess-1" {
				t.Errorf("tts %q dialect %q session %q", res.TTS, res.Dialect, res.SessionID)
			}
			names := steps(res.Timeline)
			want := []string{"ota", "connect", "hello", "listen-start", "audio", "listen-stop", "stt", "thinking", "preview", "image", "thinking", "tts-stop"}
			switch dialect {
			case proto.DialectBrowser:
				want = []string{"ota", "connect", "hello", "detect", "listen-start", "audio", "tts-start", "stt", "preview", "image", "tts-stop"}
			case proto.DialectOpusV1, proto.DialectOpusV2, proto.DialectOpusV3:
				want = []string{"ota", "connect", "hello", "listen-start", "audio", "tts-start", "stt", "preview", "image", "tts-stop"}
			}
			if !inOrder(names, want...) {
				t.Errorf("timeline %v, want %v in order", names, want)
			}
			for i := 1; i < len(res.Timeline); i++ {
				if res.Timeline[i].At < res.Timeline[i-1].At {
					t.Errorf("timeline goes back in time at %d: %+v", i, res.Timeline)
				}
			}

			res, err = d.RunTypedTurn(ctx, "a red balloon")
			if err != nil {
				t.Fatalf("RunTypedTurn: %v", err)
			}
			if res.STT != "a red balloon" || !res.ImageDelivered {
				t.Errorf("typed result %+v", res)
			}
			names = steps(res.Timeline)
			if slices.Contains(names, "ota") || !inOrder(names, "detect", "stt", "image") {
				t.Errorf("second turn's timeline %v", names)
			}
			if dialect == proto.DialectBrowser && stats.wakes.Load() != 1 {
				t.Errorf("browser sent the wake phrase %d times on one connection, want once", stats.wakes.Load())
			}
		})
	}
}

func TestRunTurnAlert(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			fs, _ := newGateway(t, gwOptions{alert: true})
			d := newDevice(t, fs, dialect)
			connect(t, d)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := d.RunTurn(ctx, edgetest.Speech(time.Second))
			if err != nil {
				t.Fatalf("an honest alert is not an error: %v", err)
			}
			if len(res.Alerts) != 1 || res.Alerts[0].Message != "Sticker drawing isn't set up." || res.ImageDelivered || res.ImageURL != "" {
				t.Errorf("result %+v", res)
			}
			// The session still works.
			if res, err = d.RunTypedTurn(ctx, "a dog"); err != nil || len(res.Alerts) != 1 {
				t.Errorf("second turn %+v, %v", res, err)
			}
		})
	}
}

func TestRunTurnRefusedImage(t *testing.T) {
	fs, _ := newGateway(t, gwOptions{})
	d := newDevice(t, fs, proto.DialectStikadoo)
	d.RefuseImage = true
	connect(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := d.RunTypedTurn(ctx, "a cat")
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageDelivered || res.ImageError == "" || len(res.Alerts) != 1 || fs.imageHits() != 0 {
		t.Errorf("result %+v, %d GETs", res, fs.imageHits())
	}
}

func TestRunTurnBroken(t *testing.T) {
	tests := []struct {
		name    string
		dialect string
		opt     gwOptions
		want    error
	}{
		{"wake phrase starts a turn", proto.DialectBrowser, gwOptions{wakeIsRequest: true}, edgetest.ErrProtocol},
		{"connection dropped", proto.DialectStikadoo, gwOptions{closeInTurn: true}, edgetest.ErrClosed},
		{"connection dropped", proto.DialectOpusV2, gwOptions{closeInTurn: true}, edgetest.ErrClosed},
		{"no answer", proto.DialectOpusV1, gwOptions{silent: true}, context.DeadlineExceeded},
		{"no answer", proto.DialectStikadoo, gwOptions{silent: true}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.dialect, func(t *testing.T) {
			t.Parallel()
			fs, _ := newGateway(t, tt.opt)
			d := newDevice(t, fs, tt.dialect)
			connect(t, d)
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			defer cancel()
			res, err := d.RunTurn(ctx, edgetest.Speech(time.Second))
			if !errors.Is(err, tt.want) {
				t.Fatalf("RunTurn = %v, want %v", err, tt.want)
			}
			if res == nil || len(res.Timeline) == 0 {
				t.Errorf("a failed turn still returns its timeline: %+v", res)
			}
		})
	}
}

func TestRunTurnNotConnected(t *testing.T) {
	d := &edgetest.Device{}
	if _, err := d.RunTurn(context.Background(), nil); !errors.Is(err, edgetest.ErrNotConnected) {
		t.Errorf("RunTurn = %v, want ErrNotConnected", err)
	}
}

func TestRealtimePacing(t *testing.T) {
	fs, _ := newGateway(t, gwOptions{})
	d := newDevice(t, fs, proto.DialectStikadoo)
	d.Realtime = true
	connect(t, d)
	start := time.Now()
	if err := d.SendAudio(context.Background(), edgetest.Speech(600*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 500*time.Millisecond || el > 3*time.Second {
		t.Errorf("10 frames in real time took %s, want about 540 ms", el)
	}
}
