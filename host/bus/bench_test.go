package bus

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/abi"
)

// BenchmarkPublish: 256-byte messages from a plugin's Publish (copy, bounded queue, the Bus's
// goroutine) to a subscriber on another connection, side by side with nats.go's Publish on the
// same server. Each op is one message delivered; ErrBusy is retried and counted.
func BenchmarkPublish(b *testing.B) {
	nc := natsConn(b)
	for _, side := range []string{"bus", "nats.go"} {
		b.Run(side, func(b *testing.B) {
			sub, err := nats.Connect(nc.ConnectedUrl())
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			var got atomic.Int64
			done := make(chan struct{})
			s, _ := sub.Subscribe("p.%.bench", func(*nats.Msg) {
				if got.Add(1) == int64(b.N) {
					close(done)
				}
			})
			_ = s.SetPendingLimits(-1, -1)
			_ = sub.Flush()
			bus, err := New(nc, Options{Prefix: "p"})
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close()
			data := make([]byte, 256)
			busy := 0
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if side == "nats.go" {
					_ = nc.Publish("p.%.bench", data)
					continue
				}
				for bus.Publish("", "bench", data) == abi.ErrBusy {
					busy++
					time.Sleep(10 * time.Microsecond)
				}
			}
			_ = nc.Flush()
			select {
			case <-done:
			case <-time.After(time.Minute):
				b.Fatalf("delivered %d of %d", got.Load(), b.N)
			}
			b.ReportMetric(float64(busy)/float64(b.N), "busy/op")
		})
	}
}
