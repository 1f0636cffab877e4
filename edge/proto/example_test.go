package proto_test

import (
	"fmt"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

func ExampleDecodeBinary() {
	// A protocol version 3 frame: type 0 (Opus), reserved, payload_size 3
	// big-endian, then the Opus packet.
	frame := []byte{0x00, 0x00, 0x00, 0x03, 0x58, 0xe1, 0x2f}
	f, err := proto.DecodeBinary(3, frame)
	if err != nil {
		fmt.Println(err, proto.CloseCode(err))
		return
	}
	fmt.Printf("type %d, payload % x\n", f.Type, f.Payload)

	// The same frame claiming 4 bytes of payload is refused.
	frame[3] = 0x04
	_, err = proto.DecodeBinary(3, frame)
	fmt.Println(err, proto.CloseCode(err))
	// Output:
	// type 0, payload 58 e1 2f
	// v3 frame: payload_size 4, 3 bytes follow: payload_size does not match the frame length 1002
}

func ExampleDecodePCMText() {
	// One 60 ms frame of the Stikadoo printer: 960 samples at 16 kHz.
	samples := make([]int16, 960)
	samples[0], samples[1] = 258, -2
	frame := proto.EncodePCMText(samples)
	fmt.Println(len(frame), string(frame[:8]))

	// Text frames are routed by their first non-blank byte.
	if kind, _ := proto.ClassifyText(frame); kind == proto.TextPCM {
		pcm, err := proto.DecodePCMText(nil, frame)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(len(pcm), pcm[0], pcm[1])
	}
	// Output:
	// 2560 AgH+/wAA
	// 960 258 -2
}

func ExampleDecodeMessage() {
	m, err := proto.DecodeMessage([]byte(`{"type":"listen","state":"start","mode":"manual"}`))
	if err != nil {
		fmt.Println(err, proto.CloseCode(err))
		return
	}
	fmt.Println(m.Type, m.State, m.Mode)

	_, err = proto.DecodeMessage([]byte(`{"state":"stop"}`))
	fmt.Println(err, proto.CloseCode(err))
	// Output:
	// listen start manual
	// JSON message has no "type" 1008
}
