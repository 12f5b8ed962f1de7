package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// readUntil reads text messages from c until one equals want, and returns the others it read.
func readUntil(t *testing.T, c *wstest.Client, want string) []string {
	t.Helper()
	var other []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %q (read %q): %v", want, other, err)
		}
		if f.Op != ws.OpText {
			continue
		}
		if string(f.Payload) == want {
			return other
		}
		other = append(other, string(f.Payload))
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTimersThroughServer arms connection and plugin timers through a real socket, with the
// server's real clock: they fire, repeat, cancel, end with their connection, and a storm is cut at
// the plugin's limit.
func TestTimersThroughServer(t *testing.T) {
	srv, url := startServer(t, probe, "", "")
	p := srv.Plugins()["p"]
	obs := observe(t, url)
	c := wstest.Dial(t, url, nil)
	id := command(t, c, "id")

	if got := command(t, c, "timer once 20"); got != "ok" {
		t.Fatalf("timer: %q", got)
	}
	readUntil(t, c, "timer once")

	if got := command(t, c, "timer beat 10 10"); got != "ok" {
		t.Fatalf("timer: %q", got)
	}
	for i := 0; i < 3; i++ {
		readUntil(t, c, "timer beat")
	}
	c.Send(ws.OpText, []byte("cancel beat"))
	readUntil(t, c, "ok") // beats may still arrive before the reply
	if got := command(t, c, "cancel beat"); got != "ERR -5" {
		t.Errorf("cancel again: %q, want ERR -5", got)
	}

	obs.Send(ws.OpText, []byte("ptimer tick 10"))
	obs.expect(t, "ok")
	obs.expect(t, "ptimer tick")

	if got := command(t, c, "timers 10001"); got != "armed 10000 ERR -13" {
		t.Fatalf("storm: %q", got)
	}
	if n := p.TimerCount(); n != 10000 {
		t.Errorf("%d timers armed, want 10000", n)
	}
	obs.Send(ws.OpText, []byte("ptimer over 10"))
	if got := obs.expect(t, "ERR"); got != "ERR -13" {
		t.Errorf("a plugin timer over the limit: %q, want ERR -13", got)
	}
	c.Close(1000, "")
	obs.expect(t, "closed "+id+" ")
	waitFor(t, "the closed connection's timers to go", func() bool { return p.TimerCount() == 0 })
}

// TestAttachmentThroughServer stores an attachment through a real socket and checks that a reload
// hands it to the new module with on_connect(RESUMED), and that it ends with the connection.
func TestAttachmentThroughServer(t *testing.T) {
	srv, url := startServer(t, probe, "", "")
	p := srv.Plugins()["p"]
	obs := observe(t, url)
	c := wstest.Dial(t, url, nil)
	id := command(t, c, "id")
	if got := command(t, c, "attach cursor=42"); got != "ok" {
		t.Fatalf("attach: %q", got)
	}
	if got := command(t, c, "attachlen 2049"); got != "ERR -10" {
		t.Errorf("over the limit: %q, want ERR -10", got)
	}
	if got := command(t, c, "attachment"); got != "attachment cursor=42" {
		t.Errorf("attachment: %q", got)
	}
	// The plugin's own reload swaps the module even when its bytes are the same (the server's
	// ReloadPlugin skips an unchanged file).
	wasm, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if res := p.Reload(context.Background(), wasm); res.Err != nil {
		t.Fatalf("reload: %v", res.Err)
	}
	if got := obs.expect(t, "resumed "+id); got != "resumed "+id+" cursor=42" {
		t.Errorf("replay: %q, want the attachment with it", got)
	}
	if got := command(t, c, "attachment"); got != "attachment cursor=42" {
		t.Errorf("after reload: %q", got)
	}
	if n := p.AttachmentBytes(); n != len("cursor=42") {
		t.Errorf("%d attachment bytes, want %d", n, len("cursor=42"))
	}
	c.Close(1000, "")
	obs.expect(t, "closed "+id+" ")
	waitFor(t, "the attachment to go", func() bool { return p.AttachmentBytes() == 0 })
}

