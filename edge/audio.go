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
	ss.setListening(true)
	ss.mode = mode
	ss.utt = ss.utt[:0]
	ss.dropPackets(false)
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
	// Packets are kept to record the utterance and to replay it to the
	// cloud, which takes Opus as the device sent it.
	if (ss.srv.deps.Recorder != nil || ss.relay != nil) && !ss.uttOpusOff {
		ss.keepPacket(pkt, len(f))
	}
	ss.onAudio(f)
	return nil
}

// maxKeptOpus bounds the Opus packets kept to record one utterance: far
// more than 30 s of speech at any bit rate a device uses. Beyond it, or
// on a packet larger than stt.MaxOpusPacket (a real encoder never sends
// one; padding can make one decode to a few milliseconds), packets are
// dropped and the utterance is recorded from its decoded samples.
const maxKeptOpus = 1 << 20

// keptPacket is an Opus packet as the device sent it and the number of
// samples it decoded to.
type keptPacket struct {
	data    []byte
	samples int
}

// keepPacket keeps pkt for the recording, or gives packets up for this
// utterance when it is out of bounds.
func (ss *session) keepPacket(pkt []byte, samples int) {
	if len(pkt) > stt.MaxOpusPacket || ss.uttOpusLen+len(pkt) > maxKeptOpus {
		ss.dropPackets(true)
		return
	}
	ss.uttOpus = append(ss.uttOpus, keptPacket{bytes.Clone(pkt), samples})
	ss.uttOpusLen += len(pkt)
}

// trimPackets keeps the newest packets that cover the last n samples (a
// packet more, at most), as the utterance was trimmed to its last n.
func (ss *session) trimPackets(n int) {
	covered, i := 0, len(ss.uttOpus)
	for i > 0 && covered < n {
		i--
		covered += ss.uttOpus[i].samples
	}
	if i == 0 {
		return
	}
	ss.uttOpus = slices.Clone(ss.uttOpus[i:])
	ss.uttOpusLen = 0
	for _, p := range ss.uttOpus {
		ss.uttOpusLen += len(p.data)
	}
}

// dropPackets forgets the kept packets; off records the rest of the
// utterance from its samples instead.
func (ss *session) dropPackets(off bool) {
	ss.uttOpus, ss.uttOpusLen, ss.uttOpusOff = nil, 0, off
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
				ss.trimPackets(n)
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
		ss.setListening(false)
		return
	}
	ss.finishUtterance(why, false)
}

func (ss *session) finishUtterance(why string, truncated bool) {
	samples := make([]float32, len(ss.utt))
	copy(samples, ss.utt)
	in := turnInput{source: proto.SourceVoice, samples: samples, mode: ss.mode, truncated: truncated}
	if !ss.uttOpusOff && len(ss.uttOpus) > 0 {
		in.opus = make([][]byte, len(ss.uttOpus))
		for i, p := range ss.uttOpus {
			in.opus[i] = p.data
		}
	}
	ss.dropPackets(false)
	if ss.mode != proto.ModeManual && !ss.heard {
		in.noSpeech = true
	}
	ss.log.Debug("utterance ended", "why", why, "ms", len(samples)*1000/stt.SampleRate)
	mode := ss.mode
	ss.utt = ss.utt[:0]
	ss.startTurn(in) // first, so the status light goes from listening to busy
	ss.setListening(false)
	if mode == proto.ModeRealtime && !truncated {
		// Realtime devices keep streaming: listen for the next utterance.
		ss.beginListening(mode)
	}
}
