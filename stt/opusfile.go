package stt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// OpusFileMagic starts a file of Opus packets as the gateway records them
// (WriteOpusPackets): the packets a device sent, 16 kHz mono, each
// preceded by its length as a big-endian uint16, with no other framing.
const OpusFileMagic = "STKOPUS1"

// maxOpusFileSamples bounds ReadOpusPackets as ReadWAV is bounded:
// MaxWAVDuration of audio.
const maxOpusFileSamples = int(MaxWAVDuration / time.Second * SampleRate)

// WriteOpusPackets writes packets in the recorded Opus format.
func WriteOpusPackets(w io.Writer, packets [][]byte) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(OpusFileMagic)
	var n [2]byte
	for i, p := range packets {
		if len(p) == 0 || len(p) > MaxOpusPacket {
			return fmt.Errorf("write Opus packet %d of %d bytes: %w", i, len(p), ErrOpus)
		}
		binary.BigEndian.PutUint16(n[:], uint16(len(p)))
		bw.Write(n[:])
		bw.Write(p)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write Opus packets: %w", err)
	}
	return nil
}

// IsOpusPackets reports whether head (the first bytes of a file) starts
// the recorded Opus format.
func IsOpusPackets(head []byte) bool { return bytes.HasPrefix(head, []byte(OpusFileMagic)) }

// ReadOpusPackets reads a file of the recorded Opus format and decodes it
// to 16 kHz samples. Undecodable packets are skipped and counted in bad,
// as the gateway does; a damaged or truncated file is an error wrapping
// ErrOpus.
func ReadOpusPackets(r io.Reader) (samples []float32, bad int, err error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(OpusFileMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !IsOpusPackets(magic) {
		return nil, 0, fmt.Errorf("read Opus packets: no %q header: %w", OpusFileMagic, ErrOpus)
	}
	dec, err := NewOpusDecoder()
	if err != nil {
		return nil, 0, err
	}
	var frame []float32
	pkt := make([]byte, MaxOpusPacket)
	for i := 0; ; i++ {
		var n [2]byte
		if _, err := io.ReadFull(br, n[:]); errors.Is(err, io.EOF) {
			return samples, bad, nil
		} else if err != nil {
			return nil, bad, fmt.Errorf("read Opus packet %d: %w: %w", i, err, ErrOpus)
		}
		size := int(binary.BigEndian.Uint16(n[:]))
		if size == 0 || size > MaxOpusPacket {
			return nil, bad, fmt.Errorf("read Opus packet %d: length %d: %w", i, size, ErrOpus)
		}
		if _, err := io.ReadFull(br, pkt[:size]); err != nil {
			return nil, bad, fmt.Errorf("read Opus packet %d: truncated: %w", i, ErrOpus)
		}
		f, err := dec.Decode(frame[:0], pkt[:size])
		if err != nil {
			bad++
			continue
		}
		frame = f
		if len(samples)+len(f) > maxOpusFileSamples {
			return nil, bad, fmt.Errorf("read Opus packets: more than %v of audio: %w", MaxWAVDuration, ErrTooLong)
		}
		samples = append(samples, f...)
	}
}
