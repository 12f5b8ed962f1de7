// Package wstest is a WebSocket client for tests of wasmsock and its plugins: a real client over
// a real socket (gobwas/ws's dialer) that can also write raw, even malformed, frames.
package wstest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Client is one client connection.
type Client struct {
	t    testing.TB
	Conn net.Conn
	r    *bufio.Reader
	HS   ws.Handshake
	// AutoPong answers every ping read, as browsers do. It is on after Dial.
	AutoPong bool
}

// Dial opens a WebSocket to url, failing the test if the handshake fails.
func Dial(t testing.TB, url string, header http.Header) *Client {
	t.Helper()
	c, err := TryDial(t, url, header)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// TryDial opens a WebSocket to url and returns the handshake error, if any (a ws.StatusError
// carries the HTTP status of a refused handshake).
func TryDial(t testing.TB, url string, header http.Header, protocols ...string) (*Client, error) {
	d := ws.Dialer{Timeout: 5 * time.Second, Protocols: protocols}
	if header != nil {
		header = header.Clone()
		// Extensions offered go through the dialer, which checks the server's answer against them.
		for k, vs := range header {
			if !strings.EqualFold(k, "Sec-WebSocket-Extensions") || len(vs) == 0 {
				continue
			}
			delete(header, k)
			opts, ok := httphead.ParseOptions([]byte(vs[0]), nil)
			if !ok {
				return nil, fmt.Errorf("bad extension offer %q", vs[0])
			}
			d.Extensions = opts
		}
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, hs, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	var src io.Reader = conn
	if br != nil {
		src = io.MultiReader(br, conn) // bytes the dialer read past the handshake come first
	}
	c := &Client{t: t, Conn: conn, r: bufio.NewReader(src), HS: hs, AutoPong: true}
	t.Cleanup(func() { _ = conn.Close() })
	return c, nil
}

// UpgradeRequest is the request head of a WebSocket handshake for path, with extra header lines
// ("Name: value"), as a client writes it. Append frames (MaskedFrame) to send them in the same
// write as the handshake.
func UpgradeRequest(path string, extra ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: wasmsock.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path)
	b.WriteString("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// MaskedFrame returns the bytes of one masked client frame (rsv: RSV1 is 0x4).
func MaskedFrame(fin bool, rsv byte, op ws.OpCode, p []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	f.Header.Rsv = rsv
	f = ws.MaskFrameInPlace(f)
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, f)
	return b.Bytes()
}

// DialRaw opens a TCP connection to the host of url (ws://host:port/...) and writes first in one
// write; nothing is read. With ReadHTTP, then ReadFrame and the other readers, a test plays the
// client byte for byte.
func DialRaw(t testing.TB, url string, first []byte) *Client {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		addr = addr[:i]
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &Client{t: t, Conn: conn, r: bufio.NewReader(conn), AutoPong: true}
	if len(first) > 0 {
		c.WriteRaw(first)
	}
	return c
}

// ReadHTTP reads an HTTP response (a 101 or any other) within timeout; its body, if any, is read
// and closed.
func (c *Client) ReadHTTP(timeout time.Duration) (*http.Response, []byte, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, body, err
}

// Send writes one masked data message in a single frame.
func (c *Client) Send(op ws.OpCode, p []byte) {
	c.t.Helper()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteClientMessage(c.Conn, op, p); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// WriteFrame writes one masked frame exactly as given (fin, rsv, op, payload).
func (c *Client) WriteFrame(fin bool, rsv byte, op ws.OpCode, p []byte) {
	c.t.Helper()
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	f.Header.Rsv = rsv
	f = ws.MaskFrameInPlace(f)
	_ = c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteFrame(c.Conn, f); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

// WriteCompressed writes one masked message compressed with permessage-deflate (RSV1 set).
func (c *Client) WriteCompressed(op ws.OpCode, p []byte) {
	c.t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(p)
	_ = w.Flush()
	c.WriteFrame(true, 0x4, op, bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff}))
}

// WriteRaw writes bytes as they are.
func (c *Client) WriteRaw(b []byte) {
	c.t.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Frame is a frame read from the server.
type Frame struct {
	Op      ws.OpCode
	Fin     bool
	Rsv     byte // RSV1 is 0x4
	Payload []byte
}

// ReadFrame reads the next frame within timeout.
func (c *Client) ReadFrame(timeout time.Duration) (Frame, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return Frame{}, err
	}
	if h.Masked {
		return Frame{}, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return Frame{}, err
	}
	if h.OpCode == ws.OpPing && c.AutoPong {
		f := ws.MaskFrameInPlace(ws.NewPongFrame(append([]byte(nil), p...)))
		_ = ws.WriteFrame(c.Conn, f)
	}
	return Frame{Op: h.OpCode, Fin: h.Fin, Rsv: h.Rsv, Payload: p}, nil
}

// Read returns the next data message, answering nothing and failing on anything else.
func (c *Client) Read() (ws.OpCode, []byte) {
	c.t.Helper()
	for {
		f, err := c.ReadFrame(10 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		switch f.Op {
		case ws.OpText, ws.OpBinary:
			if !f.Fin {
				c.t.Fatalf("server sent a fragmented message")
			}
			return f.Op, f.Payload
		case ws.OpPing, ws.OpPong:
			continue
		default:
			code, reason := ParseClose(f.Payload)
			c.t.Fatalf("expected a data message, got opcode %v (close %d %q)", f.Op, code, reason)
		}
	}
}

// ExpectClose reads until a close frame and returns its code and reason; it fails the test if data
// or nothing arrives.
func (c *Client) ExpectClose(timeout time.Duration) (int, string) {
	c.t.Helper()
	for {
		f, err := c.ReadFrame(timeout)
		if err != nil {
			c.t.Fatalf("expected a close frame: %v", err)
		}
		switch f.Op {
		case ws.OpClose:
			return ParseClose(f.Payload)
		case ws.OpPing, ws.OpPong:
		default:
			c.t.Fatalf("expected a close frame, got opcode %v %q", f.Op, f.Payload)
		}
	}
}

// Close sends a close frame with code and reason.
func (c *Client) Close(code int, reason string) {
	c.t.Helper()
	c.WriteFrame(true, 0, ws.OpClose, CloseBody(code, reason))
}

// ExpectEOF checks that the server closes the TCP connection within timeout.
func (c *Client) ExpectEOF(timeout time.Duration) error {
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1024)
	for {
		_, err := c.r.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return nil
		}
		return fmt.Errorf("expected EOF, got %w", err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// CloseBody builds a close frame payload.
func CloseBody(code int, reason string) []byte {
	b := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(b, uint16(code))
	return append(b, reason...)
}

// ParseClose splits a close frame payload; 1005 when empty.
func ParseClose(p []byte) (int, string) {
	if len(p) < 2 {
		return 1005, ""
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}
