package host_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// Issue 14: a broadcast started a writer goroutine per member (10,000 goroutine starts per
// message at 10,000 members). With the writer pool (Linux), members whose sockets take the
// frames are written by the pool's workers: no writer goroutine is started, and every member
// still gets every message, in order.
func TestBroadcastStartsNoWriterGoroutines(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the writer pool needs non-blocking writev (Linux)")
	}
	_, url := startServer(t, "../testdata/wasm/fanout.wasm", "", "")
	const members, messages = 50, 30
	clients := make([]*wstest.Client, members)
	for i := range clients {
		clients[i] = wstest.Dial(t, url, nil)
	}
	// The fanout plugin joins "all" in on_connect, which the 101 waits for: every client is a
	// member once dialled.
	before := host.WriterGoroutines()
	sender := clients[0]
	for i := range messages {
		sender.Send(ws.OpText, fmt.Appendf(nil, "m%03d", i))
	}
	for i, c := range clients[1:] {
		for j := range messages {
			op, p := c.Read()
			if want := fmt.Appendf(nil, "m%03d", j); op != ws.OpText || !bytes.Equal(p, want) {
				t.Fatalf("member %d, message %d: %v %q, want %q", i+1, j, op, p, want)
			}
		}
	}
	if n := host.WriterGoroutines() - before; n != 0 {
		t.Errorf("%d writer goroutines started for %d broadcasts to %d members, want 0", n, messages, members-1)
	}
}
