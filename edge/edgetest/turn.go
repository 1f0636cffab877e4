package edgetest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

const (
	// trailingSilence is the quiet an auto-mode device streams after the
	// words before the server's end-pointer answers.
	trailingSilence = 1500 * time.Millisecond
	// closingTTSWait is how long a Stikadoo turn waits, after thinking
	// stop, for the short tts sentence that may close it.
	closingTTSWait = 2 * time.Second
)

// Alert is an alert the server showed on the device.
type Alert struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Emotion string `json:"emotion,omitempty"`
}

// TurnResult is what one turn showed on the device.
type TurnResult struct {
	Dialect   string  `json:"dialect"`
	SessionID string  `json:"session_id"`
	STT       string  `json:"stt,omitempty"`    // the user's words as the server heard them
	Alerts    []Alert `json:"alerts,omitempty"` // alerts shown, in order
	// The sticker: the URL of the last preview_image call, the bytes the
	// device downloaded, and whether it was shown (and printed).
	ImageURL       string   `json:"image_url,omitempty"`
	Image          []byte   `json:"-"`
	ImageBytes     int      `json:"image_bytes,omitempty"`
	ImageWidth     int      `json:"image_width,omitempty"`
	ImageHeight    int      `json:"image_height,omitempty"`
	ImageDelivered bool     `json:"image_delivered"`
	ImageError     string   `json:"image_error,omitempty"`
	TTS            []string `json:"tts,omitempty"`      // tts sentences, in order
	Emotions       []string `json:"emotions,omitempty"` // llm emotions, in order
	// Timeline holds the steps since the previous turn ended (the first
	// turn's start with the version check), timed from the start of Boot.
	Timeline []Step `json:"timeline"`
}

// turnMark is where a turn's images start.
type turnMark struct{ images int }

func (d *Device) beginTurn() (turnMark, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return turnMark{}, fmt.Errorf("turn: %w", ErrNotConnected)
	}
	return turnMark{images: len(d.images)}, nil
}

// RunTurn runs one spoken turn the way the dialect's client does and
// returns what the device showed.
//
//   - Stikadoo printer (push to talk): listen start (manual), the audio,
//     listen stop; then it reads until thinking stop (after an alert, or
//     after the sticker), and the closing tts stop if one comes.
//   - Upstream firmware (opus-v1/v2/v3): listen start (auto), the audio,
//     then silence, as the microphone stays open, until the server's
//     end-pointer answers; it reads until tts stop.
//   - Browser page: on the first turn of a connection the wake phrase the
//     page sends on connect (listen detect "嘿，你好呀", which must not start
//     a turn); then listen start (auto), the audio, 1.5 s of silence and a
//     zero-length frame; it reads until tts stop.
//
// A turn the server ends with an alert is not an error: the alert is in
// the result. Errors mean the protocol broke: the connection closed, ctx
// ended first, or the server did something the firmware cannot take.
func (d *Device) RunTurn(ctx context.Context, samples []float32) (*TurnResult, error) {
	mark, err := d.beginTurn()
	if err != nil {
		return nil, err
	}
	if d.dialect == proto.DialectStikadoo {
		if err := d.ListenStart(proto.ModeManual); err != nil {
			return d.finish(mark, nil), err
		}
		if err := d.SendAudio(ctx, samples); err != nil {
			return d.finish(mark, nil), err
		}
		if err := d.ListenStop(); err != nil {
			return d.finish(mark, nil), err
		}
		res, err := d.collect(ctx, mark, nil)
		return d.finish(mark, res), err
	}
	if _, err := d.sendWake(); err != nil {
		return d.finish(mark, nil), err
	}
	if err := d.ListenStart(proto.ModeAuto); err != nil {
		return d.finish(mark, nil), err
	}
	sctx, answered := context.WithCancel(ctx)
	defer answered()
	sent := make(chan error, 1)
	go func() { sent <- d.streamUtterance(sctx, samples) }() // ends when the utterance is sent or the server answers
	res, err := d.collect(ctx, mark, answered)
	answered()
	if serr := <-sent; err == nil && serr != nil && !errors.Is(serr, context.Canceled) {
		err = serr
	}
	return d.finish(mark, res), err
}

// RunTypedTurn sends text as listen detect, the way the browser page sends
// a typed request, and reads the turn to its end as RunTurn does. On the
// first turn of a connection the browser page first sends its wake phrase
// and listen start (auto), as it does on connect.
func (d *Device) RunTypedTurn(ctx context.Context, text string) (*TurnResult, error) {
	mark, err := d.beginTurn()
	if err != nil {
		return nil, err
	}
	if sent, err := d.sendWake(); err != nil {
		return d.finish(mark, nil), err
	} else if sent {
		// The page opens listening right after its wake phrase.
		if err := d.ListenStart(proto.ModeAuto); err != nil {
			return d.finish(mark, nil), err
		}
	}
	if err := d.Detect(text); err != nil {
		return d.finish(mark, nil), err
	}
	res, err := d.collect(ctx, mark, nil)
	return d.finish(mark, res), err
}

