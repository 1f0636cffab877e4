package edge

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Pacing of the cloud's audio (PROTOCOL.md section 4): a device plays
// TTS as it arrives, keeps at most about 40 packets and drops the rest,
// and stops playing at tts stop. A Lambda sends a sentence's audio in a
// burst, so the relay passes it on at about real time, a few packets
// ahead, and holds tts stop until the audio before it could have been
// played.

// paceLead is how many packets the device may hold beyond the one
// playing.
const paceLead = 4

// Bounds of what waits in a session's pacer: audio (about a minute of
// 60 ms packets; beyond it, packets are dropped) and all frames.
const (
	maxPacedAudio  = 1024
	maxPacedFrames = 2048
)

// pacedFrame is a frame for the device: audio lasting dur, or a message
// sent in order, after the audio before it has played when afterPlay.
type pacedFrame struct {
	out       outFrame
	dur       time.Duration // audio: its playing time
	afterPlay bool
}

// audioPacer passes a session's relayed audio, and the tts messages
// around it, to the device in order and at about real time.
type audioPacer struct {
	ss    *session
	wake  chan struct{}
	start sync.Once

	mu    sync.Mutex
	queue []pacedFrame
	audio int // audio frames in queue
	drops int // frames dropped since the queue was last empty
}

func newAudioPacer(ss *session) *audioPacer {
	return &audioPacer{ss: ss, wake: make(chan struct{}, 1)}
}

// sleepUntilDone waits d, or until done is closed (it then reports false).
func sleepUntilDone(d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// push queues a frame; audio beyond the bound is dropped.
func (p *audioPacer) push(f pacedFrame) {
	p.start.Do(func() {
		p.ss.wg.Add(1)
		go p.run() // ends when the session ends
	})
	p.mu.Lock()
	isAudio := f.dur > 0
	if (isAudio && p.audio >= maxPacedAudio) || len(p.queue) >= maxPacedFrames {
		p.drops++
		if p.drops == 1 {
			p.ss.log.Warn("cloud sent more audio than a device can take; dropping the excess")
		}
		p.mu.Unlock()
		return
	}
	p.queue = append(p.queue, f)
	if isAudio {
		p.audio++
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// audio queues an Opus packet of the given playing time.
func (p *audioPacer) audioFrame(data []byte, dur time.Duration) {
	p.push(pacedFrame{out: outFrame{kind: websocket.BinaryMessage, data: data}, dur: dur})
}

// flush drops what waits: the turn it belonged to was stopped.
func (p *audioPacer) flush() {
	p.mu.Lock()
	p.queue, p.audio = nil, 0
	p.mu.Unlock()
}

func (p *audioPacer) next() (pacedFrame, bool) {
	for {
		p.mu.Lock()
		if len(p.queue) > 0 {
			f := p.queue[0]
			p.queue[0] = pacedFrame{}
			p.queue = p.queue[1:]
			if f.dur > 0 {
				p.audio--
			}
			p.mu.Unlock()
			return f, true
		}
		p.drops = 0
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.ss.ctx.Done():
			return pacedFrame{}, false
		}
	}
}

// run hands the queued frames to the session: audio no more than
// paceLead packets ahead of real time, a frame marked afterPlay once the
// audio before it has played.
func (p *audioPacer) run() {
	defer p.ss.wg.Done()
	done := p.ss.ctx.Done()
	var playEnd time.Time // when the audio handed over so far has played
	for {
		f, ok := p.next()
		if !ok {
			return
		}
		now := time.Now()
		if playEnd.Before(now) {
			playEnd = now // nothing is playing
		}
		switch {
		case f.dur > 0:
			if ahead := playEnd.Sub(now) - paceLead*f.dur; ahead > 0 {
				if !sleepUntilDone(ahead, done) {
					return
				}
				now = time.Now()
			}
			if playEnd.Before(now) {
				playEnd = now
			}
			playEnd = playEnd.Add(f.dur)
		case f.afterPlay:
			if !sleepUntilDone(playEnd.Sub(now), done) {
				return
			}
		}
		p.ss.enqueue(f.out)
	}
}
