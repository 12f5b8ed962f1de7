package plugin

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// loadProbe loads the probe test plugin (Go SDK; it exports on_timer) with timers that fire only
// when FireTimers is called, by a clock that stands still.
func loadProbe(b *testing.B) *Plugin {
	b.Helper()
	now := time.Unix(1_700_000_000, 0)
	return connected(b, "../../testdata/plugins/probe/probe.wasm", Options{Host: nopHost{},
		ManualTimers: true, Clock: func() time.Time { return now }})
}

// BenchmarkTimerCallback measures one due timer: taken off the heap, queued to the instance,
// on_timer called (the Go SDK reads the name and runs the handler, which sends "timer NAME"),
// side by side with a replayed on_connect (one mailbox hop and one guest call as well, with the
// connection's attachment as its payload).
func BenchmarkTimerCallback(b *testing.B) {
	b.Run("timer", func(b *testing.B) {
		p := loadProbe(b)
		names := make([]string, abi.MaxTimers)
		for i := range names {
			names[i] = "t" + strconv.Itoa(i)
		}
		b.ResetTimer()
		for done := 0; done < b.N; {
			k := min(b.N-done, abi.MaxTimers)
			b.StopTimer()
			for i := 0; i < k; i++ {
				p.timers.set(1, names[i], 0, 0)
			}
			b.StartTimer()
			if n := p.FireTimers(); n != k {
				b.Fatalf("fired %d, want %d", n, k)
			}
			done += k
		}
	})
	b.Run("resumed-connect", func(b *testing.B) {
		p := loadProbe(b)
		p.attach.set(1, []byte("room=lobby;name=ada"))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p.Connect(1, abi.FlagResumed)
		}
	})
}

// heapAfterGC is the live heap, in bytes.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkStateMemory reports the host memory an armed timer and a stored attachment take:
// "B/timer" for abi.MaxTimers connection timers with 8-byte names, "B/attached-byte" for 10,000
// connections' attachments of 100 and of 2048 bytes (the overhead per connection spread over its
// bytes).
func BenchmarkStateMemory(b *testing.B) {
	const conns = 10_000
	b.Run("timers", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ts := newTimers(&Plugin{}, time.Now, true)
			before := heapAfterGC()
			for j := 0; j < abi.MaxTimers; j++ {
				ts.set(uint64(j+1), "tick-"+strconv.Itoa(j%100), time.Hour, 0)
			}
			after := heapAfterGC()
			b.ReportMetric(float64(after-before)/abi.MaxTimers, "B/timer")
			runtime.KeepAlive(ts)
		}
	})
	for _, size := range []int{100, abi.MaxAttachment} {
		b.Run("attachments-"+strconv.Itoa(size), func(b *testing.B) {
			data := make([]byte, size)
			for i := 0; i < b.N; i++ {
				var a attachments
				before := heapAfterGC()
				for j := 0; j < conns; j++ {
					a.set(uint64(j+1), data)
				}
				after := heapAfterGC()
				b.ReportMetric(float64(after-before)/float64(conns*size), "B/attached-byte")
				runtime.KeepAlive(&a)
			}
		})
	}
}
