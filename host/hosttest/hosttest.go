// Package hosttest runs a wasmsock host inside a Go test, as net/http/httptest does for an HTTP
// handler: the real server (host.New, the same path as `wasmsock serve`) on a real loopback socket,
// shut down when the test ends. Plugin authors can use it to test a module through the host
// before deploying it; wasmsock's own tests use it for every server they start.
package hosttest

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/config"
)

// ShutdownTimeout bounds the Shutdown that ends each server at the end of its test.
const ShutdownTimeout = 5 * time.Second

// Serve builds cfg into a server, serves it on a free loopback port (cfg.Listen is not used) and
// returns the server and its base URL, "ws://127.0.0.1:PORT". A config the host refuses fails
// the test. log may be nil (no log). The server is shut down when the test and its subtests end;
// a test may call Shutdown itself before that.
func Serve(t testing.TB, cfg *config.Config, log *slog.Logger) (*host.Server, string) {
	t.Helper()
	srv, err := host.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("host.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, "ws://" + ln.Addr().String()
}
