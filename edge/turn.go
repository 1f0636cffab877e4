package edge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// minUtterance is the shortest audio worth transcribing.
const minUtterance = stt.SampleRate / 4

type turnInput struct {
	source    string
	samples   []float32
	text      string
	mode      string
	truncated bool
	noSpeech  bool     // the end-pointer heard no speech at all
	opus      [][]byte // the Opus packets, when audio is recorded and the device sent Opus
}

// turnFailure is how a turn ends badly: the outcome recorded, and what the
// user is told.
type turnFailure struct {
	outcome string
	err     error
	status  string
	message string
	emotion string
	told    bool // the device was already told (by the cloud)
}

func (f *turnFailure) Error() string {
	if f.err != nil {
		return f.outcome + ": " + f.err.Error()
	}
	return f.outcome
}

// Messages for the user: short, plain and kind, for a child's parent to read.
func failNoSpeech(err error) *turnFailure {
	return &turnFailure{proto.OutcomeNoSpeech, err, "Didn't catch that",
		"I didn't hear any words. Hold the button, say what to draw, then let go.", "confused", false}
}

func failSTTUnavailable(err error) *turnFailure {
	return &turnFailure{proto.OutcomeSTTUnavailable, err, "Can't listen yet",
		"Speech recognition isn't set up on Stikadoo Edge yet. Ask a grown-up to set it up.", "sad", false}
}

func failSTT(err error) *turnFailure {
	return &turnFailure{proto.OutcomeSTTError, err, "Listening trouble",
		"Something went wrong while I was listening. Please try again.", "sad", false}
}

func failRefused(err error) *turnFailure {
	return &turnFailure{proto.OutcomeRefused, err, "Let's draw something else",
		"I can't make that sticker. How about an animal, a robot or a rainbow?", "embarrassed", false}
}

func failImageUnavailable(err error) *turnFailure {
	return &turnFailure{proto.OutcomeImageUnavailable, err, "Can't draw yet",
		"Sticker drawing isn't set up on Stikadoo Edge yet. Ask a grown-up to set it up.", "sad", false}
}

func failImage(err error) *turnFailure {
	return &turnFailure{proto.OutcomeImageError, err, "Drawing trouble",
		"I couldn't draw that sticker just now. Please try again in a moment.", "sad", false}
}

func failDeviceRefused(err error) *turnFailure {
	return &turnFailure{proto.OutcomeDeviceRefused, err, "Printer trouble",
		"The sticker couldn't be shown or printed. Check the paper, then try again.", "sad", false}
}

func failDeviceTimeout(err error) *turnFailure {
	return &turnFailure{proto.OutcomeDeviceTimeout, err, "Printer trouble",
		"The sticker took too long to arrive. Check the Wi-Fi, then try again.", "sad", false}
}

func failCloudUnavailable(err error) *turnFailure {
	return &turnFailure{proto.OutcomeCloudUnavailable, err, "Can't reach the cloud",
		"Stikadoo Edge couldn't reach the Stikadoo cloud. Check the internet connection, or ask a grown-up.", "sad", false}
}

func failCloudDropped(err error) *turnFailure {
	return &turnFailure{proto.OutcomeCloudError, err, "Lost the cloud",
		"The connection to the Stikadoo cloud dropped. Please try again.", "sad", false}
}

func failCloudTimeout(err error) *turnFailure {
	return &turnFailure{proto.OutcomeCloudError, err, "The cloud is slow",
		"The Stikadoo cloud took too long. Please try again in a moment.", "sad", false}
}

func failInternal(err error) *turnFailure {
	return &turnFailure{proto.OutcomeInternal, err, "Oops",
		"Something went wrong on Stikadoo Edge. Please try again.", "sad", false}
}

