// Package edge is the device gateway of Stikadoo Edge: the OTA / challenge
// endpoint, activation, the device WebSocket endpoint with its per-device
// session state machine, the MCP client, the turn pipeline (audio ->
// transcript -> sticker -> device) and the image endpoint the device
// downloads stickers from.
//
// It declares the small interfaces it consumes (Transcriber, Cloud,
// ImageGenerator, Store) and the Observer it tells its activity (for a
// status light), and imports no adapter: engines and the store are
// wired in by cmd/stikadoo-edge. It imports edge/proto and the stt front
// end for end-of-speech detection.
package edge
