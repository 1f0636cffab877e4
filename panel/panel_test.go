package panel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// run starts p and returns a function that stops it and waits.
func run(t *testing.T, p *Panel) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }() // ends when ctx is cancelled
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return within 5 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitLevel waits until pin reads l.
func waitLevel(t *testing.T, pin *gpiotest.Pin, l gpio.Level) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for pin.Read() != l {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed %v, want %v", pin.N, pin.Read(), l)
		}
		time.Sleep(time.Millisecond)
	}
}

func blockUntil(t *testing.T, fc clockwork.FakeClock, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() { fc.BlockUntil(n); close(done) }() // ends when n timers wait (or with the test binary)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the light never waited on the clock")
	}
}

// TestLEDPatterns plays two cycles of each blinking pattern on a fake pin
// with a fake clock, checking the level and length of every step.
func TestLEDPatterns(t *testing.T) {
	for _, s := range []State{Listening, Busy, Error} {
		t.Run(s.String(), func(t *testing.T) {
			led := &gpiotest.Pin{N: "GPIO17"}
			fc := clockwork.NewFakeClock()
			p := New(Config{LED: "GPIO17"}, led, nil, nil, fc, quiet)
			p.Show(s)
			stop := run(t, p)
			pat := patterns[s]
			for cycle := 0; cycle < 2; cycle++ {
				for i, st := range pat {
					blockUntil(t, fc, 1)
					if got := led.Read(); got != gpio.Level(st.on) {
						t.Fatalf("cycle %d step %d: LED %v, want on=%v", cycle, i, got, st.on)
					}
					fc.Advance(st.d - time.Millisecond)
					blockUntil(t, fc, 1) // still the same step's timer
					if got := led.Read(); got != gpio.Level(st.on) {
						t.Fatalf("cycle %d step %d: LED changed after %v of %v", cycle, i, st.d-time.Millisecond, st.d)
					}
					fc.Advance(time.Millisecond)
				}
			}
			stop()
			if led.Read() != gpio.Low {
				t.Error("LED left on after Run ended")
			}
		})
	}
}

func TestLEDSteadyAndChanges(t *testing.T) {
	led := &gpiotest.Pin{N: "GPIO17"}
	fc := clockwork.NewFakeClock()
	p := New(Config{LED: "GPIO17"}, led, nil, nil, fc, quiet)
	p.Show(Ready)
	stop := run(t, p)
	waitLevel(t, led, gpio.High)
	fc.Advance(time.Hour)
	if led.Read() != gpio.High {
		t.Fatal("ready is not steady")
	}
	p.Show(Busy)
	blockUntil(t, fc, 1)
	fc.Advance(100 * time.Millisecond)
	waitLevel(t, led, gpio.Low)
	p.Show(Ready)
	waitLevel(t, led, gpio.High)
	p.Show(Off)
	waitLevel(t, led, gpio.Low)
	p.Show(Ready)
	waitLevel(t, led, gpio.High)
	stop()
	if led.Read() != gpio.Low {
		t.Error("LED left on after Run ended")
	}
}

func TestLEDActiveLow(t *testing.T) {
	led := &gpiotest.Pin{N: "GPIO17"}
	p := New(Config{LED: "GPIO17", LEDActiveLow: true}, led, nil, nil, clockwork.NewFakeClock(), quiet)
	p.Show(Ready)
	stop := run(t, p)
	waitLevel(t, led, gpio.Low) // lit
	stop()
	if led.Read() != gpio.High {
		t.Error("active-low LED not dark (high) after Run ended")
	}
}

// recorder counts the button's actions.
type recorder struct {
	mu        sync.Mutex
	reprints  int
	enrolls   int
	reprintOK error
}

func (r *recorder) Reprint(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reprints++
	return r.reprintOK
}

func (r *recorder) Enroll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enrolls++
	return nil
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reprints, r.enrolls
}

// button is a fake push button. Edges go through an unbuffered channel:
// sending an edge twice returns only once the panel handled the first
// (the second, at the same level, is a bounce it ignores).
type button struct {
	pin   *gpiotest.Pin
	fc    clockwork.FakeClock
	press gpio.Level
}

