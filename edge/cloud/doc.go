// Package cloud relays device sessions of Stikadoo Edge to the Stikadoo
// cloud backend, an AWS API Gateway WebSocket API (PROTOCOL.md section 7),
// when a local stage cannot serve. It owns the relay client (text frames
// only, audio as base64, x-api-key on connect, heartbeat inside the idle
// timeout, reconnection before the two-hour limit), the reachability
// probe (DNS, then a TLS handshake, through HTTPS_PROXY when set) with
// exponential back-off and jitter, and the circuit breaker around real
// connections.
//
// It imports edge/proto only: the gateway (edge) declares the interfaces
// it consumes and cmd/stikadoo-edge wires a Client into it. It must not
// import edge or any other adapter.
package cloud
