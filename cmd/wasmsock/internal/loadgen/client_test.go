package loadgen

import (
	"bufio"
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestClientWritesFromTwoGoroutines: a broadcast receiver's reader answers the server's pings
// while closeAll sends the close frame from another goroutine, so a client's writes can come
// from two goroutines at once. Every frame must reach the server whole, with its own payload (a
// shared write buffer used by both at once mixes them up, and the server then waits for a frame
// that never ends: the close goes unanswered).
func TestClientWritesFromTwoGoroutines(t *testing.T) {
	server, conn := net.Pipe()
	defer server.Close()
	c := &client{nc: conn, br: bufio.NewReader(conn), timeout: 10 * time.Second}
	const perWriter = 300
	payloads := [][]byte{bytes.Repeat([]byte{'a'}, 40), bytes.Repeat([]byte{'b'}, 40)}
	var wg sync.WaitGroup
	for _, p := range payloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWriter {
				if err := c.writeFrame(ws.OpPong, p); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); conn.Close() }()

	counts := map[byte]int{}
	for range 2 * perWriter {
		f, err := ws.ReadFrame(server)
		if err != nil {
			t.Fatalf("after %v frames: %v", counts, err)
		}
		if f.Header.Masked {
			ws.Cipher(f.Payload, f.Header.Mask, 0)
		}
		if f.Header.OpCode != ws.OpPong || len(f.Payload) != 40 || bytes.Count(f.Payload, f.Payload[:1]) != 40 {
			t.Fatalf("after %v frames: a frame mixed up: op %v, payload %q", counts, f.Header.OpCode, f.Payload)
		}
		counts[f.Payload[0]]++
	}
	if counts['a'] != perWriter || counts['b'] != perWriter {
		t.Errorf("frames: %v, want %d of each", counts, perWriter)
	}
}
