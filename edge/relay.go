package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// Relay of turns to the cloud backend (Deps.Cloud). The device keeps
// talking to the gateway; when the policy says so, the gateway opens a
// connection to the cloud for the session, replays the turn's input (the
// device's hello, then its audio or text), and passes what the cloud
// answers back to the device: stt, tts, thinking, alert, MCP requests and
// audio. The device's answers to the cloud's MCP requests go back to the
// cloud. One connection serves the session's relayed turns until it is
// too old, drops or the session ends.

// cloudEventQueue is how many cloud messages a relayed turn may lag behind.
const cloudEventQueue = 64

// ttsGrace is how long a relayed turn waits, after the cloud's thinking
// stop, for the cloud to start speaking before it ends the turn for a
// device driven by tts messages.
const ttsGrace = 2 * time.Second

// pcmFrameSamples is one 60 ms frame of 16 kHz audio, the firmware's.
const pcmFrameSamples = stt.SampleRate * 60 / 1000

// cloudMessage is any JSON message the cloud sends.
type cloudMessage struct {
	Type    string          `json:"type"`
	State   *string         `json:"state"`
	Status  string          `json:"status"`
	Text    string          `json:"text"`
	Message string          `json:"message"`
	Payload json.RawMessage `json:"payload"`
	// AudioParams of the cloud's hello: the length of its audio packets.
	AudioParams *struct {
		FrameDuration int `json:"frame_duration"`
	} `json:"audio_params"`
}

// cloudRelay is a session's relay state.
type cloudRelay struct {
	ss    *session
	cloud Cloud

	mu       sync.Mutex
	link     CloudLink
	pumpDone chan struct{}          // closed when the link's pump has passed on all it read
	pending  map[int64]cloudRequest // id sent to the device -> the cloud's request
	events   chan cloudMessage
	pacer    *audioPacer
}

// cloudRequest is an MCP request of the cloud passed to the device.
type cloudRequest struct {
	id         json.RawMessage // the cloud's id
	previewURL string          // the sticker, when it is preview_image
}

func newCloudRelay(ss *session, c Cloud) *cloudRelay {
	return &cloudRelay{ss: ss, cloud: c, pending: map[int64]cloudRequest{}, events: make(chan cloudMessage, cloudEventQueue), pacer: newAudioPacer(ss)}
}

// previewURL returns the url argument of a tools/call of preview_image.
func previewURL(msg map[string]json.RawMessage) string {
	var method string
	if json.Unmarshal(msg["method"], &method) != nil || method != proto.MethodToolsCall {
		return ""
	}
	var p struct {
		Name      string `json:"name"`
		Arguments struct {
			URL string `json:"url"`
		} `json:"arguments"`
	}
	if json.Unmarshal(msg["params"], &p) != nil || p.Name != proto.ToolPreviewImage {
		return ""
	}
	return p.Arguments.URL
}

// cloudPolicy is the effective policy: local without a cloud.
func (s *Server) cloudPolicy() string {
	if s.deps.Cloud == nil {
		return proto.CloudLocal
	}
	return s.cfg.Cloud.Policy
}

// cloudFallback reports whether a failing local stage may be relayed now.
func (ss *session) cloudFallback() bool {
	p := ss.srv.cloudPolicy()
	return ss.relay != nil && (p == proto.CloudLocalThenCloud || p == proto.CloudFirst) && ss.srv.deps.Cloud.Available()
}

