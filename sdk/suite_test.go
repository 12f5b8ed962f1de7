// The cross-language behaviour suite: the example plugins of every SDK (echo, chat and lobby, see
// plugins/echo, plugins/chat/README.md and plugins/lobby/README.md for what they must do; lobby's
// scenarios are in state_suite_test.go) go through the same scenarios,
// in process and without a network (sdk/go/plugintest). Each scenario checks the behaviour the
// plugins' documentation promises, and records a transcript of everything observable: every
// message each connection received (JSON compared after parsing, so key order and escaping do
// not matter), every close, every refused connection or config. The transcript of each language
// must equal the Go implementation's, the reference; a difference fails with a line diff.
//
// A module listed in impls that does not exist fails the suite: build the examples first (make
// wasm). While working on one language, run it alone: go test ./sdk -run 'Suite/rust'.
package sdk_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

// impl is one language's example plugins.
type impl struct {
	lang              string
	echo, chat, lobby string // module paths, relative to this directory
}

// impls lists every SDK; the first is the reference.
var impls = []impl{
	{"go", "../plugins/echo/echo.wasm", "../plugins/chat/chat.wasm", "../plugins/lobby/lobby.wasm"},
	{"rust", "rust/examples/echo/echo.wasm", "rust/examples/chat/chat.wasm", "rust/examples/lobby/lobby.wasm"},
	{"c", "c/examples/echo/echo.wasm", "c/examples/chat/chat.wasm", "c/examples/lobby/lobby.wasm"},
	{"assemblyscript", "assemblyscript/examples/echo/echo.wasm", "assemblyscript/examples/chat/chat.wasm", "assemblyscript/examples/lobby/lobby.wasm"},
}

// scenario is a conversation with one of the example plugins.
type scenario struct {
	name   string
	plugin string             // "echo", "chat" or "lobby"
	opts   plugintest.Options // how the harness is loaded
	// noHarness: run loads the module itself (with tryLoad); the session has no harness.
	noHarness bool
	run       func(s *session)
}

func TestSuite(t *testing.T) {
	for _, im := range impls {
		t.Run(im.lang, func(t *testing.T) {
			for _, path := range []string{im.echo, im.chat, im.lobby} {
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("%s example module missing: %v (build the examples: make wasm)", im.lang, err)
				}
			}
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					got := runScenario(sc, im, t.Errorf)
					if im.lang == impls[0].lang {
						storeReference(sc.name, got)
						return
					}
					want := reference(sc)
					if diff := diffLines(want, got); diff != "" {
						t.Errorf("%s's transcript differs from %s's (- %s, + %s):\n%s",
							im.lang, impls[0].lang, impls[0].lang, im.lang, diff)
					}
				})
			}
		})
	}
}

// The reference transcripts, made once per scenario: by the reference's own subtest, or on
// demand when another language runs alone (go test -run 'Suite/rust').
var (
	refMu      sync.Mutex
	references = map[string][]string{}
)

func storeReference(name string, tr []string) {
	refMu.Lock()
	defer refMu.Unlock()
	references[name] = tr
}

func reference(sc scenario) []string {
	refMu.Lock()
	defer refMu.Unlock()
	if tr, ok := references[sc.name]; ok {
		return tr
	}
	// The reference's own failures are reported by its own subtest; here they are ignored.
	tr := runScenario(sc, impls[0], func(string, ...any) {})
	references[sc.name] = tr
	return tr
}

// runScenario runs sc with im's module and returns the transcript; failed checks go to errorf.
func runScenario(sc scenario, im impl, errorf func(string, ...any)) []string {
	path := im.echo
	switch sc.plugin {
	case "chat":
		path = im.chat
	case "lobby":
		path = im.lobby
	}
	s := &session{errorf: errorf, path: path, conns: map[string]*tracked{}}
	if !sc.noHarness {
		h, err := plugintest.LoadFile(path, sc.opts)
		if err != nil {
			errorf("load %s: %v", path, err)
			return []string{"load failed"}
		}
		defer h.Close()
		s.h = h
	}
	sc.run(s)
	return s.transcript
}

// session drives one harness, checks what the plugin does and records the transcript.
type session struct {
	errorf     func(string, ...any)
	path       string
	h          *plugintest.Harness
	order      []string            // connection names, in the order they were opened
	conns      map[string]*tracked // by name
	transcript []string
}

