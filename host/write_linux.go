//go:build linux

package host

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// haveWritev: writevNonblock is implemented, so the writer pool is used.
const haveWritev = true

// maxIov is the most buffers one writev takes (IOV_MAX on Linux).
const maxIov = 1024

// writevNonblock writes bufs to the socket with non-blocking writev calls until the socket
// would block, and returns what it did not take (the tail of bufs, the first buffer possibly cut;
// empty when everything was written). iov is scratch space, returned for reuse. A write deadline
// that has passed (an earlier blocking writer set it) takes nothing, without an error: the
// blocking writer that gets the rest moves it.
func writevNonblock(rc syscall.RawConn, bufs [][]byte, iov []syscall.Iovec) ([][]byte, []syscall.Iovec, error) {
	op := writevOps.Get().(*writevOp)
	op.bufs, op.iov = bufs, iov
	err := rc.Write(op.fn)
	bufs, iov, werr := op.bufs, op.iov, op.err
	*op = writevOp{fn: op.fn}
	writevOps.Put(op)
	clear(iov[:cap(iov)]) // no pointers into written frames kept alive by the scratch
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return bufs, iov, nil
		}
		return bufs, iov, err
	}
	return bufs, iov, werr
}

// writevOp is one writevNonblock's writes: its fn is made once per op and the ops are reused,
// since a closure given to RawConn.Write escapes (a new one would be allocated for every batch).
type writevOp struct {
	bufs [][]byte
	iov  []syscall.Iovec
	err  error
	fn   func(fd uintptr) bool // op.write
}

var writevOps = sync.Pool{New: func() any {
	op := &writevOp{}
	op.fn = op.write
	return op
}}

func (op *writevOp) write(fd uintptr) bool {
	bufs, iov := op.bufs, op.iov
	for len(bufs) > 0 {
		iov = iov[:0]
		want := 0
		for _, b := range bufs {
			if len(iov) == maxIov {
				break
			}
			if len(b) == 0 {
				continue
			}
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
			want += len(b)
		}
		if len(iov) == 0 {
			bufs = bufs[:0]
			break
		}
		r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			break
		}
		if e != 0 {
			op.err = e
			break
		}
		n := int(r)
		for n > 0 && len(bufs) > 0 {
			if l := len(bufs[0]); n >= l {
				n -= l
				bufs = bufs[1:]
			} else {
				bufs[0] = bufs[0][n:]
				n = 0
			}
		}
		if int(r) < want {
			break // the socket took part: it is full now
		}
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	op.bufs, op.iov = bufs, iov
	return true // never wait for the socket: that is writeLoop's job
}
