package proto

import "errors"

// Errors from decoding device frames. Each maps to a WebSocket close code
// through CloseCode.
var (
	// ErrShortFrame: a binary frame is shorter than its header.
	ErrShortFrame = errors.New("frame shorter than its header")
	// ErrPayloadSize: a binary frame's payload_size disagrees with its length.
	ErrPayloadSize = errors.New("payload_size does not match the frame length")
	// ErrFrameVersion: a binary frame's header names another protocol version.
	ErrFrameVersion = errors.New("binary frame header names another protocol version")
	// ErrFrameType: a binary frame carries a type this server does not accept.
	ErrFrameType = errors.New("unsupported binary frame type")
	// ErrBase64: a PCM text frame is not valid standard base64.
	ErrBase64 = errors.New("PCM text frame is not valid base64")
	// ErrPCMOdd: a PCM text frame decodes to an odd number of bytes.
	ErrPCMOdd = errors.New("PCM text frame has an odd number of bytes")
	// ErrUTF8: a text frame is not valid UTF-8.
	ErrUTF8 = errors.New("text frame is not valid UTF-8")
	// ErrJSON: a JSON text frame does not parse.
	ErrJSON = errors.New("text frame is not valid JSON")
	// ErrJSONDepth: a JSON message nests deeper than MaxJSONDepth.
	ErrJSONDepth = errors.New("JSON message nests too deeply")
	// ErrNoType: a JSON message has no "type", or an empty one.
	ErrNoType = errors.New(`JSON message has no "type"`)
	// ErrEmpty: a text frame is empty or blank.
	ErrEmpty = errors.New("empty text frame")
)

// Errors that engines (transcribers, image generators) return so that the
// gateway can tell the user what went wrong in words.
var (
	// ErrUnavailable: the stage has no engine configured or its engine is down.
	ErrUnavailable = errors.New("stage unavailable")
	// ErrNoSpeech: the audio holds no speech.
	ErrNoSpeech = errors.New("no speech in the audio")
	// ErrRefused: the request was refused by a content filter or policy.
	ErrRefused = errors.New("request refused by content policy")
)

// ErrNotFound: a stored record or image does not exist.
var ErrNotFound = errors.New("not found")