// sendWake sends the browser page's connect-time wake phrase once per
// connection and reports whether it did; other dialects send nothing.
func (d *Device) sendWake() (bool, error) {
	if d.dialect != proto.DialectBrowser {
		return false, nil
	}
	d.mu.Lock()
	sent := d.wakeSent
	d.wakeSent = true
	d.mu.Unlock()
	if sent {
		return false, nil
	}
	return true, d.Detect(BrowserWakePhrase)
}

// streamUtterance sends the words and the silence after them, as an
// auto-mode client does, until done or ctx ends (the server answered).
func (d *Device) streamUtterance(ctx context.Context, samples []float32) error {
	n, err := d.sendFrames(ctx, samples, d.Realtime)
	d.step("audio", "%.2f s in %d frames", float64(n*stt.FrameSamples)/stt.SampleRate, n)
	if err != nil {
		return err
	}
	n, err = d.sendFrames(ctx, Silence(trailingSilence), d.Realtime)
	d.step("audio", "%.2f s of silence", float64(n*stt.FrameSamples)/stt.SampleRate)
	if err != nil {
		return err
	}
	if d.dialect == proto.DialectBrowser {
		return d.EndUtterance()
	}
	// Firmware keeps streaming what the microphone hears until the server
	// answers: quiet, at real time.
	quiet := Silence(60 * time.Millisecond)
	tick := time.NewTicker(60 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if _, err := d.sendFrames(ctx, quiet, false); err != nil {
			return err
		}
	}
}

// collect reads the server's side of a turn until it ends. answered, if
// set, is called once the server has started answering. The caller
// completes the result with finish.
func (d *Device) collect(ctx context.Context, mark turnMark, answered func()) (*TurnResult, error) {
	res := &TurnResult{}
	stikadoo := d.dialect == proto.DialectStikadoo
	thinkingStopped := false
	answer := func() {
		if answered != nil {
			answered()
		}
	}
	for {
		var ev Event
		var err error
		if thinkingStopped {
			wctx, cancel := context.WithTimeout(ctx, closingTTSWait)
			ev, err = d.Next(wctx)
			cancel()
			if err != nil && (ctx.Err() == nil || errors.Is(err, ErrClosed)) {
				// The turn was over at thinking stop; no closing sentence.
				return res, nil
			}
		} else {
			ev, err = d.Next(ctx)
		}
		if err != nil {
			return res, fmt.Errorf("turn: %w", err)
		}
		switch ev.Type {
		case proto.TypeSTT:
			answer()
			res.STT = ev.Text
			if d.dialect == proto.DialectBrowser && ev.Text == BrowserWakePhrase {
				return res, fmt.Errorf("turn: the server took the wake phrase %q as a request: %w", ev.Text, ErrProtocol)
			}
		case proto.TypeAlert:
			answer()
			res.Alerts = append(res.Alerts, Alert{Status: ev.Status, Message: ev.Message, Emotion: ev.Emotion})
		case proto.TypeLLM:
			res.Emotions = append(res.Emotions, ev.Emotion)
		case proto.TypeThinking:
			answer()
			if stikadoo && ev.Status == "stop" {
				if !d.deliveredSince(mark) {
					return res, nil // an alert ended the turn
				}
				thinkingStopped = true
			}
		case proto.TypeTTS:
			switch ev.State {
			case proto.TTSStart:
				answer()
			case proto.TTSSentenceStart:
				res.TTS = append(res.TTS, ev.Text)
			case proto.TTSStop:
				if !stikadoo || thinkingStopped {
					return res, nil
				}
			case "":
				return res, fmt.Errorf("turn: tts message without state (firmware would crash): %w", ErrProtocol)
			}
		case proto.TypeHello:
			return res, fmt.Errorf("turn: a second server hello: %w", ErrProtocol)
		}
	}
}

// deliveredSince reports whether an image was delivered in this turn.
func (d *Device) deliveredSince(mark turnMark) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range d.images[mark.images:] {
		if f.Delivered {
			return true
		}
	}
	return false
}

// finish fills in the image and the timeline of a turn and starts the
// next turn's timeline.
func (d *Device) finish(mark turnMark, res *TurnResult) *TurnResult {
	if res == nil {
		res = &TurnResult{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	res.Dialect = d.dialect
	res.SessionID = d.sessionID
	if n := len(d.images); n > mark.images {
		f := d.images[n-1]
		res.ImageURL, res.Image, res.ImageBytes = f.URL, f.Data, len(f.Data)
		res.ImageWidth, res.ImageHeight = f.Width, f.Height
		res.ImageDelivered, res.ImageError = f.Delivered, f.Err
	}
	res.Timeline = append([]Step(nil), d.timeline[min(d.turnMark, len(d.timeline)):]...)
	d.turnMark = len(d.timeline)
	return res
}
