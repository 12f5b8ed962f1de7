package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/wstest"
)

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

// TestClusterKV: with kv = "jetstream", a plugin's shared store is one for the whole cluster.
// Node A embeds the NATS server (JetStream in jetstream_dir), node B connects to it; real
// WebSocket clients on both nodes drive the probe plugin: a value set on A is read on B,
// namespaces and plugins stay apart, CAS and delete give their statuses across nodes, concurrent
// CAS increments from both nodes lose nothing, a TTL expires for both, the entry budget is the
// plugin's across the cluster, and with NATS gone the store answers ErrUnavailable.
func TestClusterKV(t *testing.T) {
	jsDir := t.TempDir()
	a, baseA := startConfigTop(t, fmt.Sprintf("[cluster]\nembedded = true\nembedded_listen = \"127.0.0.1:0\"\nkv = \"jetstream\"\njetstream_dir = %q", jsDir), probe, kvRoutes(t))
	b, baseB := startConfigTop(t, fmt.Sprintf("[cluster]\nurls = [%q]\nkv = \"jetstream\"", a.Cluster().Embedded()), probe, kvRoutes(t))
	waitPeers(t, a, b)
	onA := wstest.Dial(t, baseA+"/ws?ns=t1", nil)
	onB := wstest.Dial(t, baseB+"/ws?ns=t1", nil)
	otherNS := wstest.Dial(t, baseB+"/ws?ns=t2", nil)
	otherPlugin := wstest.Dial(t, baseB+"/other?ns=t1", nil)

	steps := []struct {
		c         *wstest.Client
		cmd, want string
	}{
		{onA, "kvget room", "ERR -5"},
		{onA, "kvset room 0 lobby", "ok"},
		{onB, "kvget room", "kv lobby"}, // the other node
		{otherNS, "kvget room", "ERR -5"},
		{otherPlugin, "kvget room", "ERR -5"},
		{otherNS, "kvset room 0 t2-room", "ok"},
		{onA, "kvget room", "kv lobby"},
		{onB, "kvcas room - hall", "ERR -14"},
		{onB, "kvcas room nope hall", "ERR -14"},
		{onB, "kvcas missing lobby hall", "ERR -5"},
		{onB, "kvcas room lobby hall", "ok"},
		{onA, "kvget room", "kv hall"},
		{onA, "kvcas fresh - new", "ok"},
		{onB, "kvcas fresh - again", "ERR -14"},
		{onA, "kvset empty 0", "ok"},
		{onB, "kvget empty", "kv "},
		{onB, "kvcas empty - x", "ERR -14"},
		{onB, "kvcas empty = x", "ok"},
		{onA, "kvdel room", "ok"},
		{onB, "kvdel room", "ERR -5"},
		{onB, "kvget room", "ERR -5"},
		{otherNS, "kvget room", "kv t2-room"},
		{onA, "kvget bad*key", "ERR -6"},
		{onA, "kvset k -1 v", "ERR -6"},
		{onA, "kvsetlen big 65537", "ERR -10"},
		{onA, "kvsetlen big 65536", "ok"},
		{onA, "kvset a.b/c=d 0 dotted", "ok"},
		{onB, "kvget a.b/c=d", "kv dotted"},
	}
	for _, st := range steps {
		if got := command(t, st.c, st.cmd); got != st.want {
			t.Errorf("%.40q: %q, want %q", st.cmd, got, st.want)
		}
	}
	if v, st := b.Plugins()["p"].KV().Get(context.Background(), "t1", "big"); st != abi.OK || len(v) != abi.MaxKVValue {
		t.Errorf("node B reads %d bytes for big (%v)", len(v), st)
	}

	// CAS races: a client on each node increments one counter at once.
	onA.Send(ws.OpText, []byte("kvincr counter 150"))
	onB.Send(ws.OpText, []byte("kvincr counter 150"))
	_, r1 := onA.Read()
	_, r2 := onB.Read()
	if !strings.HasPrefix(string(r1), "incr ") || !strings.HasPrefix(string(r2), "incr ") || (string(r1) != "incr 300" && string(r2) != "incr 300") {
		t.Errorf("replies %q and %q: neither stored the 300th increment", r1, r2)
	}
	if got := command(t, onA, "kvget counter"); got != "kv 300" {
		t.Errorf("counter after 2 x 150 CAS increments on two nodes: %q", got)
	}

	// TTL: set on A, gone on B at its deadline.
	if got := command(t, onA, "kvset short 200 soon-gone"); got != "ok" {
		t.Fatalf("set with ttl: %q", got)
	}
	waitFor(t, "the value to expire on node B", func() bool { return command(t, onB, "kvget short") == "ERR -5" })
	if got := command(t, onB, "kvget counter"); got != "kv 300" {
		t.Errorf("a value without TTL: %q", got)
	}

	// The budget is the plugin's, whichever node writes: plugin q fills its 10000 entries from
	// B, A's next entry is refused, a delete on A makes room for B.
	qA := wstest.Dial(t, baseA+"/other?ns=t1", nil)
	if got := command(t, otherPlugin, "kvfill e 10001"); got != "filled 10000 ERR -13" {
		t.Fatalf("entries: %q", got)
	}
	for _, st := range []struct {
		c         *wstest.Client
		cmd, want string
	}{
		{qA, "kvset one-more 0 v", "ERR -13"},
		{qA, "kvset e1 0 overwrite", "ok"},
		{qA, "kvdel e0", "ok"},
		{otherPlugin, "kvset one-more 0 v", "ok"},
		{onA, "kvset p-is-not-full 0 v", "ok"}, // another plugin's budget
	} {
		if got := command(t, st.c, st.cmd); got != st.want {
			t.Errorf("%q: %q, want %q", st.cmd, got, st.want)
		}
	}

	// NATS gone (node A embeds it): B's store answers ErrUnavailable; the plugin lives on.
	shutdown(t, a)
	unavailable := "ERR " + strconv.Itoa(int(abi.ErrUnavailable))
	for _, cmd := range []string{"kvget counter", "kvset k 0 v", "kvcas counter 300 301", "kvdel counter"} {
		if got := command(t, onB, cmd); got != unavailable {
			t.Errorf("%s without NATS: %q, want %q", cmd, got, unavailable)
		}
	}
	if got := command(t, onB, "echo alive"); got != "alive" {
		t.Errorf("the plugin: %q", got)
	}
}

