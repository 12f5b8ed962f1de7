package host_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

const testAdminKey = "test-admin-key-0123456789abcdef"

// startNode serves the chat plugin on /chat as one node of the cluster on natsURL, with the
// admin API on. It returns the server and its ws:// base URL.
func startNode(t testing.TB, natsURL, clusterExtra string) (*host.Server, string) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	if err := os.WriteFile(keyFile, []byte(testAdminKey), 0o600); err != nil {
		t.Fatal(err)
	}
	top := fmt.Sprintf("[admin]\nkey_file = %q\nstatus_page = \"/status\"\n[cluster]\nurls = [%q]\n%s", keyFile, natsURL, clusterExtra)
	return startConfigTop(t, top, "../plugins/chat/chat.wasm", `
[[route]]
path = "/chat"
plugin = "p"
namespace_from = "query:namespace"
user_from = "query:name"`)
}

// waitPeers waits until every node hears from the others.
func waitPeers(t testing.TB, nodes ...*host.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for len(n.Status().Cluster.Peers) != len(nodes)-1 {
			if time.Now().After(deadline) {
				t.Fatalf("node %d hears from %v", n.Status().Cluster.Node, n.Status().Cluster.Peers)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestClusterChat: three nodes on one NATS server make one chat. Rooms, user: sends and except
// work across nodes exactly as on one node; namespaces stay apart; the backend API on any node
// reaches connections on every node.
func TestClusterChat(t *testing.T) {
	ns := natstest.Start(t, nil)
	a, baseA := startNode(t, ns.ClientURL(), "")
	b, baseB := startNode(t, ns.ClientURL(), "")
	c, baseC := startNode(t, ns.ClientURL(), "")
	waitPeers(t, a, b, c)
	ids := map[int]bool{a.Status().Cluster.Node: true, b.Status().Cluster.Node: true, c.Status().Cluster.Node: true}
	if len(ids) != 3 {
		t.Fatalf("node ids not distinct: %v", ids)
	}

	alice := chatDial(t, baseA, "alice", "acme")
	bob := chatDial(t, baseB, "bob", "acme")
	carol := chatDial(t, baseC, "carol", "acme")
	dan := chatDial(t, baseB, "dan", "acme")       // another room
	eve := chatDial(t, baseA, "eve", "other-corp") // same room name, another namespace
	frank := chatDial(t, baseC, "frank", "other-corp")

	// Each join announces the joiner to the room; settle makes sure NATS has routed that
	// announcement before the next client joins (else it may reach the next one too).
	joinSettled(t, alice, a, "general")
	joinSettled(t, bob, b, "general")
	alice.next(t, "user_joined")
	joinSettled(t, carol, c, "general")
	alice.next(t, "user_joined")
	bob.next(t, "user_joined")
	dan.join(t, "random")
	joinSettled(t, eve, a, "general")
	frank.join(t, "general")
	eve.next(t, "user_joined")

	alice.do(t, map[string]any{"action": "send_message", "room": "general", "text": "Hi everyone"})
	for _, cl := range []*chatClient{bob, carol} {
		if m := cl.next(t, "receive_message"); m["room"] != "general" || m["from"] != "alice" || m["text"] != "Hi everyone" {
			t.Errorf("%s received %v", cl.name, m)
		}
	}
	frank.do(t, map[string]any{"action": "send_message", "room": "general", "text": "other tenant"})
	if m := eve.next(t, "receive_message"); m["from"] != "frank" {
		t.Errorf("eve received %v", m)
	}
	// The sender, the other room and the other namespace received nothing.
	for _, cl := range []*chatClient{alice, dan, frank, bob, carol} {
		cl.quiet(t)
	}

	// A user connected to two nodes receives a private message on both; the other namespace's
	// bob does not exist for acme.
	bob2 := chatDial(t, baseC, "bob", "acme")
	bobOther := chatDial(t, baseA, "bob", "other-corp")
	carol.do(t, map[string]any{"action": "send_to_user", "user": "bob", "text": "psst"})
	for _, cl := range []*chatClient{bob, bob2} {
		if m := cl.next(t, "receive_message"); m["from"] != "carol" || m["to"] != "bob" || m["text"] != "psst" {
			t.Errorf("private message: %v", m)
		}
	}
	bobOther.quiet(t)
	carol.quiet(t)

	// The backend API on node C reaches members on A and B, and counts them all.
	code, resp := api(t, baseC, testAdminKey, "POST", "/api/publish", map[string]any{"namespace": "acme", "group": "room:general", "text": notice("from the backend")})
	if code != 200 || resp["delivered"] != 3.0 || resp["nodes"] != 3.0 {
		t.Fatalf("publish: %d %v", code, resp)
	}
	for _, cl := range []*chatClient{alice, bob, carol} {
		if m := cl.next(t, "notice"); m["text"] != "from the backend" {
			t.Errorf("%s: %v", cl.name, m)
		}
	}
	code, resp = api(t, baseA, testAdminKey, "POST", "/api/send", map[string]any{"namespace": "acme", "user": "bob", "text": notice("hi bob")})
	if code != 200 || resp["delivered"] != 2.0 {
		t.Fatalf("send to user: %d %v", code, resp)
	}
	for _, cl := range []*chatClient{bob, bob2} {
		if m := cl.next(t, "notice"); m["text"] != "hi bob" {
			t.Errorf("%s: %v", cl.name, m)
		}
	}
	// Groups, counted over every node; one group's members, with their nodes.
	code, resp = api(t, baseB, testAdminKey, "GET", "/api/groups", nil)
	if code != 200 || resp["nodes"] != 3.0 {
		t.Fatalf("groups: %d %v", code, resp)
	}
	sizes := map[string]float64{}
	for _, g := range resp["groups"].([]any) {
		g := g.(map[string]any)
		sizes[g["namespace"].(string)+"/"+g["name"].(string)] = g["size"].(float64)
	}
	for k, want := range map[string]float64{"acme/room:general": 3, "other-corp/room:general": 2, "acme/room:random": 1, "acme/user:bob": 2, "other-corp/user:bob": 1} {
		if sizes[k] != want {
			t.Errorf("group %s has %v members, want %v (all: %v)", k, sizes[k], want, sizes)
		}
	}
	code, resp = api(t, baseB, testAdminKey, "GET", "/api/groups?namespace=acme&group=user:bob", nil)
	members, _ := resp["members"].([]any)
	if code != 200 || len(members) != 2 {
		t.Fatalf("members: %d %v", code, resp)
	}
	var bob2ID float64
	for _, m := range members {
		m := m.(map[string]any)
		if int(m["node"].(float64)) == c.Status().Cluster.Node {
			bob2ID = m["conn"].(float64)
		}
	}
	// send and close by connection id reach the node that holds it.
	code, resp = api(t, baseA, testAdminKey, "POST", "/api/send", map[string]any{"conn": bob2ID, "text": notice("just you")})
	if code != 200 {
		t.Fatalf("send to conn: %d %v", code, resp)
	}
	if m := bob2.next(t, "notice"); m["text"] != "just you" {
		t.Errorf("bob2: %v", m)
	}
	bob.quiet(t)

	// Broadcast to a namespace, then to every namespace.
	code, resp = api(t, baseA, testAdminKey, "POST", "/api/broadcast", map[string]any{"namespace": "other-corp", "text": notice("tenant notice")})
	if code != 200 || resp["delivered"] != 3.0 {
		t.Fatalf("broadcast: %d %v", code, resp)
	}
	for _, cl := range []*chatClient{eve, frank, bobOther} {
		if m := cl.next(t, "notice"); m["text"] != "tenant notice" {
			t.Errorf("%s: %v", cl.name, m)
		}
	}
	alice.quiet(t)
	code, resp = api(t, baseB, testAdminKey, "POST", "/api/broadcast", map[string]any{"all_namespaces": true, "text": notice("maintenance")})
	if code != 200 || resp["delivered"] != 8.0 {
		t.Fatalf("broadcast to all: %d %v", code, resp)
	}
	for _, cl := range []*chatClient{alice, bob, carol, dan, eve, frank, bob2, bobOther} {
		if m := cl.next(t, "notice"); m["text"] != "maintenance" {
			t.Errorf("%s: %v", cl.name, m)
		}
	}

	code, resp = api(t, baseC, testAdminKey, "POST", "/api/close", map[string]any{"conn": bob2ID, "code": 4000, "reason": "kicked"})
	if code != 200 {
		t.Fatalf("close: %d %v", code, resp)
	}
	waitClosed(t, bob2)
	code, _ = api(t, baseC, testAdminKey, "POST", "/api/close", map[string]any{"conn": bob2ID + 1<<40})
	if code != 404 {
		t.Errorf("close of an unknown connection: %d", code)
	}

	// A node that stops is gone from the others' answers.
	bob.Close(1000, "")
	dan.Close(1000, "")
	if m := alice.next(t, "user_left"); m["user"] != "bob" {
		t.Errorf("user_left: %v", m)
	}
	shutdown(t, b)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, resp = api(t, baseA, testAdminKey, "GET", "/api/groups", nil)
		if resp["nodes"] == 2.0 && !strings.Contains(fmt.Sprint(resp["groups"]), "room:random") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B still counted: %v", resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notice is a message from the backend in the chat's JSON.
func notice(text string) string { return `{"action":"notice","text":"` + text + `"}` }

func shutdown(t testing.TB, srv *host.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// waitClosed waits until the server closed the client's connection (its reader ends at the close
// frame).
func waitClosed(t testing.TB, c *chatClient) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-c.in:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("%s: not closed", c.name)
		}
	}
}

// joinSettled joins cl to a room and waits until its announcement has left node n: the join is
// handled (a later request was answered: a connection's messages are handled in order) and
// settled.
func joinSettled(t *testing.T, cl *chatClient, n *host.Server, room string) {
	t.Helper()
	cl.join(t, room)
	cl.quiet(t)
	settle(t, n)
}

// settle waits until the NATS server has handled everything the nodes published so far (a
// round trip on each node's connection, which NATS handles in order).
func settle(t testing.TB, nodes ...*host.Server) {
	t.Helper()
	for _, n := range nodes {
		if err := n.Cluster().Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterNATSRestart: NATS goes away in the middle of a steady stream and comes back. Local
// delivery never stops; what was published to other nodes during the outage is lost and
// counted; once NATS is back every node delivers again by itself, and nothing of the outage
// arrives late.
func TestClusterNATSRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ns := natstest.Start(t, &server.Options{Port: port})
	a, baseA := startNode(t, ns.ClientURL(), "")
	b, baseB := startNode(t, ns.ClientURL(), "")
	waitPeers(t, a, b)
	sender := chatDial(t, baseA, "sender", "")
	local := chatDial(t, baseA, "local", "")
	remote := chatDial(t, baseB, "remote", "")
	joinSettled(t, sender, a, "stream")
	joinSettled(t, local, a, "stream")
	sender.next(t, "user_joined")
	joinSettled(t, remote, b, "stream")
	sender.next(t, "user_joined")
	local.next(t, "user_joined")
	send := func(text string) {
		sender.do(t, map[string]any{"action": "send_message", "room": "stream", "text": text})
	}
	expect := func(c *chatClient, text string) {
		t.Helper()
		if m := c.next(t, "receive_message"); m["text"] != text {
			t.Fatalf("%s: got %v, want %q", c.name, m, text)
		}
	}
	for i := range 30 {
		send(fmt.Sprint("before ", i))
		expect(local, fmt.Sprint("before ", i))
		expect(remote, fmt.Sprint("before ", i))
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	waitState(t, "reconnecting", a, b)
	if code := get(t, httpBase(baseA)+"/readyz"); code != 503 {
		t.Errorf("/readyz while NATS is lost: %d", code)
	}
	lostBefore := metric(scrape(t, baseA), "wasmsock_cluster_publications_lost_total", "reason", "disconnected")
	for i := range 20 {
		send(fmt.Sprint("during ", i))
		expect(local, fmt.Sprint("during ", i)) // local delivery goes on
	}
	if lost := metric(scrape(t, baseA), "wasmsock_cluster_publications_lost_total", "reason", "disconnected") - lostBefore; lost != 20 {
		t.Errorf("lost publications counted: %v, want 20", lost)
	}

	// A room first joined on B while NATS is away is subscribed when it is back.
	late := chatDial(t, baseB, "late", "")
	late.join(t, "fresh")

	natstest.Start(t, &server.Options{Port: port})
	waitState(t, "connected", a, b)
	// Deliveries resume as soon as the remote node has subscribed again: probe until one
	// arrives, then the stream is whole again.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		send(fmt.Sprint("probe ", i))
		expect(local, fmt.Sprint("probe ", i))
		settle(t, a)
		if m, ok := poll(remote, 50*time.Millisecond); ok {
			if text, _ := m["text"].(string); !strings.HasPrefix(text, "probe ") {
				t.Fatalf("remote received %v after the outage", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery to the other node after NATS came back")
		}
	}
	for i := range 30 {
		send(fmt.Sprint("after ", i))
		expect(local, fmt.Sprint("after ", i))
		for {
			m := remote.next(t, "receive_message")
			if text := m["text"].(string); strings.HasPrefix(text, "probe ") {
				continue // probes sent before the first one arrived may arrive as well
			} else if text != fmt.Sprint("after ", i) {
				t.Fatalf("remote: got %q, want %q", text, fmt.Sprint("after ", i))
			}
			break
		}
	}
	if code := get(t, httpBase(baseA)+"/readyz"); code != 200 {
		t.Errorf("/readyz after NATS came back: %d", code)
	}
	joinSettled(t, sender, a, "fresh")
	late.next(t, "user_joined")
	sender.do(t, map[string]any{"action": "send_message", "room": "fresh", "text": "new room"})
	expect(late, "new room")
	if n := metric(scrape(t, baseA), "wasmsock_cluster_reconnects_total"); n < 1 {
		t.Errorf("reconnects: %v", n)
	}
}

// TestClusterTooLarge: a message NATS cannot carry goes nowhere, with a clear status to the
// plugin and the backend, and is counted.
func TestClusterTooLarge(t *testing.T) {
	ns := natstest.Start(t, &server.Options{MaxPayload: 64 << 10})
	top := fmt.Sprintf("[admin]\nkey_env = %q\n[cluster]\nurls = [%q]", "WASMSOCK_TEST_ADMIN_KEY", ns.ClientURL())
	t.Setenv("WASMSOCK_TEST_ADMIN_KEY", testAdminKey)
	srv, base := startConfigTop(t, top, probe, "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nmax_message_bytes = \"1MiB\"")
	_ = srv
	member := wstest.Dial(t, base+"/ws", nil)
	sender := wstest.Dial(t, base+"/ws", nil)
	command(t, member, "join g")
	big := strings.Repeat("x", 100<<10)
	if got := command(t, sender, "bcast g "+big); got != fmt.Sprintf("ERR %d", abi.ErrTooLarge) {
		t.Fatalf("broadcast over max_payload: %q", got)
	}
	if got := command(t, sender, "bcast g small"); got != "sent 1" {
		t.Fatalf("small broadcast: %q", got)
	}
	if _, m := member.Read(); string(m) != "small" {
		t.Fatalf("member got %q first: the large message reached it", m)
	}
	code, resp := api(t, base, testAdminKey, "POST", "/api/publish", map[string]any{"group": "g", "text": big})
	if code != 413 || !strings.Contains(fmt.Sprint(resp["error"]), "max_payload") {
		t.Fatalf("publish over max_payload: %d %v", code, resp)
	}
	if n := metric(scrape(t, base), "wasmsock_cluster_publications_lost_total", "reason", "too_large"); n != 2 {
		t.Errorf("too_large counted: %v", n)
	}
}

// waitState waits until every node's NATS connection is in state.
func waitState(t *testing.T, state string, nodes ...*host.Server) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for n.Status().Cluster.State != state {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: NATS %s, want %s", n.Status().Cluster.Node, n.Status().Cluster.State, state)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// poll returns the next message of c if one comes within d.
func poll(c *chatClient, d time.Duration) (map[string]any, bool) {
	select {
	case m, ok := <-c.in:
		return m, ok
	case <-time.After(d):
		return nil, false
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestClusterExampleConfigs runs the committed two-node chat of testdata/cluster (on random
// ports instead of :8081, :8082 and 4222): a message on node A reaches node B, a private message
// crosses too, and both serve the chat page.
func TestClusterExampleConfigs(t *testing.T) {
	load := func(name string) *config.Config {
		cfg, err := config.Load(filepath.Join("..", "testdata", "cluster", name))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen, cfg.CompilationCache = "127.0.0.1:0", testCache
		for _, p := range cfg.Plugins { // testCallTimeout: the chat is a Go module
			p.CallTimeout.D = 30 * time.Second
		}
		return cfg
	}
	cfgA := load("a.toml")
	if !cfgA.Cluster.Embedded || cfgA.Cluster.EmbeddedListen != "127.0.0.1:4222" {
		t.Fatalf("a.toml: %+v", cfgA.Cluster)
	}
	cfgA.Cluster.EmbeddedListen = "127.0.0.1:0"
	a, baseA := serveNode(t, cfgA)
	cfgB := load("b.toml")
	if len(cfgB.Cluster.URLs) != 1 || cfgB.Cluster.URLs[0] != "nats://127.0.0.1:4222" {
		t.Fatalf("b.toml: %+v", cfgB.Cluster)
	}
	cfgB.Cluster.URLs = []string{a.Cluster().Embedded()}
	b, baseB := serveNode(t, cfgB)
	waitPeers(t, a, b)

	alice := chatDial(t, baseA, "alice", "demo")
	bob := chatDial(t, baseB, "bob", "demo")
	joinSettled(t, alice, a, "general")
	joinSettled(t, bob, b, "general")
	alice.next(t, "user_joined")
	alice.do(t, map[string]any{"action": "send_message", "room": "general", "text": "hello from A"})
	if m := bob.next(t, "receive_message"); m["from"] != "alice" || m["text"] != "hello from A" {
		t.Errorf("bob: %v", m)
	}
	bob.do(t, map[string]any{"action": "send_to_user", "user": "alice", "text": "hi A, B here"})
	if m := alice.next(t, "receive_message"); m["from"] != "bob" || m["text"] != "hi A, B here" {
		t.Errorf("alice: %v", m)
	}
	for _, base := range []string{baseA, baseB} {
		if code := get(t, httpBase(base)+"/"); code != 200 {
			t.Errorf("chat page on %s: %d", base, code)
		}
	}
}

// serveNode serves cfg on a random loopback port until the test ends.
func serveNode(t *testing.T, cfg *config.Config) (*host.Server, string) {
	t.Helper()
	return hosttest.Serve(t, cfg, testLogger())
}

// TestClusterBadConfig: what check and serve (both host.New) say about a [cluster] table they
// cannot start: the file, the line and the key, and what is wrong.
func TestClusterBadConfig(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := free.Addr().String()
	free.Close()
	dir := t.TempDir()
	creds := filepath.Join(dir, "node.creds")
	if err := os.WriteFile(creds, []byte("-----BEGIN NATS USER JWT-----\nnot a jwt\n------END NATS USER JWT------\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	module, _ := filepath.Abs(probe)
	tests := []struct {
		name, table string
		want        []string
	}{
		{"embedded port taken", "embedded = true\nembedded_listen = \"" + busy.Addr().String() + "\"",
			[]string{":4: cluster.embedded_listen: ", "address already in use"}},
		{"unreachable", "urls = [\"nats://" + unreachable + "\"]\nconnect_timeout = \"300ms\"",
			[]string{":3: cluster.urls: ", "cannot connect to NATS at nats://" + unreachable}},
		{"bad credentials", "urls = [\"nats://" + unreachable + "\"]\ncredentials_file = \"" + creds + "\"",
			[]string{":4: cluster.credentials_file: ", "not a NATS credentials file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "host.toml")
			src := fmt.Sprintf("compilation_cache = %q\n[cluster]\n%s\n[plugin.p]\nmodule = %q\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\n", testCache, tc.table, module)
			cfg, err := config.Parse(path, []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			err = host.Check(context.Background(), cfg, nil)
			if err == nil {
				t.Fatal("check passed")
			}
			for _, w := range append([]string{path}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestClusterPluginSend: a plugin's send reaches a connection on another node, with the same
// rules as on one node (same plugin, same namespace), and broadcast counts this node's members.
func TestClusterPluginSend(t *testing.T) {
	ns := natstest.Start(t, nil)
	route := "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nnamespace_from = \"query:ns\""
	t.Setenv("WASMSOCK_TEST_ADMIN_KEY", testAdminKey)
	top := fmt.Sprintf("[admin]\nkey_env = \"WASMSOCK_TEST_ADMIN_KEY\"\nstatus_page = \"/status\"\n[cluster]\nurls = [%q]", ns.ClientURL())
	a, baseA := startConfigTop(t, top, probe, route)
	b, baseB := startConfigTop(t, top, probe, route)
	waitPeers(t, a, b)
	x := wstest.Dial(t, baseA+"/ws?ns=acme", nil)
	y := wstest.Dial(t, baseB+"/ws?ns=acme", nil)
	z := wstest.Dial(t, baseB+"/ws?ns=globex", nil)
	yID, zID := command(t, y, "id"), command(t, z, "id")
	var yNum uint64
	fmt.Sscan(yID, &yNum)
	tests := []struct{ cmd, want string }{
		{"send " + yID + " across", "ok"},
		{"send " + zID + " other tenant", fmt.Sprintf("ERR %d", abi.ErrUnknownConn)},
		{fmt.Sprintf("send %d nobody", yNum+1000), fmt.Sprintf("ERR %d", abi.ErrUnknownConn)},
		{fmt.Sprintf("send %d no such node", uint64(1023)<<43|1), fmt.Sprintf("ERR %d", abi.ErrUnknownConn)},
	}
	for _, tc := range tests {
		if got := command(t, x, tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	if _, m := y.Read(); string(m) != "across" {
		t.Fatalf("y got %q", m)
	}
	// broadcast returns this node's recipients; the other node's members get it too.
	command(t, x, "join g")
	command(t, y, "join g")
	settle(t, a, b)
	// x is a member too: the message reaches it before the reply.
	x.Send(ws.OpText, []byte("bcastall g to all"))
	if _, m := x.Read(); string(m) != "to all" {
		t.Fatalf("x got %q", m)
	}
	if _, got := x.Read(); string(got) != "sent 1" {
		t.Fatalf("bcastall: %q, want the one member of this node", got)
	}
	if _, m := y.Read(); string(m) != "to all" {
		t.Fatalf("y got %q", m)
	}
	if got := command(t, z, "echo quiet"); got != "quiet" {
		t.Fatalf("z: %q", got)
	}
	// The status page shows the cluster.
	if code, body := status(t, baseA); code != 200 || !strings.Contains(body, `id="cluster"`) || !strings.Contains(body, fmt.Sprintf(`<span class="peer">%d</span>`, b.Status().Cluster.Node)) || !strings.Contains(body, "Groups on this node") {
		t.Errorf("status page: %d\n%s", code, body)
	}
}

// status fetches the status page with the admin key.
func status(t *testing.T, base string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", httpBase(base)+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
