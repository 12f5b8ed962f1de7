package host_test

import (
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestHostileArguments runs testdata/wat/hostile.wat, which calls every host function with bad
// pointers, huge lengths, bad arguments and unknown connection ids, and reports the statuses. The
// expected list is the table in the fixture's header comment.
func TestHostileArguments(t *testing.T) {
	const want = "-1 -1 -1 0 " + // msg_read
		"-1 -1 -2 -2 -6 -6 -10 " + // send
		"-3 -3 -3 -3 -3 -3 -3 -1 -6 -2 " + // close
		"-1 -1 -1 -5 -6 -2 " + // conn_get
		"-1 -1 -6 -6 " + // log
		"-1 -1 -6 -2 -6 " + // broadcast
		"-1 -6 -6 -6 -2 " + // join
		"-1 -6 -2" // leave
	_, url := startServer(t, "../testdata/wasm/hostile.wasm", "", "")
	c := wstest.Dial(t, url, nil)
	other := wstest.Dial(t, url, nil)
	for i := 0; i < 3; i++ { // the host stays consistent call after call
		c.Send(ws.OpText, []byte("go"))
		if _, got := c.Read(); string(got) != want {
			t.Fatalf("statuses:\n got %s\nwant %s", got, want)
		}
	}
	// Nothing leaked to the other connection and it still works.
	other.Send(ws.OpText, []byte("go"))
	if _, got := other.Read(); string(got) != want {
		t.Fatalf("other connection: %s", got)
	}
}
