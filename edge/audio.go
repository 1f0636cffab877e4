package edge

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
)

// maxBadPackets is how many undecodable Opus packets in a row end a
// session: a few are packet loss, many mean the stream is not Opus.
const maxBadPackets = 50

// preRoll is audio kept before detected speech so its onset is not lost.
const preRollSamples = stt.SampleRate * 3 / 10

func (ss *session) beginListening(mode string) {
	if ss.listening && len(ss.utt) > 0 && mode == ss.mode {
		ss.log.Debug("listen start while listening: restarting the utterance")
	}
	ss.listening = true
	ss.mode = mode
	ss.utt = ss.utt[:0]
	ss.uttOpus = nil
	ss.uttCut = false
	ss.heard = false
	ss.vadWarned = false
	if mode != proto.ModeManual {
		if ss.ep == nil {
			e := ss.srv.cfg.Endpoint
			cfg := stt.EndpointConfig{Threshold: e.Threshold, Silence: e.Silence, MinSpeech: e.MinSpeech}
			if find := ss.srv.deps.SpeechFinder; find != nil {
				ss.ep = stt.NewVADEndpointer(find, cfg)
			} else {
				ss.ep = stt.NewEndpointer(cfg)
			}
		}
		ss.ep.Reset()
	}
}

// onOpus decodes one Opus packet, incrementally, as it arrives.
func (ss *session) onOpus(pkt []byte) error {
	if !ss.listening || ss.uttCut {
		return nil
	}
	if ss.dec == nil {
		d, err := stt.NewOpusDecoder()
		if err != nil {
			return &protocolError{proto.CloseInternal, "audio decoder: " + err.Error()}
		}
		ss.dec = d
	}
	f, err := ss.dec.Decode(ss.frame[:0], pkt)
	if err != nil {
		ss.badPackets++
		if ss.badPackets > maxBadPackets {
			return &protocolError{proto.CloseInvalidData, fmt.Sprintf("%d undecodable audio packets in a row", ss.badPackets)}
		}
		return nil
	}
	ss.badPackets = 0
	ss.frame = f
	if ss.srv.deps.Recorder != nil {
		ss.uttOpus = append(ss.uttOpus, bytes.Clone(pkt))
	}
	ss.onAudio(f)
	return nil
}

// endpointer finds the end of speech: stt.Endpointer (energy) or
// stt.VADEndpointer (a voice activity model).
type endpointer interface {
	Feed(samples []float32) stt.Event
	Speaking() bool
	Reset()
}

// onAudio adds decoded 16 kHz samples to the utterance and, in auto and
// realtime modes, end-points it.
func (ss *session) onAudio(samples []float32) {
	if !ss.listening || ss.uttCut {
		return
	}
	ss.utt = append(ss.utt, samples...)
	if ss.mode != proto.ModeManual {
		ev := ss.ep.Feed(samples)
		if v, ok := ss.ep.(*stt.VADEndpointer); ok && v.FinderErr() != nil && !ss.vadWarned {
			ss.vadWarned = true
			ss.log.Warn("voice activity model failed: the energy detector ends this utterance", "err", v.FinderErr())
		}
		switch ev {
		case stt.EventSpeechStart:
			ss.heard = true
		case stt.EventSpeechEnd:
			ss.heard = true
			ss.endOfUtterance("end of speech")
			return
		}
		if !ss.heard && !ss.ep.Speaking() {
			// Keep only a short pre-roll of silence: memory stays bounded
			// however long a device streams quiet audio.
			keep := preRollSamples + int(ss.srv.cfg.Endpoint.MinSpeech.Seconds()*stt.SampleRate)
			if ss.srv.deps.SpeechFinder != nil {
				// The model hears speech up to a look (300 ms) late, and
				// finds its start further back than the energy does.
				keep += stt.SampleRate
			}
			if len(ss.utt) > 2*keep {
				n := copy(ss.utt, ss.utt[len(ss.utt)-keep:])
				ss.utt = ss.utt[:n]
				// The recorded packets follow, a packet or so longer.
				if k := keep/stt.FrameSamples + 1; len(ss.uttOpus) > k {
					ss.uttOpus = slices.Clone(ss.uttOpus[len(ss.uttOpus)-k:])
				}
			}
		}
	}
	if max := int(ss.srv.cfg.MaxUtterance.Seconds() * stt.SampleRate); len(ss.utt) >= max {
		ss.utt = ss.utt[:max]
		ss.uttCut = true
		ss.finishUtterance("maximum length", true)
	}
}

// endOfUtterance ends the utterance being listened to, if any.
func (ss *session) endOfUtterance(why string) {
	if !ss.listening || ss.uttCut {
		ss.listening = false
		return
	}
	ss.finishUtterance(why, false)
}

func (ss *session) finishUtterance(why string, truncated bool) {
	samples := make([]float32, len(ss.utt))
	copy(samples, ss.utt)
	in := turnInput{source: proto.SourceVoice, samples: samples, mode: ss.mode, truncated: truncated, opus: ss.uttOpus}
	ss.uttOpus = nil
	if ss.mode != proto.ModeManual && !ss.heard {
		in.noSpeech = true
	}
	ss.log.Debug("utterance ended", "why", why, "ms", len(samples)*1000/stt.SampleRate)
	mode := ss.mode
	ss.listening = false
	ss.utt = ss.utt[:0]
	if mode == proto.ModeRealtime && !truncated {
		// Realtime devices keep streaming: listen for the next utterance.
		ss.beginListening(mode)
	}
	ss.startTurn(in)
}
