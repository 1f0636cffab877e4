// Package testwait waits in tests for something that happens on another
// goroutine or on the far side of a socket.
package testwait

import (
	"testing"
	"time"
)

// Limit is how long For waits: far longer than anything it waits for
// takes on a loaded machine, so that only a real failure reaches it.
const Limit = 5 * time.Second

// For polls cond every millisecond until it holds, and fails the test
// naming what did not happen if Limit passes first.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, Limit)
		}
		time.Sleep(time.Millisecond)
	}
}
