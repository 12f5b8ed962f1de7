package plugintest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

// The modules these tests drive: the example plugins, the probe test plugin (which does what its
// client tells it, see testdata/plugins/probe/main.go) and hand-written WAT fixtures.
const (
	echoWasm  = "../../../plugins/echo/echo.wasm"
	chatWasm  = "../../../plugins/chat/chat.wasm"
	probeWasm = "../../../testdata/plugins/probe/probe.wasm"
	trapWasm  = "../../../testdata/wasm/trap.wasm"
	tagA      = "../../../testdata/wasm/tag_a.wasm"
	tagB      = "../../../testdata/wasm/tag_b.wasm"
	guardWasm = "../../../testdata/wasm/reject.wasm"
)

func connect(t *testing.T, h *plugintest.Harness, info plugintest.ConnInfo) *plugintest.Conn {
	t.Helper()
	c, err := h.Connect(info)
	if err != nil {
		t.Fatalf("connect %+v: %v", info, err)
	}
	return c
}

func sendText(t *testing.T, c *plugintest.Conn, s string) {
	t.Helper()
	if err := c.SendText(s); err != nil {
		t.Fatalf("conn %d: send %q: %v", c.ID(), s, err)
	}
}

// expect checks that the next messages of c are the given texts, and that nothing else is
// pending.
func expect(t *testing.T, c *plugintest.Conn, texts ...string) {
	t.Helper()
	for _, want := range texts {
		m, ok := c.Next()
		if !ok {
			t.Fatalf("conn %d: no message, want %q", c.ID(), want)
		}
		if m.Kind != plugintest.Text || m.Text() != want {
			t.Fatalf("conn %d: got %v, want text %q", c.ID(), m, want)
		}
	}
	if rest := c.Pending(); len(rest) > 0 {
		t.Fatalf("conn %d: unexpected messages %v", c.ID(), rest)
	}
}

// ask sends a probe command and returns the reply.
func ask(t *testing.T, c *plugintest.Conn, cmd string) string {
	t.Helper()
	sendText(t, c, cmd)
	m, ok := c.Next()
	if !ok {
		t.Fatalf("conn %d: no reply to %q", c.ID(), cmd)
	}
	return m.Text()
}

func TestEchoKindsAndOrder(t *testing.T) {
	h := plugintest.New(t, echoWasm, plugintest.Options{})
	c := connect(t, h, plugintest.ConnInfo{})
	sendText(t, c, "hello")
	if err := c.SendBinary([]byte{0, 1, 0xff}); err != nil {
		t.Fatal(err)
	}
	sendText(t, c, "")
	if err := c.SendBinary(nil); err != nil {
		t.Fatal(err)
	}
	want := []plugintest.Message{
		{Kind: plugintest.Text, Data: []byte("hello")},
		{Kind: plugintest.Binary, Data: []byte{0, 1, 0xff}},
		{Kind: plugintest.Text, Data: []byte{}},
		{Kind: plugintest.Binary, Data: []byte{}},
	}
	got := c.Received()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if m, _ := c.Next(); m.Text() != "hello" {
		t.Fatalf("Next = %v", m)
	}
	if p := c.Pending(); len(p) != 3 {
		t.Fatalf("Pending = %v, want 3 messages", p)
	}
	if r := c.Received(); len(r) != 4 {
		t.Fatalf("Received after Next = %v, want all 4", r)
	}
	if err := c.SendText("\xff"); err == nil {
		t.Fatal("invalid UTF-8 text was sent")
	}
}