// startTurn starts a turn, superseding one in flight. The new turn waits
// for the superseded one to stop; while it waits, a newer request
// replaces its input instead of queueing behind it, so a device that
// floods requests holds at most two turns (one stopping, one waiting),
// and a request replaced before it started leaves no record.
func (ss *session) startTurn(in turnInput) {
	ss.mu.Lock()
	if ss.nextTurn != nil {
		ss.nextTurn.in = in
		ss.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancelCause(ss.ctx)
	done := make(chan struct{})
	prevStop, prevDone := ss.turnStop, ss.turnDone
	next := &queuedTurn{in: in}
	if prevDone != nil {
		ss.nextTurn = next
	}
	ss.turnStop, ss.turnDone = cancel, done
	ss.mu.Unlock()
	if prevStop != nil {
		prevStop(errSuperseded)
	}
	ss.wg.Add(1)
	endBusy := ss.srv.beginBusy()
	go func() { // ends when the turn finishes or its context is cancelled
		defer ss.wg.Done()
		defer endBusy()
		defer close(done)
		defer cancel(nil)
		if prevDone != nil {
			<-prevDone
		}
		ss.mu.Lock()
		if ss.nextTurn == next {
			ss.nextTurn = nil
		}
		in := next.in
		started := ctx.Err() == nil
		var seq int
		if started {
			ss.turnSeq++
			seq = ss.turnSeq
			ss.rec.Turns = seq
		}
		ss.mu.Unlock()
		if !started {
			// Stopped before it began: by the device's abort (it is told
			// the turn is over) or by the session's end.
			if ss.ctx.Err() == nil {
				ss.sendTurnStopped()
			}
			return
		}
		ss.runTurn(ctx, seq, in)
	}()
}

// queuedTurn is a turn waiting for the one before it to stop.
type queuedTurn struct {
	in turnInput // guarded by session.mu
}

// cancelTurn stops the turn in flight, if any.
func (ss *session) cancelTurn(cause error) {
	ss.mu.Lock()
	stop := ss.turnStop
	ss.mu.Unlock()
	if stop != nil {
		stop(cause)
	}
}

// speaksWithTTS reports whether the device's state machine is driven by
// tts start/stop (upstream and browser) rather than thinking (Stikadoo).
func (ss *session) speaksWithTTS() bool { return ss.dialect != proto.DialectStikadoo }

// runTurn is the turn pipeline: transcript, sticker, delivery, each stage
// timed and recorded, every failure told to the user.
func (ss *session) runTurn(ctx context.Context, seq int, in turnInput) {
	srv := ss.srv
	t := proto.Turn{
		ID: fmt.Sprintf("%s-%03d", ss.id, seq), SessionID: ss.id, DeviceID: ss.deviceID, Seq: seq,
		Start: time.Now(), Source: in.source, Mode: in.mode, Truncated: in.truncated,
		AudioMs: len(in.samples) * 1000 / stt.SampleRate, TimingsMs: map[string]int64{},
	}
	log := ss.log.With("turn", seq)
	srv.turns.Add(1)
	tts := ss.speaksWithTTS()
	if tts {
		// Upstream devices leave listening only on tts start, and come back
		// to it (auto mode) on tts stop: open the turn with start.
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart})
	}
	if in.truncated {
		ss.send(proto.Alert{Type: proto.TypeAlert, Status: "That was a long one",
			Message: fmt.Sprintf("I listened to the first %d seconds.", int(srv.cfg.MaxUtterance.Seconds())), Emotion: "surprised"})
	}

	if rec := srv.deps.Recorder; rec != nil && len(in.samples) > 0 {
		name, err := rec.RecordAudio(t.ID, in.opus, in.samples)
		if err != nil {
			// The turn goes on: its audio is a record, not its input.
			log.Warn("record audio", "err", err)
		}
		t.Audio = name
	}
	fail := ss.turnPipeline(ctx, &t, in, tts)

	t.End = time.Now()
	t.TimingsMs["total"] = t.End.Sub(t.Start).Milliseconds()
	switch {
	case fail == nil:
		t.Outcome = proto.OutcomeOK
		// What a child said stays in the record, which retention prunes,
		// not in the system log, which keeps it longer.
		log.Info("turn done", "chars", len(t.Transcript), "ms", t.TimingsMs["total"])
		log.Debug("turn text", "text", t.Transcript)
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		t.Outcome, t.Error = proto.OutcomeAborted, cause.Error()
		if ss.ctx.Err() != nil {
			t.Outcome = proto.OutcomeClosed
			t.Error = "session ended"
		}
		log.Info("turn stopped", "outcome", t.Outcome, "cause", t.Error)
		if t.Outcome == proto.OutcomeAborted && !errors.Is(cause, errSuperseded) {
			ss.sendTurnStopped()
		}
	default:
		t.Outcome, t.Error = fail.outcome, fail.Error()
		srv.turnsBad.Add(1)
		log.Warn("turn failed", "outcome", fail.outcome, "err", fail.err)
		if !fail.told {
			ss.send(proto.Alert{Type: proto.TypeAlert, Status: fail.status, Message: fail.message, Emotion: fail.emotion})
			ss.endTurnMessages(tts)
		}
	}
	srv.metrics.observeTurn(t)
	err := srv.deps.Store.PutTurn(t)
	if err != nil {
		log.Error("record turn", "err", err)
	}
	srv.storeResult(err)
	ss.persist()
}

