// Package edgetest holds fakes for tests and for the `stikadoo-edge
// simulate` command: a scripted fake device that speaks every client
// dialect of the gateway (the Stikadoo printer's base64 PCM, upstream
// firmware's Opus in binary protocol versions 1, 2 and 3, and the browser
// test page), fakes of the gateway's Transcriber and ImageGenerator with
// settable fields, and synthetic speech and silence.
//
// The fake device does what the firmware does, byte for byte where it
// matters: the OTA version check, the WebSocket handshake, the hello, the
// listening messages and audio frames, and the MCP server the gateway
// calls, including downloading and checking the sticker PNG the way the
// printer does. It records a timeline of everything it sees.
//
// Nothing here is used by the daemon's production paths. The package
// imports edge/proto and the stt audio front end, and must not import the
// gateway (package edge): its fakes satisfy the gateway's interfaces
// structurally, so the gateway's own tests can import this package.
package edgetest
