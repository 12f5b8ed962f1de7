package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// lobbyClient talks to the lobby example (plugins/lobby/README.md) over a real socket.
type lobbyClient struct {
	*wstest.Client
	t    *testing.T
	name string
}

// next returns the next text message; with skipTicks, "tick N" messages are passed over.
func (c *lobbyClient) next(skipTicks bool) string {
	c.t.Helper()
	for {
		op, p := c.Read()
		if op != ws.OpText {
			c.t.Fatalf("%s: got a %v message", c.name, op)
		}
		if skipTicks && strings.HasPrefix(string(p), "tick ") {
			continue
		}
		return string(p)
	}
}

// say sends a command and checks its reply (ticks may come in between).
func (c *lobbyClient) say(cmd, want string) {
	c.t.Helper()
	c.Send(ws.OpText, []byte(cmd))
	if got := c.next(true); got != want {
		c.t.Fatalf("%s: %q answered %q, want %q", c.name, cmd, got, want)
	}
}

// waitFor reads until the message want arrives, passing over older ticks; anything else fails.
func (c *lobbyClient) waitFor(want string) {
	c.t.Helper()
	for {
		got := c.next(false)
		if got == want {
			return
		}
		if !strings.HasPrefix(got, "tick ") {
			c.t.Fatalf("%s: got %q, waiting for %q", c.name, got, want)
		}
	}
}

// TestLobbyAcrossLanguages serves the lobby example through the real host, on two instances, and
// hot-reloads it from the Go module into the Rust, C and AssemblyScript ones while two clients
// stay connected: what the host keeps for the plugin (the nickname in the attachment, the
// running tick timer, the shared store, the lobby group's members) carries over to each new
// module, whatever its language, and the timers fire on the host's real clock.
func TestLobbyAcrossLanguages(t *testing.T) {
	modules := []string{
		"../plugins/lobby/lobby.wasm",
		"../sdk/rust/examples/lobby/lobby.wasm",
		"../sdk/c/examples/lobby/lobby.wasm",
		"../sdk/assemblyscript/examples/lobby/lobby.wasm",
	}
	file := filepath.Join(t.TempDir(), "lobby.wasm")
	install := func(module string) {
		b, err := os.ReadFile(module)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install(modules[0])
	srv, url := startServer(t, file, "instances = 2", "")
	a := &lobbyClient{wstest.Dial(t, url, nil), t, "a"}
	b := &lobbyClient{wstest.Dial(t, url, nil), t, "b"}
	a.say("nick Alice", "ok")
	a.say("here", "here 2")
	a.say("visit", "visits 1")
	b.say("visit", "visits 2")
	b.say("tick 20", "ok")
	b.waitFor("tick 2")
	a.say("remind 10 go", "ok")
	a.waitFor("reminder go")

	for i, module := range modules[1:] {
		install(module)
		rep := srv.ReloadPlugin(context.Background(), "p")
		if rep.Error != "" || !rep.Changed {
			t.Fatalf("reload to %s: %+v", module, rep)
		}
		a.say("whoami", "you are Alice")
		b.say("here", "here 2") // presence is the host's: the new module counts both, joined before
		visits := strconv.Itoa(3 + i)
		b.say("visit", "visits "+visits)
		b.waitFor("tick " + visits) // the tick armed by the Go module fires on this one
		a.say("remind 10 r"+visits, "ok")
		a.waitFor("reminder r" + visits)
		a.say("new-topic "+module, "ok")
		b.say("clear-topic", "ok")
	}
	b.say("tick 0", "ok")
	a.say("announce 10 bye", "ok")
	a.waitFor("announce bye")
	b.waitFor("announce bye")
}
