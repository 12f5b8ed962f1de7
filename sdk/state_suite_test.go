// The behaviour suite's stateful scenarios: the lobby example of every SDK (plugins/lobby for Go,
// the reference; sdk/LANG/examples/lobby for the others; plugins/lobby/README.md is the protocol)
// through timers, attachments and the shared store. Time moves only when a scenario advances the
// harness's clock, so every timer fires at a known step, without waiting. Besides the messages,
// the transcript records what the host keeps for the plugin (the armed timers, the attachments,
// the shared store's contents), so a language that keeps its state anywhere else differs.
package sdk_test

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

func init() { scenarios = append(scenarios, lobbyScenarios...) }

// advance moves the harness's clock: the timers due meanwhile fire.
func (s *session) advance(d time.Duration) {
	n, err := s.h.Advance(d)
	s.record("advance %s: %d timer(s) fired", d, n)
	if err != nil {
		s.errorf("advance %s: %v", d, err)
	}
	s.observe()
}

// nameOf is the scenario's name for a connection id ("plugin" for 0).
func (s *session) nameOf(id uint64) string {
	if id == 0 {
		return "plugin"
	}
	for name, tc := range s.conns {
		if tc.c != nil && tc.c.ID() == id {
			return name
		}
	}
	return "conn " + strconv.FormatUint(id, 10)
}

// timers records the armed timers, the next first, and checks their number.
func (s *session) timers(want int) {
	ts := s.h.Timers()
	if len(ts) != want {
		s.errorf("%d timers armed, want %d", len(ts), want)
	}
	if len(ts) > 10 {
		s.record("timers: %d armed", len(ts))
		return
	}
	var parts []string
	for _, t := range ts {
		p := fmt.Sprintf("%s %q in %s", s.nameOf(t.Conn), t.Name, t.In)
		if t.Every > 0 {
			p += " every " + t.Every.String()
		}
		parts = append(parts, p)
	}
	s.record("timers: [%s]", strings.Join(parts, "; "))
}

// attachment checks and records the attachment the host keeps for name.
func (s *session) attachment(name, want string) {
	c := s.conn(name)
	if c == nil {
		return
	}
	got := c.Attachment()
	s.record("attachment of %s: %s", name, short(got))
	if string(got) != want {
		s.errorf("attachment of %s: %s, want %s", name, short(got), short([]byte(want)))
	}
}

// kv checks and records the plugin's shared store in namespace ns; want is key, value, key,
// value...
func (s *session) kv(ns string, want ...string) {
	got := s.h.KV(ns)
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+short(got[k]))
	}
	s.record("kv %q: {%s}", ns, strings.Join(parts, ", "))
	w := map[string]string{}
	for i := 0; i+1 < len(want); i += 2 {
		w[want[i]] = want[i+1]
	}
	if len(w) != len(got) {
		s.errorf("kv %q has %d keys, want %d", ns, len(got), len(w))
	}
	for k, v := range w {
		if g, ok := got[k]; !ok || string(g) != v {
			s.errorf("kv %q: %s is %s (%v), want %s", ns, k, short(g), ok, short([]byte(v)))
		}
	}
}

// short quotes b, or gives its length and hash when it is long.
func short(b []byte) string {
	if len(b) > 80 {
		sum := sha256.Sum256(b)
		return fmt.Sprintf("(%d bytes, sha256 %x)", len(b), sum[:8])
	}
	return strconv.Quote(string(b))
}

// say sends a command and checks the reply.
func (s *session) say(name, cmd, reply string) {
	s.send(name, cmd)
	s.expect(name, reply)
	s.none(name)
}

// status is the lobby's reply to a host error.
func status(st abi.Status) string { return "error " + strconv.Itoa(int(st)) }

