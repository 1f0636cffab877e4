package edgetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// connect boots d, connects and says hello.
func connect(t *testing.T, d *edgetest.Device) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Hello(ctx); err != nil {
		t.Fatal(err)
	}
}

func rms(s []float32) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(1, len(s))))
}

// TestDialectFrames checks every frame each dialect sends decodes back
// with edge/proto as the gateway decodes it.
func TestDialectFrames(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			got := make(chan []frame, 1)
			fs := newFakeServer(t, func(fs *fakeServer) {
				fs.version = map[string]int{proto.DialectOpusV2: 2, proto.DialectOpusV3: 3}[dialect]
				fs.script = func(c *serverConn) {
					hello, _ := json.Marshal(c.hello())
					frames := []frame{{websocket.TextMessage, hello}}
					for {
						f, ok := c.next(5 * time.Second)
						if !ok {
							break
						}
						frames = append(frames, f)
					}
					got <- frames
				}
			})
			d := newDevice(t, fs, dialect)
			connect(t, d)
			ctx := context.Background()
			speech := edgetest.Speech(600 * time.Millisecond) // 10 frames
			steps := []func() error{
				func() error { return d.ListenStart(proto.ModeAuto) },
				func() error { return d.SendAudio(ctx, speech) },
				func() error { return d.ListenStop() },
				func() error { return d.Detect("a red balloon") },
				func() error { return d.Abort("wake_word_detected") },
				func() error { return d.Goodbye() },
			}
			if dialect != proto.DialectStikadoo { // the printer never sends binary frames
				steps = append(steps, d.EndUtterance)
			}
			for i, f := range steps {
				if err := f(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			d.Close()
			frames := <-got

			// The hello, exactly as PROTOCOL.md section 3 has it.
			hello, err := proto.DecodeMessage(frames[0].data)
			if err != nil {
				t.Fatal(err)
			}
			switch dialect {
			case proto.DialectStikadoo:
				if hello.Transport != "websocket" || hello.AudioParams == nil || hello.AudioParams.Format != "pcm" ||
					hello.AudioParams.Encoding != "base64" || hello.AudioParams.SampleWidth != 2 || hello.Features["mcp"] != false {
					t.Errorf("hello %s", frames[0].data)
				}
			case proto.DialectBrowser:
				if hello.Transport != "" || hello.AudioParams != nil || hello.Version != 0 || hello.DeviceMAC != d.ID || hello.DeviceID != d.ID || hello.Features["mcp"] != true {
					t.Errorf("hello %s", frames[0].data)
				}
			default:
				want := map[string]int{proto.DialectOpusV1: 1, proto.DialectOpusV2: 2, proto.DialectOpusV3: 3}[dialect]
				if hello.Version != want || hello.Transport != "websocket" || hello.AudioParams == nil || hello.AudioParams.Format != "opus" ||
					hello.AudioParams.FrameDuration != 60 || hello.Features["mcp"] != true {
					t.Errorf("hello %s", frames[0].data)
				}
			}

			var msgs []proto.Message
			var audio []float32
			var packets, zeroLength int
			var timestamps []uint32
			dec, err := stt.NewOpusDecoder()
			if err != nil {
				t.Fatal(err)
			}
			version := map[string]int{proto.DialectOpusV2: 2, proto.DialectOpusV3: 3}[dialect]
			for _, f := range frames[1:] {
				switch f.mt {
				case websocket.TextMessage:
					kind, err := proto.ClassifyText(f.data)
					if err != nil {
						t.Fatal(err)
					}
					if kind == proto.TextJSON {
						m, err := proto.DecodeMessage(f.data)
						if err != nil {
							t.Fatalf("%s: %v", f.data, err)
						}
						if m.Type == proto.TypeMCP {
							continue
						}
						if m.SessionID != "sess-1" {
							t.Errorf("message %s lacks the session id", f.data)
						}
						msgs = append(msgs, m)
						continue
					}
					if dialect != proto.DialectStikadoo {
						t.Fatalf("%s sent a PCM text frame", dialect)
					}
					if len(f.data) != 2560 {
						t.Errorf("PCM frame of %d base64 characters, want 2560", len(f.data))
					}
					pcm, err := proto.DecodePCMText(nil, f.data)
					if err != nil || len(pcm) != stt.FrameSamples {
						t.Fatalf("PCM frame: %d samples, %v", len(pcm), err)
					}
					audio = stt.AppendPCM16(audio, pcm)
					packets++
				case websocket.BinaryMessage:
					if dialect == proto.DialectStikadoo {
						t.Fatalf("the Stikadoo printer sent a binary frame")
					}
					bf, err := proto.DecodeBinary(version, f.data)
					if err != nil {
						t.Fatal(err)
					}
					if bf.Type != proto.FrameOpus {
						t.Fatalf("frame type %d", bf.Type)
					}
					if len(bf.Payload) == 0 {
						zeroLength++
						continue
					}
					if dialect == proto.DialectBrowser && (len(f.data) < 1900 || len(f.data) > 2300) {
						t.Errorf("browser packet of %d bytes, want about 2 KB", len(f.data))
					}
					if version == 2 {
						timestamps = append(timestamps, bf.TimestampMs)
					}
					n := len(audio)
					if audio, err = dec.Decode(audio, bf.Payload); err != nil {
						t.Fatal(err)
					}
					if len(audio)-n != stt.FrameSamples {
						t.Errorf("packet decoded to %d samples, want 960", len(audio)-n)
					}
					packets++
				}
			}
			if packets != 10 {
				t.Errorf("%d audio frames, want 10", packets)
			}
			if wantZero := map[bool]int{true: 0, false: 1}[dialect == proto.DialectStikadoo]; zeroLength != wantZero {
				t.Errorf("%d zero-length frames, want %d", zeroLength, wantZero)
			}
			if r := rms(audio); r < 0.5*rms(speech) || r > 1.5*rms(speech) {
				t.Errorf("decoded audio RMS %.3f, sent %.3f", r, rms(speech))
			}
			for i, ts := range timestamps {
				if ts != uint32(60*i) {
					t.Errorf("v2 timestamps %v, want steps of 60 ms", timestamps)
					break
				}
			}
			want := []proto.Message{
				{Type: "listen", State: "start", Mode: "auto"},
				{Type: "listen", State: "stop"},
				{Type: "listen", State: "detect", Text: "a red balloon"},
				{Type: "abort", Reason: "wake_word_detected"},
				{Type: "goodbye"},
			}
			if len(msgs) != len(want) {
				t.Fatalf("messages %+v", msgs)
			}
			for i, w := range want {
				m := msgs[i]
				if m.Type != w.Type || m.State != w.State || m.Mode != w.Mode || m.Text != w.Text || m.Reason != w.Reason {
					t.Errorf("message %d: %+v, want %+v", i, m, w)
				}
			}
		})
	}
}

