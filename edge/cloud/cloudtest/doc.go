// Package cloudtest holds a fake of the Stikadoo cloud backend (an AWS API
// Gateway WebSocket API with a scripted Lambda) that enforces what the
// real gateway does, and a fake clock, for tests of edge/cloud and of the
// gateway's relay. It serves on 127.0.0.1 only.
//
// It imports edge/proto and edge/cloud (for the Clock interface) and
// nothing else of this module.
package cloudtest
