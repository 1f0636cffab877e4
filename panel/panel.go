package panel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// State is what the light shows.
type State int

// States of the light.
const (
	Off       State = iota // dark: not serving
	Ready                  // steady on
	Listening              // slow blink: a device is taking speech
	Busy                   // fast blink: a sticker is being made or printed
	Error                  // two flashes and a pause: something needs a grown-up
)

func (s State) String() string {
	switch s {
	case Off:
		return "off"
	case Ready:
		return "ready"
	case Listening:
		return "listening"
	case Busy:
		return "busy"
	case Error:
		return "error"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// step is one phase of a pattern: the light on or off for a while.
type step struct {
	on bool
	d  time.Duration
}

// patterns are the blink patterns, repeated; a single step with no
// duration is steady.
var patterns = map[State][]step{
	Off:       {{false, 0}},
	Ready:     {{true, 0}},
	Listening: {{true, 500 * time.Millisecond}, {false, 500 * time.Millisecond}},
	Busy:      {{true, 100 * time.Millisecond}, {false, 100 * time.Millisecond}},
	Error:     {{true, 150 * time.Millisecond}, {false, 150 * time.Millisecond}, {true, 150 * time.Millisecond}, {false, 1050 * time.Millisecond}},
}

// Actions are what the button does. Both are called on the button's
// goroutine, one at a time.
type Actions interface {
	// Reprint prints the last sticker again on the device that made it.
	Reprint(ctx context.Context) error
	// Enroll opens an enrollment window for new devices.
	Enroll() error
}

// Config names the pins and the button's timing.
type Config struct {
	// LED and Button are pin names such as "GPIO17" (empty: none).
	LED    string
	Button string
	// LEDActiveLow: the LED lights when the pin is low.
	LEDActiveLow bool
	// ButtonActiveLow: the button pulls the pin low when pressed (wired to
	// ground, with the internal pull-up); otherwise it pulls it high.
	ButtonActiveLow bool
	// LongPress is how long the button is held for a long press (default
	// 3 s).
	LongPress time.Duration
	// Debounce: presses shorter than this are contact bounce (default 30 ms).
	Debounce time.Duration
}

// Default timings.
const (
	DefaultLongPress = 3 * time.Second
	DefaultDebounce  = 30 * time.Millisecond
	// edgePoll bounds each wait for a button edge, so a held button is
	// noticed as a long press and Run notices its end.
	edgePoll = 100 * time.Millisecond
	// actionTimeout bounds a reprint.
	actionTimeout = time.Minute
)

func (c Config) withDefaults() Config {
	if c.LongPress <= 0 {
		c.LongPress = DefaultLongPress
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	return c
}

// Panel drives the light and reads the button.
type Panel struct {
	cfg     Config
	led     gpio.PinOut // nil: no light
	button  gpio.PinIn  // nil: no button
	actions Actions
	clock   clockwork.Clock
	log     *slog.Logger

	mu      sync.Mutex
	state   State
	changed chan struct{} // a state change is waiting (capacity 1)
}

// Open finds the configured pins. With nothing configured it returns nil
// and no error; a pin this machine does not have is logged and left out,
// so a Pi without the wiring (or a PC) runs without a panel. Only a
// configuration that cannot be right (one pin for both) is an error.
func Open(cfg Config, actions Actions, log *slog.Logger) (*Panel, error) {
	if cfg.LED == "" && cfg.Button == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.LED != "" && cfg.LED == cfg.Button {
		return nil, fmt.Errorf("gpio pin %s: %w", cfg.LED, ErrSamePin)
	}
	if _, err := host.Init(); err != nil {
		log.Warn("gpio: no GPIO on this machine; status light and button off", "err", err)
		return nil, nil
	}
	var led gpio.PinOut
	var button gpio.PinIn
	if cfg.LED != "" {
		if p := gpioreg.ByName(cfg.LED); p != nil {
			led = p
		} else {
			log.Warn("gpio: status light off", "err", fmt.Errorf("led %s: %w", cfg.LED, ErrNoPin))
		}
	}
	if cfg.Button != "" {
		if p := gpioreg.ByName(cfg.Button); p != nil {
			button = p
		} else {
			log.Warn("gpio: button off", "err", fmt.Errorf("button %s: %w", cfg.Button, ErrNoPin))
		}
	}
	if led == nil && button == nil {
		return nil, nil
	}
	return New(cfg, led, button, actions, clockwork.NewRealClock(), log), nil
}

// New returns a panel on the given pins (either may be nil), timed by
// clock.
func New(cfg Config, led gpio.PinOut, button gpio.PinIn, actions Actions, clock clockwork.Clock, log *slog.Logger) *Panel {
	if log == nil {
		log = slog.Default()
	}
	return &Panel{cfg: cfg.withDefaults(), led: led, button: button, actions: actions, clock: clock, log: log,
		changed: make(chan struct{}, 1)}
}

// Show sets what the light shows. It never blocks.
func (p *Panel) Show(s State) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// current is the state to show.
func (p *Panel) current() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Run drives the light and reads the button until ctx is done, then
// turns the light off and returns nil. A pin that fails is logged and
// left alone; the server keeps running.
func (p *Panel) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if p.button != nil {
		wg.Add(1)
		go func() { // ends when ctx is done (within edgePoll) or the pin fails
			defer wg.Done()
			p.readButton(ctx)
		}()
	}
	if p.led != nil {
		p.driveLED(ctx)
	}
	wg.Wait()
	return nil
}

func (p *Panel) setLED(on bool) error {
	level := gpio.Level(on)
	if p.cfg.LEDActiveLow {
		level = !level
	}
	return p.led.Out(level)
}

// driveLED plays the pattern of the current state until ctx is done.
func (p *Panel) driveLED(ctx context.Context) {
	defer func() {
		if err := p.setLED(false); err != nil {
			p.log.Warn("gpio: turn status light off", "err", err)
		}
	}()
	for {
		// A change noted before the state is read is already shown.
		select {
		case <-p.changed:
		default:
		}
		pat := patterns[p.current()]
		if pat == nil {
			pat = patterns[Off]
		}
		changed := false
		for i := 0; !changed; i = (i + 1) % len(pat) {
			if err := p.setLED(pat[i].on); err != nil {
				p.log.Warn("gpio: status light failed; it stays as it is", "pin", p.cfg.LED, "err", err)
				return
			}
			var tick <-chan time.Time
			var timer clockwork.Timer
			if pat[i].d > 0 {
				timer = p.clock.NewTimer(pat[i].d)
				tick = timer.Chan()
			}
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case <-p.changed:
				changed = true
			case <-tick:
			}
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

// readButton turns edges into presses until ctx is done.
func (p *Panel) readButton(ctx context.Context) {
	pull, pressedLevel := gpio.PullDown, gpio.High
	if p.cfg.ButtonActiveLow {
		pull, pressedLevel = gpio.PullUp, gpio.Low
	}
	if err := p.button.In(pull, gpio.BothEdges); err != nil {
		p.log.Warn("gpio: button off: cannot watch the pin", "pin", p.cfg.Button, "err", err)
		return
	}
	var (
		down     bool
		downAt   time.Time
		longDone bool
	)
	for ctx.Err() == nil {
		edge := p.button.WaitForEdge(edgePoll)
		if edge {
			pressed := p.button.Read() == pressedLevel
			switch {
			case pressed == down:
				// A bounce, or an edge the driver saw twice.
			case pressed:
				down, downAt, longDone = true, p.clock.Now(), false
			default:
				down = false
				held := p.clock.Since(downAt)
				if !longDone && held >= p.cfg.Debounce {
					p.shortPress(ctx)
				}
			}
		}
		if down && !longDone && p.clock.Since(downAt) >= p.cfg.LongPress {
			longDone = true
			p.longPress()
		}
	}
}

func (p *Panel) shortPress(ctx context.Context) {
	p.log.Info("button: short press: reprinting the last sticker")
	if p.actions == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	if err := p.actions.Reprint(ctx); err != nil {
		p.log.Warn("button: reprint", "err", err)
	}
}

func (p *Panel) longPress() {
	p.log.Info("button: long press: opening enrollment")
	if p.actions == nil {
		return
	}
	if err := p.actions.Enroll(); err != nil {
		p.log.Warn("button: enrollment", "err", err)
	}
}
