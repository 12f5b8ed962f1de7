package host_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// chatClient is a client of plugins/chat whose messages a goroutine collects.
type chatClient struct {
	*wstest.Client
	name string
	in   chan map[string]any
}

func chatDial(t *testing.T, base, name, namespace string) *chatClient {
	t.Helper()
	q := url.Values{"name": {name}, "namespace": {namespace}}
	c := &chatClient{Client: wstest.Dial(t, base+"/chat?"+q.Encode(), nil), name: name, in: make(chan map[string]any, 256)}
	go func() {
		defer close(c.in)
		for {
			f, err := c.ReadFrame(time.Minute)
			if err != nil || f.Op == ws.OpClose {
				return
			}
			var m map[string]any
			if f.Op == ws.OpText && json.Unmarshal(f.Payload, &m) == nil {
				c.in <- m
			}
		}
	}()
	c.next(t, "welcome")
	return c
}

func (c *chatClient) do(t *testing.T, msg map[string]any) {
	t.Helper()
	b, _ := json.Marshal(msg)
	c.Send(ws.OpText, b)
}

// next returns the next message, failing unless its action (or type) is want or one of also.
func (c *chatClient) next(t *testing.T, want string, also ...string) map[string]any {
	t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			t.Fatalf("%s: connection closed, waiting for %q", c.name, want)
		}
		for _, w := range append(also, want) {
			if m["action"] == w || m["type"] == w {
				return m
			}
		}
		t.Fatalf("%s: got %v, want %q", c.name, m, want)
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no %q message", c.name, want)
	}
	return nil
}

// reply returns the next message that is not an announcement of another member joining or
// leaving a room, failing unless its action (or type) is want. In a cluster an announcement
// published on another node may arrive at any time, before or after a reply on this one.
func (c *chatClient) reply(t *testing.T, want string) map[string]any {
	t.Helper()
	for {
		m := c.next(t, want, "user_joined", "user_left")
		if m["action"] != "user_joined" && m["action"] != "user_left" {
			return m
		}
	}
}

// joinAny joins room, skipping announcements (see reply).
func (c *chatClient) joinAny(t *testing.T, room string) {
	t.Helper()
	c.do(t, map[string]any{"action": "join", "room": room})
	c.reply(t, "joined")
}

func (c *chatClient) join(t *testing.T, room string) {
	t.Helper()
	c.do(t, map[string]any{"action": "join", "room": room})
	c.next(t, "joined")
}

// quiet checks that nothing arrived before a fresh round trip: every message enqueued earlier
// would have been received first.
func (c *chatClient) quiet(t *testing.T) {
	t.Helper()
	c.do(t, map[string]any{"action": "no such action"})
	c.next(t, "error")
}

func startChat(t *testing.T) string {
	t.Helper()
	_, base := startConfigTop(t, "", "../plugins/chat/chat.wasm", `
[[route]]
path = "/chat"
plugin = "p"
namespace_from = "query:namespace"
user_from = "query:name"`)
	return base
}

// TestChatDelivery is the seeds' chat: exact delivery sets across rooms, namespaces and users.
func TestChatDelivery(t *testing.T) {
	base := startChat(t)
	alice := chatDial(t, base, "alice", "acme")
	bob := chatDial(t, base, "bob", "acme")
	carol := chatDial(t, base, "carol", "acme")
	dan := chatDial(t, base, "dan", "acme")       // another room
	eve := chatDial(t, base, "eve", "other-corp") // same room name, another namespace
	for _, c := range []*chatClient{alice, bob, carol} {
		c.join(t, "general")
	}
	dan.join(t, "random")
	eve.join(t, "general")
	// Joins are announced to the members already there.
	alice.next(t, "user_joined")
	alice.next(t, "user_joined")
	bob.next(t, "user_joined")

	alice.do(t, map[string]any{"action": "send_message", "room": "general", "text": "Hi everyone"})
	for _, c := range []*chatClient{bob, carol} {
		m := c.next(t, "receive_message")
		if m["room"] != "general" || m["from"] != "alice" || m["text"] != "Hi everyone" {
			t.Errorf("%s received %v", c.name, m)
		}
	}
	for _, c := range []*chatClient{alice, dan, eve} { // sender excluded; other room and namespace
		c.quiet(t)
	}

	// A user with two connections receives a private message on both.
	bob2 := chatDial(t, base, "bob", "acme")
	carol.do(t, map[string]any{"action": "send_to_user", "user": "bob", "text": "psst"})
	for _, c := range []*chatClient{bob, bob2} {
		if m := c.next(t, "receive_message"); m["from"] != "carol" || m["to"] != "bob" || m["text"] != "psst" {
			t.Errorf("private message: %v", m)
		}
	}
	// ...but not across namespaces.
	eve.do(t, map[string]any{"action": "send_to_user", "user": "bob", "text": "leak?"})
	eve.quiet(t)
	bob.quiet(t)

	// Leaving a room, and closing, are announced.
	carol.do(t, map[string]any{"action": "leave", "room": "general"})
	carol.next(t, "left")
	alice.next(t, "user_left")
	bob.Close(1000, "")
	if m := alice.next(t, "user_left"); m["user"] != "bob" {
		t.Errorf("user_left after close: %v", m)
	}
}

