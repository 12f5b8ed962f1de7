package wsproto

import (
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = byte(ws.OpContinuation)
	OpText         = byte(ws.OpText)
	OpBinary       = byte(ws.OpBinary)
	OpClose        = byte(ws.OpClose)
	OpPing         = byte(ws.OpPing)
	OpPong         = byte(ws.OpPong)
)

const (
	bitFin  = 0x80
	bitRsv1 = 0x40
	bitRsv2 = 0x20
	bitRsv3 = 0x10
	bitMask = 0x80

	// MaxControlPayload is the largest payload of a control frame (§5.5).
	MaxControlPayload = 125

	readBufferSize = 4096
	smallSize      = 128
	// chunk is how much of a large payload is read (and validated) at a time, so invalid UTF-8
	// is seen before the rest of a big frame arrives.
	chunk = 64 << 10
	// minGrow is the least a message buffer grows by: the payload buffer of a data message is
	// sized by the bytes that arrived, never by the length the peer declared, doubling as more
	// arrive (so a header declaring 1 GiB followed by nothing costs minGrow, not 1 GiB).
	minGrow = 4096
)

// ErrIdle is returned by Next, with an idle timeout set, when no frame has started arriving for
// that long. Unlike other errors it is not final: the connection is as before, and Next may be
// called again (once the caller knows bytes are ready, not to block in the read).
var ErrIdle = errors.New("wsproto: connection idle")

var bufPool = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// Message is one event read from the peer: a complete data message (Op is OpText or OpBinary,
// Payload the assembled, unmasked and, for text, UTF-8-validated bytes) or a control frame
// (OpPing, OpPong, OpClose with its payload).
//
// A data message's Payload is freshly allocated and owned by the caller. A control frame's
// Payload is only valid until the next call to Next.
type Message struct {
	Op      byte
	Payload []byte
}

// Reader reads client frames from a connection.
//
// While no frame is in flight it holds no read buffer: an idle connection costs only the few bytes
// of the Reader itself. A 4 KiB buffer is taken from a pool when bytes arrive and returned when
// they have all been consumed.
type Reader struct {
	src io.Reader
	pre []byte // bytes that arrived before the Reader started (with the handshake): read first
	max int64  // largest data message, in bytes

	// A frame in progress must keep arriving: while one is partly read, each read of the rest
	// gets a deadline of frameTimeout (0: none). deadline is the one set, zero when none is.
	frameTimeout time.Duration
	deadline     time.Time
	dl           interface{ SetReadDeadline(time.Time) error } // src's, if it has one
	progress     func()                                        // called when bytes of a frame in progress arrive
	idle         time.Duration                                 // see SetIdleTimeout; 0: none

	b    []byte  // what is being parsed: nil while idle, else small[:] or *buf
	buf  *[]byte // pooled; nil unless a frame needs more than small
	r, w int     // b[r:w] is unread

	// small is what an idle connection reads into: a frame that arrives whole in it (a message
	// of up to ~120 bytes) is parsed there, with one read and no pooled buffer.
	small   [smallSize]byte
	control [125]byte // payload of the latest control frame

	deflate bool // permessage-deflate was negotiated: RSV1 marks a compressed message

	// The message being assembled.
	fragOp     byte
	compressed bool
	msg        []byte
	utf8       utf8Validator
}

// NewReader returns a Reader of client frames from src that refuses data messages over
// maxMessage bytes.
func NewReader(src io.Reader, maxMessage int64) *Reader {
	return &Reader{src: src, max: maxMessage}
}

// Reset makes r a Reader of src as NewReader would, dropping everything it held, so that a
// caller can keep idle Readers in a pool instead of making one per wake-up of a connection.
func (r *Reader) Reset(src io.Reader, maxMessage int64) {
	r.release()
	*r = Reader{src: src, max: maxMessage}
}

// Idle reports whether r holds no unread bytes and no message in progress: the state in which
// Next may return ErrIdle, in which a caller may stop reading and watch the connection for
// readiness instead (after a heartbeat's ping or pong, say, without waiting for the idle timeout).
func (r *Reader) Idle() bool { return r.b == nil && r.fragOp == 0 && len(r.pre) == 0 }

