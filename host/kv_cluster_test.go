package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestClusterKV: with kv = "jetstream", a plugin's shared store is one for the whole cluster.
// Node A embeds the NATS server (JetStream in jetstream_dir), node B connects to it; real
// WebSocket clients on both nodes drive the probe plugin through kvShared's steps (a value set on
// A is read on B, namespaces and plugins stay apart, CAS and delete give their statuses across
// nodes, concurrent CAS increments from both nodes lose nothing, a TTL expires for both), the
// entry budget is the plugin's across the cluster, and with NATS gone the store answers
// ErrUnavailable.
func TestClusterKV(t *testing.T) {
	jsDir := t.TempDir()
	a, baseA := startConfigTop(t, fmt.Sprintf("[cluster]\nembedded = true\nembedded_listen = \"127.0.0.1:0\"\nkv = \"jetstream\"\njetstream_dir = %q", jsDir), probe, kvRoutes(t))
	b, baseB := startConfigTop(t, fmt.Sprintf("[cluster]\nurls = [%q]\nkv = \"jetstream\"", a.Cluster().Embedded()), probe, kvRoutes(t))
	waitPeers(t, a, b)
	onA := wstest.Dial(t, baseA+"/ws?ns=t1", nil)
	onB := wstest.Dial(t, baseB+"/ws?ns=t1", nil)
	otherNS := wstest.Dial(t, baseB+"/ws?ns=t2", nil)
	otherPlugin := wstest.Dial(t, baseB+"/other?ns=t1", nil)

	kvShared(t, b, onA, onB, otherNS, otherPlugin, 150, 200)

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
