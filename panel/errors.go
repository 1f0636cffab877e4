package panel

import "errors"

var (
	// ErrNoPin: a configured pin does not exist on this machine.
	ErrNoPin = errors.New("no such GPIO pin on this machine")
	// ErrSamePin: the light and the button are configured on one pin.
	ErrSamePin = errors.New("the light and the button need different pins")
)