// SetPrefix gives the Reader bytes that were read from the connection before it started (for
// example with the HTTP request that upgraded it): they are parsed before anything read from src.
func (r *Reader) SetPrefix(b []byte) { r.pre = b }

// SetFrameTimeout bounds how long a frame that has started arriving may stall: each read of the
// rest of a partly received frame must return within d, else Next returns the timeout error. src
// must have a SetReadDeadline method (a net.Conn) for this to take effect. Waiting for the first
// byte of a frame has no deadline (an idle peer is the heartbeat's business).
func (r *Reader) SetFrameTimeout(d time.Duration) {
	r.frameTimeout = d
	r.dl, _ = r.src.(interface{ SetReadDeadline(time.Time) error })
}

// SetIdleTimeout makes Next return ErrIdle when no frame has started arriving for about d (between
// d/2 and d after the last frame: the deadline is moved only when half of it has passed), while
// the Reader holds no bytes and no message is in progress. src must have a SetReadDeadline method.
// A caller can then watch the connection for readiness (epoll) without a goroutine waiting in it.
func (r *Reader) SetIdleTimeout(d time.Duration) {
	r.idle = d
	r.dl, _ = r.src.(interface{ SetReadDeadline(time.Time) error })
}

// SetProgress sets a function called whenever bytes of a partly received frame arrive (a large
// message streaming in), so a caller watching for dead peers can see that this one is alive
// although no frame has completed. It runs on the goroutine calling Next.
func (r *Reader) SetProgress(fn func()) { r.progress = fn }

// SetDeflate says whether permessage-deflate (RFC 7692) was negotiated, allowing compressed
// messages (RSV1 on their first frame).
func (r *Reader) SetDeflate(on bool) { r.deflate = on }

// Next returns the next data message or control frame. Any error but ErrIdle is final: a
// *CloseError when the peer broke the protocol (send its code and close), else the I/O error
// (io.EOF when the peer closed the TCP connection).
func (r *Reader) Next() (Message, error) {
	for {
		m, done, err := r.frame()
		if err != nil {
			r.release()
			return Message{}, err
		}
		if done {
			if r.r == r.w {
				r.release()
			}
			return m, nil
		}
	}
}