// open returns the session's link, dialing a new one (and saying hello
// with the device's own hello) when there is none, it is too old or it
// no longer carries (an idle link must answer a ping), and a channel
// closed when the link has ended and everything it brought has been
// passed on.
func (r *cloudRelay) open(ctx context.Context) (CloudLink, <-chan struct{}, error) {
	ss := r.ss
	r.mu.Lock()
	old, oldDone := r.link, r.pumpDone
	r.mu.Unlock()
	if old != nil && old.Fresh() {
		err := old.Check(ctx)
		if err == nil {
			return old, oldDone, nil
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("check cloud link: %w", context.Cause(ctx))
		}
		ss.log.Info("cloud link no longer carries; reconnecting", "err", err)
	}
	if old != nil {
		old.Close() // its pump ends
	}
	hctx, cancel := context.WithTimeout(ctx, ss.srv.cfg.Cloud.HelloTimeout)
	defer cancel()
	link, err := r.cloud.Dial(hctx, CloudDevice{ID: ss.deviceID, ClientID: ss.creds.ClientID})
	if err != nil {
		return nil, nil, err
	}
	r.drain()
	done := make(chan struct{})
	r.mu.Lock()
	r.link, r.pumpDone = link, done
	r.mu.Unlock()
	ss.wg.Add(1)
	go r.pump(link, done) // ends when the link ends or the session ends (it then closes the link)
	hello := ss.helloRaw
	if len(hello) == 0 {
		hello = []byte(`{"type":"hello","version":1,"transport":"websocket"}`)
	}
	if err := link.Send(hctx, hello); err != nil {
		return nil, nil, fmt.Errorf("cloud hello: %w", err)
	}
	for {
		select {
		case ev := <-r.events:
			if ev.Type == proto.TypeHello {
				return link, done, nil
			}
		case <-done:
			return nil, nil, fmt.Errorf("cloud hello: %w", ErrCloudDropped)
		case <-hctx.Done():
			if ctx.Err() != nil {
				link.Abandon() // the turn gave up, not the cloud
			} else {
				link.Close() // no hello in time: counts against the cloud
			}
			return nil, nil, fmt.Errorf("cloud hello: %w", context.Cause(hctx))
		}
	}
}

// drain drops stale events of an earlier turn.
func (r *cloudRelay) drain() {
	for {
		select {
		case <-r.events:
		default:
			return
		}
	}
}

// pump passes what the cloud sends to the device, and to the relayed
// turn as events.
func (r *cloudRelay) pump(link CloudLink, done chan struct{}) {
	ss := r.ss
	defer ss.wg.Done()
	defer close(done)
	defer link.Abandon() // the link has ended already, or the session has
	var ts uint32
	frameMs := 60 // the cloud's hello may say otherwise
	for {
		audio, data, err := link.Recv(ss.ctx)
		if err != nil {
			if ss.ctx.Err() == nil {
				ss.log.Info("cloud link ended", "err", err)
			}
			return
		}
		if audio {
			frame, err := proto.AppendBinary(nil, ss.binVersion, proto.FrameOpus, ts, data)
			if err != nil {
				ss.log.Debug("cloud audio", "err", err)
				continue
			}
			ts += uint32(frameMs)
			r.pacer.audioFrame(frame, time.Duration(frameMs)*time.Millisecond)
			continue
		}
		var m cloudMessage
		if !proto.IsJSONObject(data) || json.Unmarshal(data, &m) != nil {
			ss.log.Debug("cloud sent a frame that is not a JSON message", "bytes", len(data))
			continue
		}
		switch m.Type {
		case proto.TypeHello:
			if m.AudioParams != nil && m.AudioParams.FrameDuration >= 10 && m.AudioParams.FrameDuration <= 120 {
				frameMs = m.AudioParams.FrameDuration
			}
		case proto.TypeSTT, proto.TypeLLM, proto.TypeAlert:
			ss.enqueue(outFrame{kind: websocket.TextMessage, data: data})
		case proto.TypeThinking:
			if !ss.speaksWithTTS() { // only the Stikadoo printer knows thinking
				ss.enqueue(outFrame{kind: websocket.TextMessage, data: data})
			}
		case proto.TypeTTS:
			if m.State == nil || *m.State == "" {
				ss.log.Debug("cloud sent tts without state; dropped (firmware would crash)")
				continue
			}
			// In order with the audio; stop once it could have played
			// (an early stop cuts it off).
			r.pacer.push(pacedFrame{out: outFrame{kind: websocket.TextMessage, data: data}, afterPlay: *m.State == proto.TTSStop})
		case proto.TypeMCP:
			if out, ok := r.toDevice(m.Payload); ok {
				ss.send(proto.MCPEnvelope{Type: proto.TypeMCP, SessionID: ss.id, Payload: out})
			}
		default:
			// system (reboot), heartbeats and anything else stay with
			// the gateway: the cloud does not command devices.
			continue
		}
		select {
		case r.events <- m:
		default:
		}
	}
}

