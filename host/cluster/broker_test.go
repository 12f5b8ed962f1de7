package cluster

import (
	"bytes"
	"testing"

	"github.com/wasmsock/wasmsock/host/hub"
)

// FuzzEnvelope: decoding any bytes never panics, takes only text or binary messages, and what
// encodes decodes to the same.
func FuzzEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(7, hub.Message{Kind: 1, Data: []byte("hi"), Except: 42}))
	f.Add(encodeEnvelope(1023, hub.Message{Kind: 2}))
	f.Add([]byte{})
	f.Add([]byte{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, env []byte) {
		origin, msg, ok := decodeEnvelope(env)
		if !ok {
			return
		}
		if msg.Kind != 1 && msg.Kind != 2 {
			t.Fatalf("kind %d", msg.Kind)
		}
		if again := encodeEnvelope(origin, msg); !bytes.Equal(again, env) {
			t.Fatalf("round trip: %x != %x", again, env)
		}
	})
}
