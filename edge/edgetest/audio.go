package edgetest

import (
	"math"
	"time"

	"github.com/stikadoo/stikadoo-edge/stt"
)

// Shape of the synthetic speech: syllables of voiced sound separated by
// short dips, as in connected speech. The dips are short enough (40 ms)
// that an energy end-pointer counts the syllables as one stretch of
// speech, and deep enough that its noise floor never mistakes the voice
// for background noise.
const (
	syllable      = 240 * time.Millisecond
	syllableDip   = 40 * time.Millisecond
	speechPeak    = 0.25
	speechHarmons = 6
)

// samplesIn is the number of 16 kHz samples in d.
func samplesIn(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(int64(d) * stt.SampleRate / int64(time.Second))
}

// Speech returns d of synthetic voiced audio at 16 kHz: a harmonic tone
// whose pitch glides between about 140 and 280 Hz, cut into syllables of
// 200 ms separated by 40 ms dips, peaking near 0.25. An energy end-pointer
// classifies it as speech; a transcriber hears no words in it. It starts
// with a dip, as a recording starts before the first word.
func Speech(d time.Duration) []float32 {
	n := samplesIn(d)
	out := make([]float32, n)
	period := float64(syllable) / float64(time.Second)
	dip := float64(syllableDip) / float64(time.Second)
	voiced := period - dip
	// The sum of sin(k x)/k peaks near 1.85; scale it to speechPeak.
	scale := speechPeak / 1.85
	var phase float64
	for i := range out {
		t := float64(i) / stt.SampleRate
		f0 := 210 + 55*math.Sin(2*math.Pi*0.8*t) + 15*math.Sin(2*math.Pi*3.1*t)
		phase += 2 * math.Pi * f0 / stt.SampleRate
		u := math.Mod(t, period) - dip
		if u < 0 {
			continue
		}
		env := math.Sqrt(math.Sin(math.Pi * u / voiced))
		var v float64
		for k := 1; k <= speechHarmons; k++ {
			v += math.Sin(float64(k)*phase) / float64(k)
		}
		out[i] = float32(scale * env * v)
	}
	return out
}

// Silence returns d of digital silence at 16 kHz.
func Silence(d time.Duration) []float32 {
	return make([]float32, samplesIn(d))
}

// padOpus returns a single-frame (code 0) Opus packet rewritten as a code 3
// packet of one frame carrying padding (RFC 6716 section 3.2.5), about size
// bytes long. Decoders skip padding, so the audio is unchanged. The browser
// test page sends packets this large because its encoder settings do not
// take effect. Other packets, and packets already that long, are returned
// unchanged.
func padOpus(pkt []byte, size int) []byte {
	if len(pkt) < 1 || pkt[0]&3 != 0 || len(pkt)+3 >= size {
		return pkt
	}
	frame := pkt[1:]
	// size = TOC + count byte + length bytes (k bytes of 255, then one) +
	// frame + padding, where padding = 254k + the last length byte.
	pad := size - 3 - len(frame)
	k := 0
	for range 4 {
		k = pad / 254
		pad = size - 3 - k - len(frame)
	}
	k = pad / 254
	out := make([]byte, 0, 3+k+len(frame)+pad)
	out = append(out, pkt[0]|3, 0x40|1) // code 3; padding flag, one frame
	for range k {
		out = append(out, 255)
	}
	out = append(out, byte(pad-254*k))
	out = append(out, frame...)
	return append(out, make([]byte, pad)...)
}

// browserPacketSize is the padded size of the browser page's i-th packet:
// between 1900 and 2300 bytes.
func browserPacketSize(i int) int { return 1900 + (i*137)%400 }