func (b button) edge(l gpio.Level) {
	b.pin.EdgesChan <- l
	b.pin.EdgesChan <- l
}

func (b button) hold(d time.Duration) {
	b.edge(b.press)
	b.fc.Advance(d)
	b.edge(!b.press)
}

func newButton(t *testing.T, activeLow bool) (button, *recorder) {
	pin := &gpiotest.Pin{N: "GPIO27", EdgesChan: make(chan gpio.Level), Clock: clockwork.NewRealClock()}
	fc := clockwork.NewFakeClock()
	rec := &recorder{}
	p := New(Config{Button: "GPIO27", ButtonActiveLow: activeLow}, nil, pin, rec, fc, quiet)
	run(t, p)
	press := gpio.High
	if activeLow {
		press = gpio.Low
	}
	return button{pin: pin, fc: fc, press: press}, rec
}

func TestButtonPresses(t *testing.T) {
	for _, activeLow := range []bool{true, false} {
		name := "active high"
		if activeLow {
			name = "active low"
		}
		t.Run(name, func(t *testing.T) {
			b, rec := newButton(t, activeLow)
			// In() runs on the panel's goroutine: an idle-level edge (ignored)
			// returns once it is watching the pin.
			b.edge(!b.press)
			if want := map[bool]gpio.Pull{true: gpio.PullUp, false: gpio.PullDown}[activeLow]; b.pin.Pull() != want {
				t.Fatalf("button pull %v, want %v", b.pin.Pull(), want)
			}

			b.hold(200 * time.Millisecond)
			if r, e := rec.counts(); r != 1 || e != 0 {
				t.Fatalf("after a short press: %d reprints, %d enrollments; want 1, 0", r, e)
			}

			b.hold(10 * time.Millisecond) // contact bounce
			if r, e := rec.counts(); r != 1 || e != 0 {
				t.Fatalf("a 10 ms blip counted: %d reprints, %d enrollments", r, e)
			}

			// Held down: the long press fires while the button is still
			// held, and letting go does not also reprint.
			b.edge(b.press)
			b.fc.Advance(DefaultLongPress)
			deadline := time.Now().Add(5 * time.Second)
			for _, e := rec.counts(); e != 1; _, e = rec.counts() {
				if time.Now().After(deadline) {
					t.Fatal("no enrollment while the button was held past the long press")
				}
				time.Sleep(time.Millisecond)
			}
			b.fc.Advance(5 * time.Second)
			b.edge(!b.press)
			if r, e := rec.counts(); r != 1 || e != 1 {
				t.Fatalf("after a long press: %d reprints, %d enrollments; want 1, 1", r, e)
			}

			// A failing reprint is logged; the button keeps working.
			rec.mu.Lock()
			rec.reprintOK = errors.New("device is not connected")
			rec.mu.Unlock()
			b.hold(time.Second)
			b.hold(time.Second)
			if r, _ := rec.counts(); r != 3 {
				t.Fatalf("%d reprints, want 3", r)
			}
		})
	}
}

func TestOpenWithoutConfiguration(t *testing.T) {
	p, err := Open(Config{}, nil, quiet)
	if p != nil || err != nil {
		t.Fatalf("Open with no pins = %v, %v; want nil, nil", p, err)
	}
	if _, err := Open(Config{LED: "GPIO5", Button: "GPIO5"}, nil, quiet); !errors.Is(err, ErrSamePin) {
		t.Fatalf("one pin for both: %v, want ErrSamePin", err)
	}
}

// TestOpenAbsentHardware asks for pins this machine does not have (test
// machines have no GPIO header): no panel, no error.
func TestOpenAbsentHardware(t *testing.T) {
	p, err := Open(Config{LED: "GPIO_NO_SUCH_PIN_1", Button: "GPIO_NO_SUCH_PIN_2"}, nil, quiet)
	if err != nil || p != nil {
		t.Fatalf("Open with absent pins = %v, %v; want nil, nil", p, err)
	}
}
