package cloud

import "errors"

var (
	// ErrNoURL: the configuration has no cloud URL.
	ErrNoURL = errors.New("cloud: no URL configured")
	// ErrBadURL: the cloud URL is not a ws:// or wss:// URL with a host.
	ErrBadURL = errors.New("cloud: URL must be wss://host/path (or ws:// for a LAN test server)")
	// ErrCircuitOpen: recent connections failed; no new one is tried
	// until the breaker's cool-down ends.
	ErrCircuitOpen = errors.New("cloud: circuit breaker open after repeated failures")
	// ErrUnauthorized: the gateway refused the API key (401 or 403).
	ErrUnauthorized = errors.New("cloud: API key refused")
	// ErrClosed: the relay connection is closed.
	ErrClosed = errors.New("cloud: connection closed")
	// ErrNoPong: the connection did not answer a ping in time; the
	// network under it has probably died without a word.
	ErrNoPong = errors.New("cloud: no pong: the connection is dead")
	// ErrTooBig: a message would exceed the gateway's frame limit.
	ErrTooBig = errors.New("cloud: message larger than the gateway's frame limit")
	// ErrProxy: the HTTPS proxy refused the CONNECT request.
	ErrProxy = errors.New("cloud: proxy refused the tunnel")
)
