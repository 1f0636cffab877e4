package cloud

import (
	"sync"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Breaker is a circuit breaker around real connections to the cloud.
// Closed, it lets every connection through and counts consecutive
// failures; at Failures it opens and refuses connections for OpenFor;
// then it is half-open and lets one trial through: success closes it,
// failure opens it again. It is driven by a Clock (gobreaker reads the
// wall clock, which a test cannot move).
type Breaker struct {
	Failures int           // consecutive failures that open it
	OpenFor  time.Duration // how long it stays open
	Clock    Clock

	mu       sync.Mutex
	state    string
	fails    int
	openedAt time.Time
	trial    bool // a half-open trial is in flight
}

// NewBreaker returns a closed breaker.
func NewBreaker(failures int, openFor time.Duration, clock Clock) *Breaker {
	if failures < 1 {
		failures = 1
	}
	if clock == nil {
		clock = RealClock{}
	}
	return &Breaker{Failures: failures, OpenFor: openFor, Clock: clock, state: proto.BreakerClosed}
}

// State returns closed, open or half-open.
func (b *Breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	return b.state
}

func (b *Breaker) advance() {
	if b.state == proto.BreakerOpen && !b.Clock.Now().Before(b.openedAt.Add(b.OpenFor)) {
		b.state = proto.BreakerHalfOpen
		b.trial = false
	}
}

// Allow reports whether a connection may be tried now; in the half-open
// state only one trial at a time is allowed. A caller that was allowed
// must report the result with Success or Failure.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	switch b.state {
	case proto.BreakerClosed:
		return true
	case proto.BreakerHalfOpen:
		if b.trial {
			return false
		}
		b.trial = true
		return true
	}
	return false
}

// Success records a working connection: the breaker closes.
func (b *Breaker) Success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state, b.fails, b.trial = proto.BreakerClosed, 0, false
}

// Abandon records that an allowed connection was given up on by its
// caller, which says nothing about the cloud: a half-open breaker lets the
// next trial through.
func (b *Breaker) Abandon() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == proto.BreakerHalfOpen {
		b.trial = false
	}
}

// Failure records a failed connection.
func (b *Breaker) Failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	b.fails++
	if b.state == proto.BreakerHalfOpen || b.fails >= b.Failures {
		b.state, b.openedAt, b.trial = proto.BreakerOpen, b.Clock.Now(), false
	}
}