// frame reads one frame. It returns done=false for a non-final data fragment.
func (r *Reader) frame() (Message, bool, error) {
	if err := r.fill(2); err != nil {
		return Message{}, false, err
	}
	b := r.b
	b0, b1 := b[r.r], b[r.r+1]
	fin := b0&bitFin != 0
	op := b0 & 0x0f
	rsv1 := false
	if rsv := b0 & (bitRsv1 | bitRsv2 | bitRsv3); rsv != 0 {
		if rsv != bitRsv1 || !r.deflate {
			return Message{}, false, protocolError("reserved bits set without a negotiated extension")
		}
		if op != OpText && op != OpBinary {
			// RFC 7692 §6.1: only the first frame of a data message carries the bit.
			return Message{}, false, protocolError("RSV1 set on a control or continuation frame")
		}
		rsv1 = true
	}
	if b1&bitMask == 0 {
		return Message{}, false, protocolError("client frame is not masked")
	}
	hdr := 2
	length := int64(b1 & 0x7f)
	switch length {
	case 126:
		hdr += 2
	case 127:
		hdr += 8
	}
	hdr += 4
	if err := r.fill(hdr); err != nil {
		return Message{}, false, err
	}
	b = r.b
	p := r.r + 2
	switch length {
	case 126:
		length = int64(binary.BigEndian.Uint16(b[p:]))
		if length < 126 {
			return Message{}, false, protocolError("payload length not minimally encoded")
		}
		p += 2
	case 127:
		u := binary.BigEndian.Uint64(b[p:])
		if u>>63 != 0 {
			return Message{}, false, protocolError("payload length has the most significant bit set")
		}
		length = int64(u)
		if length <= 0xffff {
			return Message{}, false, protocolError("payload length not minimally encoded")
		}
		p += 8
	}
	var mask [4]byte
	copy(mask[:], b[p:p+4])
	r.r += hdr

	switch op {
	case OpClose, OpPing, OpPong:
		if !fin {
			return Message{}, false, protocolError("fragmented control frame")
		}
		if length > MaxControlPayload {
			return Message{}, false, protocolError("control frame payload over 125 bytes")
		}
		payload := r.control[:length]
		if err := r.readPayload(payload, mask, 0, nil); err != nil {
			return Message{}, false, err
		}
		if op == OpClose {
			if err := checkClosePayload(payload); err != nil {
				return Message{}, false, err
			}
		}
		return Message{Op: op, Payload: payload}, true, nil

	case OpText, OpBinary:
		if r.fragOp != 0 {
			return Message{}, false, protocolError("new data frame inside a fragmented message")
		}
		if length > r.max {
			return Message{}, false, &CloseError{Code: CloseTooBig, Reason: "message too big"}
		}
		r.fragOp, r.compressed = op, rsv1
		r.utf8.reset()
		r.msg = nil

	case OpContinuation:
		if r.fragOp == 0 {
			return Message{}, false, protocolError("continuation frame without a message to continue")
		}
		if length > r.max-int64(len(r.msg)) { // written so that it cannot overflow
			return Message{}, false, &CloseError{Code: CloseTooBig, Reason: "message too big"}
		}

	default:
		return Message{}, false, protocolError("unknown opcode %d", op)
	}

	// A data frame: append its payload to the message. The buffer grows with the bytes that
	// arrive (at most doubling what is there), never to the declared length ahead of them.
	var v *utf8Validator
	if r.fragOp == OpText && !r.compressed {
		v = &r.utf8 // compressed text is validated once inflated
	}
	end := len(r.msg) + int(length)
	for offset := 0; len(r.msg) < end; {
		if len(r.msg) == cap(r.msg) {
			r.msg = grow(r.msg, end, r.w-r.r+len(r.pre))
		}
		start := len(r.msg)
		r.msg = r.msg[:min(cap(r.msg), end)]
		if err := r.readPayload(r.msg[start:], mask, offset, v); err != nil {
			return Message{}, false, err
		}
		offset += len(r.msg) - start
	}
	if !fin {
		return Message{}, false, nil
	}
	m := Message{Op: r.fragOp, Payload: r.msg}
	if r.compressed {
		var err error
		if m.Payload, err = inflate(r.msg, r.max); err != nil {
			return Message{}, false, err
		}
		if m.Op == OpText && !ValidUTF8(m.Payload) {
			return Message{}, false, &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}
		}
	} else if v != nil && !v.complete() {
		return Message{}, false, &CloseError{Code: CloseInvalidPayload, Reason: "text message ends inside a UTF-8 sequence"}
	}
	r.fragOp, r.compressed, r.msg = 0, false, nil
	return m, true, nil
}

// grow returns b with more capacity, for a frame whose payload ends at end: what is already
// buffered, or double the capacity (at least minGrow), but never past end.
func grow(b []byte, end, buffered int) []byte {
	want := max(2*cap(b), len(b)+buffered, len(b)+minGrow)
	grown := make([]byte, len(b), min(want, end))
	copy(grown, b)
	return grown
}

// readPayload fills dst with the next len(dst) payload bytes, unmasked, feeding v if not nil.
func (r *Reader) readPayload(dst []byte, mask [4]byte, offset int, v *utf8Validator) error {
	for len(dst) > 0 {
		var n int
		if r.r < r.w {
			n = copy(dst, r.b[r.r:r.w])
			r.r += n
		} else {
			// The buffer is drained: read straight into dst, a chunk at a time.
			var err error
			if n, err = r.read(dst[:min(len(dst), chunk)], true); n == 0 {
				return noEOF(cmp.Or(err, io.ErrNoProgress))
			}
		}
		ws.Cipher(dst[:n], mask, offset)
		if v != nil && !v.write(dst[:n]) {
			return &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}
		}
		offset += n
		dst = dst[n:]
	}
	return nil
}