// toDevice renumbers an MCP request of the cloud with an id of the
// session's MCP client, so it cannot collide with the gateway's own
// requests, and remembers the cloud's id for the answer.
func (r *cloudRelay) toDevice(payload json.RawMessage) (json.RawMessage, bool) {
	var msg map[string]json.RawMessage
	if json.Unmarshal(payload, &msg) != nil {
		return nil, false
	}
	if _, ok := msg["method"]; !ok {
		return nil, false // only requests and notifications go to the device
	}
	cloudID, ok := msg["id"]
	if !ok {
		return payload, true // a notification
	}
	id := r.ss.mcp.reserveID()
	msg["id"] = json.RawMessage(fmt.Sprint(id))
	out, err := json.Marshal(msg)
	if err != nil {
		return nil, false
	}
	r.mu.Lock()
	r.pending[id] = cloudRequest{id: cloudID, previewURL: previewURL(msg)}
	if len(r.pending) > 256 { // answers that never came
		for k := range r.pending {
			if k < id-128 {
				delete(r.pending, k)
			}
		}
	}
	r.mu.Unlock()
	return out, true
}

// fromDevice passes the device's answer to a cloud request back to the
// cloud, with the cloud's id. It reports whether the answer was the
// cloud's.
func (r *cloudRelay) fromDevice(payload json.RawMessage) bool {
	resp, err := proto.DecodeRPCResponse(payload)
	if err != nil {
		return false
	}
	id, ok := resp.NumericID()
	if !ok {
		return false
	}
	r.mu.Lock()
	req, mine := r.pending[id]
	delete(r.pending, id)
	link := r.link
	r.mu.Unlock()
	if !mine {
		return false
	}
	if req.previewURL != "" && resp.Error == nil {
		var res proto.ToolCallResult
		if len(resp.Result) == 0 || json.Unmarshal(resp.Result, &res) == nil && !res.IsError {
			r.ss.srv.rememberCloudSticker(r.ss, r.ss.deviceID, req.previewURL)
		}
	}
	cloudID := req.id
	var msg map[string]json.RawMessage
	if json.Unmarshal(payload, &msg) != nil || link == nil {
		return true
	}
	msg["id"] = cloudID
	p, err := json.Marshal(msg)
	if err != nil {
		return true
	}
	b, err := json.Marshal(proto.MCPEnvelope{Type: proto.TypeMCP, SessionID: r.ss.id, Payload: p})
	if err != nil {
		return true
	}
	ss := r.ss
	ss.wg.Add(1)
	go func() { // ends after one write, bounded by the write timeout
		defer ss.wg.Done()
		ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.cfg.WriteTimeout)
		defer cancel()
		if err := link.Send(ctx, b); err != nil {
			ss.log.Info("mcp answer to the cloud", "err", err)
		}
	}()
	return true
}

