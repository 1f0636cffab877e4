package discovery

import "errors"

var (
	// ErrNoInterface: no interface is left to advertise on.
	ErrNoInterface = errors.New("no network interface to advertise on")
	// ErrLoopbackOnly: the server listens on a loopback address only, so
	// there is nothing on the LAN to find.
	ErrLoopbackOnly = errors.New("the server listens on loopback only")
	// ErrBadConfig: the advertisement lacks a port or an instance name.
	ErrBadConfig = errors.New("incomplete advertisement")
)