func TestHelloChecks(t *testing.T) {
	tests := []struct {
		name    string
		dialect string
		answer  string // "" sends nothing
		wantErr error
	}{
		{"good", proto.DialectStikadoo, `{"type":"hello","transport":"websocket","session_id":"s1","audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":60}}`, nil},
		{"no transport", proto.DialectOpusV1, `{"type":"hello","session_id":"s1"}`, edgetest.ErrHello},
		{"no session id", proto.DialectBrowser, `{"type":"hello","transport":"websocket"}`, edgetest.ErrHello},
		{"other transport", proto.DialectOpusV2, `{"type":"hello","transport":"udp","session_id":"s1"}`, edgetest.ErrHello},
		{"no hello", proto.DialectOpusV1, "", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t, func(fs *fakeServer) {
				fs.script = func(c *serverConn) {
					c.nextJSON(5 * time.Second)
					if tt.answer != "" {
						c.sendText(`{"type":"keepalive"}`) // ignored before the hello
						c.sendText(tt.answer)
					}
					c.next(2 * time.Second)
				}
			})
			d := newDevice(t, fs, tt.dialect)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if _, err := d.Boot(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			h, err := d.Hello(ctx)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Hello = %+v, %v; want %v", h, err, tt.wantErr)
			}
			if err == nil && (h.SessionID != "s1" || d.SessionID() != "s1") {
				t.Errorf("session id %q / %q", h.SessionID, d.SessionID())
			}
		})
	}
}

