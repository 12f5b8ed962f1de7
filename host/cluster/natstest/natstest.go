// Package natstest runs a NATS server inside a Go test: nats-server in process, on loopback, shut
// down when the test ends. wasmsock's cluster and bus tests use it, and so can tests of plugins
// and backends that talk to a wasmsock cluster.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartTimeout bounds how long Start waits for the server to take connections.
const StartTimeout = 10 * time.Second

// Start starts a NATS server with opts (nil for the defaults) on 127.0.0.1, without logs or
// signal handlers, and shuts it down when the test ends. opts.Port 0 means a random free port
// (not NATS's 4222); a test that restarts a server on the same port passes the port it had. With
// opts.JetStream and no opts.StoreDir, JetStream stores in a temporary directory of the test.
// Its address for clients is ClientURL().
func Start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host, opts.NoLog, opts.NoSigs = "127.0.0.1", true, true
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.JetStream && opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(StartTimeout) {
		ns.Shutdown()
		t.Fatalf("nats-server did not take connections within %v", StartTimeout)
	}
	t.Cleanup(ns.Shutdown)
	return ns
}
