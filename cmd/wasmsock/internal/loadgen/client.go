package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// client is one WebSocket connection of the load generator. It writes masked frames from one
// reused buffer and reads server frames from a bufio.Reader, allocating nothing per message.
// One goroutine reads. Writes come from one goroutine too, except that the reader answers pings:
// a broadcast receiver's reader may write a pong while closeAll writes the close frame, so
// writeFrame holds wmu.
type client struct {
	id      int
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration

	lost atomic.Bool // the connection failed or the server closed it: nothing more to send
	// held is closed when the goroutine that reads the connection while the others open (hold)
	// has stopped; nil for a plain TCP connection, which the server does not ping.
	held chan struct{}

	// raw is a plain TCP connection (a tcp:// URL): messages are the payload bytes alone, and a
	// reply is the next rawSize bytes. It is the baseline under every WebSocket server.
	raw     bool
	rawSize int

	wmu           sync.Mutex // held by writeFrame: wbuf, writeDeadline and the socket's writes
	wbuf          []byte
	rbuf          []byte
	recvAt        time.Time // when the bytes being parsed were read from the socket
	readDeadline  time.Time // deadlines move forward at most once a second
	writeDeadline time.Time
	// until, when set, is the read deadline instead of the timeout: an idle connection waits
	// for frames (answering pings) until then.
	until time.Time
}

// errIdle matches the error of a read that timed out between two frames (errors.Is): the
// connection is still usable.
var errIdle = errors.New("no frame within the timeout")

type idleError struct{ err error }

func (e idleError) Error() string        { return e.err.Error() }
func (e idleError) Unwrap() error        { return e.err }
func (e idleError) Is(target error) bool { return target == errIdle }

// closeFrameError is a close frame from the server.
type closeFrameError struct {
	code   int
	reason string
}

func (e closeFrameError) Error() string {
	if e.reason == "" {
		return fmt.Sprintf("closed by the server: %d", e.code)
	}
	return fmt.Sprintf("closed by the server: %d %s", e.code, e.reason)
}

func dial(ctx context.Context, id int, url string, timeout time.Duration, size int) (*client, error) {
	if addr, ok := strings.CutPrefix(url, "tcp://"); ok {
		d := net.Dialer{Timeout: timeout}
		nc, err := d.DialContext(ctx, "tcp", strings.TrimSuffix(addr, "/"))
		if err != nil {
			return nil, err
		}
		return &client{id: id, nc: nc, br: bufio.NewReaderSize(nc, 32<<10), timeout: timeout, raw: true, rawSize: size}, nil
	}
	d := ws.Dialer{Timeout: timeout}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	var src io.Reader = nc
	if br != nil {
		// Bytes the dialer read past the handshake come first.
		pre, _ := br.Peek(br.Buffered())
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pre)), nc)
		ws.PutReader(br)
	}
	return &client{id: id, nc: nc, br: bufio.NewReaderSize(src, 32<<10), timeout: timeout}, nil
}

// renew gives the next write (or read) the client's timeout. The deadline is moved only when
// less than the timeout minus a second (or minus half the timeout, if that is shorter) remains,
// so it is set about once a second however many frames pass, and is never one that has passed.
func (c *client) renew(write bool) {
	d := &c.readDeadline
	if write {
		d = &c.writeDeadline
	}
	now := time.Now()
	if d.Sub(now) >= c.timeout-min(time.Second, c.timeout/2) {
		return
	}
	*d = now.Add(c.timeout)
	if write {
		_ = c.nc.SetWriteDeadline(*d)
	} else {
		_ = c.nc.SetReadDeadline(*d)
	}
}

// writeFrame writes one masked frame (every write: messages, and the pongs and close frames
// written while reading) within the timeout.
func (c *client) writeFrame(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.renew(true)
	if c.raw {
		if op == ws.OpClose {
			return nil // no closing handshake on plain TCP
		}
		_, err := c.nc.Write(p)
		return err
	}
	b := append(c.wbuf[:0], 0x80|byte(op))
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, p...)
	ws.Cipher(b[start:], key, 0)
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

// sendClose starts the closing handshake with code 1000.
func (c *client) sendClose() error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	var body [2]byte
	binary.BigEndian.PutUint16(body[:], 1000)
	return c.writeFrame(ws.OpClose, body[:])
}

// next returns the next data message; its bytes are valid until the next call. Pings are
// answered; a close frame is returned as a closeFrameError. A read that waits longer than the
// client's timeout fails.
func (c *client) next() (ws.OpCode, []byte, error) {
	for {
		if c.br.Buffered() == 0 {
			// About to wait for the socket: move the deadline, and note when the bytes
			// arrived (the receive time of every frame in this read).
			if !c.until.IsZero() {
				if !c.readDeadline.Equal(c.until) {
					c.readDeadline = c.until
					_ = c.nc.SetReadDeadline(c.readDeadline)
				}
			} else {
				c.renew(false)
			}
			if _, err := c.br.Peek(1); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					return 0, nil, idleError{err}
				}
				return 0, nil, err
			}
			c.recvAt = time.Now()
		}
		if c.raw {
			if cap(c.rbuf) < c.rawSize {
				c.rbuf = make([]byte, c.rawSize)
			}
			p := c.rbuf[:c.rawSize]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, err
			}
			return ws.OpText, p, nil
		}
		var hdr [2]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return 0, nil, err
		}
		b0, b1 := hdr[0], hdr[1]
		if b1&0x80 != 0 {
			return 0, nil, errors.New("protocol: server frame is masked")
		}
		if b0&0x80 == 0 || b0&0x0f == byte(ws.OpContinuation) {
			return 0, nil, errors.New("protocol: server sent a fragmented message")
		}
		n := uint64(b1 & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > maxMessage {
			return 0, nil, fmt.Errorf("protocol: server frame of %d bytes", n)
		}
		if uint64(cap(c.rbuf)) < n {
			c.rbuf = make([]byte, n)
		}
		p := c.rbuf[:n]
		if _, err := io.ReadFull(c.br, p); err != nil {
			return 0, nil, err
		}
		switch op := ws.OpCode(b0 & 0x0f); op {
		case ws.OpText, ws.OpBinary:
			return op, p, nil
		case ws.OpPing:
			if err := c.writeFrame(ws.OpPong, p); err != nil {
				return 0, nil, err
			}
		case ws.OpPong:
		case ws.OpClose:
			code := 1005
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			return 0, nil, closeFrameError{code: code, reason: string(p[min(2, len(p)):])}
		default:
			return 0, nil, fmt.Errorf("protocol: unexpected opcode %d", op)
		}
	}
}

// maxMessage is the largest frame the client accepts from the server.
const maxMessage = 64 << 20

// classify turns an error into a short, connection-independent description, so that the same
// failure on many connections is counted under one name.
func classify(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		inner := classify(se.err)
		if strings.HasPrefix(inner, se.step+": ") {
			return inner // "dial: connection refused", not "dial: dial: ..."
		}
		return se.step + ": " + inner
	}
	var ce closeFrameError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed by the server: %d", ce.code)
	}
	var st ws.StatusError
	if errors.As(err, &st) {
		return fmt.Sprintf("handshake refused: HTTP %d", int(st))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed without a close frame"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		inner := op.Err
		for {
			u := errors.Unwrap(inner)
			if u == nil {
				break
			}
			inner = u
		}
		return op.Op + ": " + inner.Error()
	}
	return err.Error()
}

// stepError is an error with the step of the run it happened in (dial, send, close), which
// classify keeps.
type stepError struct {
	step string
	err  error
}

func step(name string, err error) error { return &stepError{name, err} }

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }
