package host_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// who asks the chat who is in a room and returns the user names it answers, or the error text.
// The announcements of others joining and leaving rooms are skipped.
func (c *chatClient) who(t *testing.T, room string) ([]string, string) {
	t.Helper()
	c.do(t, map[string]any{"action": "who", "room": room})
	timeout := time.After(10 * time.Second)
next:
	select {
	case m, ok := <-c.in:
		if m["action"] == "user_joined" || m["action"] == "user_left" {
			goto next
		}
		if !ok {
			t.Fatalf("%s: connection closed, waiting for members", c.name)
		}
		if m["type"] == "error" {
			return nil, fmt.Sprint(m["payload"].(map[string]any)["message"])
		}
		if m["action"] != "members" || m["room"] != room {
			t.Fatalf("%s: got %v, want the members of %s", c.name, m, room)
		}
		var users []string
		for _, u := range m["users"].([]any) {
			users = append(users, u.(string))
		}
		return users, ""
	case <-timeout:
		t.Fatalf("%s: no answer to who", c.name)
	}
	return nil, ""
}

// expectWho checks the answer to who.
func (c *chatClient) expectWho(t *testing.T, room string, want ...string) {
	t.Helper()
	got, errText := c.who(t, room)
	if errText != "" || !slices.Equal(got, want) {
		t.Fatalf("%s: who %s = %q (error %q), want %q", c.name, room, got, errText, want)
	}
}

