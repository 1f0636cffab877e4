package edgetest

import (
	"context"
	"sync"
)

// eventQueue holds server frames until Next takes them. It never blocks
// the reader, so a test that reads nothing cannot stall the connection.
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	err    error         // set when the connection ended
	notify chan struct{} // signalled on push and close
}

func newEventQueue() *eventQueue {
	return &eventQueue{notify: make(chan struct{}, 1)}
}

func (q *eventQueue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	q.signal()
}

// close marks the end of the stream; pop returns err once drained.
func (q *eventQueue) close(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) pop(ctx context.Context) (Event, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			ev := q.items[0]
			q.items[0] = Event{}
			q.items = q.items[1:]
			more := len(q.items) > 0 || q.err != nil
			q.mu.Unlock()
			if more {
				q.signal() // another waiter may take the rest
			}
			return ev, nil
		}
		err := q.err
		q.mu.Unlock()
		if err != nil {
			q.signal()
			return Event{}, err
		}
		select {
		case <-q.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}
