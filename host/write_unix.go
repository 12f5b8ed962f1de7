//go:build unix

package host

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// tryWrite writes b to the socket with one non-blocking write(2) and returns how much it took:
// 0 with a nil error when the socket buffer is full (EAGAIN), the call was interrupted, or the
// socket's write deadline has passed.
func tryWrite(rc syscall.RawConn, b []byte) (int, error) {
	op := writeOps.Get().(*writeOp)
	op.b = b
	err := rc.Write(op.fn)
	n, werr := op.n, op.err
	*op = writeOp{fn: op.fn}
	writeOps.Put(op)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The write deadline an earlier writer set has passed (it is not lifted when a
			// writer ends): the writer takes this frame and moves the deadline.
			return 0, nil
		}
		return 0, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		return 0, nil
	}
	return max(n, 0), werr
}

// writeOp is one tryWrite's write(2): its fn is made once per op and the ops are reused, since a
// closure given to RawConn.Write escapes (a new one would be allocated for every reply).
type writeOp struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool // op.write
}

var writeOps = sync.Pool{New: func() any {
	op := &writeOp{}
	op.fn = op.write
	return op
}}

func (op *writeOp) write(fd uintptr) bool {
	op.n, op.err = syscall.Write(int(fd), op.b)
	return true // never wait for the socket to become writable: that is the writer's job
}
