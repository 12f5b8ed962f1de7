package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wasmsock/wasmsock/host"
)

const testAdminKey = "test-admin-key-0123456789abcdef"

// runNATS runs a NATS server on a random loopback port for the test.
func runNATS(t testing.TB, port int, maxPayload int32) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1 // random
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

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
	ns := runNATS(t, 0, 0)
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
