package stt

import (
	"fmt"

	"github.com/hraban/opus"
)

// FrameSamples is the length of one device audio frame: 60 ms at 16 kHz.
const FrameSamples = SampleRate * 60 / 1000

// maxPacketSamples is the longest audio one Opus packet can hold: 120 ms.
const maxPacketSamples = SampleRate * 120 / 1000

// MaxOpusPacket is the largest packet kept in a recording
// (WriteOpusPackets); it is the encoder's output buffer, as libopus recommends
// 4000 bytes as enough for any packet.
const MaxOpusPacket = 4000

// OpusDecoder decodes the Opus packets of one device stream to 16 kHz mono.
// It keeps state between packets and is not safe for concurrent use.
type OpusDecoder struct {
	dec *opus.Decoder
	pcm []int16 // reused for every packet
}

// NewOpusDecoder returns a decoder producing 16 kHz mono samples.
func NewOpusDecoder() (*OpusDecoder, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("create Opus decoder: %w: %w", ErrOpus, err)
	}
	return &OpusDecoder{dec: dec, pcm: make([]int16, maxPacketSamples)}, nil
}

// Decode decodes one Opus packet (at most 120 ms of audio) and appends its
// samples, as float32 in [-1, 1), to dst. Once dst has room, decoding
// allocates nothing. An empty or corrupt packet returns an error wrapping
// ErrOpus, appends nothing, and leaves the decoder usable for the next
// packet.
func (d *OpusDecoder) Decode(dst []float32, packet []byte) ([]float32, error) {
	if len(packet) == 0 {
		return dst, fmt.Errorf("decode Opus packet: %w: empty packet", ErrOpus)
	}
	n, err := d.dec.Decode(packet, d.pcm)
	if err != nil {
		return dst, fmt.Errorf("decode Opus packet of %d bytes: %w: %w", len(packet), ErrOpus, err)
	}
	return AppendPCM16(dst, d.pcm[:n]), nil
}

// OpusEncoder encodes 16 kHz mono audio into 60 ms Opus packets, as a
// device does. It is not safe for concurrent use.
type OpusEncoder struct {
	enc *opus.Encoder
	pcm []int16 // one frame, reused
	out []byte  // packet buffer, reused
}

// NewOpusEncoder returns an encoder for 16 kHz mono speech (the VoIP
// application of libopus).
func NewOpusEncoder() (*OpusEncoder, error) {
	enc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("create Opus encoder: %w: %w", ErrOpus, err)
	}
	return &OpusEncoder{
		enc: enc,
		pcm: make([]int16, 0, FrameSamples),
		out: make([]byte, MaxOpusPacket),
	}, nil
}

// Encode encodes one 60 ms frame (FrameSamples samples; shorter input is
// padded with silence) and returns the packet in a new slice. Samples
// outside [-1, 1] are clamped. Input longer than FrameSamples is an error.
func (e *OpusEncoder) Encode(frame []float32) ([]byte, error) {
	if len(frame) > FrameSamples {
		return nil, fmt.Errorf("encode Opus frame: %d samples, want at most %d", len(frame), FrameSamples)
	}
	e.pcm = FloatToPCM16(e.pcm[:0], frame)
	for len(e.pcm) < FrameSamples {
		e.pcm = append(e.pcm, 0)
	}
	n, err := e.enc.Encode(e.pcm, e.out)
	if err != nil {
		return nil, fmt.Errorf("encode Opus frame: %w: %w", ErrOpus, err)
	}
	return append([]byte(nil), e.out[:n]...), nil
}