func TestChatBadInput(t *testing.T) {
	base := startChat(t)
	c := chatDial(t, base, "mallory", "acme")
	other := chatDial(t, base, "olive", "acme")
	other.join(t, "general")
	bad := []string{
		`not json`,
		`[1,2,3]`,
		`{"action":"dance"}`,
		`{"action":"join"}`,
		`{"action":"join","room":"` + strings.Repeat("r", 65) + `"}`,
		`{"action":"send_message","room":"general","text":"not joined"}`,
		`{"action":"send_message","room":"general"}`,
	}
	for _, b := range bad {
		c.Send(ws.OpText, []byte(b))
		m := c.next(t, "error")
		if p, _ := m["payload"].(map[string]any); p == nil || p["message"] == "" {
			t.Errorf("%s: error without a message: %v", b, m)
		}
	}
	c.Send(ws.OpBinary, []byte{1, 2, 3})
	c.next(t, "error")
	// The connection is still open and the others heard nothing.
	c.join(t, "general")
	other.next(t, "user_joined")
	other.quiet(t)
}

// TestSlowConsumer: a plugin broadcasting in a loop to a group with a member that never reads.
// The slow member's queue reaches its bound and it is closed with 1008; a member that reads keeps
// up and gets everything; memory stays bounded by queue_bytes.
func TestSlowConsumer(t *testing.T) {
	_, url := startServer(t, probe, "", "queue_bytes = \"256KiB\"\nmax_message_bytes = \"64KiB\"\nclose_timeout = \"500ms\"")
	obs := observe(t, url)
	fast := wstest.Dial(t, url, nil)
	slow := wstest.Dial(t, url, nil)
	_ = slow // never reads
	slowID := command(t, slow, "id")
	command(t, slow, "join g")
	command(t, fast, "join g")
	sender := wstest.Dial(t, url, nil)

	// The reading member reports its progress; the sender floods again only once it has caught
	// up, so its queue never holds more than one flood while the slow member's grows.
	progress := make(chan int, 64)
	go func() {
		defer close(progress)
		n := 0
		for n < 640 {
			f, err := fast.ReadFrame(10 * time.Second)
			if err != nil {
				return
			}
			if f.Op == ws.OpText && len(f.Payload) == 16<<10 {
				n++
				if n%10 == 0 {
					progress <- n
				}
			}
		}
	}()
	payload := strings.Repeat("x", 16<<10)
	for i := 1; i <= 64; i++ {
		if reply := command(t, sender, "flood 10 g "+payload); !strings.HasPrefix(reply, "sent ") {
			t.Fatalf("flood: %q", reply)
		}
		if n, ok := <-progress; !ok || n != 10*i {
			t.Fatalf("the reading member fell behind: %d of %d messages", n, 10*i)
		}
	}
	if got := obs.expect(t, "closed "+slowID+" "); !strings.HasPrefix(got, fmt.Sprintf("closed %s 1008 ", slowID)) {
		t.Errorf("slow member: %q, want close 1008", got)
	}
	if got := metric(scrape(t, strings.TrimSuffix(url, "/ws")), "wasmsock_slow_consumers_total", "route", "/ws"); got != 1 {
		t.Errorf("slow consumers counted: %v", got)
	}
}
