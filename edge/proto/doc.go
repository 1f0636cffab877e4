// Package proto is the device wire protocol of Stikadoo Edge: the JSON
// messages exchanged with xiaozhi-style firmware, the binary audio framing
// (protocol versions 1, 2 and 3), the Stikadoo printer's base64 PCM text
// frames, and JSON-RPC 2.0 for MCP. It also holds the plain records the
// gateway hands to its store and the sentinel errors shared by the gateway
// and its engines, so that adapters never need to import the gateway.
//
// It imports only the standard library and nothing of this module. Every
// decoder here takes untrusted bytes from a device and is fuzzed.
package proto
