package proto

import "errors"

// WebSocket close codes (RFC 6455 section 7.4.1) used by the gateway.
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseProtocolError = 1002
	CloseUnsupported   = 1003
	CloseInvalidData   = 1007
	ClosePolicy        = 1008
	CloseTooBig        = 1009
	CloseInternal      = 1011
	CloseTryAgainLater = 1013
)

// CloseCode maps a decode error of this package to the close code the
// session ends with: 1002 for broken framing, 1003 for a frame type the
// server does not take, 1007 for data that is not what it claims to be
// (UTF-8, JSON, base64), 1008 for a message that breaks the rules
// (nesting, missing type). Unknown errors map to 1011.
func CloseCode(err error) int {
	switch {
	case errors.Is(err, ErrShortFrame), errors.Is(err, ErrPayloadSize), errors.Is(err, ErrFrameVersion):
		return CloseProtocolError
	case errors.Is(err, ErrFrameType):
		return CloseUnsupported
	case errors.Is(err, ErrBase64), errors.Is(err, ErrPCMOdd), errors.Is(err, ErrUTF8),
		errors.Is(err, ErrJSON), errors.Is(err, ErrEmpty):
		return CloseInvalidData
	case errors.Is(err, ErrJSONDepth), errors.Is(err, ErrNoType):
		return ClosePolicy
	}
	return CloseInternal
}