// relayTurn hands the turn to the cloud: stage is what is relayed ("stt",
// "image" or "turn") and why the reason. relayed is false when no link
// could be opened; the caller then carries on locally (or fails).
func (ss *session) relayTurn(ctx context.Context, t *proto.Turn, in turnInput, stage, why string, tts bool) (fail *turnFailure, relayed bool, err error) {
	srv := ss.srv
	r := ss.relay
	start := time.Now()
	link, linkDone, err := r.open(ctx)
	t.TimingsMs["cloud_connect"] = time.Since(start).Milliseconds()
	if err != nil {
		ss.log.Warn("cloud relay unavailable", "stage", stage, "err", err)
		return nil, false, err
	}
	srv.relayed.Add(1)
	t.Cloud, t.Backend = stage, proto.BackendCloud
	note := fmt.Sprintf("%s relayed to the cloud: %s", stage, why)
	if t.Fallback != "" {
		note = t.Fallback + "; " + note
	}
	t.Fallback = note
	ss.log.Info("relaying turn to the cloud", "stage", stage, "why", why)
	r.drain()

	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return link.Send(ctx, b)
	}
	if in.source == proto.SourceVoice {
		err = send(proto.Message{Type: proto.TypeListen, SessionID: ss.id, State: proto.ListenStart, Mode: proto.ModeManual})
		if err == nil {
			err = ss.replayAudio(ctx, link, in)
		}
		if err == nil {
			err = send(proto.Message{Type: proto.TypeListen, SessionID: ss.id, State: proto.ListenStop})
		}
	} else {
		err = send(proto.Message{Type: proto.TypeListen, SessionID: ss.id, State: proto.ListenDetect, Text: in.text})
	}
	if err != nil {
		if ctx.Err() != nil {
			return failCloudDropped(ctx.Err()), true, nil
		}
		return failCloudDropped(err), true, nil
	}

	timer := time.NewTimer(srv.cfg.Cloud.TurnTimeout)
	defer timer.Stop()
	// A cloud that does not begin the turn soon is a link that died
	// without a word or a backend that is down: it does not get the
	// whole turn timeout.
	first := time.NewTimer(srv.cfg.Cloud.FirstEventTimeout)
	defer first.Stop()
	var grace <-chan time.Time
	alert := ""
	thinking := false // the cloud showed "Thinking..." and has not ended it
	// started: the cloud has begun this turn (stt, thinking start or an
	// alert, what a backend sends first). Until then an end of turn is a
	// late one of the previous turn, such as its closing tts.
	started := false
	for {
		select {
		case ev := <-r.events:
			switch {
			case ev.Type == proto.TypeSTT, ev.Type == proto.TypeAlert,
				ev.Type == proto.TypeThinking && ev.Status == "start":
				started = true
				first.Stop()
			case !started:
				continue
			}
			switch ev.Type {
			case proto.TypeSTT:
				t.Transcript = ev.Text
			case proto.TypeAlert:
				alert = ev.Status + ": " + ev.Message
			case proto.TypeThinking:
				thinking = ev.Status != "stop"
				if thinking {
					continue
				}
				if !tts {
					return ss.finishRelayed(t, start, alert), true, nil
				}
				g := time.NewTimer(ttsGrace)
				defer g.Stop()
				grace = g.C
			case proto.TypeTTS:
				switch *ev.State {
				case proto.TTSStart:
					grace = nil
				case proto.TTSStop:
					// The end of the turn for devices driven by tts; a
					// cloud that ends a printer's turn this way gets
					// its "Thinking..." closed for it.
					if !tts && thinking {
						ss.send(proto.Thinking{Type: proto.TypeThinking, Status: "stop"})
					}
					return ss.finishRelayed(t, start, alert), true, nil
				}
			}
		case <-grace:
			ss.send(proto.TTS{Type: proto.TypeTTS, State: proto.TTSStop})
			return ss.finishRelayed(t, start, alert), true, nil
		case <-linkDone:
			t.TimingsMs["cloud"] = time.Since(start).Milliseconds()
			return failCloudDropped(ErrCloudDropped), true, nil
		case <-ctx.Done():
			ss.abortCloud(link)
			r.pacer.flush() // the device is told the turn stopped
			return failCloudDropped(ctx.Err()), true, nil
		case <-first.C:
			if started {
				continue
			}
			ss.abortCloud(link)
			err := fmt.Errorf("the cloud did not begin the turn within %s", srv.cfg.Cloud.FirstEventTimeout)
			link.Fail(err)
			t.TimingsMs["cloud"] = time.Since(start).Milliseconds()
			return failCloudTimeout(err), true, nil
		case <-timer.C:
			ss.abortCloud(link)
			// A cloud that went quiet may be a connection that died
			// without a word: the next turn gets a new one.
			link.Close()
			t.TimingsMs["cloud"] = time.Since(start).Milliseconds()
			return failCloudTimeout(fmt.Errorf("no end of turn from the cloud within %s", srv.cfg.Cloud.TurnTimeout)), true, nil
		}
	}
}

// finishRelayed records the end of a relayed turn. A turn the cloud ended
// with an alert failed; the device has been told.
func (ss *session) finishRelayed(t *proto.Turn, start time.Time, alert string) *turnFailure {
	t.TimingsMs["cloud"] = time.Since(start).Milliseconds()
	if alert != "" {
		return &turnFailure{outcome: proto.OutcomeCloudError, err: fmt.Errorf("cloud alert %q", alert), told: true}
	}
	return nil
}

// abortCloud tells the cloud to stop the turn in flight.
func (ss *session) abortCloud(link CloudLink) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b, _ := json.Marshal(proto.Message{Type: proto.TypeAbort, SessionID: ss.id})
	_ = link.Send(ctx, b)
}

// replayAudio sends the turn's utterance: Opus packets as the device
// sent them, wrapped as text; or, for the Stikadoo printer (and when the
// packets could not be kept), PCM in 60 ms base64 text frames as the
// printer sends them, rebuilt exactly from the decoded samples (which
// keeps no second copy of the audio).
func (ss *session) replayAudio(ctx context.Context, link CloudLink, in turnInput) error {
	if len(in.opus) > 0 {
		return link.SendOpus(ctx, in.opus)
	}
	pcm := make([]int16, 0, pcmFrameSamples)
	for i := 0; i < len(in.samples); i += pcmFrameSamples {
		pcm = stt.FloatToPCM16(pcm[:0], in.samples[i:min(i+pcmFrameSamples, len(in.samples))])
		if err := link.Send(ctx, proto.EncodePCMText(pcm)); err != nil {
			return err
		}
	}
	return nil
}