// fill makes sure at least n (<= readBufferSize) unread bytes are buffered.
func (r *Reader) fill(n int) error {
	if r.w-r.r >= n {
		return nil
	}
	if r.b == nil {
		// Idle: wait for the first bytes without holding a buffer.
		k, err := r.read(r.small[:], false)
		if k == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		r.b, r.r, r.w = r.small[:], 0, k
		if r.w >= n {
			return nil
		}
	}
	if r.buf == nil {
		// More than what small holds is needed: move to a pooled buffer.
		r.buf = bufPool.Get().(*[]byte)
		r.w = copy(*r.buf, r.b[r.r:r.w])
		r.b, r.r = *r.buf, 0
	}
	b := r.b
	if r.r > 0 {
		r.w = copy(b, b[r.r:r.w])
		r.r = 0
	}
	for r.w < n {
		k, err := r.read(b[r.w:], r.w > 0)
		r.w += k
		if r.w >= n {
			return nil
		}
		if err != nil {
			if r.w > 0 {
				return noEOF(err)
			}
			return err
		}
	}
	return nil
}

// read reads from the prefix, then from src. mid says a frame is partly received: the read then
// has the frame deadline. The deadline is moved only when less than half of it is left (not at
// every read), and not lifted between frames until it fires: a read between frames that meets
// it lifts it and waits on. So a busy connection sets it about once per half frame timeout, and
// a frame that stops arriving is dropped within the frame timeout (a pause of half of it may
// already be).
func (r *Reader) read(p []byte, mid bool) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		if r.pre = r.pre[n:]; len(r.pre) == 0 {
			r.pre = nil
		}
		return n, nil
	}
	if mid {
		if r.frameTimeout > 0 && r.dl != nil {
			// time.Until reads only the monotonic clock (r.deadline has a reading of it);
			// time.Now reads the wall clock too, and is needed only to move the deadline.
			if time.Until(r.deadline) < r.frameTimeout/2 {
				r.deadline = time.Now().Add(r.frameTimeout)
				_ = r.dl.SetReadDeadline(r.deadline)
			}
		} else if !r.deadline.IsZero() {
			// The idle deadline must not cut a frame short when frames have no deadline.
			r.deadline = time.Time{}
			_ = r.dl.SetReadDeadline(r.deadline)
		}
		n, err := r.src.Read(p)
		if n > 0 && r.progress != nil {
			r.progress()
		}
		return n, err
	}
	if r.dl == nil {
		return r.src.Read(p)
	}
	if r.idle > 0 && r.b == nil && r.fragOp == 0 {
		// Waiting for the first byte of a frame with nothing in progress: after r.idle, ErrIdle.
		if left := time.Until(r.deadline); left < r.idle/2 || left > r.idle {
			r.deadline = time.Now().Add(r.idle)
			_ = r.dl.SetReadDeadline(r.deadline)
		}
		n, err := r.src.Read(p)
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, ErrIdle
		}
		return n, err
	}
	for {
		n, err := r.src.Read(p)
		if n == 0 && !r.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
			r.deadline = time.Time{}
			_ = r.dl.SetReadDeadline(r.deadline)
			continue
		}
		return n, err
	}
}

// release drops the read buffer (back to the pool if it is one) when nothing in it is unread.
func (r *Reader) release() {
	if r.b != nil && r.r == r.w {
		if r.buf != nil {
			bufPool.Put(r.buf)
		}
		r.b, r.buf, r.r, r.w = nil, nil, 0, 0
	}
}

// Buffered reports how many bytes have been read from the connection but not yet parsed.
func (r *Reader) Buffered() int { return r.w - r.r }

// checkClosePayload validates a close frame's body (§5.5.1, §7.4).
func checkClosePayload(p []byte) error {
	switch {
	case len(p) == 0:
		return nil
	case len(p) == 1:
		return protocolError("close frame with a 1-byte payload")
	}
	code := int(binary.BigEndian.Uint16(p))
	if !ValidReceivedCloseCode(code) {
		return protocolError("invalid close code %d", code)
	}
	if !ValidUTF8(p[2:]) {
		return &CloseError{Code: CloseInvalidPayload, Reason: "close reason is not valid UTF-8"}
	}
	return nil
}

// ParseClose returns the code and reason of a close frame payload already checked by Next:
// 1005 (no status) when it is empty.
func ParseClose(p []byte) (int, string) {
	if len(p) < 2 {
		return CloseNoStatus, ""
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}

// noEOF turns an EOF in the middle of a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
