package host_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// Issue 14, idle memory: a parked connection keeps no frame reader (about 450 bytes each); the
// goroutine that takes it back makes a new one, which reads whole and fragmented messages as
// before, and the connection parks again without it.
func TestParkedConnectionsKeepNoReader(t *testing.T) {
	if runtime.GOOS != "linux" || os.Getenv("WASMSOCK_EPOLL") == "0" {
		t.Skip("idle connections are parked with epoll on Linux only")
	}
	const n = 20
	_, url := startServer(t, "../testdata/wasm/echo.wasm", "", "ping_interval = \"0s\"")
	clients := make([]*wstest.Client, n)
	for i := range clients {
		clients[i] = wstest.Dial(t, url, nil)
	}
	allParked := func() bool { p, _ := host.ParkedReaders(); return p >= n }
	state := func() string {
		p, r := host.ParkedReaders()
		return fmt.Sprintf("%d parked (want %d), %d of them with a reader", p, n, r)
	}
	for round := range 2 {
		waitUntil(t, 60*time.Second, allParked, state)
		if _, r := host.ParkedReaders(); r != 0 {
			t.Fatalf("round %d: %s", round, state())
		}
		for i, c := range clients {
			msg := fmt.Sprintf("round %d conn %d", round, i)
			c.WriteFrame(false, 0, ws.OpText, []byte(msg[:5])) // fragmented: the new reader assembles it
			c.WriteFrame(true, 0, ws.OpContinuation, []byte(msg[5:]))
			if _, p := c.Read(); string(p) != msg {
				t.Fatalf("echo %q, want %q", p, msg)
			}
		}
	}
}

// The handshake's parsed query is not kept: conn_get query.NAME parses the raw query when asked.
func TestConnGetQueryAfterHandshake(t *testing.T) {
	_, url := startServer(t, probe, "", "")
	c := wstest.Dial(t, url+"?room=blue&n=1&n=2&empty=", nil)
	for _, tc := range []struct{ cmd, want string }{
		{"get query.room", "blue"},
		{"get query.n", "1"},
		{"get query.missing", "ERR not found"},
		{"get query", "room=blue&n=1&n=2&empty="},
	} {
		if got := command(t, c, tc.cmd); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

// A ping or a pong (the heartbeat, which wakes every idle connection once per ping_interval)
// parks the connection again at once, without keeping a goroutine and a reader waiting for data
// for idleAfter. The test runs itself again with an idle timeout of an hour, so a connection that
// parks within the test was parked by the heartbeat frame and nothing else.
func TestHeartbeatParksAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" || os.Getenv("WASMSOCK_EPOLL") == "0" {
		t.Skip("idle connections are parked with epoll on Linux only")
	}
	if os.Getenv("WASMSOCK_EPOLL_IDLE") != "1h" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHeartbeatParksAtOnce$", "-test.v")
		cmd.Env = append(os.Environ(), "WASMSOCK_EPOLL_IDLE=1h")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS: TestHeartbeatParksAtOnce") {
			t.Fatalf("with an idle timeout of an hour: %v\n%s", err, out)
		}
		return
	}
	for _, tc := range []struct {
		name string
		op   ws.OpCode
	}{{"ping", ws.OpPing}, {"pong", ws.OpPong}} {
		op := tc.op
		t.Run(tc.name, func(t *testing.T) {
			const n = 10
			_, url := startServer(t, "../testdata/wasm/echo.wasm", "", "ping_interval = \"0s\"")
			clients := make([]*wstest.Client, n)
			for i := range clients {
				clients[i] = wstest.Dial(t, url, nil)
				clients[i].Send(ws.OpText, []byte("hello")) // a message: read by a reader that stays
				if _, p := clients[i].Read(); string(p) != "hello" {
					t.Fatalf("echo %q", p)
				}
			}
			if p, _ := host.ParkedReaders(); p != 0 {
				t.Fatalf("%d connections parked before any heartbeat (the idle timeout is an hour)", p)
			}
			for _, c := range clients {
				c.Send(op, []byte("beat"))
			}
			waitUntil(t, 60*time.Second, func() bool { p, _ := host.ParkedReaders(); return p == n }, func() string {
				p, r := host.ParkedReaders()
				return fmt.Sprintf("%d of %d connections parked after a %s (%d with a reader)", p, n, tc.name, r)
			})
			for i, c := range clients { // and they still work
				msg := fmt.Sprintf("after %d", i)
				c.Send(ws.OpText, []byte(msg))
				for {
					f, err := c.ReadFrame(10 * time.Second)
					if err != nil {
						t.Fatal(err)
					}
					if f.Op == ws.OpText {
						if string(f.Payload) != msg {
							t.Fatalf("echo %q, want %q", f.Payload, msg)
						}
						break
					}
				}
			}
		})
	}
}