// waitWho asks until who answers want (a change that settles after an event the client cannot
// see: a close finishing on another node, a node leaving the cluster).
func (c *chatClient) waitWho(t *testing.T, room string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, errText := c.who(t, room)
		if errText == "" && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: who %s = %q (error %q), want %q", c.name, room, got, errText, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakePeer makes a NATS connection say it is a node of the cluster "wasmsock" (heartbeats every
// 500ms) without ever answering a request: a node that hangs. stop says goodbye as a node does.
// Its node id is one that none of nodes has (node ids are drawn at random: a fixed one collided
// with a real node's about once in a thousand runs, which then did not count the fake as a peer).
func fakePeer(t *testing.T, url string, nodes ...*host.Server) (stop func()) {
	t.Helper()
	id := 1000
	for slices.ContainsFunc(nodes, func(n *host.Server) bool { return n.Cluster().ID() == id }) {
		id++
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	beat := make([]byte, 18)
	binary.BigEndian.PutUint16(beat, uint16(id))
	binary.BigEndian.PutUint64(beat[2:], 12345)
	binary.BigEndian.PutUint64(beat[10:], uint64(time.Now().UnixNano()))
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = nc.Publish("wasmsock.nodes", beat)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		close(done)
		<-stopped
		_ = nc.Publish("wasmsock.nodes", append(beat, 1)) // bye
		_ = nc.Flush()
		nc.Close()
	}
	t.Cleanup(stop)
	return stop
}

// waitPeerCount waits until n hears from count other nodes.
func waitPeerCount(t *testing.T, n *host.Server, count int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(n.Cluster().Peers()) != count {
		if time.Now().After(deadline) {
			t.Fatalf("node %d hears from %v, want %d nodes", n.Cluster().ID(), n.Cluster().Peers(), count)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterPresence: group_size and group_members (the chat's "who") answer for the whole
// cluster from any node: members on both nodes listed from either, namespaces apart, a leave and
// a close reflected, a node that hangs or NATS away answered with ErrUnavailable (never a partial
// list), and a stopped node's members gone.
func TestClusterPresence(t *testing.T) {
	ns := natstest.Start(t, nil)
	a, baseA := startNode(t, ns.ClientURL(), `request_timeout = "500ms"`)
	b, baseB := startNode(t, ns.ClientURL(), `request_timeout = "500ms"`)
	waitPeers(t, a, b)

	alice := chatDial(t, baseA, "alice", "acme")
	bob := chatDial(t, baseB, "bob", "acme")
	carol := chatDial(t, baseB, "carol", "acme") // asks, is in no room
	dan := chatDial(t, baseB, "dan", "acme")
	eve := chatDial(t, baseA, "eve", "other-corp") // same room name, another namespace
	frank := chatDial(t, baseB, "frank", "other-corp")
	alice.joinAny(t, "general")
	bob.joinAny(t, "general")
	dan.joinAny(t, "general")
	eve.joinAny(t, "general")
	frank.joinAny(t, "general")

	for _, tc := range []struct {
		asker *chatClient
		room  string
		want  []string
	}{
		{alice, "general", []string{"alice", "bob", "dan"}}, // from A: bob and dan are on B
		{bob, "general", []string{"alice", "bob", "dan"}},   // from B: alice is on A
		{carol, "general", []string{"alice", "bob", "dan"}}, // not a member
		{eve, "general", []string{"eve", "frank"}},          // another namespace, both nodes
		{frank, "general", []string{"eve", "frank"}},
		{alice, "random", nil}, // nobody anywhere
	} {
		t.Run(tc.asker.name+"/"+tc.room, func(t *testing.T) {
			tc.asker.expectWho(t, tc.room, tc.want...)
		})
	}

	// A leave is in force when its answer arrives, for every node.
	dan.do(t, map[string]any{"action": "leave", "room": "general"})
	dan.reply(t, "left")
	alice.expectWho(t, "general", "alice", "bob")
	// A close is, once the connection has finished closing on its node.
	bob.Close(1000, "")
	alice.waitWho(t, "general", "alice")
	bob2 := chatDial(t, baseB, "bob", "acme")
	bob2.joinAny(t, "general")
	alice.expectWho(t, "general", "alice", "bob")

	// A node that is heard from but does not answer: ErrUnavailable within request_timeout, not
	// a list without its members. Once it says goodbye, presence answers again.
	stop := fakePeer(t, ns.ClientURL(), a, b)
	waitPeerCount(t, a, 2)
	if got, errText := alice.who(t, "general"); !strings.Contains(errText, "unavailable") {
		t.Fatalf("who with a node that does not answer: %q %q", got, errText)
	}
	stop()
	waitPeerCount(t, a, 1)
	alice.expectWho(t, "general", "alice", "bob")

	// A stopped node's members are gone (it says goodbye: no wait for its heartbeat to lapse).
	shutdown(t, b)
	waitPeerCount(t, a, 0)
	alice.expectWho(t, "general", "alice")
	eve.expectWho(t, "general", "eve")

	// NATS away: presence cannot know the other nodes' members, ErrUnavailable.
	c, baseC := startNode(t, ns.ClientURL(), `request_timeout = "500ms"`)
	waitPeers(t, a, c)
	gina := chatDial(t, baseC, "gina", "acme")
	gina.joinAny(t, "general")
	alice.expectWho(t, "general", "alice", "gina")
	ns.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for a.Cluster().State() == cluster.Connected {
		if time.Now().After(deadline) {
			t.Fatal("node A still connected after NATS stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, errText := alice.who(t, "general"); !strings.Contains(errText, "unavailable") {
		t.Fatalf("who while NATS is away: %q %q", got, errText)
	}
}

// TestClusterPresenceStatuses: group_size and group_members through the probe plugin on two
// nodes: the sizes and ids from either node, a member of another plugin listed with id 0 on
// whichever node it is, and the exact status (ErrUnavailable) when a live node does not answer.
func TestClusterPresenceStatuses(t *testing.T) {
	probe, err := filepath.Abs("../testdata/plugins/probe/probe.wasm")
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.Start(t, nil)
	rest := fmt.Sprintf(`
[plugin.q]
module = %q
[[route]]
path = "/ws"
plugin = "p"
user_from = "query:u"
[[route]]
path = "/other"
plugin = "q"
user_from = "query:u"`, probe)
	top := fmt.Sprintf("[cluster]\nurls = [%q]\nrequest_timeout = \"300ms\"", ns.ClientURL())
	a, baseA := startConfigTop(t, top, probe, rest)
	b, baseB := startConfigTop(t, top, probe, rest)
	waitPeers(t, a, b)
	cmd := func(c *wstest.Client, s string) string {
		t.Helper()
		c.Send(ws.OpText, []byte(s))
		_, p := c.Read()
		return string(p)
	}
	dial := func(base, path, user string) (*wstest.Client, string) {
		c := wstest.Dial(t, base+path+"?u="+user, nil)
		if r := cmd(c, "join room"); r != "ok" {
			t.Fatalf("join: %q", r)
		}
		return c, cmd(c, "id")
	}
	ann, annID := dial(baseA, "/ws", "ann")
	_, benID := dial(baseB, "/ws", "ben")
	_, _ = dial(baseB, "/other", "cid")          // another plugin's connection: id 0 for p
	_, _ = dial(baseA, "/other", "ben")          // ben's second connection, through q on A
	wantMembers := "members 0:ben 0:cid "        // then ann and ben in id order
	if mustUint(t, annID) < mustUint(t, benID) { // by id, as numbers
		wantMembers += annID + ":ann " + benID + ":ben"
	} else {
		wantMembers += benID + ":ben " + annID + ":ann"
	}
	asker := wstest.Dial(t, baseB+"/ws?u=zed", nil)
	for _, tc := range []struct {
		name string
		c    *wstest.Client
		cmd  string
		want string
	}{
		{"size from A", ann, "size room", "size 4"},
		{"size from B", asker, "size room", "size 4"},
		{"members from A", ann, "members room", wantMembers},
		{"members from B", asker, "members room", wantMembers},
		{"user group", asker, "size user:ben", "size 2"},
		{"empty", ann, "members nobody", "members"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cmd(tc.c, tc.cmd); got != tc.want {
				t.Fatalf("%s: %q, want %q", tc.cmd, got, tc.want)
			}
		})
	}
	fakePeer(t, ns.ClientURL(), a, b)
	waitPeerCount(t, a, 2)
	unavailable := "ERR " + strconv.Itoa(int(abi.ErrUnavailable))
	for _, c := range []string{"size room", "members room"} {
		if got := cmd(ann, c); got != unavailable {
			t.Errorf("%s with a node that does not answer: %q, want %q", c, got, unavailable)
		}
	}
}

// TestClusterPresenceWithinCallTimeout: a node that hangs costs a presence call at most half of
// the plugin's call_timeout, even when request_timeout is longer: the guest gets ErrUnavailable
// and time to answer, and its connection is not failed for a timeout.
func TestClusterPresenceWithinCallTimeout(t *testing.T) {
	ns := natstest.Start(t, nil)
	top := fmt.Sprintf("[cluster]\nurls = [%q]\nrequest_timeout = \"60s\"", ns.ClientURL())
	a, base := startConfigTop(t, top, "../testdata/plugins/probe/probe.wasm", "call_timeout = \"2s\"\n[[route]]\npath = \"/ws\"\nplugin = \"p\"")
	fakePeer(t, ns.ClientURL(), a)
	waitPeerCount(t, a, 1)
	c := wstest.Dial(t, base+"/ws", nil)
	for _, cmd := range []string{"size room", "members room"} {
		c.Send(ws.OpText, []byte(cmd))
		if _, p := c.Read(); string(p) != "ERR "+strconv.Itoa(int(abi.ErrUnavailable)) {
			t.Fatalf("%s: %q", cmd, p)
		}
	}
	c.Send(ws.OpText, []byte("echo still here"))
	if _, p := c.Read(); string(p) != "still here" {
		t.Fatalf("echo: %q", p)
	}
}

// TestClusterPresenceTooLarge: a node whose members of a group do not fit in one NATS message
// answers so, and group_members is ErrTooLarge (group_size still counts them).
func TestClusterPresenceTooLarge(t *testing.T) {
	ns := natstest.Start(t, &server.Options{MaxPayload: 4096}) // max_payload 4 KiB
	top := fmt.Sprintf("[limits]\nmax_connections_per_ip = 0\nconnections_per_second_per_ip = 0\n[cluster]\nurls = [%q]", ns.ClientURL())
	route := "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nuser_from = \"query:u\""
	a, baseA := startConfigTop(t, top, "../testdata/plugins/probe/probe.wasm", route)
	b, baseB := startConfigTop(t, top, "../testdata/plugins/probe/probe.wasm", route)
	waitPeers(t, a, b)
	const members = 30 // 30 records of 109 bytes: over 4 KiB once in JSON
	for i := range members {
		c := wstest.Dial(t, baseB+"/ws?u="+strings.Repeat("x", 98)+fmt.Sprintf("%02d", i), nil)
		c.Send(ws.OpText, []byte("join room"))
		if _, p := c.Read(); string(p) != "ok" {
			t.Fatalf("join: %q", p)
		}
	}
	asker := wstest.Dial(t, baseA+"/ws?u=ann", nil)
	for _, tc := range []struct{ cmd, want string }{
		{"size room", "size " + strconv.Itoa(members)},
		{"members room", "ERR " + strconv.Itoa(int(abi.ErrTooLarge))},
	} {
		asker.Send(ws.OpText, []byte(tc.cmd))
		if _, p := asker.Read(); string(p) != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, p, tc.want)
		}
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("not an id: %q", s)
	}
	return n
}
