package cloud

import "testing"

// FuzzUnwrapAudio feeds the decoder of the cloud's wrapped audio with
// arbitrary text: it must not panic, must accept only audio messages,
// and cannot return more bytes than it was given.
func FuzzUnwrapAudio(f *testing.F) {
	f.Add([]byte(`{"type":"audio","format":"opus","encoding":"base64","packets":["SP/+","AAEC"]}`))
	f.Add([]byte(`{"type":"audio","packets":["!!"]}`))
	f.Add([]byte(`{"type":"stt","text":"x"}`))
	f.Add([]byte(`{"type":"audio","packets":null}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, ok := unwrapAudio(b)
		if !ok {
			if pk != nil {
				t.Fatal("packets returned for a message that is not audio")
			}
			return
		}
		if !looksLikeAudio(b) {
			t.Fatalf("accepted %q, which is not an audio message", b)
		}
		var n int
		for _, p := range pk {
			n += len(p)
		}
		if n > len(b) {
			t.Fatalf("%d bytes of packets out of a %d-byte message", n, len(b))
		}
	})
}
