package cloud

import "time"

// Backoff is exponential back-off with jitter: the delay before retry n
// (0-based) is Min·2ⁿ, capped at Max, less up to Jitter of itself at
// random, so that many Pis behind one failed uplink do not retry in step.
type Backoff struct {
	Min    time.Duration
	Max    time.Duration
	Jitter float64 // 0..1: the fraction of the delay that is random
}

// Delay returns the delay before retry n, with r in [0, 1) the random
// draw.
func (b Backoff) Delay(n int, r float64) time.Duration {
	d := b.Min
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	j := b.Jitter
	if j < 0 {
		j = 0
	}
	if j > 1 {
		j = 1
	}
	return d - time.Duration(r*j*float64(d))
}
