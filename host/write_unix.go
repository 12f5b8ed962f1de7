//go:build unix

package host

import (
	"errors"
	"os"
	"syscall"
)

// tryWrite writes b to the socket with one non-blocking write(2) and returns how much it took:
// 0 with a nil error when the socket buffer is full (EAGAIN), the call was interrupted, or the
// socket's write deadline has passed.
func tryWrite(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
		return true // never wait for the socket to become writable: that is the writer's job
	}); err != nil {
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