// TestCloseInfo checks the device reports the server's close frame.
func TestCloseInfo(t *testing.T) {
	fs := newFakeServer(t, func(fs *fakeServer) {
		fs.script = func(c *serverConn) {
			c.hello()
			c.sendText(`{"type":"stt","text":"before close"}`)
			c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(proto.ClosePolicy, "bad frame"), time.Now().Add(time.Second))
			c.next(time.Second)
		}
	})
	d := newDevice(t, fs, proto.DialectOpusV1)
	connect(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := d.WaitFor(ctx, func(e edgetest.Event) bool { return e.Type == proto.TypeSTT })
	if err != nil || ev.Text != "before close" {
		t.Fatalf("WaitFor = %+v, %v", ev, err)
	}
	if _, err := d.WaitFor(ctx, func(edgetest.Event) bool { return false }); !errors.Is(err, edgetest.ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
	code, text, ok := d.CloseInfo()
	if !ok || code != proto.ClosePolicy || text != "bad frame" {
		t.Errorf("CloseInfo = %d %q %v", code, text, ok)
	}
	if _, err := d.Next(ctx); !errors.Is(err, edgetest.ErrClosed) {
		t.Errorf("Next after the end = %v", err)
	}
}

// TestCloseDropsTCP checks Close sends no close frame, as firmware does.
func TestCloseDropsTCP(t *testing.T) {
	readErr := make(chan error, 1)
	fs := newFakeServer(t, func(fs *fakeServer) {
		fs.script = func(c *serverConn) {
			c.hello()
			for {
				if _, ok := c.next(5 * time.Second); !ok {
					break
				}
			}
			readErr <- <-c.readErr
		}
	})
	d := newDevice(t, fs, proto.DialectStikadoo)
	connect(t, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	err := <-readErr
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
		t.Fatalf("server read error %v, want an abnormal closure (no close frame)", err)
	}
	if _, _, ok := d.CloseInfo(); ok {
		t.Errorf("CloseInfo reports a close frame after an abrupt drop")
	}
	if err := d.ListenStop(); !errors.Is(err, edgetest.ErrNotConnected) {
		t.Errorf("send after Close = %v", err)
	}
	tl := d.Timeline()
	if s := tl[len(tl)-2]; s.Name != "close" || !strings.Contains(s.Detail, "dropped") {
		t.Errorf("step %+v, want the drop", s)
	}
	if s := tl[len(tl)-1]; s.Name != "listen-stop" || !strings.Contains(s.Detail, "not sent") {
		t.Errorf("step %+v, want a failed listen stop", s)
	}
}

// TestChannelTimeout checks the device gives up on a server that sends
// only pings, and keeps a channel that gets data frames.
func TestChannelTimeout(t *testing.T) {
	for _, keepalive := range []bool{false, true} {
		name := map[bool]string{false: "pings only", true: "keepalive frames"}[keepalive]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t, func(fs *fakeServer) {
				fs.script = func(c *serverConn) {
					c.hello()
					for range 12 {
						time.Sleep(50 * time.Millisecond)
						if keepalive {
							c.sendText(`{"type":"keepalive"}`)
						} else {
							c.wmu.Lock()
							c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
							c.wmu.Unlock()
						}
					}
				}
			})
			d := newDevice(t, fs, proto.DialectOpusV1)
			d.ChannelTimeout = 250 * time.Millisecond
			connect(t, d)
			select {
			case <-d.Done():
				if keepalive {
					t.Fatalf("channel dropped although data frames came: %+v", d.Timeline())
				}
				tl := d.Timeline()
				if last := tl[len(tl)-1]; !strings.Contains(last.Detail, "channel dead") {
					t.Errorf("last step %+v", last)
				}
			case <-time.After(500 * time.Millisecond):
				if !keepalive {
					t.Fatal("channel kept alive by pings alone")
				}
			}
		})
	}
}

// TestDropWithoutCloseFrame checks a server that drops the TCP connection
// is not reported as having sent a close frame.
func TestDropWithoutCloseFrame(t *testing.T) {
	fs := newFakeServer(t, func(fs *fakeServer) {
		fs.script = func(c *serverConn) {
			c.hello()
			c.conn.NetConn().Close()
		}
	})
	d := newDevice(t, fs, proto.DialectStikadoo)
	connect(t, d)
	select {
	case <-d.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the device did not notice the drop")
	}
	if code, text, ok := d.CloseInfo(); ok {
		t.Errorf("CloseInfo = %d %q, true; want no close frame", code, text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := d.WaitFor(ctx, func(edgetest.Event) bool { return false }); !errors.Is(err, edgetest.ErrClosed) {
		t.Errorf("WaitFor = %v, want ErrClosed", err)
	}
}
