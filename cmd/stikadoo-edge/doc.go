// Command stikadoo-edge serves ESP32 voice sticker printers on a home or
// classroom network: it answers their version check, speaks their
// WebSocket protocol, turns what children say into stickers, and keeps a
// record of devices, sessions and turns.
//
//	stikadoo-edge serve                 run the server
//	stikadoo-edge config check|print    check or show the configuration
//	stikadoo-edge sessions list|show|export
//	stikadoo-edge devices list|approve|revoke
//	stikadoo-edge simulate              talk to a server as a fake device
//	stikadoo-edge discover              list the servers advertised on the LAN
//
// This package is the only one that knows every concrete type: it reads
// the TOML configuration (see stikadoo-edge.toml beside this file),
// wires the store into the gateway, owns the signal context, and maps
// errors to exit codes: 0 ok, 1 runtime error, 2 usage error, 78
// configuration error (the systemd unit does not restart on 78).
//
// The record commands read the store file when no server runs, and ask the
// running server's admin API on 127.0.0.1 when one holds the file.
//
// It may import every package of the module; nothing imports it.
package main
