package stt_test

import (
	"bytes"
	"fmt"
	"log"
	"time"

	"github.com/stikadoo/stikadoo-edge/stt"
)

func ExampleReadWAV() {
	// A 48 kHz recording, as a phone or a browser would make it.
	var file bytes.Buffer
	if err := stt.WriteWAV(&file, sine(48000, 440, 0.5, 48000), 48000); err != nil {
		log.Fatal(err)
	}
	samples, rate, err := stt.ReadWAV(&file)
	if err != nil {
		log.Fatal(err)
	}
	samples = stt.Resample(samples, rate, stt.SampleRate)
	fmt.Printf("%d Hz -> %d samples at %d Hz\n", rate, len(samples), stt.SampleRate)
	// Output: 48000 Hz -> 16000 samples at 16000 Hz
}

func ExampleResample() {
	out := stt.Resample(make([]float32, 44100), 44100, stt.SampleRate)
	fmt.Println(len(out))
	// Output: 16000
}

func ExampleOpusDecoder() {
	enc, err := stt.NewOpusEncoder()
	if err != nil {
		log.Fatal(err)
	}
	dec, err := stt.NewOpusDecoder()
	if err != nil {
		log.Fatal(err)
	}
	// A device sends one 60 ms packet per frame.
	packet, err := enc.Encode(sine(stt.FrameSamples, 440, 0.3, stt.SampleRate))
	if err != nil {
		log.Fatal(err)
	}
	samples, err := dec.Decode(nil, packet)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(samples), "samples")
	// Output: 960 samples
}

func ExampleAppendPCM16() {
	// The Stikadoo printer sends little-endian int16 PCM.
	fmt.Println(stt.AppendPCM16(nil, []int16{0, 16384, -32768}))
	// Output: [0 0.5 -1]
}

func ExampleEndpointer() {
	ep := stt.NewEndpointer(stt.EndpointConfig{
		Threshold: 0.02,
		Silence:   800 * time.Millisecond,
		MinSpeech: 200 * time.Millisecond,
		NoSpeech:  15 * time.Second,
	})
	// Half a second of quiet, one second of voice, one second of quiet,
	// fed in 60 ms frames as a device sends them.
	audio := concat(make([]float32, 8000), sine(16000, 220, 0.3, stt.SampleRate), make([]float32, 16000))
	for i := 0; i < len(audio); i += stt.FrameSamples {
		switch ep.Feed(audio[i:min(i+stt.FrameSamples, len(audio))]) {
		case stt.EventSpeechStart:
			fmt.Printf("speech from %.2f s\n", float64(ep.SpeechStartSample())/stt.SampleRate)
		case stt.EventSpeechEnd:
			fmt.Println("end of speech")
		case stt.EventNoSpeech:
			fmt.Println("nothing said")
		}
	}
	// Output:
	// speech from 0.50 s
	// end of speech
}
