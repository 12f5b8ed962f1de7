//go:build !linux

package host

import "syscall"

// haveWritev: no non-blocking writev here, so no writer pool: every connection's frames are
// written by a writer goroutine of its own.
const haveWritev = false

func writevNonblock(_ syscall.RawConn, bufs [][]byte, iov []syscall.Iovec) ([][]byte, []syscall.Iovec, error) {
	return bufs, iov, nil
}
