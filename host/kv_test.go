package host_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestKVThroughServer drives the shared store through real sockets and a real module served with
// two instances: both instances see the same values, namespaces and plugins are isolated, CAS
// and delete give their documented statuses, bad keys and values are refused, concurrent CAS
// increments from both instances lose nothing, a TTL expires by the server's real clock, and the
// store survives a module reload.
func TestKVThroughServer(t *testing.T) {
	srv, base := startConfig(t, probe, `instances = 2
[plugin.q]
module = "`+mustAbs(t, probe)+`"
[[route]]
path = "/ws"
plugin = "p"
namespace_from = "query:ns"
[[route]]
path = "/other"
plugin = "q"
namespace_from = "query:ns"
`)
	// Connections go to instance id % 2: dial until there is one on each.
	var even, odd *wstest.Client
	for even == nil || odd == nil {
		c := wstest.Dial(t, base+"/ws?ns=t1", nil)
		id, err := strconv.ParseUint(command(t, c, "id"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if id%2 == 0 && even == nil {
			even = c
		} else if id%2 == 1 && odd == nil {
			odd = c
		}
	}
	other := wstest.Dial(t, base+"/ws?ns=t2", nil)    // same plugin, another namespace
	plugQ := wstest.Dial(t, base+"/other?ns=t1", nil) // another plugin, same namespace

	steps := []struct {
		c         *wstest.Client
		cmd, want string
	}{
		{even, "kvget room", "ERR -5"},
		{even, "kvset room 0 lobby", "ok"},
		{odd, "kvget room", "kv lobby"}, // the other instance
		{other, "kvget room", "ERR -5"},
		{plugQ, "kvget room", "ERR -5"},
		{other, "kvset room 0 t2-room", "ok"},
		{odd, "kvget room", "kv lobby"},
		{odd, "kvcas room - hall", "ERR -14"},
		{odd, "kvcas room nope hall", "ERR -14"},
		{odd, "kvcas missing lobby hall", "ERR -5"},
		{odd, "kvcas room lobby hall", "ok"},
		{even, "kvget room", "kv hall"},
		{even, "kvcas fresh - new", "ok"},
		{odd, "kvcas fresh - again", "ERR -14"},
		{even, "kvset empty 0", "ok"},
		{odd, "kvget empty", "kv "},
		{odd, "kvcas empty - x", "ERR -14"},
		{odd, "kvcas empty = x", "ok"},
		{even, "kvdel room", "ok"},
		{odd, "kvdel room", "ERR -5"},
		{odd, "kvget room", "ERR -5"},
		{other, "kvget room", "kv t2-room"},
		{even, "kvget bad*key", "ERR -6"},
		{even, "kvget .dot", "ERR -6"},
		{even, "kvget " + strings.Repeat("k", 129), "ERR -6"},
		{even, "kvget " + strings.Repeat("k", 128), "ERR -5"},
		{even, "kvset k -1 v", "ERR -6"},
		{even, "kvsetlen big 65537", "ERR -10"},
		{even, "kvsetlen big 65536", "ok"},
	}
	for _, st := range steps {
		if got := command(t, st.c, st.cmd); got != st.want {
			t.Errorf("%.40q: %q, want %q", st.cmd, got, st.want)
		}
	}
	if v, _ := srv.Plugins()["p"].KV().Get(context.Background(), "t1", "big"); len(v) != 65536 {
		t.Errorf("the host holds %d bytes for big", len(v))
	}

	// CAS races: both instances increment one counter at once.
	even.Send(ws.OpText, []byte("kvincr counter 300"))
	odd.Send(ws.OpText, []byte("kvincr counter 300"))
	_, r1 := even.Read()
	_, r2 := odd.Read()
	if string(r1) != "incr 600" && string(r2) != "incr 600" {
		t.Errorf("replies %q and %q: neither stored the 600th increment", r1, r2)
	}
	if got := command(t, odd, "kvget counter"); got != "kv 600" {
		t.Errorf("counter after 2 x 300 CAS increments: %q", got)
	}

	// TTL, by the server's clock: wait for the expiry, with a deadline.
	if got := command(t, even, "kvset short 30 soon-gone"); got != "ok" {
		t.Fatalf("set with ttl: %q", got)
	}
	waitFor(t, "the value to expire", func() bool { return command(t, odd, "kvget short") == "ERR -5" })
	if got := command(t, odd, "kvget counter"); got != "kv 600" {
		t.Errorf("a value without TTL: %q", got)
	}

	// A reload of the module keeps the store.
	wasm, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if res := srv.Plugins()["p"].Reload(context.Background(), wasm); res.Err != nil {
		t.Fatalf("reload: %v", res.Err)
	}
	if got := command(t, even, "kvget counter"); got != "kv 600" {
		t.Errorf("after a reload: %q", got)
	}
}

// TestKVLimitsThroughServer fills a plugin's entry and byte budgets through a real socket: the
// write over each returns ErrLimit, nothing else is affected, and room comes back with a delete.
func TestKVLimitsThroughServer(t *testing.T) {
	_, url := startServer(t, probe, "", "")
	c := wstest.Dial(t, url, nil)
	if got := command(t, c, "kvfill e 10001"); got != "filled 10000 ERR -13" {
		t.Fatalf("entries: %q", got)
	}
	if got := command(t, c, "kvset e1 0 overwrite"); got != "ok" {
		t.Errorf("overwriting when full: %q", got)
	}
	if got := command(t, c, "kvdel e0"); got != "ok" {
		t.Fatal(got)
	}
	if got := command(t, c, "kvset new 0 v"); got != "ok" {
		t.Errorf("after a delete: %q", got)
	}
	if got := command(t, c, "echo alive"); got != "alive" {
		t.Errorf("the plugin after the storm: %q", got)
	}

	_, url2 := startServer(t, probe, "", "")
	c2 := wstest.Dial(t, url2, nil)
	// 255 values of 64 KiB with their keys fit in 16 MiB; the 256th does not.
	if got := command(t, c2, "kvfill b 300 65536"); got != "filled 255 ERR -13" {
		t.Fatalf("bytes: %q", got)
	}
	if got := command(t, c2, "kvfill small 1"); got != "filled 1" {
		t.Errorf("a small entry still fits: %q", got)
	}
}
