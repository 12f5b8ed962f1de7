//go:build wasip1

// Command echo is a wasmsock plugin that sends every message back to the client that sent it,
// with the same kind: text comes back as text, binary as binary.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/echo/echo.wasm ./plugins/echo
//
// or with "make wasm" at the top of the repository.
package main

import wasmsock "github.com/wasmsock/wasmsock/sdk/go"

func init() {
	wasmsock.OnMessage(func(c wasmsock.Conn, m wasmsock.Message) {
		// Send fails only when the connection is going away or the route does not allow
		// sending; echo has nothing better to do then than to drop the message.
		_ = c.Send(m.Kind, m.Data)
	})
}

// main is never called: the host starts the plugin through _initialize, which runs init.
func main() {}