// TestClusterKVNeedsJetStream: kv = "jetstream" against a NATS server without JetStream, or
// with less JetStream storage than a plugin's store needs, fails check and serve alike, at the
// kv key's line, saying what is wrong.
func TestClusterKVNeedsJetStream(t *testing.T) {
	module, _ := filepath.Abs(probe)
	for _, tc := range []struct {
		name string
		opts *server.Options
		want []string
	}{
		{"no JetStream", &server.Options{}, []string{"JetStream is not enabled", "-js"}},
		{"too little storage", &server.Options{JetStream: true, JetStreamMaxStore: 1 << 20},
			[]string{"the shared store of plugin p", "KV_ws8_wasmsock_p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := natstest.Start(t, tc.opts)
			path := filepath.Join(t.TempDir(), "host.toml")
			src := fmt.Sprintf("compilation_cache = %q\n[cluster]\nurls = [%q]\nkv = \"jetstream\"\n[plugin.p]\nmodule = %q\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\n", testCache, ns.ClientURL(), module)
			cfg, err := config.Parse(path, []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			for name, run := range map[string]func() error{
				"check": func() error { return host.Check(context.Background(), cfg, nil) },
				"serve": func() error {
					srv, err := host.New(context.Background(), cfg, nil)
					if err == nil {
						shutdown(t, srv)
					}
					return err
				},
			} {
				err := run()
				if err == nil {
					t.Fatalf("%s passed", name)
				}
				for _, w := range append([]string{path + ":4: cluster.kv: "}, tc.want...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not contain %q", name, err, w)
					}
				}
			}
		})
	}
}
