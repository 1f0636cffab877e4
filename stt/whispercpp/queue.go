package whispercpp

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// queue runs jobs one at a time in the order they arrive. Contexts of one
// whisper model share its state, so calls into it must never overlap. A
// caller whose context ends while it waits leaves the queue without
// running; a job that has started runs to its end.
type queue struct {
	depth int // most callers waiting behind the running job

	mu       sync.Mutex
	waiting  []*ticket // in arrival order
	running  bool
	closed   bool
	idle     chan struct{} // closed when the running job ends after close
	served   int64
	left     int64
	rejected int64
	waitSum  time.Duration
	waitMax  time.Duration
}

// ticket is one waiting caller. ready is closed when its turn comes
// (granted) or the queue closes (err set).
type ticket struct {
	ready   chan struct{}
	granted bool
	err     error
}

// newQueue returns a queue that lets depth callers wait behind the
// running job.
func newQueue(depth int) *queue {
	return &queue{depth: depth}
}

// do waits for its turn, then runs job and returns job's error and how
// long it waited. It returns an error wrapping ErrBusy when depth callers
// already wait, ErrClosed after close, and ctx's error when ctx ends
// before its turn comes.
func (q *queue) do(ctx context.Context, job func() error) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		q.mu.Lock()
		q.left++
		q.mu.Unlock()
		return 0, fmt.Errorf("wait for whisper: %w", err)
	}
	start := time.Now()
	q.mu.Lock()
	switch {
	case q.closed:
		q.rejected++
		q.mu.Unlock()
		return 0, fmt.Errorf("wait for whisper: %w", ErrClosed)
	case !q.running:
		q.running = true
		q.mu.Unlock()
	case len(q.waiting) >= q.depth:
		q.rejected++
		n := len(q.waiting)
		q.mu.Unlock()
		return 0, fmt.Errorf("wait for whisper behind %d calls: %w", n, ErrBusy)
	default:
		t := &ticket{ready: make(chan struct{})}
		q.waiting = append(q.waiting, t)
		q.mu.Unlock()
		select {
		case <-t.ready:
		case <-ctx.Done():
		}
		q.mu.Lock()
		if t.err != nil {
			q.rejected++
			q.mu.Unlock()
			return time.Since(start), fmt.Errorf("wait for whisper: %w", t.err)
		}
		if !t.granted {
			q.remove(t)
			q.left++
			q.mu.Unlock()
			return time.Since(start), fmt.Errorf("wait for whisper: %w", ctx.Err())
		}
		q.mu.Unlock()
		if err := ctx.Err(); err != nil {
			// The turn came as the context ended: pass it on.
			q.mu.Lock()
			q.left++
			q.release()
			q.mu.Unlock()
			return time.Since(start), fmt.Errorf("wait for whisper: %w", err)
		}
	}
	wait := time.Since(start)
	defer func() {
		q.mu.Lock()
		q.served++
		q.waitSum += wait
		q.waitMax = max(q.waitMax, wait)
		q.release()
		q.mu.Unlock()
	}()
	return wait, job()
}

// remove takes t out of the waiting line. q.mu is held.
func (q *queue) remove(t *ticket) {
	for i, w := range q.waiting {
		if w == t {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			return
		}
	}
}

// release ends the running job's turn: the first waiting caller runs
// next, if any. q.mu is held.
func (q *queue) release() {
	if len(q.waiting) > 0 && !q.closed {
		t := q.waiting[0]
		q.waiting = q.waiting[1:]
		t.granted = true
		close(t.ready)
		return
	}
	q.running = false
	if q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// close refuses new callers, sends the waiting ones away with ErrClosed
// and returns when the running job, if any, has ended. It may be called
// more than once.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	for _, t := range q.waiting {
		t.err = ErrClosed
		close(t.ready)
	}
	q.waiting = nil
	if !q.running {
		q.mu.Unlock()
		return
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	idle := q.idle
	q.mu.Unlock()
	<-idle
}

// stats reports the queue's state and history.
func (q *queue) stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{
		Queued:    len(q.waiting),
		Served:    q.served,
		Abandoned: q.left,
		Rejected:  q.rejected,
		MaxWaitMs: float64(q.waitMax) / float64(time.Millisecond),
	}
	if q.running {
		s.Running = 1
	}
	if q.served > 0 {
		s.MeanWaitMs = float64(q.waitSum) / float64(q.served) / float64(time.Millisecond)
	}
	return s
}
