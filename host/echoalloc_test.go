package host_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestEchoAllocations counts the heap allocations of the whole process per echoed message, over a
// real socket: the client writes a prepared frame and reads the reply into a fixed buffer (no
// allocation of its own), so what is counted is the host's work for one message, read, handed to
// the plugin, answered and written. Two are expected: the message's payload (the plugin may keep
// it queued) and the reply's frame (queued until written). Before the write callbacks were
// reused, every non-blocking write cost three more (a closure and the two results it set): 5.
func TestEchoAllocations(t *testing.T) {
	const want = 2
	payload := bytes.Repeat([]byte("x"), 64)
	var frame bytes.Buffer
	if err := ws.WriteFrame(&frame, ws.MaskFrame(ws.NewTextFrame(payload))); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 2+len(payload)) // a 64-byte text frame from the server: 2-byte head
	for lang, module := range echoModules {
		t.Run(lang, func(t *testing.T) {
			// Off: the limit (100 a second by default) would close a client this fast.
			_, base := startConfigTop(t, "[limits]\nmessages_per_second = 0\n", module, "[[route]]\npath = \"/ws\"\nplugin = \"p\"\n")
			url := base + "/ws"
			c := wstest.Dial(t, url, nil)
			roundTrip := func() {
				if _, err := c.Conn.Write(frame.Bytes()); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c.Conn, reply); err != nil {
					t.Fatal(err)
				}
			}
			for range 200 { // warm up: pools, buffers, the guest's own
				roundTrip()
			}
			if reply[0] != 0x81 || int(reply[1]) != len(payload) || !bytes.Equal(reply[2:], payload) {
				t.Fatalf("reply % x, want a text frame echoing the message", reply[:4])
			}
			if got := testing.AllocsPerRun(2000, roundTrip); got > want {
				t.Errorf("%v allocations per echoed message, want at most %d", got, want)
			}
		})
	}
}
