package stt

import "slices"

// SampleRate is the rate, in Hz, of every sample stream this package
// produces and of the audio devices send.
const SampleRate = 16000

// AppendPCM16 appends pcm converted to float32 in [-1, 1) (each sample
// divided by 32768) to dst and returns the extended slice.
func AppendPCM16(dst []float32, pcm []int16) []float32 {
	dst = slices.Grow(dst, len(pcm))
	for _, s := range pcm {
		dst = append(dst, float32(s)/32768)
	}
	return dst
}

// FloatToPCM16 appends f converted to 16-bit PCM to dst and returns the
// extended slice. Samples outside [-1, 1] are clamped; NaN becomes 0.
func FloatToPCM16(dst []int16, f []float32) []int16 {
	dst = slices.Grow(dst, len(f))
	for _, s := range f {
		dst = append(dst, floatToInt16(s))
	}
	return dst
}

// floatToInt16 scales s by 32768, rounds to nearest and clamps to the
// int16 range.
func floatToInt16(s float32) int16 {
	v := s * 32768
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	case v < 0:
		return int16(v - 0.5)
	default: // NaN
		return 0
	}
}
