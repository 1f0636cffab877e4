package stt

import "math"

// Resample converts samples from one rate (Hz) to another by linear
// interpolation. When it lowers the rate it first low-passes the signal
// with a windowed-sinc filter just below the new Nyquist frequency, so
// that 44.1 or 48 kHz audio does not alias into the 16 kHz band. It
// returns samples itself when from == to, and nil when either rate is not
// positive. The result has len(samples)*to/from samples, rounded down.
func Resample(samples []float32, from, to int) []float32 {
	if from <= 0 || to <= 0 {
		return nil
	}
	if from == to {
		return samples
	}
	n := int(int64(len(samples)) * int64(to) / int64(from))
	out := make([]float32, n)
	if n == 0 {
		return out
	}
	var kernel []float64
	if to < from {
		kernel = lowPass(float64(to) / float64(from))
	}
	half := len(kernel) / 2
	last := len(samples) - 1
	// at is the (filtered) input at index j; consecutive outputs mostly
	// need the same two indices, so the last two are remembered.
	cj := [2]int{-1, -1}
	var cv [2]float64
	at := func(j int) float64 {
		if kernel == nil {
			return float64(samples[min(j, last)])
		}
		if j == cj[0] {
			return cv[0]
		}
		if j == cj[1] {
			return cv[1]
		}
		var acc float64
		for k, h := range kernel {
			i := min(max(j+k-half, 0), last) // the edges are held
			acc += h * float64(samples[i])
		}
		cj[0], cv[0] = cj[1], cv[1]
		cj[1], cv[1] = j, acc
		return acc
	}
	f64, t64 := int64(from), int64(to)
	for i := range out {
		pos := int64(i) * f64 // input position times to
		j := int(pos / t64)
		frac := float64(pos%t64) / float64(to)
		v := at(j)
		if frac != 0 {
			v += (at(j+1) - v) * frac
		}
		out[i] = float32(v)
	}
	return out
}

// lowPass returns a Blackman-windowed sinc low-pass kernel, normalised to
// unit gain at DC, for decimating by ratio (to/from, below 1): the cut-off
// sits at 90% of the output Nyquist frequency.
func lowPass(ratio float64) []float64 {
	fc := 0.45 * ratio // cycles per input sample
	half := int(math.Ceil(8 / ratio))
	k := make([]float64, 2*half+1)
	var sum float64
	for i := range k {
		x := float64(i - half)
		v := 2 * fc
		if x != 0 {
			v = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := 0.42 + 0.5*math.Cos(math.Pi*x/float64(half+1)) + 0.08*math.Cos(2*math.Pi*x/float64(half+1))
		k[i] = v * w
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}
