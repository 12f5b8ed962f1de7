package cluster

import (
	"bytes"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/host/config"
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

// FuzzBeat: decoding any bytes never panics, takes only node ids 1-1023, and a heartbeat or a bye
// that decodes encodes to the same bytes.
func FuzzBeat(f *testing.F) {
	now := time.Unix(0, time.Now().UnixNano())
	f.Add(beat{id: 1, instance: 42, started: now}.encode())
	f.Add(beat{id: 1023, instance: 7, started: now, bye: true}.encode())
	f.Add([]byte{})
	f.Add(append(beat{id: 5}.encode(), 2))
	f.Add(make([]byte, 18))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, ok := decodeBeat(data)
		if !ok {
			return
		}
		if b.id < 1 || b.id > config.MaxNodeID {
			t.Fatalf("node id %d", b.id)
		}
		if again := b.encode(); !bytes.Equal(again, data) {
			t.Fatalf("round trip: %x != %x", again, data)
		}
	})
}
