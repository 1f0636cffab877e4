package cloudtest

import (
	"sync"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/cloud"
)

// Clock is a fake cloud.Clock: time moves only with Advance.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	added  chan struct{}
}

// NewClock returns a clock at a fixed date.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC), added: make(chan struct{}, 1024)}
}

type timer struct {
	c     *Clock
	at    time.Time
	d     time.Duration
	ch    chan time.Time
	fired bool
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return !t.fired
		}
	}
	return false
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when Advance passes its time.
func (c *Clock) NewTimer(d time.Duration) cloud.Timer {
	c.mu.Lock()
	t := &timer{c: c, at: c.now.Add(d), d: d, ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
	return t
}

// Advance moves time forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.fired = true
			t.ch <- c.now
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
}

// Pending returns the durations the pending timers were set for, oldest
// first.
func (c *Clock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, len(c.timers))
	for i, t := range c.timers {
		out[i] = t.d
	}
	return out
}

// WaitTimers blocks until at least n timers are pending or timeout (real
// time, a guard against a hung test) passes; it reports whether they are.
func (c *Clock) WaitTimers(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		k := len(c.timers)
		c.mu.Unlock()
		if k >= n {
			return true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		select {
		case <-c.added:
		case <-time.After(min(wait, 10*time.Millisecond)):
		}
	}
}

var _ cloud.Clock = (*Clock)(nil)