// tracked is a connection and how much of it the transcript has recorded.
type tracked struct {
	c      *plugintest.Conn
	seen   int  // messages recorded
	closed bool // close recorded
}

func (s *session) record(format string, args ...any) {
	s.transcript = append(s.transcript, fmt.Sprintf(format, args...))
}

// observe records what every connection received, and which closed, since the last call:
// connection by connection, in the order they were opened (nothing orders deliveries to
// different connections).
func (s *session) observe() {
	for _, name := range s.order {
		tc := s.conns[name]
		if tc.c == nil {
			continue
		}
		msgs := tc.c.Received()
		for _, m := range msgs[tc.seen:] {
			s.record("  %s < %s", name, describe(m))
		}
		tc.seen = len(msgs)
		if code, reason, closed := tc.c.Closed(); closed && !tc.closed {
			tc.closed = true
			s.record("  %s closed %d %q", name, code, reason)
		}
	}
}

// describe renders a message for the transcript: JSON text canonically (parsed, then encoded
// with sorted keys), other text quoted, binary in hex; long payloads by length and hash.
func describe(m plugintest.Message) string {
	if m.Kind == plugintest.Text {
		var v any
		if err := json.Unmarshal(m.Data, &v); err == nil {
			return "json " + canonicalJSON(v)
		}
	}
	if len(m.Data) > 200 {
		sum := sha256.Sum256(m.Data)
		return fmt.Sprintf("%s, %d bytes, sha256 %x", m.Kind, len(m.Data), sum[:8])
	}
	if m.Kind == plugintest.Text {
		return "text " + strconv.Quote(m.Text())
	}
	return m.Kind.String() + " " + hex.EncodeToString(m.Data)
}

