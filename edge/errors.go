package edge

import "errors"

var (
	// ErrNoStore: NewServer was given no Store.
	ErrNoStore = errors.New("edge: a store is required")
	// ErrUnauthorized: a WebSocket upgrade without a valid credential.
	ErrUnauthorized = errors.New("missing or invalid credential")
	// ErrTokenRevoked: a token issued before the device's revocation.
	ErrTokenRevoked = errors.New("token revoked")
	// ErrTokenExpired: a token past its lifetime.
	ErrTokenExpired = errors.New("token expired")
	// ErrSessionClosed: the session ended while an operation waited.
	ErrSessionClosed = errors.New("session closed")
	// ErrMCPTimeout: the device did not answer an MCP request in time.
	ErrMCPTimeout = errors.New("device did not answer in time")
	// ErrDeviceRefused: the device answered an MCP request with an error.
	ErrDeviceRefused = errors.New("device refused the request")
	// ErrCloudDropped: the cloud connection ended during a relayed turn.
	ErrCloudDropped = errors.New("cloud connection dropped")
	// ErrCloudUnavailable: the policy needs the cloud and it is not
	// reachable, or its breaker is open.
	ErrCloudUnavailable = errors.New("cloud not available")
	// ErrNothingToReprint: no sticker was made since the server started,
	// or it is no longer in the record.
	ErrNothingToReprint = errors.New("no sticker to reprint")
	// ErrDeviceOffline: the device a request is for is not connected.
	ErrDeviceOffline = errors.New("device is not connected")
	// ErrEnrollmentOff: an enrollment window was asked for while
	// authentication is off or enrollment is open anyway.
	ErrEnrollmentOff = errors.New("enrollment windows are not in use")
)