// TestPresenceThroughServer asks for the size and the members of groups through a real socket:
// users, anonymous members, a connection of another plugin (id 0), user: groups, another
// namespace's group (invisible), and bad names.
func TestPresenceThroughServer(t *testing.T) {
	_, base := startConfig(t, probe, `
[plugin.q]
module = "`+mustAbs(t, probe)+`"
[[route]]
path = "/ws"
plugin = "p"
user_from = "query:user"
namespace_from = "query:ns"
[[route]]
path = "/other"
plugin = "q"
user_from = "query:user"
namespace_from = "query:ns"
`)
	alice := wstest.Dial(t, base+"/ws?user=alice&ns=t1", nil)
	bob := wstest.Dial(t, base+"/ws?user=bob&ns=t1", nil)
	anon := wstest.Dial(t, base+"/ws?ns=t1", nil)
	carol := wstest.Dial(t, base+"/other?user=carol&ns=t1", nil) // plugin q, same namespace
	eve := wstest.Dial(t, base+"/ws?user=eve&ns=t2", nil)        // another namespace
	ids := map[string]string{}
	for name, c := range map[string]*wstest.Client{"alice": alice, "bob": bob, "anon": anon, "eve": eve} {
		ids[name] = command(t, c, "id")
		if got := command(t, c, "join room"); got != "ok" {
			t.Fatalf("%s join: %q", name, got)
		}
	}
	if got := command(t, carol, "join room"); got != "ok" {
		t.Fatalf("carol join: %q", got)
	}
	if got, want := command(t, alice, "size room"), "size 4"; got != want {
		t.Errorf("size in t1: %q, want %q (alice, bob, anon, carol)", got, want)
	}
	want := "members 0:carol " + ids["alice"] + ":alice " + ids["bob"] + ":bob " + ids["anon"] + ":"
	if got := command(t, alice, "members room"); got != want {
		t.Errorf("members in t1: %q, want %q", got, want)
	}
	if got, want := command(t, eve, "members room"), "members "+ids["eve"]+":eve"; got != want {
		t.Errorf("members in t2: %q, want %q", got, want)
	}
	if got := command(t, eve, "size nobody-here"); got != "size 0" {
		t.Errorf("an empty group: %q", got)
	}
	second := wstest.Dial(t, base+"/ws?user=alice&ns=t1", nil)
	_ = command(t, second, "id")
	if got := command(t, bob, "size user:alice"); got != "size 2" {
		t.Errorf("alice's connections: %q, want size 2", got)
	}
	if got := command(t, bob, "size "+strings.Repeat("g", 129)); got != "ERR -6" {
		t.Errorf("a bad group name: %q, want ERR -6", got)
	}
	bob.Close(1000, "")
	waitFor(t, "bob to leave", func() bool { return command(t, alice, "size room") == "size 3" })
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestPresenceAfterMembershipChangeThroughServer: through a real socket, one guest call (the
// probe's "do", several commands in one call) that asks for presence, joins or leaves, and asks
// again sees the new answer: the call's kept answer (host/plugin: the two calls of group_members
// cost one lookup) is forgotten.
func TestPresenceAfterMembershipChangeThroughServer(t *testing.T) {
	_, url := startServer(t, probe, "", "")
	alice := wstest.Dial(t, url, nil)
	bob := wstest.Dial(t, url, nil)
	a, b := command(t, alice, "id"), command(t, bob, "id")
	if got := command(t, bob, "join room"); got != "ok" {
		t.Fatalf("bob join: %q", got)
	}
	both := "members " + a + ": " + b + ":"
	if mustUint(t, a) > mustUint(t, b) { // listed by connection id
		both = "members " + b + ": " + a + ":"
	}
	for _, tc := range []struct{ cmd, want string }{
		{"do size room; join room; size room", "size 1 | ok | size 2"},
		{"do members room; leave room; members room", both + " | ok | members " + b + ":"},
		{"do size room; join room; members room", "size 1 | ok | " + both},
		{"do members room; leave room; size room", both + " | ok | size 1"},
	} {
		if got := command(t, alice, tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
