package host_test

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

const probe = "../testdata/plugins/probe/probe.wasm"

// observer is a connection to the probe plugin that receives its event reports. A goroutine
// reads them (answering pings) so the observer stays healthy while a test waits on something else.
type observer struct {
	*wstest.Client
	reports chan string
}

func observe(t *testing.T, url string) observer {
	t.Helper()
	c := wstest.Dial(t, url+"?observe=1", nil)
	o := observer{Client: c, reports: make(chan string, 1024)}
	go func() {
		defer close(o.reports)
		for {
			f, err := c.ReadFrame(time.Minute)
			if err != nil {
				return
			}
			if f.Op == ws.OpText {
				o.reports <- string(f.Payload)
			}
		}
	}()
	return o
}

// expect waits for a report starting with prefix and returns it; other messages (including
// command replies) are skipped.
func (o observer) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r, ok := <-o.reports:
			if !ok {
				t.Fatalf("observer closed while waiting for %q", prefix)
			}
			if strings.HasPrefix(r, prefix) {
				return r
			}
		case <-timeout:
			t.Fatalf("no report starting with %q", prefix)
		}
	}
}

// command sends a probe command on the observer and returns its reply.
func (o observer) command(t *testing.T, cmd string) string {
	t.Helper()
	o.Send(ws.OpText, []byte(cmd))
	select {
	case r := <-o.reports:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("no reply to %q", cmd)
		return ""
	}
}

// command sends a probe command and returns its reply.
func command(t *testing.T, c *wstest.Client, cmd string) string {
	t.Helper()
	c.Send(ws.OpText, []byte(cmd))
	_, reply := c.Read()
	return string(reply)
}

