package host

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/host/config"
)

// FuzzHandshake feeds arbitrary bytes to a server as the start of a connection: the request-head
// reader, the router between the WebSocket and HTTP paths, gobwas/ws's upgrader with wasmsock's
// hooks, and net/http. Nothing may panic or hang, and whatever the server answers is HTTP.
func FuzzHandshake(f *testing.F) {
	module, _ := filepath.Abs("../testdata/wasm/echo.wasm")
	src := "handshake_timeout = \"200ms\"\n[limits]\nconnections_per_second_per_ip = 0\n[plugin.p]\nmodule = \"" + module + "\"\n" +
		"[[route]]\npath = \"/ws\"\nplugin = \"p\"\nsubprotocols = [\"a\", \"b\"]\ncompression = true\nnamespace_from = \"query:ns\"\nuser_from = \"header:X-User\"\n"
	cfg, err := config.Parse("fuzz.toml", []byte(src))
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(context.Background(), cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Shutdown(context.Background())

	upgrade := "GET /ws?ns=acme HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	f.Add([]byte(upgrade + "\r\n"))
	f.Add([]byte(upgrade + "Sec-WebSocket-Protocol: b, a\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=9\r\nX-User: alice\r\n\r\n"))
	f.Add([]byte(upgrade + "Origin: http://evil.example\r\n\r\n"))
	f.Add([]byte(upgrade + "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits\r\n\r\n"))
	f.Add([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("GET /ws?ns=%zz HTTP/1.0\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"))
	f.Add(bytes.Repeat([]byte("A"), 9000))
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		defer client.Close()
		s.handlers.Add(1)
		// The server reads in and then the end of the stream, as from a client that sent in and
		// shut down writing: every input ends at once, none waits out a timeout.
		go s.handleConn(&halfClosed{Conn: server, r: bytes.NewReader(in)})
		_ = client.SetDeadline(time.Now().Add(30 * time.Second)) // a hang, not a slow input
		answer, err := io.ReadAll(client)
		if err != nil {
			t.Fatalf("the server neither answered nor closed: %v (answer so far %q)", err, answer)
		}
		if len(answer) > 0 && !bytes.HasPrefix(answer, []byte("HTTP/1.")) {
			t.Fatalf("answer is not HTTP: %q", answer[:min(len(answer), 40)])
		}
	})
}

// halfClosed is the server's end of a connection whose client wrote r and shut down writing:
// reads return r, then io.EOF; writes go to the client.
type halfClosed struct {
	net.Conn
	r *bytes.Reader
}

func (c *halfClosed) Read(p []byte) (int, error) { return c.r.Read(p) }