// canonicalJSON encodes a decoded JSON value with sorted keys, and without escaping <, > and &
// (which encoding/json does by default), so the transcript stays readable.
func canonicalJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("(unencodable: %v)", err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (s *session) conn(name string) *plugintest.Conn {
	tc := s.conns[name]
	if tc == nil || tc.c == nil {
		s.errorf("%s is not connected", name)
		return nil
	}
	return tc.c
}

// connect opens a connection; it must be accepted.
func (s *session) connect(name string, info plugintest.ConnInfo) {
	c, err := s.h.Connect(info)
	s.order = append(s.order, name)
	s.conns[name] = &tracked{c: c}
	var rej *plugintest.Rejected
	switch {
	case errors.As(err, &rej):
		s.record("connect %s: refused: HTTP %d, close %d", name, rej.HTTPStatus, rej.CloseCode)
		s.errorf("connect %s: %v", name, err)
	case err != nil:
		s.record("connect %s: %v", name, err)
		s.errorf("connect %s: %v", name, err)
	default:
		s.record("connect %s (user %q, namespace %q)", name, info.User, info.Namespace)
	}
	s.observe()
}

// send sends a text message from name.
func (s *session) send(name, text string) {
	if len(text) > 200 {
		s.record("%s > %s", name, describe(plugintest.Message{Kind: plugintest.Binary, Data: []byte(text)}))
	} else {
		s.record("%s > %s", name, strconv.Quote(text))
	}
	if c := s.conn(name); c != nil {
		if err := c.SendText(text); err != nil {
			s.errorf("%s: send: %v", name, err)
		}
	}
	s.observe()
}

// sendBinary sends a binary message from name.
func (s *session) sendBinary(name string, b []byte) {
	s.record("%s > %s", name, describe(plugintest.Message{Kind: plugintest.Binary, Data: b}))
	if c := s.conn(name); c != nil {
		if err := c.SendBinary(b); err != nil {
			s.errorf("%s: send: %v", name, err)
		}
	}
	s.observe()
}

// close closes name from the client's side.
func (s *session) close(name string, code int, reason string) {
	s.record("%s closes %d %q", name, code, reason)
	if c := s.conn(name); c != nil {
		if err := c.Close(code, reason); err != nil {
			s.errorf("%s: close: %v", name, err)
		}
	}
	s.observe()
}

// reload reloads the plugin with its own module: every connection is replayed (RESUMED).
func (s *session) reload() {
	s.record("reload")
	if err := s.h.ReloadFile(s.path); err != nil {
		s.errorf("reload: %v", err)
	}
	s.observe()
}

// expect checks the next message of name: want is a JSON object (compared after parsing) or,
// if it is not JSON, an exact text.
func (s *session) expect(name, want string) {
	c := s.conn(name)
	if c == nil {
		return
	}
	m, ok := c.Next()
	if !ok {
		s.errorf("%s: no message, want %s", name, want)
		return
	}
	var w any
	if json.Unmarshal([]byte(want), &w) == nil {
		if got := describe(m); got != describe(plugintest.Message{Kind: plugintest.Text, Data: []byte(want)}) {
			s.errorf("%s: got %s, want json %s", name, shorten(got), want)
		}
		return
	}
	if m.Kind != plugintest.Text || m.Text() != want {
		s.errorf("%s: got %s, want text %s", name, shorten(describe(m)), shorten(strconv.Quote(want)))
	}
}

// expectBinary checks that the next message of name is binary with these bytes.
func (s *session) expectBinary(name string, want []byte) {
	c := s.conn(name)
	if c == nil {
		return
	}
	m, ok := c.Next()
	if !ok || m.Kind != plugintest.Binary || !bytes.Equal(m.Data, want) {
		s.errorf("%s: got %s (%v), want %s", name, shorten(describe(m)), ok,
			shorten(describe(plugintest.Message{Kind: plugintest.Binary, Data: want})))
	}
}

// none checks that the connections have no message waiting.
func (s *session) none(names ...string) {
	for _, name := range names {
		if c := s.conn(name); c != nil {
			if p := c.Pending(); len(p) > 0 {
				s.errorf("%s: %d unexpected message(s), the first: %s", name, len(p), shorten(describe(p[0])))
			}
		}
	}
}

// expectClosed checks that name is closed with this code and reason.
func (s *session) expectClosed(name string, code int, reason string) {
	if c := s.conn(name); c != nil {
		if gc, gr, closed := c.Closed(); !closed || gc != code || gr != reason {
			s.errorf("%s: Closed() = %d %q %v, want %d %q", name, gc, gr, closed, code, reason)
		}
	}
}

// tryLoad loads the module with a config and records whether it started.
func (s *session) tryLoad(config string) error {
	h, err := plugintest.LoadFile(s.path, plugintest.Options{Config: []byte(config)})
	if err != nil {
		s.record("config %s: refused", config)
		return err
	}
	h.Close()
	s.record("config %s: started", config)
	return nil
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// diffLines returns a line diff of a and b ("" if equal): unchanged lines indented, lines only
// in a marked "-", lines only in b marked "+". Runs of more than 3 unchanged lines are cut.
func diffLines(a, b []string) string {
	// The longest common subsequence, by dynamic programming (transcripts are short).
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		mark byte
		text string
	}
	var lines []line
	changed := false
	for i, j := 0, 0; i < n || j < m; {
		switch {
		case i < n && j < m && a[i] == b[j]:
			lines = append(lines, line{' ', a[i]})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', a[i]})
			i, changed = i+1, true
		default:
			lines = append(lines, line{'+', b[j]})
			j, changed = j+1, true
		}
	}
	if !changed {
		return ""
	}
	var out strings.Builder
	near := func(k int) bool { // within 3 lines of a change
		for d := -3; d <= 3; d++ {
			if k+d >= 0 && k+d < len(lines) && lines[k+d].mark != ' ' {
				return true
			}
		}
		return false
	}
	skipped := false
	for k, l := range lines {
		if !near(k) {
			if !skipped {
				out.WriteString("  ...\n")
			}
			skipped = true
			continue
		}
		skipped = false
		fmt.Fprintf(&out, "%c %s\n", l.mark, l.text)
	}
	return out.String()
}

// obj renders a JSON object with string values, keys in the order given: obj("action", "join",
// "room", "general").
func obj(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(canonicalJSON(kv[i]) + ":" + canonicalJSON(kv[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

// chatError is chat's error reply; action "" is left out.
func chatError(message, action string) string {
	payload := map[string]string{"message": message}
	if action != "" {
		payload["action"] = action
	}
	return canonicalJSON(map[string]any{"type": "error", "payload": payload})
}

// welcome connects name and checks its welcome.
func (s *session) welcome(name string, info plugintest.ConnInfo, as string) {
	s.connect(name, info)
	s.expect(name, obj("action", "welcome", "user", as))
}

// join makes name join room and checks the replies: joined to name, user_joined to others.
func (s *session) join(name, user, room string, others ...string) {
	s.send(name, obj("action", "join", "room", room))
	s.expect(name, obj("action", "joined", "room", room, "user", user))
	for _, o := range others {
		s.expect(o, obj("action", "user_joined", "room", room, "user", user))
	}
}

var scenarios = []scenario{
	{name: "echo_text", plugin: "echo", run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		for _, text := range []string{"hello", "héllo wörld ✓ 日本語 🎉", `{"json":"stays text"}`, " spaces  and\ttabs\n"} {
			s.send("a", text)
			s.expect("a", text)
		}
		s.none("a")
	}},
	{name: "echo_binary", plugin: "echo", run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		for _, b := range [][]byte{all, {0}, {0xff, 0xfe}, []byte("text in binary")} {
			s.sendBinary("a", b)
			s.expectBinary("a", b)
		}
		s.none("a")
	}},
	{name: "echo_empty", plugin: "echo", run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		s.send("a", "")
		s.expect("a", "")
		s.sendBinary("a", nil)
		s.expectBinary("a", []byte{})
		s.none("a")
	}},
	{name: "echo_large", plugin: "echo", run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		big := make([]byte, 1<<20)
		for i := range big {
			big[i] = byte(i * 31 % 251)
		}
		s.sendBinary("a", big)
		s.expectBinary("a", big)
		text := strings.Repeat("0123456789abcdeé", 300<<10/17)
		s.send("a", text)
		s.expect("a", text)
		s.send("a", "small again")
		s.expect("a", "small again")
	}},
	{name: "echo_order", plugin: "echo", run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		s.connect("b", plugintest.ConnInfo{})
		for i := range 50 {
			s.send("a", "a"+strconv.Itoa(i))
			s.sendBinary("b", []byte{byte(i)})
		}
		for i := range 50 {
			s.expect("a", "a"+strconv.Itoa(i))
			s.expectBinary("b", []byte{byte(i)})
		}
		s.none("a", "b")
	}},
	{name: "echo_instances", plugin: "echo", opts: plugintest.Options{Instances: 3}, run: func(s *session) {
		names := []string{"a", "b", "c", "d", "e", "f"}
		for _, n := range names {
			s.connect(n, plugintest.ConnInfo{})
		}
		for _, n := range names {
			s.send(n, "I am "+n)
		}
		for _, n := range names {
			s.expect(n, "I am "+n)
		}
		s.none(names...)
	}},
	{name: "echo_close", plugin: "echo", run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		s.connect("b", plugintest.ConnInfo{})
		s.connect("c", plugintest.ConnInfo{})
		s.close("a", 4000, "bye")
		s.expectClosed("a", 4000, "bye")
		s.send("b", "still here")
		s.expect("b", "still here")
		s.close("b", 0, "")
		s.expectClosed("b", 1005, "")
		s.close("c", 1001, "going away ✓")
		s.expectClosed("c", 1001, "going away ✓")
		s.none("a", "b", "c")
	}},
	{name: "echo_reload", plugin: "echo", run: func(s *session) {
		s.connect("a", plugintest.ConnInfo{})
		s.send("a", "before")
		s.expect("a", "before")
		s.reload()
		s.none("a")
		s.send("a", "after")
		s.expect("a", "after")
		s.connect("b", plugintest.ConnInfo{})
		s.sendBinary("b", []byte{1, 2, 3})
		s.expectBinary("b", []byte{1, 2, 3})
	}},

	{name: "chat_welcome", plugin: "chat", run: func(s *session) {
		s.welcome("alice", plugintest.ConnInfo{User: "alice", Namespace: "public"}, "alice")
		s.welcome("anon", plugintest.ConnInfo{Namespace: "public"}, "anon-2")
		s.welcome("bob", plugintest.ConnInfo{User: "bob", Namespace: "other"}, "bob")
		s.welcome("zoe", plugintest.ConnInfo{User: "zoë ✓"}, "zoë ✓")
		s.none("alice", "anon", "bob", "zoe")
	}},
	{name: "chat_room", plugin: "chat", run: func(s *session) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			s.welcome(u, plugintest.ConnInfo{User: u, Namespace: "public"}, u)
		}
		s.join("alice", "alice", "general")
		s.join("bob", "bob", "general", "alice")
		s.join("carol", "carol", "general", "alice", "bob")
		s.none("alice", "bob", "carol", "dave")

		// A room message reaches the two other members, not the sender, not outsiders.
		s.send("bob", obj("action", "send_message", "room", "general", "text", "Hi everyone"))
		for _, to := range []string{"alice", "carol"} {
			s.expect(to, obj("action", "receive_message", "room", "general", "from", "bob", "text", "Hi everyone"))
		}
		s.none("alice", "bob", "carol", "dave")

		// Any text, escaped as JSON must escape it.
		tricky := "<b>&amp;</b> \"quoted\" \\ back\\slash \u2028 tab\t ✓ 🎉"
		s.send("alice", obj("action", "send_message", "room", "general", "text", tricky))
		s.expect("bob", obj("action", "receive_message", "room", "general", "from", "alice", "text", tricky))
		s.expect("carol", obj("action", "receive_message", "room", "general", "from", "alice", "text", tricky))

		// Joining again answers joined again and announces nothing.
		s.send("alice", obj("action", "join", "room", "general"))
		s.expect("alice", obj("action", "joined", "room", "general", "user", "alice"))
		s.none("alice", "bob", "carol", "dave")

		// Leaving tells the remaining members; then the room is closed to the leaver.
		s.send("carol", obj("action", "leave", "room", "general"))
		s.expect("carol", obj("action", "left", "room", "general"))
		s.expect("alice", obj("action", "user_left", "room", "general", "user", "carol"))
		s.expect("bob", obj("action", "user_left", "room", "general", "user", "carol"))
		s.send("carol", obj("action", "send_message", "room", "general", "text", "hello?"))
		s.expect("carol", chatError(`not in room "general": join it first`, "send_message"))
		s.send("carol", obj("action", "leave", "room", "general"))
		s.expect("carol", chatError(`not in room "general"`, "leave"))
		s.send("alice", obj("action", "send_message", "room", "general", "text", "bye"))
		s.expect("bob", obj("action", "receive_message", "room", "general", "from", "alice", "text", "bye"))

		// Alone in a room: the message reaches nobody, and nobody complains.
		s.join("dave", "dave", "random")
		s.send("dave", obj("action", "send_message", "room", "random", "text", "alone"))
		s.none("alice", "bob", "carol", "dave")
	}},
	{name: "chat_send_to_user", plugin: "chat", run: func(s *session) {
		pub := func(user string) plugintest.ConnInfo { return plugintest.ConnInfo{User: user, Namespace: "public"} }
		s.welcome("alice", pub("alice"), "alice")
		s.welcome("bob1", pub("bob"), "bob")
		s.welcome("bob2", pub("bob"), "bob")
		s.welcome("carol", pub("carol"), "carol")
		s.welcome("bob3", plugintest.ConnInfo{User: "bob", Namespace: "other"}, "bob")
		s.welcome("anon", plugintest.ConnInfo{Namespace: "public"}, "anon-6")
		all := []string{"alice", "bob1", "bob2", "carol", "bob3", "anon"}

		// Every connection of bob in the sender's namespace gets it; the sender gets nothing.
		s.send("alice", obj("action", "send_to_user", "user", "bob", "text", "psst"))
		s.expect("bob1", obj("action", "receive_message", "from", "alice", "to", "bob", "text", "psst"))
		s.expect("bob2", obj("action", "receive_message", "from", "alice", "to", "bob", "text", "psst"))
		s.none(all...)

		// To oneself: the user's other connections, not the sending one.
		s.send("bob1", obj("action", "send_to_user", "user", "bob", "text", "note to self"))
		s.expect("bob2", obj("action", "receive_message", "from", "bob", "to", "bob", "text", "note to self"))
		s.none(all...)

		// Nobody home, an anonymous addressee (in no user group), another namespace: no one
		// gets it and the sender hears nothing.
		s.send("carol", obj("action", "send_to_user", "user", "nobody", "text", "hello?"))
		s.send("alice", obj("action", "send_to_user", "user", "anon-6", "text", "hi"))
		s.send("bob3", obj("action", "send_to_user", "user", "alice", "text", "hi from other"))
		s.none(all...)

		// The anonymous connection may send private messages; it goes by anon-<id>.
		s.send("anon", obj("action", "send_to_user", "user", "carol", "text", "guess who"))
		s.expect("carol", obj("action", "receive_message", "from", "anon-6", "to", "carol", "text", "guess who"))
		s.none(all...)
	}},
	{name: "chat_namespaces", plugin: "chat", run: func(s *session) {
		s.welcome("a1", plugintest.ConnInfo{User: "ann", Namespace: "a"}, "ann")
		s.welcome("a2", plugintest.ConnInfo{User: "al", Namespace: "a"}, "al")
		s.welcome("b1", plugintest.ConnInfo{User: "ben", Namespace: "b"}, "ben")
		s.welcome("b2", plugintest.ConnInfo{User: "ann", Namespace: "b"}, "ann")
		s.join("a1", "ann", "lobby")
		s.join("b1", "ben", "lobby")
		s.join("a2", "al", "lobby", "a1")
		s.join("b2", "ann", "lobby", "b1")
		s.send("a2", obj("action", "send_message", "room", "lobby", "text", "in a"))
		s.expect("a1", obj("action", "receive_message", "room", "lobby", "from", "al", "text", "in a"))
		s.send("b1", obj("action", "send_to_user", "user", "ann", "text", "ann of b"))
		s.expect("b2", obj("action", "receive_message", "from", "ben", "to", "ann", "text", "ann of b"))
		s.none("a1", "a2", "b1", "b2")
	}},
	{name: "chat_errors", plugin: "chat", opts: plugintest.Options{Config: []byte(`{"max_text":10}`)}, run: func(s *session) {
		s.welcome("x", plugintest.ConnInfo{User: "xavier"}, "xavier")
		s.sendBinary("x", []byte{1})
		s.expect("x", chatError("binary messages are not supported: send JSON text", ""))
		for _, tc := range []struct{ req, message, action string }{
			{"", "message is not valid JSON", ""},
			{"not json", "message is not valid JSON", ""},
			{`{"action":"join"`, "message is not valid JSON", ""},
			{`[1,2]`, "message must be a JSON object", ""},
			{`"join"`, "message must be a JSON object", ""},
			{`{}`, "missing action", ""},
			{`{"action":""}`, "missing action", ""},
			{`{"action":5}`, `field "action" must be a string`, ""},
			{`{"action":{"x":1}}`, `field "action" must be a string`, ""},
			{`{"action":"dance"}`, `unknown action "dance"`, "dance"},
			{`{"action":"join"}`, "missing room", "join"},
			{`{"action":"join","room":""}`, "missing room", "join"},
			{obj("action", "join", "room", strings.Repeat("r", 65)), "room name longer than 64 bytes", "join"},
			{obj("action", "join", "room", strings.Repeat("é", 33)), "room name longer than 64 bytes", "join"},
			{obj("action", "join", "room", "a\x01b"), "room name contains control characters", "join"},
			{obj("action", "join", "room", "a\u0085b"), "room name contains control characters", "join"},
			{obj("action", "join", "room", "a\x7fb"), "room name contains control characters", "join"},
			{`{"action":"join","room":5}`, `field "room" must be a string`, "join"},
			{`{"action":"join","room":"r","text":5}`, `field "text" must be a string`, "join"},
			{`{"action":"send_to_user","text":"hi"}`, "missing user", "send_to_user"},
			{obj("action", "send_to_user", "user", strings.Repeat("u", 124), "text", "hi"), "user name longer than 123 bytes", "send_to_user"},
			{obj("action", "send_to_user", "user", "a\tb", "text", "hi"), "user name contains control characters", "send_to_user"},
			{`{"action":"send_to_user","user":"bob"}`, "missing text", "send_to_user"},
			{obj("action", "send_to_user", "user", "bob", "text", "12345678901"), "text longer than 10 bytes", "send_to_user"},
			{obj("action", "send_to_user", "user", "bob", "text", "éééééé"), "text longer than 10 bytes", "send_to_user"},
			{`{"action":"send_message","text":"hi"}`, "missing room", "send_message"},
			{`{"action":"send_message"}`, "missing room", "send_message"},
			{`{"action":"send_message","room":"general"}`, "missing text", "send_message"},
			{`{"action":"send_message","room":"general","text":"hi"}`, `not in room "general": join it first`, "send_message"},
			{`{"action":"leave","room":"general"}`, `not in room "general"`, "leave"},
			{`{"action":"leave"}`, "missing room", "leave"},
		} {
			s.send("x", tc.req)
			s.expect("x", chatError(tc.message, tc.action))
		}
		// At the limits: accepted.
		s.send("x", obj("action", "send_to_user", "user", strings.Repeat("u", 123), "text", "ééééé"))
		s.send("x", obj("action", "join", "room", strings.Repeat("é", 32)))
		s.expect("x", obj("action", "joined", "room", strings.Repeat("é", 32), "user", "xavier"))
		s.send("x", `{"room":"r","action":"join","extra":[1,{"a":true}],"user":"ignored"}`)
		s.expect("x", obj("action", "joined", "room", "r", "user", "xavier"))
		s.send("x", " \n\t{ \"action\" : \"join\" , \"room\" : \"\\u00e9t\\u00e9\" }\r\n ")
		s.expect("x", obj("action", "joined", "room", "été", "user", "xavier"))
		s.none("x")
		if c := s.conn("x"); c != nil {
			if _, _, closed := c.Closed(); closed {
				s.errorf("x was closed by bad requests")
			}
		}
	}},
	{name: "chat_who", plugin: "chat", run: func(s *session) {
		members := func(room string, users ...string) string {
			if users == nil {
				users = []string{}
			}
			return canonicalJSON(map[string]any{"action": "members", "room": room, "users": users})
		}
		s.welcome("alice", plugintest.ConnInfo{User: "alice"}, "alice")
		s.send("alice", obj("action", "who", "room", "general"))
		s.expect("alice", members("general"))
		s.welcome("bob", plugintest.ConnInfo{User: "bob"}, "bob")
		s.welcome("bob2", plugintest.ConnInfo{User: "bob"}, "bob")
		s.welcome("anon", plugintest.ConnInfo{}, "anon-4")
		s.welcome("eve", plugintest.ConnInfo{User: "eve", Namespace: "other"}, "eve")
		s.join("bob", "bob", "general")
		s.join("alice", "alice", "general", "bob")
		s.join("bob2", "bob", "general", "bob", "alice")
		s.join("anon", "anon-4", "general", "bob", "alice", "bob2")
		// Every user once, sorted, whoever asks (a member or not), whichever instance serves them.
		s.send("eve", obj("action", "who", "room", "general"))
		s.expect("eve", members("general")) // another namespace's room is not visible
		s.send("anon", obj("action", "who", "room", "general"))
		s.expect("anon", members("general", "alice", "anon-4", "bob"))
		s.send("bob", obj("action", "leave", "room", "general"))
		s.expect("bob", obj("action", "left", "room", "general"))
		for _, o := range []string{"alice", "bob2", "anon"} {
			s.expect(o, obj("action", "user_left", "room", "general", "user", "bob"))
		}
		s.close("alice", 1000, "")
		for _, o := range []string{"bob2", "anon"} {
			s.expect(o, obj("action", "user_left", "room", "general", "user", "alice"))
		}
		s.send("bob", obj("action", "who", "room", "general"))
		s.expect("bob", members("general", "anon-4", "bob")) // bob2 is still in it
		s.send("bob", `{"action":"who"}`)
		s.expect("bob", chatError("missing room", "who"))
		s.none("bob", "bob2", "anon", "eve")
	}},
	{name: "chat_who_instances", plugin: "chat", opts: plugintest.Options{Instances: 3}, run: func(s *session) {
		// Members served by three instances: presence is the host's, not an instance's.
		s.welcome("a", plugintest.ConnInfo{User: "ann"}, "ann")
		s.welcome("b", plugintest.ConnInfo{User: "ben"}, "ben")
		s.welcome("c", plugintest.ConnInfo{User: "cat"}, "cat")
		s.join("a", "ann", "r")
		s.join("b", "ben", "r", "a")
		s.join("c", "cat", "r", "a", "b")
		s.send("a", obj("action", "who", "room", "r"))
		s.expect("a", canonicalJSON(map[string]any{"action": "members", "room": "r", "users": []string{"ann", "ben", "cat"}}))
		s.reload()
		s.send("b", obj("action", "who", "room", "r"))
		s.expect("b", canonicalJSON(map[string]any{"action": "members", "room": "r", "users": []string{"ann", "ben", "cat"}}))
		s.none("a", "b", "c")
	}},
	{name: "chat_close", plugin: "chat", run: func(s *session) {
		s.welcome("alice", plugintest.ConnInfo{User: "alice"}, "alice")
		s.welcome("bob", plugintest.ConnInfo{User: "bob"}, "bob")
		s.welcome("carol", plugintest.ConnInfo{User: "carol"}, "carol")
		s.join("alice", "alice", "random")
		s.join("alice", "alice", "general")
		s.join("bob", "bob", "random", "alice")
		s.join("bob", "bob", "general", "alice")
		s.join("carol", "carol", "general", "alice", "bob")
		// bob was in two rooms: user_left for each, in the order of the room names.
		s.close("bob", 4000, "bye")
		s.expectClosed("bob", 4000, "bye")
		s.expect("alice", obj("action", "user_left", "room", "general", "user", "bob"))
		s.expect("alice", obj("action", "user_left", "room", "random", "user", "bob"))
		s.expect("carol", obj("action", "user_left", "room", "general", "user", "bob"))
		s.none("alice", "carol")
		s.close("carol", 0, "")
		s.expectClosed("carol", 1005, "")
		s.expect("alice", obj("action", "user_left", "room", "general", "user", "carol"))
		s.close("alice", 1000, "")
		s.none("alice", "bob", "carol")
	}},
	{name: "chat_reload", plugin: "chat", run: func(s *session) {
		s.welcome("alice", plugintest.ConnInfo{User: "alice"}, "alice")
		s.welcome("bob", plugintest.ConnInfo{User: "bob"}, "bob")
		s.welcome("carol", plugintest.ConnInfo{User: "carol"}, "carol")
		s.join("alice", "alice", "general")
		s.join("alice", "alice", "random")
		s.join("bob", "bob", "general", "alice")
		s.join("carol", "carol", "random", "alice")
		all := []string{"alice", "bob", "carol"}
		s.none(all...)

		// The new instance takes the connections over silently: no second welcome.
		s.reload()
		s.none(all...)

		// Rooms are host state: messages still flow, although the instance forgot the rooms.
		s.send("alice", obj("action", "send_message", "room", "general", "text", "still there?"))
		s.expect("bob", obj("action", "receive_message", "room", "general", "from", "alice", "text", "still there?"))
		s.none(all...)
		// Leaving a room the instance does not know of works after a takeover.
		s.send("bob", obj("action", "leave", "room", "general"))
		s.expect("bob", obj("action", "left", "room", "general"))
		s.expect("alice", obj("action", "user_left", "room", "general", "user", "bob"))
		// Sending to a room the instance does not know of joins it again, silently.
		s.send("carol", obj("action", "send_message", "room", "lobby", "text", "anyone?"))
		s.none(all...)
		s.join("bob", "bob", "general", "alice")
		// Private messages work as before.
		s.send("carol", obj("action", "send_to_user", "user", "alice", "text", "psst"))
		s.expect("alice", obj("action", "receive_message", "from", "carol", "to", "alice", "text", "psst"))
		// A new connection is greeted as usual.
		s.welcome("dave", plugintest.ConnInfo{User: "dave"}, "dave")
		// On close, user_left goes only to the rooms the instance knows of: general (alice sent
		// to it since the takeover), not random.
		s.close("alice", 1000, "")
		s.expect("bob", obj("action", "user_left", "room", "general", "user", "alice"))
		s.none("bob", "carol", "dave")
	}},
	{name: "chat_instances", plugin: "chat", opts: plugintest.Options{Instances: 2}, run: func(s *session) {
		for _, u := range []string{"alice", "bob", "carol"} {
			s.welcome(u, plugintest.ConnInfo{User: u}, u)
		}
		s.join("alice", "alice", "general")
		s.join("bob", "bob", "general", "alice")
		s.join("carol", "carol", "general", "alice", "bob")
		s.send("alice", obj("action", "send_message", "room", "general", "text", "across instances"))
		s.expect("bob", obj("action", "receive_message", "room", "general", "from", "alice", "text", "across instances"))
		s.expect("carol", obj("action", "receive_message", "room", "general", "from", "alice", "text", "across instances"))
		s.send("bob", obj("action", "send_to_user", "user", "carol", "text", "psst"))
		s.expect("carol", obj("action", "receive_message", "from", "bob", "to", "carol", "text", "psst"))
		s.close("bob", 1000, "")
		s.expect("alice", obj("action", "user_left", "room", "general", "user", "bob"))
		s.expect("carol", obj("action", "user_left", "room", "general", "user", "bob"))
		s.none("alice", "carol")
	}},
	{name: "chat_config", plugin: "chat", noHarness: true, run: func(s *session) {
		for _, tc := range []struct {
			config string
			ok     bool
		}{
			{`{}`, true},
			{`{"max_text":1}`, true},
			{`{"max_text":100000}`, true},
			{`{"max_text":0}`, false},
			{`{"max_text":-5}`, false},
			{`{"max_text":"ten"}`, false},
			{`{"bogus":1}`, false},
			{`{"max_text":10,"extra":true}`, false},
		} {
			if err := s.tryLoad(tc.config); (err == nil) != tc.ok {
				s.errorf("config %s: started %v, want %v (%v)", tc.config, err == nil, tc.ok, err)
			}
		}
	}},
}