func TestHeartbeat(t *testing.T) {
	// /ws drops a silent peer fast; /alive pings as often but waits 1s for the answer, so that a
	// test goroutine the machine stalls for a moment does not miss it.
	_, url := startServer(t, probe, "", "ping_interval = \"100ms\"\npong_timeout = \"150ms\"\n"+
		"[[route]]\npath = \"/alive\"\nplugin = \"p\"\nping_interval = \"100ms\"\npong_timeout = \"1s\"")
	obs := observe(t, url)
	silent := wstest.Dial(t, url, nil)
	silent.AutoPong = false
	id := command(t, silent, "id")
	// The silent client never answers pings: after ping_interval + pong_timeout it is dropped and
	// the plugin sees 1006.
	if err := silent.ExpectEOF(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := obs.expect(t, "closed "+id+" "); got != "closed "+id+" 1006 " {
		t.Errorf("on_close report = %q, want code 1006", got)
	}
	// A client that answers stays connected across intervals (the server pings again only if it
	// took the answer to the last ping: otherwise it drops the peer), and unsolicited pongs are
	// fine.
	alive := wstest.Dial(t, strings.TrimSuffix(url, "/ws")+"/alive", nil)
	alive.AutoPong = false // answered by hand below
	alive.WriteFrame(true, 0, ws.OpPong, []byte("unsolicited"))
	for pings := 0; pings < 3; {
		f, err := alive.ReadFrame(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d pings answered: %v", pings, err)
		}
		if f.Op != ws.OpPing {
			t.Fatalf("got %v, want a ping", f.Op)
		}
		pings++
		alive.WriteFrame(true, 0, ws.OpPong, f.Payload)
	}
	if got := command(t, alive, "echo still here"); got != "still here" {
		t.Errorf("after pings: %q", got)
	}
}

func TestCloseHandshake(t *testing.T) {
	_, url := startServer(t, probe, "", "close_timeout = \"300ms\"")
	obs := observe(t, url)

	t.Run("plugin closes, peer answers", func(t *testing.T) {
		c := wstest.Dial(t, url, nil)
		id := command(t, c, "id")
		c.Send(ws.OpText, []byte("close 4000 bye now"))
		code, reason := c.ExpectClose(5 * time.Second)
		if code != 4000 || reason != "bye now" {
			t.Errorf("close = %d %q, want 4000 \"bye now\"", code, reason)
		}
		c.Close(4000, "")
		if err := c.ExpectEOF(5 * time.Second); err != nil {
			t.Error(err)
		}
		if got := obs.expect(t, "closed "+id+" "); got != "closed "+id+" 4000 bye now" {
			t.Errorf("on_close report = %q", got)
		}
	})
	t.Run("peer never answers: dropped after close_timeout", func(t *testing.T) {
		c := wstest.Dial(t, url, nil)
		c.Send(ws.OpText, []byte("close 1000"))
		c.ExpectClose(5 * time.Second)
		start := time.Now()
		if err := c.ExpectEOF(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("TCP dropped after %v, close_timeout is 300ms", d)
		}
	})
	t.Run("invalid codes are refused", func(t *testing.T) {
		c := wstest.Dial(t, url, nil)
		for _, code := range []int{999, 1004, 1005, 1006, 1015, 2999, 5000} {
			if got := command(t, c, fmt.Sprintf("close %d", code)); got != "ERR -3" {
				t.Errorf("close %d: %q, want ERR -3", code, got)
			}
		}
	})
	t.Run("reason cut to 123 bytes on a UTF-8 boundary", func(t *testing.T) {
		c := wstest.Dial(t, url, nil)
		c.Send(ws.OpText, []byte("close 1000 "+strings.Repeat("é", 100)))
		_, reason := c.ExpectClose(5 * time.Second)
		if len(reason) != 122 || reason != strings.Repeat("é", 61) {
			t.Errorf("reason is %d bytes, want 122 (61 two-byte runes)", len(reason))
		}
	})
	t.Run("peer closes with no code", func(t *testing.T) {
		c := wstest.Dial(t, url, nil)
		id := command(t, c, "id")
		c.WriteFrame(true, 0, ws.OpClose, nil)
		if code, _ := c.ExpectClose(5 * time.Second); code != 1005 {
			t.Errorf("answer to an empty close = %d, want an empty close (1005)", code)
		}
		if got := obs.expect(t, "closed "+id+" "); got != "closed "+id+" 1005 " {
			t.Errorf("on_close report = %q", got)
		}
	})
}

func TestOnConnectVerdicts(t *testing.T) {
	_, url := startServer(t, probe, "", "")
	_, err := wstest.TryDial(t, url+"?reject=429", nil)
	var se ws.StatusError
	if !errorsAs(err, &se) || int(se) != 429 {
		t.Errorf("reject=429: %v", err)
	}
	c := wstest.Dial(t, url+"?closewith=4003", nil)
	if code, _ := c.ExpectClose(5 * time.Second); code != 4003 {
		t.Errorf("closewith=4003: close %d", code)
	}
	_, err = wstest.TryDial(t, url+"?reject=200", nil)
	if !errorsAs(err, &se) || int(se) != 500 {
		t.Errorf("an invalid verdict (200) should refuse with 500: %v", err)
	}
}

func TestSubprotocols(t *testing.T) {
	_, base := startConfig(t, probe, `
[[route]]
path = "/ws"
plugin = "p"
subprotocols = ["chat.v2", "chat.v1"]
[[route]]
path = "/strict"
plugin = "p"
subprotocols = ["chat.v2"]
require_subprotocol = true`)
	c, err := wstest.TryDial(t, base+"/ws", nil, "other", "chat.v1", "chat.v2")
	if err != nil {
		t.Fatal(err)
	}
	if c.HS.Protocol != "chat.v1" {
		t.Errorf("selected %q, want chat.v1 (the first offered that the route lists)", c.HS.Protocol)
	}
	if got := command(t, c, "get subprotocol"); got != "chat.v1" {
		t.Errorf("conn_get subprotocol = %q", got)
	}
	if c, _ := wstest.TryDial(t, base+"/ws", nil); c.HS.Protocol != "" {
		t.Errorf("no offer: selected %q", c.HS.Protocol)
	}
	_, err = wstest.TryDial(t, base+"/strict", nil, "chat.v1")
	var se ws.StatusError
	if !errorsAs(err, &se) || int(se) != http.StatusBadRequest {
		t.Errorf("require_subprotocol without a match: %v, want 400", err)
	}
}

func TestModes(t *testing.T) {
	_, base := startConfig(t, probe, `
[[route]]
path = "/ws"
plugin = "p"
[[route]]
path = "/ro"
plugin = "p"
mode = "receive-only"
[[route]]
path = "/so"
plugin = "p"
mode = "send-only"`)
	obs := observe(t, base+"/ws")
	obs.expect(t, "connected ") // itself
	ro := wstest.Dial(t, base+"/ro", nil)
	roID := strings.Fields(obs.expect(t, "connected "))[1]
	so := wstest.Dial(t, base+"/so", nil)
	soID := strings.Fields(obs.expect(t, "connected "))[1]

	// receive-only: the plugin may not send to it (ErrForbidden), but it receives the client's
	// messages: its command runs and the report reaches the observer.
	if got := obs.command(t, "send "+roID+" hi"); got != "ERR -8" {
		t.Errorf("send to a receive-only connection: %q, want ERR -8", got)
	}
	ro.Send(ws.OpText, []byte("bcastall observers from-ro"))
	obs.expect(t, "from-ro")

	// send-only: the plugin pushes; a client message is refused with 1003.
	if got := obs.command(t, "send "+soID+" pushed"); got != "ok" {
		t.Errorf("send to a send-only connection: %q", got)
	}
	if _, got := so.Read(); string(got) != "pushed" {
		t.Errorf("send-only client got %q", got)
	}
	so.Send(ws.OpText, []byte("echo no"))
	if code, _ := so.ExpectClose(5 * time.Second); code != 1003 {
		t.Errorf("client message on send-only: close %d, want 1003", code)
	}
}

func TestCompression(t *testing.T) {
	_, base := startConfig(t, probe, `
[[route]]
path = "/ws"
plugin = "p"
compression = true
max_message_bytes = 10000
[[route]]
path = "/plain"
plugin = "p"`)
	ext := "permessage-deflate; client_max_window_bits"
	c := wstest.Dial(t, base+"/ws", http.Header{"Sec-WebSocket-Extensions": {ext}})
	if got := negotiated(c); !strings.Contains(got, "server_no_context_takeover") || !strings.Contains(got, "client_no_context_takeover") {
		t.Fatalf("negotiated %q, want both no_context_takeover parameters", got)
	}
	text := strings.Repeat("compress me please ", 40)
	// A compressed client message is inflated; the long reply comes back compressed (RSV1).
	c.WriteCompressed(ws.OpText, []byte("echo "+text))
	f, err := c.ReadFrame(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.Rsv&0x4 == 0 {
		t.Fatalf("reply of %d bytes not compressed", len(text))
	}
	if got := inflate(t, f.Payload); got != text {
		t.Errorf("inflated reply differs: %q", got)
	}
	if got := command(t, c, "echo short"); got != "short" {
		t.Errorf("short reply: %q", got) // under CompressMinBytes: sent plain
	}
	// A compression bomb: 1 MB of zeros deflates to ~1 KB, but inflates past max_message_bytes.
	c.WriteCompressed(ws.OpBinary, make([]byte, 1<<20))
	if code, _ := c.ExpectClose(5 * time.Second); code != 1009 {
		t.Errorf("bomb: close %d, want 1009", code)
	}

	t.Run("RSV1 on a continuation frame", func(t *testing.T) {
		c := wstest.Dial(t, base+"/ws", http.Header{"Sec-WebSocket-Extensions": {ext}})
		c.WriteFrame(false, 0, ws.OpText, []byte("a"))
		c.WriteFrame(true, 0x4, ws.OpContinuation, []byte("b"))
		if code, _ := c.ExpectClose(5 * time.Second); code != 1002 {
			t.Errorf("close %d, want 1002", code)
		}
	})
	t.Run("not negotiated on a route without compression", func(t *testing.T) {
		c := wstest.Dial(t, base+"/plain", http.Header{"Sec-WebSocket-Extensions": {ext}})
		if got := negotiated(c); got != "" {
			t.Errorf("negotiated %q", got)
		}
	})
}

func negotiated(c *wstest.Client) string {
	var parts []string
	for _, e := range c.HS.Extensions {
		parts = append(parts, string(e.String()))
	}
	return strings.Join(parts, ", ")
}

func inflate(t *testing.T, p []byte) string {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return string(b)
}

func TestDrain(t *testing.T) {
	srv, url := startServer(t, probe, "", "")
	c := wstest.Dial(t, url, nil)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	if code, _ := c.ExpectClose(5 * time.Second); code != 1001 {
		t.Errorf("drain: close %d, want 1001", code)
	}
	c.Close(1001, "")
	if err := <-done; err != nil {
		t.Errorf("shutdown did not complete: %v", err)
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("%d connections left after the drain", n)
	}
	// New connections are refused.
	if _, err := wstest.TryDial(t, url, nil); err == nil {
		t.Error("dial after shutdown succeeded")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	_, base := startConfigTop(t, "handshake_timeout = \"200ms\"", probe, "[[route]]\npath = \"/ws\"\nplugin = \"p\"")
	nc, err := net.Dial("tcp", strings.TrimPrefix(base, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")) // and never finish
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err = io.ReadAll(nc); err != nil {
		t.Fatalf("the server did not drop a handshake that never completes: %v", err)
	}
}
