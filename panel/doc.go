// Package panel is the Pi's front panel: an optional status light (an LED
// on a GPIO pin) that shows what the server is doing, and an optional
// button (short press: reprint the last sticker; long press: open an
// enrollment window for new devices). Pins are found by name with periph
// (including the Raspberry Pi 5's GPIO character device); a machine
// without them, or no configuration, means no panel and no error.
//
// It owns the light's blink patterns and the button's press timing. It
// imports nothing of this module: it declares the Actions it needs, and
// cmd/stikadoo-edge maps the gateway's activity onto its States.
package panel
