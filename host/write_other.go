//go:build !unix

package host

import "syscall"

// tryWrite takes nothing where non-blocking writes are not implemented: every frame goes to the
// writer goroutine.
func tryWrite(syscall.RawConn, []byte) (int, error) { return 0, nil }