var lobbyScenarios = []scenario{
	// Attachments and timers, with one reload in the middle (a Go module's load is the costly
	// part of a scenario): the nickname is the connection's attachment, handed back to the new
	// module's on_connect(resumed); reminders (once), a tick (repeating), cancel, a countdown,
	// an announcement (a plugin timer), the timer limit; timers survive the reload and end with
	// their connection. Two instances: whichever serves a connection, the host's state is the same.
	{name: "lobby_state", plugin: "lobby", opts: plugintest.Options{Instances: 2}, run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{User: "alice"})
		s.connect("b", plugintest.ConnInfo{})
		s.none("a", "b")
		s.say("a", "whoami", "you are nobody")
		s.say("a", "nick Alice ✓", "ok")
		s.say("b", "nick Bob", "ok")
		s.attachment("a", "Alice ✓")
		s.attachment("b", "Bob")
		// Over 2048 bytes: ErrTooLarge, and the old nickname stays. At the limit: stored.
		s.say("a", "nick "+strings.Repeat("x", abi.MaxAttachment+1), status(abi.ErrTooLarge))
		s.attachment("a", "Alice ✓")
		s.say("a", "whoami", "you are Alice ✓")
		s.say("b", "nick "+strings.Repeat("é", abi.MaxAttachment/2), "ok")
		s.attachment("b", strings.Repeat("é", abi.MaxAttachment/2))
		s.say("b", "nick Bob", "ok")

		s.say("a", "remind 1000 tea", "ok")
		s.say("a", "remind 500 call", "ok")
		s.say("a", "remind 2000 tea", "ok") // the same name: replaces the first
		s.timers(2)
		s.advance(999 * time.Millisecond)
		s.expect("a", "reminder call")
		s.none("a", "b")
		s.say("a", "cancel call", status(abi.ErrNotFound)) // a one-shot timer that fired
		s.say("a", "remind 10 "+strings.Repeat("n", abi.MaxTimerName+1), status(abi.ErrInvalidArgument))
		s.say("a", "remind 10 ", status(abi.ErrInvalidArgument))
		s.say("a", "remind soon tea", "error usage")
		s.say("b", "visit", "visits 1")
		s.say("b", "tick 300", "ok")
		s.timers(2)
		s.advance(700 * time.Millisecond)
		s.expect("b", "tick 1")
		s.expect("b", "tick 1")
		s.none("a", "b")

		// The new module knows nothing but what the host hands back: the attachments, and the
		// timers, re-armed on it.
		s.reload()
		s.none("a", "b")
		s.say("a", "whoami", "you are Alice ✓")
		s.say("b", "whoami", "you are Bob")
		s.say("b", "here", "here 2") // membership is the host's: nobody joined again
		s.timers(2)
		s.advance(400 * time.Millisecond)
		s.expect("b", "tick 1")
		s.expect("a", "reminder tea")
		s.none("a", "b")
		s.say("a", "visit", "visits 2")
		s.advance(300 * time.Millisecond)
		s.expect("b", "tick 2")
		s.say("b", "tick 0", "ok")
		s.say("b", "tick 0", status(abi.ErrNotFound))
		s.say("b", "cancel tick", status(abi.ErrNotFound))
		s.timers(0)
		s.connect("c", plugintest.ConnInfo{})
		s.say("c", "whoami", "you are nobody")
		s.attachment("c", "")
		// An empty nickname removes the attachment.
		s.say("b", "nick", "ok")
		s.attachment("b", "")
		s.say("b", "whoami", "you are nobody")

		// An announcement: a plugin timer, whose text waits in the shared store.
		s.say("a", "announce 100 Lunch is served", "ok")
		s.timers(1)
		s.kv("", "announce", "Lunch is served", "visits", "2")
		s.advance(100 * time.Millisecond)
		for _, n := range []string{"a", "b", "c"} {
			s.expect(n, "announce Lunch is served")
		}
		s.kv("", "visits", "2")
		s.connect("o", plugintest.ConnInfo{Namespace: "other"})
		s.say("o", "announce 1 hi", "error namespace")
		// A plugin timer cancelled: nothing is announced.
		s.say("b", "announce 100 Cancelled", "ok")
		s.say("a", "unannounce", "ok")
		s.say("a", "unannounce", status(abi.ErrNotFound))
		s.kv("", "visits", "2")
		s.timers(0)

		// A countdown arms several timers at once, all or nothing.
		s.say("a", "countdown 3", "ok")
		s.say("a", "cancel count/2", "ok")
		s.timers(2)
		s.advance(3 * time.Second)
		s.expect("a", "reminder count/1")
		s.expect("a", "reminder count/3")
		s.none("a", "b", "c", "o")
		s.say("a", "countdown 0", "error usage")

		// The timer limit is the plugin's, all connections together.
		s.say("a", "countdown "+strconv.Itoa(abi.MaxTimers+1), status(abi.ErrLimit))
		s.timers(0)
		s.say("a", "countdown "+strconv.Itoa(abi.MaxTimers-1), "ok")
		s.say("b", "remind 1 last", "ok")
		s.timers(abi.MaxTimers)
		s.say("o", "remind 1 one too many", status(abi.ErrLimit))
		s.say("b", "remind 5 last", "ok") // re-arming an armed name is no new timer
		// A connection's timers and attachment end with it.
		s.close("a", 1000, "")
		s.timers(1)
		s.attachment("a", "")
		s.say("o", "remind 1 now there is room", "ok")
		s.advance(5 * time.Millisecond)
		s.expect("o", "reminder now there is room")
		s.expect("b", "reminder last")
		s.none("b", "c", "o")
		s.timers(0)
		s.say("c", "dance", "error unknown")
	}},

	// Presence (group_size): who is in the lobby, and how many connections a user has open (the
	// host's "user:" groups), in the namespace of the connection that asks, whichever of the two
	// instances serves it; a connection counts from its on_connect until it has closed.
	{name: "lobby_presence", plugin: "lobby", opts: plugintest.Options{Instances: 2}, run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{User: "alice"})
		s.say("a", "here", "here 1")
		s.say("a", "online alice", "online 1")
		s.connect("b", plugintest.ConnInfo{User: "bob"})
		s.connect("a2", plugintest.ConnInfo{User: "alice"})
		s.connect("anon", plugintest.ConnInfo{})
		s.connect("j", plugintest.ConnInfo{User: "José"})
		s.connect("o", plugintest.ConnInfo{User: "alice", Namespace: "other"})
		s.say("b", "here", "here 5")
		s.say("a", "online José", "online 1")
		s.say("anon", "online alice", "online 2")
		s.say("a2", "online bob", "online 1")
		s.say("a", "online carol", "online 0")
		s.say("a", "online alice smith", "online 0") // a user id may hold spaces
		// Another namespace's lobby and users are not visible, nor is this one from there.
		s.say("o", "here", "here 1")
		s.say("o", "online alice", "online 1")
		s.say("o", "online bob", "online 0")
		// "user:" and the user id must make a valid group name: at most 128 bytes, no control
		// characters; the host says ErrInvalidArgument.
		long := strings.Repeat("u", abi.MaxGroupName-len(abi.UserGroupPrefix))
		s.say("a", "online "+long, "online 0")
		s.say("a", "online "+long+"u", status(abi.ErrInvalidArgument))
		s.say("a", "online al\x01ice", status(abi.ErrInvalidArgument))
		s.say("a", "online", "error usage")
		s.say("a", "online ", "error usage")
		// Closing leaves the lobby and the user's group.
		s.close("a2", 1000, "")
		s.say("b", "here", "here 4")
		s.say("b", "online alice", "online 1")
		s.close("a", 1001, "")
		s.say("anon", "online alice", "online 0")
		s.say("anon", "here", "here 3")
		s.none("b", "anon", "j", "o")
	}},

	// The visit counter and the topic are in the shared store: every instance sees the same
	// values, each namespace its own; compare-and-swap, TTL, the value limit, the store's budget.
	{name: "lobby_kv", plugin: "lobby", opts: plugintest.Options{Instances: 2}, run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		s.connect("b", plugintest.ConnInfo{})
		s.connect("o", plugintest.ConnInfo{Namespace: "other"})
		s.say("a", "visit", "visits 1")
		s.say("b", "visit", "visits 2")
		s.say("a", "visit", "visits 3")
		s.say("o", "visit", "visits 1")
		s.kv("", "visits", "3")
		s.kv("other", "visits", "1")

		s.say("a", "topic", "no topic")
		s.say("a", "edit-topic old\nnew", status(abi.ErrNotFound)) // CAS on a missing key
		s.say("a", "new-topic Hello", "ok")
		s.say("b", "new-topic Mine", status(abi.ErrMismatch)) // create only: it exists
		s.say("b", "topic", "topic Hello")
		s.say("o", "topic", "no topic")
		s.say("b", "edit-topic Hi\nStale", status(abi.ErrMismatch))
		s.say("b", "edit-topic Hello\nHello, world", "ok")
		s.say("a", "topic", "topic Hello, world")
		s.say("a", "edit-topic no line break", "error usage")
		s.kv("", "topic", "Hello, world", "visits", "3")

		// The value limit: one byte over is ErrTooLarge and stores nothing; at the limit, stored.
		s.say("a", "set-topic "+strings.Repeat("t", abi.MaxKVValue+1), status(abi.ErrTooLarge))
		s.say("b", "topic", "topic Hello, world")
		big := strings.Repeat("t", abi.MaxKVValue)
		s.say("a", "set-topic "+big, "ok")
		s.say("b", "topic", "topic "+big)

		// Every write of the topic gives it 60 s more, by the harness's clock.
		s.advance(30 * time.Second)
		s.say("a", "set-topic Lunch at noon", "ok")
		s.advance(59999 * time.Millisecond)
		s.say("b", "topic", "topic Lunch at noon")
		s.advance(time.Millisecond)
		s.say("b", "topic", "no topic")
		s.kv("", "visits", "3")
		s.say("a", "clear-topic", status(abi.ErrNotFound))
		s.say("a", "set-topic Soon gone", "ok")
		s.say("b", "clear-topic", "ok")
		s.say("a", "topic", "no topic")

		// The store's budget (all namespaces together): full, a new key is refused with ErrLimit,
		// overwriting a key still works.
		for i := range abi.MaxKVEntries - 2 {
			if err := s.h.SetKV("filler", "k"+strconv.Itoa(i), nil, 0); err != nil {
				s.errorf("SetKV: %v", err)
				break
			}
		}
		s.record("the test fills the store to %d entries", abi.MaxKVEntries)
		s.say("a", "new-topic Full", status(abi.ErrLimit))
		s.say("b", "set-topic Full", status(abi.ErrLimit))
		s.say("b", "visit", "visits 4")
		s.say("o", "visit", "visits 2")
		s.kv("", "visits", "4")
		s.kv("other", "visits", "2")
	}},
}