// TestSendWaitsForThePlugin checks the barrier: every reply is there as soon as SendText
// returns, for connections pinned to every instance of the pool, also with concurrent callers.
func TestSendWaitsForThePlugin(t *testing.T) {
	h := plugintest.New(t, echoWasm, plugintest.Options{Instances: 3})
	var wg sync.WaitGroup
	for g := range 6 {
		c := connect(t, h, plugintest.ConnInfo{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				s := fmt.Sprintf("%d-%d", g, i)
				if err := c.SendText(s); err != nil {
					t.Error(err)
					return
				}
				if m, ok := c.Next(); !ok || m.Text() != s {
					t.Errorf("conn %d: got %v %v right after sending %q", c.ID(), m, ok, s)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestConnGet(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	c := connect(t, h, plugintest.ConnInfo{
		User:        "alice",
		Namespace:   "acme",
		Route:       "/probe",
		Path:        "/probe/x%20y",
		Query:       "a=1&a=2&b=%C3%A9&empty",
		Header:      http.Header{"X-Token": {"secret", "second"}},
		RemoteAddr:  "[::1]:4242",
		Subprotocol: "chat.v1",
	})
	for key, want := range map[string]string{
		"id":             "1",
		"route":          "/probe",
		"path":           "/probe/x%20y",
		"query":          "a=1&a=2&b=%C3%A9&empty",
		"query.a":        "1",
		"query.b":        "é",
		"query.missing":  "ERR not found",
		"query.":         "ERR not found",
		"header.x-token": "secret",
		"header.X-TOKEN": "secret",
		"header.other":   "ERR not found",
		"remote_addr":    "[::1]:4242",
		"subprotocol":    "chat.v1",
		"user":           "alice",
		"namespace":      "acme",
		"bogus":          "ERR not found",
	} {
		if got := ask(t, c, "get "+key); got != want {
			t.Errorf("get %s = %q, want %q", key, got, want)
		}
	}
	anon := connect(t, h, plugintest.ConnInfo{})
	for key, want := range map[string]string{
		"user": "ERR not found", "subprotocol": "ERR not found", "route": "/", "path": "/",
	} {
		if got := ask(t, anon, "get "+key); got != want {
			t.Errorf("anonymous: get %s = %q, want %q", key, got, want)
		}
	}
}

func TestRejectAndCloseVerdicts(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	obs := connect(t, h, plugintest.ConnInfo{Query: "observe=1"})
	expect(t, obs, "connected 1 /")

	c, err := h.Connect(plugintest.ConnInfo{Query: "reject=403"})
	var rej *plugintest.Rejected
	if !errors.As(err, &rej) || rej.HTTPStatus != 403 || rej.CloseCode != 0 || c != nil {
		t.Fatalf("reject=403: conn %v, err %v", c, err)
	}
	c, err = h.Connect(plugintest.ConnInfo{Query: "closewith=4001"})
	if !errors.As(err, &rej) || rej.CloseCode != 4001 || rej.HTTPStatus != 0 || c == nil {
		t.Fatalf("closewith=4001: conn %v, err %v", c, err)
	}
	if code, reason, closed := c.Closed(); code != 4001 || reason != "" || !closed {
		t.Fatalf("closewith=4001: Closed() = %d %q %v", code, reason, closed)
	}
	// The probe reports on_close of the accepted-then-closed connection; rejected ones get none.
	expect(t, obs, fmt.Sprintf("closed %d 4001 ", c.ID()))
	if err := c.SendText("echo x"); !errors.Is(err, plugintest.ErrConnClosed) {
		t.Fatalf("send on a closed conn: %v", err)
	}

	_, err = h.Connect(plugintest.ConnInfo{User: "bad\x01user"})
	if !errors.As(err, &rej) || rej.HTTPStatus != 400 {
		t.Fatalf("invalid user id: %v", err)
	}
}

func TestGuardPlugin(t *testing.T) {
	h := plugintest.New(t, guardWasm, plugintest.Options{})
	_, err := h.Connect(plugintest.ConnInfo{Query: "token=nope"})
	var rej *plugintest.Rejected
	if !errors.As(err, &rej) || rej.HTTPStatus != 403 {
		t.Fatalf("token=nope: %v", err)
	}
	c := connect(t, h, plugintest.ConnInfo{Query: "token=letmein"})
	sendText(t, c, "hi")
	expect(t, c, "hi")
}

func TestPluginCloses(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	obs := connect(t, h, plugintest.ConnInfo{Query: "observe=1"})
	c := connect(t, h, plugintest.ConnInfo{})
	expect(t, obs, "connected 1 /", "connected 2 /")
	sendText(t, c, "close 4002 going away")
	if code, reason, closed := c.Closed(); code != 4002 || reason != "going away" || !closed {
		t.Fatalf("Closed() = %d %q %v", code, reason, closed)
	}
	expect(t, obs, "closed 2 4002 going away")
	// The id is gone: the plugin gets ErrUnknownConn (-2) for it.
	if got := ask(t, obs, "send 2 hello"); got != "ERR -2" {
		t.Fatalf("send to a closed conn: %q", got)
	}
	if err := c.Close(1000, ""); !errors.Is(err, plugintest.ErrConnClosed) {
		t.Fatalf("closing a closed conn: %v", err)
	}
	// A close code the ABI forbids is refused by the runtime (-3), the conn stays open.
	if got := ask(t, obs, "close 1005"); got != "ERR -3" {
		t.Fatalf("close 1005: %q", got)
	}
}

func TestClientCloses(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	obs := connect(t, h, plugintest.ConnInfo{Query: "observe=1"})
	a := connect(t, h, plugintest.ConnInfo{})
	b := connect(t, h, plugintest.ConnInfo{})
	expect(t, obs, "connected 1 /", "connected 2 /", "connected 3 /")
	if err := a.Close(4100, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(0, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, obs, "closed 2 4100 bye", "closed 3 1005 ")
	if err := obs.Close(1004, ""); err == nil {
		t.Fatal("a client close with 1004 was accepted")
	}
}

func TestNamespacesAndGroups(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{Instances: 2})
	a := connect(t, h, plugintest.ConnInfo{Namespace: "acme", User: "bob"})
	b := connect(t, h, plugintest.ConnInfo{Namespace: "acme", User: "bob"})
	c := connect(t, h, plugintest.ConnInfo{Namespace: "acme", User: "carol"})
	other := connect(t, h, plugintest.ConnInfo{Namespace: "globex", User: "bob"})

	if g := a.Groups(); !slices.Equal(g, []string{"user:bob"}) {
		t.Fatalf("groups of a = %v", g)
	}
	// Another namespace's connection does not exist for the plugin.
	if got := ask(t, a, fmt.Sprintf("send %d hi", other.ID())); got != "ERR -2" {
		t.Fatalf("send across namespaces: %q", got)
	}
	if got := ask(t, a, fmt.Sprintf("send %d hi", c.ID())); got != "ok" {
		t.Fatalf("send within the namespace: %q", got)
	}
	expect(t, c, "hi")
	// "user:" groups are the host's.
	if got := ask(t, a, "join user:mallory"); got != "ERR -6" {
		t.Fatalf("join user:mallory: %q", got)
	}
	if got := ask(t, a, "leave user:bob"); got != "ERR -6" {
		t.Fatalf("leave user:bob: %q", got)
	}
	// A private message reaches bob's other connection in acme, not the sender, not globex.
	if got := ask(t, c, "user bob psst"); got != "sent 2" {
		t.Fatalf("user bob: %q", got)
	}
	expect(t, a, "psst")
	expect(t, b, "psst")
	expect(t, other)
	if got := ask(t, a, "user bob self"); got != "sent 1" {
		t.Fatalf("user bob from bob: %q", got)
	}
	expect(t, b, "self")

	// Groups with the same name in two namespaces are two groups.
	for _, x := range []*plugintest.Conn{a, b, other} {
		if got := ask(t, x, "join room"); got != "ok" {
			t.Fatalf("join: %q", got)
		}
	}
	if got := ask(t, a, "bcast room hello"); got != "sent 1" {
		t.Fatalf("bcast: %q", got)
	}
	expect(t, b, "hello")
	expect(t, other)
	sendText(t, a, "bcastall room all")
	expect(t, a, "all", "sent 2")
	expect(t, b, "all")
	if got := ask(t, b, "leave room"); got != "ok" {
		t.Fatalf("leave: %q", got)
	}
	if got := ask(t, a, "bcast room again"); got != "sent 0" {
		t.Fatalf("bcast after leave: %q", got)
	}
	bc := h.Broadcasts()
	if last := bc[len(bc)-1]; last.Namespace != "acme" || last.Group != "room" || last.Except != a.ID() || last.Count != 0 {
		t.Fatalf("last broadcast = %+v", last)
	}
	// A closed connection is in no group and is not counted.
	if err := b.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, c, "user bob later"); got != "sent 1" {
		t.Fatalf("user bob after one closed: %q", got)
	}
	expect(t, a, "later")
}

func TestFaultClosesWith1011AndResumesTheOthers(t *testing.T) {
	h := plugintest.New(t, trapWasm, plugintest.Options{})
	a := connect(t, h, plugintest.ConnInfo{})
	b := connect(t, h, plugintest.ConnInfo{})
	sendText(t, a, "trap!")
	if code, reason, closed := a.Closed(); code != 1011 || reason != "plugin error" || !closed {
		t.Fatalf("faulting conn: Closed() = %d %q %v", code, reason, closed)
	}
	if h.Faults() != 1 {
		t.Fatalf("Faults() = %d", h.Faults())
	}
	sendText(t, b, "still here")
	expect(t, b, "still here")
	if !slices.ContainsFunc(h.Logs(), func(l plugintest.LogLine) bool {
		return strings.Contains(l.Message, fmt.Sprintf("plugin fault in on_message of conn %d", a.ID()))
	}) {
		t.Fatalf("no fault in the logs: %v", h.Logs())
	}
}

func TestReload(t *testing.T) {
	h := plugintest.New(t, tagA, plugintest.Options{})
	c := connect(t, h, plugintest.ConnInfo{})
	sendText(t, c, "x")
	if err := h.ReloadFile(tagB); err != nil {
		t.Fatal(err)
	}
	sendText(t, c, "y")
	expect(t, c, "a:x", "b:y")
	if err := h.ReloadFile(echoWasm + ".missing"); err == nil {
		t.Fatal("reloading a missing file worked")
	}
	if err := h.Reload([]byte("not wasm")); err == nil {
		t.Fatal("reloading garbage worked")
	}
	sendText(t, c, "z")
	expect(t, c, "b:z")
}

// TestReloadSameBytesReplays checks that a reload with the module that is already running still
// replaces the instances and replays every connection with on_connect(RESUMED).
func TestReloadSameBytesReplays(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	obs := connect(t, h, plugintest.ConnInfo{Query: "observe=1"})
	c := connect(t, h, plugintest.ConnInfo{})
	expect(t, obs, "connected 1 /", "connected 2 /")
	hash := h.Hash()
	if err := h.ReloadFile(probeWasm); err != nil {
		t.Fatal(err)
	}
	if h.Hash() != hash {
		t.Fatal("hash changed")
	}
	got := []string{}
	for _, m := range obs.Received()[2:] {
		got = append(got, m.Text())
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"resumed 1", "resumed 2"}) {
		t.Fatalf("after reload, observer got %q", got)
	}
	if got := ask(t, c, "echo after"); got != "after" {
		t.Fatalf("after reload: %q", got)
	}
}

func TestConfigAndLogs(t *testing.T) {
	_, err := plugintest.LoadFile(chatWasm, plugintest.Options{Config: []byte(`{"bogus":1}`)})
	if err == nil || !strings.Contains(err.Error(), "on_start") {
		t.Fatalf("chat with a bad config: %v", err)
	}
	h := plugintest.New(t, chatWasm, plugintest.Options{Config: []byte(`{"max_text":3}`)})
	a := connect(t, h, plugintest.ConnInfo{User: "alice"})
	b := connect(t, h, plugintest.ConnInfo{User: "bob"})
	sendText(t, a, `{"action":"send_to_user","user":"bob","text":"abcd"}`)
	expect(t, a, `{"action":"welcome","user":"alice"}`, `{"type":"error","payload":{"message":"text longer than 3 bytes","action":"send_to_user"}}`)
	sendText(t, a, `{"action":"send_to_user","user":"bob","text":"abc"}`)
	expect(t, b, `{"action":"welcome","user":"bob"}`, `{"action":"receive_message","from":"alice","to":"bob","text":"abc"}`)
	if !slices.ContainsFunc(h.Logs(), func(l plugintest.LogLine) bool {
		return l.Message == "chat: private message to bob reached 1 connections" && l.Conn == a.ID()
	}) {
		t.Fatalf("log line missing: %v", h.Logs())
	}
}

func TestClosedHarness(t *testing.T) {
	h, err := plugintest.LoadFile(echoWasm, plugintest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, h, plugintest.ConnInfo{})
	h.Close()
	h.Close()
	if _, err := h.Connect(plugintest.ConnInfo{}); !errors.Is(err, plugintest.ErrHarnessClosed) {
		t.Fatalf("Connect after Close: %v", err)
	}
	if err := c.SendText("x"); !errors.Is(err, plugintest.ErrHarnessClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if _, err := plugintest.LoadFile("missing.wasm", plugintest.Options{}); err == nil {
		t.Fatal("loaded a missing file")
	}
	if _, err := plugintest.Load([]byte("\x00asm\x01\x00\x00\x00"), plugintest.Options{}); err == nil || !strings.Contains(err.Error(), "wasmsock_abi_v1") {
		t.Fatalf("empty module: %v", err)
	}
}

// The harness runs the server's own groups (host/hub), limits included: a connection may be in
// 128 groups besides its user: group, and the next join gets ErrLimit, as on the server.
func TestGroupLimitAsOnTheServer(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	c := connect(t, h, plugintest.ConnInfo{User: "bob"})
	for i := range 128 {
		if got := ask(t, c, fmt.Sprintf("join g%d", i)); got != "ok" {
			t.Fatalf("join %d: %q", i, got)
		}
	}
	if got := ask(t, c, "join one-more"); got != fmt.Sprintf("ERR %d", abi.ErrLimit) {
		t.Fatalf("join over the limit: %q", got)
	}
	if got := ask(t, c, "join g0"); got != "ok" {
		t.Fatalf("join again: %q", got)
	}
	if n := len(c.Groups()); n != 129 {
		t.Fatalf("%d groups, want 128 and user:bob", n)
	}
}

// TestCompiledCodeKeptOnDisk: with CacheEnv naming a directory (CI sets it), a loaded module's
// compiled code is there, sealed with its checksum, for the next test process to use.
func TestCompiledCodeKeptOnDisk(t *testing.T) {
	dir := os.Getenv(plugintest.CacheEnv)
	if dir == "" || dir == "off" {
		t.Skip(plugintest.CacheEnv + " is not set: compiled code is kept in memory")
	}
	plugintest.New(t, tagA, plugintest.Options{})
	var entries, seals int
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir() || strings.HasSuffix(path, ".tmp"):
		case strings.HasSuffix(path, ".wasmsock-sha256"):
			seals++
		default:
			entries++
		}
		return nil
	})
	if entries == 0 || seals == 0 {
		t.Fatalf("cache %s: %d entries, %d seals after a load; want some of both", dir, entries, seals)
	}
}
