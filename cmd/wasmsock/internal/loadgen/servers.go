package loadgen

import (
	"bufio"
	"io"
	"net"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Reference servers, for side-by-side runs against the host on the same machine ("wasmsock bench
// -serve"): what a plain Go WebSocket server and a plain TCP echo do with the same load.
const (
	ServeGobwas = "gobwas" // a plain gobwas/ws echo server: ws://ADDR/
	ServeTCP    = "tcp"    // a plain TCP echo: tcp://ADDR
)

// Serve accepts connections on ln and serves each with the reference server kind (ServeGobwas or
// ServeTCP) on a goroutine of its own, until ln is closed.
func Serve(ln net.Listener, kind string) error {
	serve := plainEcho
	if kind == ServeTCP {
		serve = tcpEcho
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			if kind != ServeTCP {
				_ = nc.SetDeadline(time.Now().Add(DefaultTimeout))
				if _, err := ws.Upgrade(nc); err != nil {
					return
				}
				_ = nc.SetDeadline(time.Time{})
			}
			serve(nc)
		}()
	}
}

// plainEcho is a plain Go echo server's connection loop, with no plugin: gobwas/ws's wsutil
// read and write helpers, one goroutine per connection. Messages are written through a
// bufio.Writer flushed after each: wsutil.WriteServerMessage writes the header and the payload
// separately, which is two syscalls on a bare net.Conn.
func plainEcho(nc net.Conn) {
	bw := bufio.NewWriter(nc)
	rw := struct {
		io.Reader
		io.Writer // ReadClientData answers pings and close frames here
	}{bufio.NewReader(nc), nc}
	for {
		data, op, err := wsutil.ReadClientData(rw)
		if err != nil {
			return
		}
		if err := wsutil.WriteServerMessage(bw, op, data); err != nil {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// tcpEcho writes back whatever it reads: the floor under any WebSocket server.
func tcpEcho(nc net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			if _, werr := nc.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
