package whispertest

import "math"

// Whisper's front end: 16 kHz audio, a 400-point FFT (201 bins).
const (
	sampleRate = 16000
	nFFT       = 400
	nFFTBins   = nFFT/2 + 1
)

// melFilters computes n triangular mel filters over the FFT bins the way
// librosa.filters.mel(sr=16000, n_fft=400, n_mels=n) does with its
// defaults (Slaney's mel scale, each filter normalized to unit area),
// which is how whisper's own filters were made. Row i holds filter i.
func melFilters(n int) []float32 {
	lo, hi := hzToMel(0), hzToMel(sampleRate/2)
	edges := make([]float64, n+2)
	for i := range edges {
		edges[i] = melToHz(lo + (hi-lo)*float64(i)/float64(n+1))
	}
	out := make([]float32, n*nFFTBins)
	for i := range n {
		norm := 2 / (edges[i+2] - edges[i])
		for k := range nFFTBins {
			f := float64(k) * sampleRate / nFFT
			lower := (f - edges[i]) / (edges[i+1] - edges[i])
			upper := (edges[i+2] - f) / (edges[i+2] - edges[i+1])
			out[i*nFFTBins+k] = float32(max(0, min(lower, upper)) * norm)
		}
	}
	return out
}

// Slaney's mel scale: linear below 1 kHz, logarithmic above.
const (
	melLinearStep = 200.0 / 3
	melBreakHz    = 1000.0
	melBreak      = melBreakHz / melLinearStep
)

var melLogStep = math.Log(6.4) / 27

func hzToMel(f float64) float64 {
	if f < melBreakHz {
		return f / melLinearStep
	}
	return melBreak + math.Log(f/melBreakHz)/melLogStep
}

func melToHz(m float64) float64 {
	if m < melBreak {
		return m * melLinearStep
	}
	return melBreakHz * math.Exp(melLogStep*(m-melBreak))
}
