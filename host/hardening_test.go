package host_test

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// Attacks and protocol corner cases from the hardening review (issue 12), each played byte for
// byte by a raw client over a real socket.

// A reply to a message is written before the close frame that the same segment brought: the
// plugin's send is not refused because a close was queued first.
func TestReplyBeforeClose(t *testing.T) {
	tests := []struct {
		name  string
		after []byte // what follows the message in the same write
		code  int    // the close code expected after the reply
	}{
		{"close frame", wstest.MaskedFrame(true, 0, ws.OpClose, wstest.CloseBody(1000, "")), 1000},
		{"reserved bit", wstest.MaskedFrame(true, 0x2, ws.OpText, []byte("x")), 1002},
		{"unknown opcode", wstest.MaskedFrame(true, 0, ws.OpCode(0x3), nil), 1002},
		{"invalid UTF-8", wstest.MaskedFrame(true, 0, ws.OpText, []byte{0xff}), 1007},
		{"unmasked frame", []byte{0x81, 0x01, 'x'}, 1002},
	}
	for lang, module := range echoModules {
		t.Run(lang, func(t *testing.T) {
			_, url := startServer(t, module, "", "")
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := wstest.Dial(t, url, nil)
					msgs := [][]byte{[]byte("first"), []byte("second")}
					var b []byte
					for _, m := range msgs {
						b = append(b, wstest.MaskedFrame(true, 0, ws.OpText, m)...)
					}
					c.WriteRaw(append(b, tt.after...))
					for _, want := range msgs {
						if _, got := c.Read(); !bytes.Equal(got, want) {
							t.Fatalf("reply %q, want %q", got, want)
						}
					}
					if code, _ := c.ExpectClose(5 * time.Second); code != tt.code {
						t.Errorf("close %d, want %d", code, tt.code)
					}
				})
			}
		})
	}
}