// sendTurnStopped tells a device that asked to stop that the turn is
// over: tts stop whatever its state machine (PROTOCOL.md section 6), after
// thinking stop for the Stikadoo printer.
func (ss *session) sendTurnStopped() {
	if !ss.speaksWithTTS() {
		ss.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
	}
	ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
}

// endTurnMessages returns the device to idle (or listening) after a turn
// that did not finish normally.
func (ss *session) endTurnMessages(tts bool) {
	if tts {
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
	} else {
		ss.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
	}
}

func (ss *session) turnPipeline(ctx context.Context, t *proto.Turn, in turnInput, tts bool) *turnFailure {
	srv := ss.srv
	text := in.text
	if in.source == proto.SourceVoice && (in.noSpeech || len(in.samples) < minUtterance) {
		return failNoSpeech(fmt.Errorf("%d ms of audio without speech", t.AudioMs))
	}
	// dialErr is why the cloud could not be reached in this turn: it is
	// not dialed a second time.
	var dialErr error
	// The whole turn goes to the cloud under cloud-only, and under
	// cloud-first when the cloud is available (if it cannot be reached
	// then, the turn is served locally).
	switch srv.cloudPolicy() {
	case proto.CloudOnly:
		if !srv.deps.Cloud.Available() {
			return failCloudUnavailable(fmt.Errorf("policy cloud-only: %w", ErrCloudUnavailable))
		}
		fail, relayed, err := ss.relayTurn(ctx, t, in, "turn", "policy cloud-only", tts)
		if !relayed {
			return failCloudUnavailable(err)
		}
		return fail
	case proto.CloudFirst:
		if srv.deps.Cloud.Available() {
			fail, relayed, err := ss.relayTurn(ctx, t, in, "turn", "policy cloud-first", tts)
			if relayed {
				return fail
			}
			dialErr = err
			t.Fallback = "cloud-first: served locally: " + err.Error()
		}
	}
	// localFails relays the turn when a local stage cannot serve and the
	// policy allows it, or returns the local failure.
	localFails := func(stage string, f *turnFailure) *turnFailure {
		if dialErr != nil {
			f.err = fmt.Errorf("%w (cloud not reached: %v)", f.err, dialErr)
			return f
		}
		if ctx.Err() != nil || !ss.cloudFallback() {
			return f
		}
		fail, relayed, err := ss.relayTurn(ctx, t, in, stage, f.Error(), tts)
		if !relayed {
			f.err = fmt.Errorf("%w (cloud fallback failed: %v)", f.err, err)
			return f
		}
		return fail
	}
	if in.source == proto.SourceVoice {
		if srv.deps.Transcriber == nil {
			return localFails("stt", failSTTUnavailable(fmt.Errorf("no transcriber: %w", proto.ErrUnavailable)))
		}
		sctx, cancel := context.WithTimeout(ctx, srv.cfg.STTTimeout)
		start := time.Now()
		got, err := srv.deps.Transcriber.Transcribe(sctx, in.samples)
		cancel()
		t.TimingsMs["stt"] = time.Since(start).Milliseconds()
		switch {
		case ctx.Err() != nil:
			return failSTT(ctx.Err())
		case errors.Is(err, proto.ErrNoSpeech):
			return failNoSpeech(err)
		case errors.Is(err, proto.ErrUnavailable):
			return localFails("stt", failSTTUnavailable(err))
		case err != nil:
			return localFails("stt", failSTT(err))
		}
		text = strings.TrimSpace(got)
		if text == "" {
			return failNoSpeech(errors.New("empty transcript"))
		}
	}
	t.Transcript = text
	ss.send(proto.STT{Type: proto.TypeSTT, Text: text})
	if srv.deps.Images == nil {
		return localFails("image", failImageUnavailable(fmt.Errorf("no image generator: %w", proto.ErrUnavailable)))
	}
	if tts {
		ss.send(proto.LLM{Type: proto.TypeLLM, Emotion: "thinking", Text: "🤔"})
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Drawing your sticker…"})
	} else {
		ss.send(proto.Thinking{Type: proto.TypeThinking, Status: "start"})
	}

	ictx, cancel := context.WithTimeout(ctx, srv.cfg.ImageTimeout)
	start := time.Now()
	st, err := srv.deps.Images.Sticker(ictx, text)
	cancel()
	t.TimingsMs["image"] = time.Since(start).Milliseconds()
	switch {
	case ctx.Err() != nil:
		return failImage(ctx.Err())
	case errors.Is(err, proto.ErrRefused):
		return failRefused(err)
	case errors.Is(err, proto.ErrUnavailable):
		return localFails("image", failImageUnavailable(err))
	case err != nil:
		return localFails("image", failImage(err))
	case st == nil || len(st.PNG) == 0:
		return localFails("image", failImage(errors.New("image backend returned no image")))
	}
	cloudNote := ""
	if st.Fallback != "" && dialErr == nil && ss.cloudFallback() {
		// The sticker was drawn on the Pi because the image model could
		// not serve: the cloud draws a real one, and the local sticker is
		// printed only if the cloud cannot be reached.
		fail, relayed, err := ss.relayTurn(ctx, t, in, "image", "local sticker drawn because "+st.Fallback, tts)
		if relayed {
			return fail
		}
		ss.log.Info("cloud fallback failed; printing the local sticker", "err", err)
		cloudNote = "cloud fallback failed: " + err.Error()
	}
	t.Prompt, t.Backend = st.Prompt, st.Backend
	for _, note := range []string{st.Fallback, cloudNote} {
		if note != "" && t.Fallback != "" {
			t.Fallback += "; " + note
		} else if note != "" {
			t.Fallback = note
		}
	}

	now := time.Now()
	img := proto.Image{ID: randomHex(16), ContentType: "image/png", Created: now, Data: st.PNG}
	if err := srv.deps.Store.PutImage(img); err != nil {
		return failInternal(fmt.Errorf("store sticker: %w", err))
	}
	t.ImageID = img.ID
	if len(st.Original) > 0 {
		orig := proto.Image{ID: randomHex(16), ContentType: st.OriginalType, Created: now, Data: st.Original}
		if orig.ContentType == "" {
			orig.ContentType = "application/octet-stream"
		}
		if err := srv.deps.Store.PutImage(orig); err != nil {
			ss.log.Warn("store original image", "err", err)
		} else {
			t.OriginalID = orig.ID
		}
	}
	ss.mu.Lock()
	ss.lastImage = img.ID
	ss.mu.Unlock()
	srv.rememberSticker(ss, ss.deviceID, img.ID)

	start = time.Now()
	url := ss.base + trimSlash(srv.cfg.ImagePath) + "/" + img.ID + ".png"
	err = ss.mcp.callTool(ctx, proto.ToolPreviewImage, map[string]any{"url": url}, srv.cfg.PreviewTimeout)
	t.TimingsMs["deliver"] = time.Since(start).Milliseconds()
	switch {
	case ctx.Err() != nil:
		return failDeviceTimeout(ctx.Err())
	case errors.Is(err, ErrMCPTimeout):
		return failDeviceTimeout(err)
	case errors.Is(err, ErrSessionClosed):
		return failDeviceTimeout(err)
	case err != nil:
		return failDeviceRefused(err)
	}

	if tts {
		ss.send(proto.LLM{Type: proto.TypeLLM, Emotion: "happy", Text: "🙂"})
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Here is your sticker!"})
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
	} else {
		ss.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStart})
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSSentenceStart, Text: "Here is your sticker!"})
		ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
	}
	return nil
}
