package host_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// BenchmarkIdleConnectionMemory measures what an open, idle WebSocket connection costs the server
// (heap and goroutine stacks, with the client side subtracted: both run in this process). It
// reports bytes per connection; b.N is ignored beyond one round of 2000 connections.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	const conns = 2000
	_, base := startConfigTop(b, noLimits, "../testdata/wasm/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nping_interval = \"0s\"")
	url := base + "/ws"
	measure := func() uint64 {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	// Clients only (TCP connections that never upgrade cost the server a goroutine waiting in
	// the handshake; measure the client side with plain dials of the same library instead).
	before := measure()
	clients := make([]*wstest.Client, 0, conns)
	for i := 0; i < conns; i++ {
		clients = append(clients, wstest.Dial(b, url, nil))
	}
	after := measure()
	perPair := float64(after-before) / conns
	b.ReportMetric(perPair, "bytes/conn-pair")
	b.ReportMetric(float64(runtime.NumGoroutine())/conns, "goroutines/conn-pair")
	for _, c := range clients {
		_ = c.Conn.Close()
	}
}
