package host_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// BenchmarkIdleConnectionMemory measures what an open, idle WebSocket connection costs (heap and
// goroutine stacks of client and server: both run in this process; the client's share is a
// connection and a 4 KiB read buffer). It reports bytes per connection pair; b.N is ignored
// beyond one round. Before measuring it waits for idle server connections to give up their
// goroutines (parked with epoll on Linux after a second idle; WASMSOCK_EPOLL=0 keeps them), at
// most 5 s.
//
//   - idle: 2000 connections that completed the handshake and sent nothing since.
//   - frame-in-progress: 200 connections, each stalled after the 14-byte header of a frame that
//     declares 1 MiB (max_message_bytes) and 10 bytes of its payload.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	b.Run("idle", func(b *testing.B) { idleMemory(b, 2000, nil) })
	stalled := wstest.MaskedFrame(true, 0, ws.OpBinary, make([]byte, 1<<20))[:14+10]
	b.Run("frame-in-progress", func(b *testing.B) { idleMemory(b, 200, stalled) })
}

func idleMemory(b *testing.B, conns int, send []byte) {
	_, base := startConfigTop(b, noLimits, "../testdata/wasm/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nping_interval = \"0s\"\nmax_message_bytes = \"1MiB\"")
	url := base + "/ws"
	measure := func() uint64 {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before := measure()
	goroutines := runtime.NumGoroutine()
	clients := make([]*wstest.Client, 0, conns)
	for i := 0; i < conns; i++ {
		c := wstest.Dial(b, url, nil)
		if send != nil {
			// A ping first: once its pong is back, the server has read what follows it.
			c.WriteRaw(append(wstest.MaskedFrame(true, 0, ws.OpPing, nil), send...))
			if _, err := c.ReadFrame(5 * time.Second); err != nil {
				b.Fatal(err)
			}
		}
		clients = append(clients, c)
	}
	for wait := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines+conns/10 && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
	}
	after := measure()
	b.ReportMetric(float64(after-before)/float64(conns), "bytes/conn-pair")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(conns), "goroutines/conn-pair")
	for _, c := range clients {
		_ = c.Conn.Close()
	}
}
