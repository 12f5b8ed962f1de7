package host_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// waitUntil polls cond until it holds, failing the test with what() if it does not within limit.
func waitUntil(t *testing.T, limit time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleConnectionsHoldNoGoroutines: on Linux, thousands of idle WebSocket connections (real
// sockets) are parked with the epoll poller and hold no goroutine; each still answers a ping and
// echoes a message when its peer speaks, and parks again afterwards; a close handshake and a
// dropped peer still end parked connections.
func TestIdleConnectionsHoldNoGoroutines(t *testing.T) {
	if runtime.GOOS != "linux" || os.Getenv("WASMSOCK_EPOLL") == "0" {
		t.Skip("idle connections are parked with epoll on Linux only (WASMSOCK_EPOLL=0 turns it off)")
	}
	const n = 2000
	srv, base := startConfigTop(t, noLimits, "../testdata/wasm/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nping_interval = \"0s\"")
	url := base + "/ws"
	before := runtime.NumGoroutine()
	clients := make([]*wstest.Client, n)
	for i := range clients {
		clients[i] = wstest.Dial(t, url, nil)
	}
	// The poller's goroutine, and a few that come and go (timers, the plugin): not one per
	// connection.
	const slack = 20
	parked := func() bool { return runtime.NumGoroutine() <= before+slack }
	count := func() string {
		return fmt.Sprintf("%d goroutines for %d idle connections (%d before they opened)", runtime.NumGoroutine(), n, before)
	}
	waitUntil(t, 60*time.Second, parked, count)

	for round := 0; round < 2; round++ {
		for i, c := range clients {
			c.Send(ws.OpPing, []byte(fmt.Sprintf("ping %d", i)))
			c.Send(ws.OpText, []byte(fmt.Sprintf("hello %d %d", round, i)))
		}
		for i, c := range clients {
			f, err := c.ReadFrame(10 * time.Second)
			if err != nil || f.Op != ws.OpPong || string(f.Payload) != fmt.Sprintf("ping %d", i) {
				t.Fatalf("round %d conn %d: want the pong, got %v %q %v", round, i, f.Op, f.Payload, err)
			}
			f, err = c.ReadFrame(10 * time.Second)
			if err != nil || f.Op != ws.OpText || string(f.Payload) != fmt.Sprintf("hello %d %d", round, i) {
				t.Fatalf("round %d conn %d: want the echo, got %v %q %v", round, i, f.Op, f.Payload, err)
			}
		}
		waitUntil(t, 60*time.Second, parked, count)
	}

	// A parked connection ends: by a close handshake, and by a peer that drops TCP.
	if code, _ := func() (int, string) { clients[0].Close(1000, "bye"); return clients[0].ExpectClose(10 * time.Second) }(); code != 1000 {
		t.Fatalf("close handshake of a parked connection: code %d, want 1000", code)
	}
	for _, c := range clients[1:] {
		_ = c.Conn.Close()
	}
	waitUntil(t, 60*time.Second, func() bool { return srv.Connections() == 0 }, func() string {
		return fmt.Sprintf("%d connections still open after their peers left", srv.Connections())
	})
}

// TestParkedConnectionEndsWhenServerCloses: closing the socket of a parked connection gives epoll
// no event, so the server must wake the connection itself: peers that stop answering pings are
// dropped by the heartbeat while parked, and every one of them gets its on_close (the connection
// count falls to zero).
func TestParkedConnectionEndsWhenServerCloses(t *testing.T) {
	if runtime.GOOS != "linux" || os.Getenv("WASMSOCK_EPOLL") == "0" {
		t.Skip("idle connections are parked with epoll on Linux only (WASMSOCK_EPOLL=0 turns it off)")
	}
	const n = 200
	srv, base := startConfigTop(t, noLimits, "../testdata/wasm/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nping_interval = \"2s\"\npong_timeout = \"1s\"")
	before := runtime.NumGoroutine()
	for range n {
		c := wstest.Dial(t, base+"/ws", nil) // never read: its pings go unanswered
		t.Cleanup(func() { _ = c.Conn.Close() })
	}
	// Parked first (after a second idle), then dropped by the heartbeat (ping at 2 s, no pong
	// by 3 s): the count falls to zero only if closing a parked connection finishes it.
	waitUntil(t, 30*time.Second, func() bool { return runtime.NumGoroutine() <= before+20 }, func() string {
		return fmt.Sprintf("%d goroutines, %d before %d idle connections", runtime.NumGoroutine(), before, n)
	})
	waitUntil(t, 30*time.Second, func() bool { return srv.Connections() == 0 }, func() string {
		return fmt.Sprintf("%d of %d silent connections still open after the heartbeat dropped them", srv.Connections(), n)
	})
}
