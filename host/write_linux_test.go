//go:build linux

package host

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
)

// writevNonblock against a peer that reads nothing until the end: it writes what the socket
// takes, never blocks, and returns exactly the rest (the first buffer cut where the socket
// stopped), whatever the number of buffers (more than IOV_MAX) and with empty ones among them.
func TestWritevNonblock(t *testing.T) {
	tests := []struct {
		name        string
		n, size     int
		empty       bool // every third buffer empty
		wantPartial bool
	}{
		{"one small", 1, 64, false, false},
		{"many small, over IOV_MAX", 3000, 64, false, false},
		{"with empty buffers", 100, 100, true, false},
		{"more than the socket takes", 300, 64 << 10, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			rc, err := server.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			bufs := make([][]byte, tc.n)
			for i := range bufs {
				if tc.empty && i%3 == 0 {
					bufs[i] = []byte{}
					continue
				}
				bufs[i] = bytes.Repeat([]byte{byte('a' + i%26)}, tc.size)
				all = append(all, bufs[i]...)
			}
			var iov []syscall.Iovec
			rest, iov, err := writevNonblock(rc, bufs, iov)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range iov[:cap(iov)] {
				if v.Base != nil {
					t.Fatal("the scratch iovecs still point at the frames")
				}
			}
			var left []byte
			for _, b := range rest {
				left = append(left, b...)
			}
			if tc.wantPartial != (len(rest) > 0) {
				t.Fatalf("%d bytes left of %d, want partial %v", len(left), len(all), tc.wantPartial)
			}
			if len(rest) > 0 && len(rest[0]) == 0 {
				t.Error("the rest starts with an empty buffer")
			}
			_ = server.Close()
			got, err := io.ReadAll(client)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, left...), all) {
				t.Fatalf("written %d + left %d bytes are not the %d given", len(got), len(left), len(all))
			}
		})
	}
}
