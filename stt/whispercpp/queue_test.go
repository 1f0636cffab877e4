package whispercpp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/internal/testwait"
)

// blocker is a job that runs until released.
type blocker struct {
	started chan struct{}
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocker) job() error {
	close(b.started)
	<-b.release
	return nil
}

// occupy starts a blocking job on q and returns it once it runs, with a
// channel that yields the job's result.
func occupy(t *testing.T, q *queue) (*blocker, <-chan error) {
	t.Helper()
	b := newBlocker()
	done := make(chan error, 1)
	// Ends when the test closes b.release.
	go func() {
		_, err := q.do(context.Background(), b.job)
		done <- err
	}()
	<-b.started
	return b, done
}

func TestQueueFIFO(t *testing.T) {
	q := newQueue(10)
	first, firstDone := occupy(t, q)
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range 5 {
		wg.Add(1)
		// Ends when its job has run, after first is released.
		go func() {
			defer wg.Done()
			if _, err := q.do(context.Background(), func() error {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				return nil
			}); err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		}()
		// Queue the callers one by one so that their arrival order is known.
		testwait.For(t, fmt.Sprintf("caller %d queued", i), func() bool { return q.stats().Queued == i+1 })
	}
	if s := q.stats(); s.Running != 1 || s.Queued != 5 {
		t.Errorf("stats while busy = %+v, want 1 running and 5 queued", s)
	}
	close(first.release)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	if fmt.Sprint(order) != "[0 1 2 3 4]" {
		t.Errorf("jobs ran in order %v, want arrival order", order)
	}
	s := q.stats()
	if s.Served != 6 || s.Queued != 0 || s.Running != 0 || s.Abandoned != 0 || s.Rejected != 0 {
		t.Errorf("stats after = %+v, want 6 served and nothing else", s)
	}
}

func TestQueueCancelWhileQueued(t *testing.T) {
	q := newQueue(10)
	first, _ := occupy(t, q)
	ran := make(chan int, 3)
	errs := make([]chan error, 3)
	cancels := make([]context.CancelFunc, 3)
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		errs[i] = make(chan error, 1)
		// Ends when its job ran or its context was cancelled.
		go func() {
			_, err := q.do(ctx, func() error { ran <- i; return nil })
			errs[i] <- err
		}()
		testwait.For(t, fmt.Sprintf("caller %d queued", i), func() bool { return q.stats().Queued == i+1 })
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	cancels[1]()
	if err := <-errs[1]; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v, want context.Canceled", err)
	}
	if s := q.stats(); s.Queued != 2 || s.Abandoned != 1 {
		t.Errorf("stats after the cancel = %+v, want 2 queued, 1 abandoned", s)
	}
	close(first.release)
	for _, i := range []int{0, 2} {
		if err := <-errs[i]; err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	close(ran)
	var got []int
	for i := range ran {
		got = append(got, i)
	}
	if fmt.Sprint(got) != "[0 2]" {
		t.Errorf("jobs that ran: %v, want [0 2] (the cancelled caller never runs)", got)
	}
}

func TestQueueCancelledBeforeCall(t *testing.T) {
	q := newQueue(10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := q.do(ctx, func() error {
		t.Error("job ran with a cancelled context")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("do with a cancelled context: %v", err)
	}
}

func TestQueueFull(t *testing.T) {
	q := newQueue(1)
	first, _ := occupy(t, q)
	waiting := make(chan error, 1)
	// Ends when first is released and its own job has run.
	go func() {
		_, err := q.do(context.Background(), func() error { return nil })
		waiting <- err
	}()
	testwait.For(t, "one caller queued", func() bool { return q.stats().Queued == 1 })
	_, err := q.do(context.Background(), func() error {
		t.Error("a job beyond the queue depth ran")
		return nil
	})
	if !errors.Is(err, ErrBusy) {
		t.Errorf("do on a full queue: %v, want ErrBusy", err)
	}
	close(first.release)
	if err := <-waiting; err != nil {
		t.Errorf("queued caller: %v", err)
	}
	if s := q.stats(); s.Rejected != 1 || s.Served != 2 {
		t.Errorf("stats = %+v, want 1 rejected and 2 served", s)
	}
}

func TestQueueClose(t *testing.T) {
	q := newQueue(10)
	first, firstDone := occupy(t, q)
	waiting := make(chan error, 1)
	// Ends when close sends it away.
	go func() {
		_, err := q.do(context.Background(), func() error {
			t.Error("a queued job ran after close")
			return nil
		})
		waiting <- err
	}()
	testwait.For(t, "one caller queued", func() bool { return q.stats().Queued == 1 })
	closed := make(chan struct{})
	// Ends when the running job is released.
	go func() {
		q.close()
		close(closed)
	}()
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Errorf("queued caller after close: %v, want ErrClosed", err)
	}
	select {
	case <-closed:
		t.Fatal("close returned while a job was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(first.release)
	<-closed
	if err := <-firstDone; err != nil {
		t.Errorf("running caller: %v", err)
	}
	if _, err := q.do(context.Background(), func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("do after close: %v, want ErrClosed", err)
	}
	q.close() // a second close returns at once
}

func TestQueueWaitStats(t *testing.T) {
	q := newQueue(10)
	first, _ := occupy(t, q)
	done := make(chan time.Duration, 1)
	// Ends when first is released and its own job has run.
	go func() {
		wait, err := q.do(context.Background(), func() error { return errors.New("job failed") })
		if err == nil || err.Error() != "job failed" {
			t.Errorf("do returned %v, want the job's own error", err)
		}
		done <- wait
	}()
	testwait.For(t, "one caller queued", func() bool { return q.stats().Queued == 1 })
	const held = 30 * time.Millisecond
	time.Sleep(held)
	close(first.release)
	wait := <-done
	if wait < held {
		t.Errorf("second caller waited %v, want at least %v", wait, held)
	}
	s := q.stats()
	if s.Served != 2 {
		t.Fatalf("served %d, want 2", s.Served)
	}
	if s.MaxWaitMs < float64(held/time.Millisecond) || s.MaxWaitMs > float64(wait)/1e6+1 {
		t.Errorf("max wait %.1f ms, want the second caller's %v", s.MaxWaitMs, wait)
	}
	// The first caller did not wait; the mean is half the second's wait.
	if want := float64(wait) / 2e6; s.MeanWaitMs < want-1 || s.MeanWaitMs > want+1 {
		t.Errorf("mean wait %.1f ms, want about %.1f", s.MeanWaitMs, want)
	}
}

// TestQueueNeverOverlaps runs many callers, some cancelled, and checks
// that no two jobs ever run at once and every caller gets an answer.
func TestQueueNeverOverlaps(t *testing.T) {
	q := newQueue(100)
	var (
		mu      sync.Mutex
		running int
		wg      sync.WaitGroup
	)
	for i := range 50 {
		wg.Add(1)
		// Ends when its job ran or its context ended.
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*time.Millisecond)
			defer cancel()
			_, err := q.do(ctx, func() error {
				mu.Lock()
				running++
				if running > 1 {
					t.Error("two jobs ran at once")
				}
				mu.Unlock()
				time.Sleep(200 * time.Microsecond)
				mu.Lock()
				running--
				mu.Unlock()
				return nil
			})
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("caller %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	s := q.stats()
	if s.Served+s.Abandoned+s.Rejected != 50 || s.Queued != 0 || s.Running != 0 {
		t.Errorf("stats = %+v, want all 50 callers accounted for and an idle queue", s)
	}
}
