package stt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func TestOpusPacketsRoundTrip(t *testing.T) {
	in := sine(stt.SampleRate, 440, 0.3, stt.SampleRate) // 1 s
	pkts := encodeAll(t, in)
	var buf bytes.Buffer
	if err := stt.WriteOpusPackets(&buf, pkts); err != nil {
		t.Fatal(err)
	}
	if !stt.IsOpusPackets(buf.Bytes()) || stt.IsOpusPackets([]byte("RIFF....WAVE")) {
		t.Error("IsOpusPackets does not tell the format by its header")
	}
	// The file is the packets and a 2-byte length each, after the magic.
	size := len(stt.OpusFileMagic)
	for _, p := range pkts {
		size += 2 + len(p)
	}
	if buf.Len() != size {
		t.Errorf("file is %d bytes, want %d", buf.Len(), size)
	}
	out, bad, err := stt.ReadOpusPackets(bytes.NewReader(buf.Bytes()))
	if err != nil || bad != 0 {
		t.Fatalf("ReadOpusPackets: %v (%d bad)", err, bad)
	}
	if want := len(pkts) * stt.FrameSamples; len(out) != want {
		t.Errorf("%d samples decoded, want %d", len(out), want)
	}
	if rmsOf(out) < 0.1 {
		t.Errorf("decoded audio is quiet (RMS %.3f): not the tone", rmsOf(out))
	}
}

func TestOpusPacketsDamaged(t *testing.T) {
	pkts := encodeAll(t, sine(stt.SampleRate/2, 440, 0.3, stt.SampleRate))
	var buf bytes.Buffer
	if err := stt.WriteOpusPackets(&buf, pkts); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for name, data := range map[string][]byte{
		"no header":       good[len(stt.OpusFileMagic):],
		"empty":           nil,
		"truncated":       good[:len(good)-3],
		"half a length":   append(append([]byte{}, good...), 0x01),
		"zero length":     append(append([]byte{}, good...), 0, 0),
		"too long packet": append(append([]byte{}, good...), 0xff, 0xff),
	} {
		if _, _, err := stt.ReadOpusPackets(bytes.NewReader(data)); !errors.Is(err, stt.ErrOpus) {
			t.Errorf("%s: err = %v, want ErrOpus", name, err)
		}
	}
	// A packet that is not Opus is skipped and counted, as the gateway does.
	var mixed bytes.Buffer
	if err := stt.WriteOpusPackets(&mixed, append([][]byte{{0xff, 0xff, 0xff}}, pkts...)); err != nil {
		t.Fatal(err)
	}
	out, bad, err := stt.ReadOpusPackets(&mixed)
	if err != nil || bad != 1 || len(out) != len(pkts)*stt.FrameSamples {
		t.Errorf("with one bad packet: %d samples, %d bad, %v", len(out), bad, err)
	}
	if err := stt.WriteOpusPackets(&bytes.Buffer{}, [][]byte{{}}); !errors.Is(err, stt.ErrOpus) {
		t.Errorf("writing an empty packet: %v, want ErrOpus", err)
	}
}

func FuzzReadOpusPackets(f *testing.F) {
	f.Add([]byte(stt.OpusFileMagic))
	f.Add([]byte(stt.OpusFileMagic + "\x00\x03\xf8\xff\xfe"))
	f.Add([]byte(stt.OpusFileMagic + "\x00\x01\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, bad, err := stt.ReadOpusPackets(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, stt.ErrOpus) && !errors.Is(err, stt.ErrTooLong) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		// Each packet takes at least 3 bytes and gives at most 120 ms.
		if packets := (len(data) - len(stt.OpusFileMagic)) / 3; bad > packets || len(s) > packets*stt.SampleRate*120/1000 {
			t.Fatalf("%d bytes gave %d samples and %d bad packets", len(data), len(s), bad)
		}
	})
}
