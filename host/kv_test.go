package host_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestKVThroughServer drives the shared store through real sockets and a real module served with
// two instances: both instances see the same values (kvShared's steps, with a TTL by the server's
// real clock), and the store survives a module reload.
func TestKVThroughServer(t *testing.T) {
	srv, base := startConfig(t, probe, "instances = 2\n"+kvRoutes(t))
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
	kvShared(t, srv, even, odd, other, plugQ, 300, 30)

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

// kvRoutes serves the probe as plugin p on /ws and as plugin q on /other, the namespace from the
// query.
func kvRoutes(t *testing.T) string {
	return `[plugin.q]
module = "` + mustAbs(t, probe) + `"
[[route]]
path = "/ws"
plugin = "p"
namespace_from = "query:ns"
[[route]]
path = "/other"
plugin = "q"
namespace_from = "query:ns"`
}

// kvShared drives the probe plugin's shared store (kvRoutes) through clients a and b of plugin p
// in namespace t1 that share one store (two instances of a host, or two nodes of a cluster),
// otherNS (plugin p, namespace t2) and otherPlugin (plugin q, namespace t1); srv holds p's store.
// Both clients see the same values, namespaces and plugins are isolated, CAS and delete give
// their documented statuses, bad keys and values are refused, dotted keys are keys, concurrent
// CAS increments from a and b (each of them) lose nothing, and a value set on a with a TTL of
// ttlMS expires for b. It leaves the counter at 2*each.
func kvShared(t *testing.T, srv *host.Server, a, b, otherNS, otherPlugin *wstest.Client, each, ttlMS int) {
	t.Helper()
	steps := []struct {
		c         *wstest.Client
		cmd, want string
	}{
		{a, "kvget room", "ERR -5"},
		{a, "kvset room 0 lobby", "ok"},
		{b, "kvget room", "kv lobby"}, // the other instance or node
		{otherNS, "kvget room", "ERR -5"},
		{otherPlugin, "kvget room", "ERR -5"},
		{otherNS, "kvset room 0 t2-room", "ok"},
		{a, "kvget room", "kv lobby"},
		{b, "kvcas room - hall", "ERR -14"},
		{b, "kvcas room nope hall", "ERR -14"},
		{b, "kvcas missing lobby hall", "ERR -5"},
		{b, "kvcas room lobby hall", "ok"},
		{a, "kvget room", "kv hall"},
		{a, "kvcas fresh - new", "ok"},
		{b, "kvcas fresh - again", "ERR -14"},
		{a, "kvset empty 0", "ok"},
		{b, "kvget empty", "kv "},
		{b, "kvcas empty - x", "ERR -14"},
		{b, "kvcas empty = x", "ok"},
		{a, "kvdel room", "ok"},
		{b, "kvdel room", "ERR -5"},
		{b, "kvget room", "ERR -5"},
		{otherNS, "kvget room", "kv t2-room"},
		{a, "kvget bad*key", "ERR -6"},
		{a, "kvget .dot", "ERR -6"},
		{a, "kvget " + strings.Repeat("k", 129), "ERR -6"},
		{a, "kvget " + strings.Repeat("k", 128), "ERR -5"},
		{a, "kvset k -1 v", "ERR -6"},
		{a, "kvsetlen big 65537", "ERR -10"},
		{a, "kvsetlen big 65536", "ok"},
		{a, "kvset a.b/c=d 0 dotted", "ok"},
		{b, "kvget a.b/c=d", "kv dotted"},
	}
	for _, st := range steps {
		if got := command(t, st.c, st.cmd); got != st.want {
			t.Errorf("%.40q: %q, want %q", st.cmd, got, st.want)
		}
	}
	if v, st := srv.Plugins()["p"].KV().Get(context.Background(), "t1", "big"); st != abi.OK || len(v) != abi.MaxKVValue {
		t.Errorf("the host reads %d bytes for big (%v)", len(v), st)
	}

	// CAS races: a and b increment one counter at once.
	total := "incr " + strconv.Itoa(2*each)
	a.Send(ws.OpText, []byte("kvincr counter "+strconv.Itoa(each)))
	b.Send(ws.OpText, []byte("kvincr counter "+strconv.Itoa(each)))
	_, r1 := a.Read()
	_, r2 := b.Read()
	if !strings.HasPrefix(string(r1), "incr ") || !strings.HasPrefix(string(r2), "incr ") || (string(r1) != total && string(r2) != total) {
		t.Errorf("replies %q and %q: neither stored the %dth increment", r1, r2, 2*each)
	}
	counter := "kv " + strconv.Itoa(2*each)
	if got := command(t, b, "kvget counter"); got != counter {
		t.Errorf("counter after 2 x %d CAS increments: %q", each, got)
	}

	// TTL: set on a, gone for b at its deadline (waited for, with a deadline).
	if got := command(t, a, "kvset short "+strconv.Itoa(ttlMS)+" soon-gone"); got != "ok" {
		t.Fatalf("set with ttl: %q", got)
	}
	waitFor(t, "the value to expire for the other client", func() bool { return command(t, b, "kvget short") == "ERR -5" })
	if got := command(t, b, "kvget counter"); got != counter {
		t.Errorf("a value without TTL: %q", got)
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