// A client still streaming a message over max_message_bytes gets the 1009 close frame: the server
// half-closes and discards what keeps coming instead of closing with unread bytes, which makes
// the kernel send a reset that destroys the close frame (RFC 6455 §7.1.1).
func TestTooBigCloseSurvivesStreaming(t *testing.T) {
	_, url := startServer(t, "../plugins/echo/echo.wasm", "", "max_message_bytes = 1024\nclose_timeout = \"10s\"")
	for i := 0; i < 3; i++ {
		c := wstest.Dial(t, url, nil)
		big := wstest.MaskedFrame(true, 0, ws.OpBinary, make([]byte, 4<<20))
		wrote := make(chan error, 1)
		go func() {
			// Written in pieces, as a client streams: the server refuses the header at once.
			var err error
			for b := big; len(b) > 0 && err == nil; b = b[min(len(b), 64<<10):] {
				_, err = c.Conn.Write(b[:min(len(b), 64<<10)])
			}
			wrote <- err
		}()
		// The whole message goes out (the server keeps reading), then the close frame is there.
		if err := <-wrote; err != nil {
			t.Fatalf("run %d: streaming the message failed: %v (the server reset the connection)", i, err)
		}
		f, err := c.ReadFrame(10 * time.Second)
		if err != nil {
			t.Fatalf("run %d: no close frame: %v", i, err)
		}
		if code, _ := wstest.ParseClose(f.Payload); f.Op != ws.OpClose || code != 1009 {
			t.Fatalf("run %d: got opcode %v code %d, want close 1009", i, f.Op, code)
		}
		// The server has shut down its side: after our close, EOF, not a reset.
		c.Close(1009, "")
		if err := c.ExpectEOF(10 * time.Second); err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
}

// Frames sent in the same write as the upgrade request are read, on a fresh connection and on a
// kept-alive HTTP connection that upgrades.
func TestFramesWithTheHandshake(t *testing.T) {
	_, url := startServer(t, "../plugins/echo/echo.wasm", "", "")
	frames := append(wstest.MaskedFrame(true, 0, ws.OpText, []byte("early")), wstest.MaskedFrame(true, 0, ws.OpBinary, []byte("bird"))...)
	check := func(t *testing.T, c *wstest.Client) {
		t.Helper()
		resp, _, err := c.ReadHTTP(5 * time.Second)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		for _, want := range []string{"early", "bird"} {
			if _, got := c.Read(); string(got) != want {
				t.Fatalf("echo %q, want %q", got, want)
			}
		}
	}
	t.Run("direct", func(t *testing.T) {
		check(t, wstest.DialRaw(t, url, append(wstest.UpgradeRequest("/ws"), frames...)))
	})
	t.Run("after a keep-alive request", func(t *testing.T) {
		c := wstest.DialRaw(t, url, []byte("GET /healthz HTTP/1.1\r\nHost: wasmsock.test\r\n\r\n"))
		if resp, body, err := c.ReadHTTP(5 * time.Second); err != nil || resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Fatalf("healthz: %v %q %v", resp, body, err)
		}
		c.WriteRaw(append(wstest.UpgradeRequest("/ws"), frames...))
		check(t, c)
	})
	t.Run("pipelined behind a keep-alive request", func(t *testing.T) {
		c := wstest.DialRaw(t, url, append(append([]byte("GET /healthz HTTP/1.1\r\nHost: wasmsock.test\r\n\r\n"), wstest.UpgradeRequest("/ws")...), frames...))
		if resp, _, err := c.ReadHTTP(5 * time.Second); err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		check(t, c)
	})
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Idle connections pin neither the request-head buffer (max_header_bytes) nor a buffer of the
// length a frame header declares before its bytes arrive.
func TestIdleMemoryNotPinned(t *testing.T) {
	const conns = 40
	const big = 1 << 20
	t.Run("request head buffer", func(t *testing.T) {
		_, url := startConfigTop(t, "max_header_bytes = \"1MiB\"\n"+noLimits, "../testdata/wasm/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nping_interval = \"0s\"")
		before := heapInUse()
		for i := 0; i < conns; i++ {
			c := wstest.Dial(t, url+"/ws", nil)
			command(t, c, "x") // the server is in its read loop: the handshake is over
			if i%4 == 0 {
				runtime.GC() // empties the buffer pool: a buffer still referenced stays pinned
			}
		}
		after := heapInUse()
		grown := after - min(after, before)
		if grown > conns*big/4 {
			t.Errorf("%d idle connections grew the heap by %d KiB (%d KiB each): the head buffer is pinned", conns, grown>>10, grown/conns>>10)
		}
	})
	t.Run("declared length", func(t *testing.T) {
		_, url := startConfigTop(t, noLimits, "../testdata/wasm/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nping_interval = \"0s\"\nmax_message_bytes = \"1MiB\"")
		// A ping (answered when read), then a header declaring 1 MiB and 10 bytes of it: once
		// the pong is back, the reader has parsed the header and waits for the rest.
		head := wstest.MaskedFrame(true, 0, ws.OpBinary, make([]byte, big))[:14+10]
		before := heapInUse()
		for i := 0; i < conns; i++ {
			c := wstest.Dial(t, url+"/ws", nil)
			c.WriteRaw(append(wstest.MaskedFrame(true, 0, ws.OpPing, []byte("p")), head...))
			if f, err := c.ReadFrame(5 * time.Second); err != nil || f.Op != ws.OpPong {
				t.Fatalf("pong: %v %v", f, err)
			}
		}
		after := heapInUse()
		grown := after - min(after, before)
		if grown > conns*big/4 {
			t.Errorf("%d headers declaring 1 MiB grew the heap by %d KiB (%d KiB each): allocated before the bytes arrived", conns, grown>>10, grown/conns>>10)
		}
	})
}

// A frame that stops in the middle is dropped after pong_timeout, even with pings off.
func TestStalledFrameDropped(t *testing.T) {
	_, url := startServer(t, probe, "", "ping_interval = \"0s\"\npong_timeout = \"1s\"")
	obs := observe(t, url)
	for _, cut := range []int{1, 5, 14 + 3} { // in the header, in the mask, in the payload
		c := wstest.Dial(t, url, nil)
		id := command(t, c, "id")
		c.WriteRaw(wstest.MaskedFrame(true, 0, ws.OpBinary, make([]byte, 70000))[:cut])
		if err := c.ExpectEOF(10 * time.Second); err != nil {
			t.Fatalf("cut at %d: a stalled frame was not dropped: %v", cut, err)
		}
		if got := obs.expect(t, "closed "+id+" "); got != "closed "+id+" 1006 " {
			t.Errorf("cut at %d: on_close report %q, want 1006", cut, got)
		}
	}
	// A slow but steady sender is not: each piece arrives within pong_timeout.
	c := wstest.Dial(t, url, nil)
	msg := wstest.MaskedFrame(true, 0, ws.OpText, []byte("echo "+strings.Repeat("s", 30)))
	for i := range msg {
		c.WriteRaw(msg[i : i+1])
		time.Sleep(20 * time.Millisecond)
	}
	if _, got := c.Read(); string(got) != strings.Repeat("s", 30) {
		t.Errorf("slow sender: %q", got)
	}
	// Idle for longer than pong_timeout after a frame that came in pieces: between frames there
	// is no deadline, the connection stays.
	time.Sleep(1500 * time.Millisecond)
	if got := command(t, c, "echo after a pause"); got != "after a pause" {
		t.Errorf("after an idle pause: %q", got)
	}
}

// permessage-deflate offers that limit the server's window are accepted with that window; such a
// connection gets messages compressed without back-references, which any window can inflate.
func TestCompressionSmallWindow(t *testing.T) {
	_, url := startServer(t, probe, "", "compression = true")
	for _, bits := range []int{8, 9, 12, 14} {
		offer := fmt.Sprintf("permessage-deflate; server_max_window_bits=%d; client_max_window_bits", bits)
		c := wstest.Dial(t, url, http.Header{"Sec-WebSocket-Extensions": {offer}})
		got := negotiated(c)
		if !strings.Contains(got, fmt.Sprintf("server_max_window_bits:%d", bits)) {
			t.Fatalf("offer %q: negotiated %q", offer, got)
		}
		text := strings.Repeat("a", 4000)
		c.Send(ws.OpText, []byte("echo "+text))
		f, err := c.ReadFrame(5 * time.Second)
		if err != nil || f.Rsv&0x4 == 0 {
			t.Fatalf("window %d: reply not compressed: %+v %v", bits, f, err)
		}
		if inflate(t, f.Payload) != text {
			t.Fatalf("window %d: inflated reply differs", bits)
		}
		// With back-references 4000 equal bytes take a dozen bytes; Huffman coding alone needs
		// at least one bit per byte.
		if len(f.Payload) < len(text)/8 {
			t.Errorf("window %d: %d bytes for %d: the encoder used back-references", bits, len(f.Payload), len(text))
		}
	}
	// A full window still gets LZ77.
	c := wstest.Dial(t, url, http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; server_max_window_bits=15"}})
	c.Send(ws.OpText, []byte("echo "+strings.Repeat("a", 4000)))
	if f, err := c.ReadFrame(5 * time.Second); err != nil || f.Rsv&0x4 == 0 || len(f.Payload) > 100 {
		t.Errorf("window 15: %d bytes, %v", len(f.Payload), err)
	}
}

// HTTP keep-alive connections are closed when idle and counted against the connection limits,
// apart from WebSockets.
func TestHTTPConnectionsBounded(t *testing.T) {
	start := func(t *testing.T, top string) string {
		_, base := startConfigTop(t, top+"\n[limits]\nmax_connections_per_ip = 3\nconnections_per_second_per_ip = 0", probe, "[[route]]\npath = \"/ws\"\nplugin = \"p\"")
		return base
	}
	healthz := []byte("GET /healthz HTTP/1.1\r\nHost: wasmsock.test\r\n\r\n")
	t.Run("idle keep-alive closed", func(t *testing.T) {
		base := start(t, "handshake_timeout = \"300ms\"")
		c := wstest.DialRaw(t, base, healthz)
		if resp, _, err := c.ReadHTTP(5 * time.Second); err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		if err := c.ExpectEOF(10 * time.Second); err != nil {
			t.Fatalf("an idle keep-alive connection stays open: %v", err)
		}
	})
	t.Run("counted per IP", func(t *testing.T) {
		base := start(t, "")
		var open []*wstest.Client
		for i := 0; i < 3; i++ {
			c := wstest.DialRaw(t, base, healthz)
			if resp, _, err := c.ReadHTTP(5 * time.Second); err != nil || resp.StatusCode != 200 {
				t.Fatalf("healthz %d: %v %v", i, resp, err)
			}
			open = append(open, c)
		}
		c := wstest.DialRaw(t, base, healthz)
		resp, _, err := c.ReadHTTP(5 * time.Second)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("fourth HTTP connection from one IP: %v %v, want 429", resp, err)
		}
		// WebSockets are counted apart: the HTTP connections do not lock them out.
		ws1 := wstest.Dial(t, base+"/ws", nil)
		if got := command(t, ws1, "echo hi"); got != "hi" {
			t.Fatalf("WebSocket next to 3 HTTP connections: %q", got)
		}
		// A closed HTTP connection frees its slot.
		_ = open[0].Conn.Close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := wstest.DialRaw(t, base, healthz)
			resp, _, err := c.ReadHTTP(5 * time.Second)
			if err == nil && resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after closing one: %v %v", resp, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("upgrade on a kept-alive connection moves it to the WebSocket count", func(t *testing.T) {
		base := start(t, "")
		var conns []*wstest.Client
		for i := 0; i < 3; i++ {
			c := wstest.DialRaw(t, base, healthz)
			if resp, _, err := c.ReadHTTP(5 * time.Second); err != nil || resp.StatusCode != 200 {
				t.Fatalf("healthz %d: %v %v", i, resp, err)
			}
			c.WriteRaw(append(wstest.UpgradeRequest("/ws"), wstest.MaskedFrame(true, 0, ws.OpText, []byte("echo up"))...))
			if resp, _, err := c.ReadHTTP(5 * time.Second); err != nil || resp.StatusCode != 101 {
				t.Fatalf("upgrade %d: %v %v", i, resp, err)
			}
			if _, got := c.Read(); string(got) != "up" {
				t.Fatalf("echo %q", got)
			}
			conns = append(conns, c)
		}
		// Three WebSockets that started as HTTP: the HTTP side is free again.
		c := wstest.DialRaw(t, base, healthz)
		if resp, _, err := c.ReadHTTP(5 * time.Second); err != nil || resp.StatusCode != 200 {
			t.Fatalf("HTTP after the upgrades: %v %v", resp, err)
		}
		_ = conns
	})
}

// A reply written inline after a writer goroutine ran (here for a heartbeat ping) and the
// connection stayed idle past the write deadline that writer set (close_timeout): the reply still
// goes out, through the writer, instead of failing the connection.
func TestInlineWriteAfterWriterDeadline(t *testing.T) {
	_, url := startServer(t, "../plugins/echo/echo.wasm", "", "close_timeout = \"300ms\"\nping_interval = \"100ms\"\npong_timeout = \"30s\"")
	c := wstest.Dial(t, url, nil)
	time.Sleep(800 * time.Millisecond) // a ping goes out at 100 ms; its write deadline passes at 400 ms
	for _, m := range []string{"after", "the", "deadline"} {
		c.Send(ws.OpText, []byte(m))
		if _, got := c.Read(); string(got) != m {
			t.Fatalf("echo %q, want %q", got, m)
		}
	}
}

// A message that streams in for longer than ping_interval + pong_timeout is not taken for a dead
// peer: bytes of a frame in progress count as an answer to the ping. (pong_timeout is 1s, not
// less, so that a test goroutine a loaded machine stalls between two bytes is not taken for dead.)
func TestSlowMessageOutlivesHeartbeat(t *testing.T) {
	_, url := startServer(t, probe, "", "ping_interval = \"200ms\"\npong_timeout = \"1s\"")
	c := wstest.Dial(t, url, nil)
	want := strings.Repeat("z", 50)
	msg := wstest.MaskedFrame(true, 0, ws.OpText, []byte("echo "+want))
	start := time.Now()
	for i := range msg { // 61 bytes, one every 40 ms: about 2.4 s for one frame
		c.WriteRaw(msg[i : i+1])
		time.Sleep(40 * time.Millisecond)
	}
	if _, got := c.Read(); string(got) != want {
		t.Fatalf("after %v of streaming: %q", time.Since(start), got)
	}
}

// Several replies to one message, and the replies to messages that arrive together, go out in the
// order the plugin sent them: a reply sent during a call on the reader's goroutine is written by
// the reader after the call (one frame at once, several by the writer), behind nothing and ahead
// of the next message's replies.
func TestRepliesInOrder(t *testing.T) {
	_, url := startServer(t, probe, "", "")
	for _, tt := range []struct {
		name  string
		burst int // messages written with one write
	}{
		{"one message at a time", 1},
		{"messages arriving together", 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := wstest.Dial(t, url, nil)
			id := command(t, c, "id")
			var b []byte
			var want []string
			for i := 0; i < tt.burst; i++ {
				// "send ID text" sends text to this connection, then the command's reply "ok".
				b = append(b, wstest.MaskedFrame(true, 0, ws.OpText, []byte(fmt.Sprintf("send %s m%d", id, i)))...)
				want = append(want, fmt.Sprintf("m%d", i), "ok")
			}
			for round := 0; round < 3; round++ {
				c.WriteRaw(b)
				for _, w := range want {
					if _, got := c.Read(); string(got) != w {
						t.Fatalf("round %d: reply %q, want %q", round, got, w)
					}
				}
			}
		})
	}
}
