package edgetest

import (
	"errors"
	"fmt"
)

var (
	// ErrOTA: the version check answer is not one the firmware accepts.
	ErrOTA = errors.New("unusable OTA answer")
	// ErrNotConnected: a message was sent before Connect or after Close.
	ErrNotConnected = errors.New("device is not connected")
	// ErrHello: the server's hello is missing or lacks a field the firmware
	// needs.
	ErrHello = errors.New("bad or missing server hello")
	// ErrClosed: the connection ended; CloseInfo tells whether the server
	// sent a close frame.
	ErrClosed = errors.New("connection closed")
	// ErrProtocol: the server broke the session protocol during a turn.
	ErrProtocol = errors.New("server broke the protocol")
)

// DialError is a refused WebSocket upgrade: the server answered the
// handshake with an HTTP status other than 101.
type DialError struct {
	Status int    // HTTP status of the refusal
	Body   string // the start of the response body
}

func (e *DialError) Error() string {
	if e.Body != "" {
		return fmt.Sprintf("websocket upgrade refused: HTTP %d: %s", e.Status, e.Body)
	}
	return fmt.Sprintf("websocket upgrade refused: HTTP %d", e.Status)
}

// DialStatus returns the HTTP status of a refused upgrade carried by err,
// or 0 if err is not a refusal.
func DialStatus(err error) int {
	var de *DialError
	if errors.As(err, &de) {
		return de.Status
	}
	return 0
}
