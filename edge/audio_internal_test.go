package edge

import (
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func TestKeptPacketsAreBounded(t *testing.T) {
	ss := &session{}
	// An oversized packet (padding can make one decode to 2.5 ms) gives
	// packets up for the utterance: it is recorded from its samples.
	ss.keepPacket(make([]byte, 100), stt.FrameSamples)
	ss.keepPacket(make([]byte, stt.MaxOpusPacket+1), 40)
	if !ss.uttOpusOff || len(ss.uttOpus) != 0 || ss.uttOpusLen != 0 {
		t.Fatalf("after an oversized packet: off %v, %d packets, %d bytes", ss.uttOpusOff, len(ss.uttOpus), ss.uttOpusLen)
	}
	ss.dropPackets(false)

	// Many packets of a legal size stop at the byte bound.
	pkt := make([]byte, stt.MaxOpusPacket)
	for range maxKeptOpus/stt.MaxOpusPacket + 10 {
		if ss.uttOpusOff {
			break
		}
		ss.keepPacket(pkt, 40)
	}
	if !ss.uttOpusOff || ss.uttOpusLen > maxKeptOpus {
		t.Fatalf("after %d bytes of packets: off %v, kept %d bytes", maxKeptOpus, ss.uttOpusOff, ss.uttOpusLen)
	}
}

func TestTrimPacketsBySamples(t *testing.T) {
	ss := &session{}
	// Packets of mixed lengths: 20 of 60 ms, then 10 of 20 ms.
	for i := range 30 {
		n := stt.FrameSamples
		if i >= 20 {
			n = stt.FrameSamples / 3
		}
		ss.keepPacket([]byte{byte(i), 1, 2}, n)
	}
	// Keep the last 400 ms: the ten 20 ms packets and enough 60 ms ones.
	ss.trimPackets(stt.SampleRate * 4 / 10)
	covered := 0
	for _, p := range ss.uttOpus {
		covered += p.samples
	}
	if covered < stt.SampleRate*4/10 || covered > stt.SampleRate*4/10+stt.FrameSamples {
		t.Errorf("kept packets cover %d samples, want 400 ms and at most a packet more", covered)
	}
	if last := ss.uttOpus[len(ss.uttOpus)-1].data[0]; last != 29 {
		t.Errorf("the newest packet kept is %d, want 29", last)
	}
	if ss.uttOpusLen != 3*len(ss.uttOpus) {
		t.Errorf("byte count %d for %d packets of 3 bytes", ss.uttOpusLen, len(ss.uttOpus))
	}
}
