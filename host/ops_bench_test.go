package host_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// noLimits lifts the connection limits so a benchmark can open 1000 connections from one address.
const noLimits = "[limits]\nmax_connections_per_ip = 0\nconnections_per_second_per_ip = 0\nmessages_per_second = 0"

// roundTrips runs sequential round trips on c until stop is closed and returns their latencies.
func roundTrips(b *testing.B, c *wstest.Client, stop <-chan struct{}) []time.Duration {
	var lat []time.Duration
	msg := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	for {
		select {
		case <-stop:
			return lat
		default:
		}
		start := time.Now()
		if err := ws.WriteFrame(c.Conn, ws.MaskFrameInPlace(ws.NewTextFrame(slices.Clone(msg)))); err != nil { // masking is in place
			b.Errorf("write: %v", err)
			return lat
		}
		if _, err := c.ReadFrame(10 * time.Second); err != nil {
			b.Errorf("read: %v", err)
			return lat
		}
		lat = append(lat, time.Since(start))
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkReloadStall measures what a reload costs the connections of a plugin: 1000 live
// connections on the Go echo plugin, while one client does round trips, the module is swapped
// b.N times (each swap replays the 1000 connections as on_connect(RESUMED)). It reports the
// round-trip latency percentiles during the swaps and the swap duration.
func BenchmarkReloadStall(b *testing.B) {
	const idle = 1000
	srv, base := startConfigTop(b, noLimits, "../plugins/echo/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nping_interval = \"0s\"")
	for i := 0; i < idle; i++ {
		wstest.Dial(b, base+"/ws", nil)
	}
	wasm, err := os.ReadFile("../plugins/echo/echo.wasm")
	if err != nil {
		b.Fatal(err)
	}
	probe := wstest.Dial(b, base+"/ws", nil)
	stop := make(chan struct{})
	var lat []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); lat = roundTrips(b, probe, stop) }()
	p := srv.Plugins()["p"]
	var swaps []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := p.Reload(context.Background(), wasm)
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		swaps = append(swaps, res.Duration)
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "rtt-p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "rtt-p99-ms")
	b.ReportMetric(float64(percentile(lat, 1).Microseconds())/1000, "rtt-max-ms")
	b.ReportMetric(float64(percentile(swaps, 0.5).Microseconds())/1000, "reload-p50-ms")
	b.ReportMetric(float64(len(lat)), "round-trips")
	b.Logf("faults %d restarts %d", p.Stats().Faults.Load(), p.Stats().Restarts.Load())
	if n := srv.Connections(); n != idle+1 {
		b.Errorf("%d connections after the reloads, want %d", n, idle+1)
	}
}

// BenchmarkFloodIsolation measures a well-behaved client's echo round trip (p50/p99; one message
// every 2 ms) while another
// client floods the same plugin instance: without a flood, with a flood and no message rate
// limit, and with the default limit (1000 messages/s per connection, burst 2000), which closes the
// flooder.
func BenchmarkFloodIsolation(b *testing.B) {
	cases := []struct {
		name   string
		flood  bool
		limits string
	}{
		{"no-flood", false, noLimits},
		{"flood-unlimited", true, noLimits},
		{"flood-default-limit", true, "[limits]\nconnections_per_second_per_ip = 0"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			_, base := startConfigTop(b, tc.limits, "../testdata/wasm/echo.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nqueue_messages = 100000\nqueue_bytes = \"64MiB\"")
			victim := wstest.Dial(b, base+"/ws", nil)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if tc.flood {
				flooder := wstest.Dial(b, base+"/ws", nil)
				wg.Add(2)
				go func() { // drain what comes back, so the flooder is not a slow consumer
					defer wg.Done()
					for {
						if _, err := flooder.ReadFrame(2 * time.Second); err != nil {
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					frame := ws.MaskFrameInPlace(ws.NewTextFrame([]byte("flood flood flood flood flood flood flood flood")))
					bts, _ := ws.CompileFrame(frame)
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := flooder.Conn.Write(bts); err != nil {
							return
						}
					}
				}()
			}
			time.Sleep(100 * time.Millisecond) // let the flood start
			// The victim sends b.N messages, one every 2 ms: a well-behaved client, well under the
			// default rate limit.
			b.ResetTimer()
			var lat []time.Duration
			msg := []byte("ping")
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < b.N; i++ {
				<-tick.C
				start := time.Now()
				victim.Send(ws.OpText, msg)
				victim.Read()
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "victim-p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "victim-p99-ms")
		})
	}
}
