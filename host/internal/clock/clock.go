// Package clock is the host's clock for per-message bookkeeping: nanoseconds on the process's
// monotonic clock, one clock read each, where time.Now makes two (the wall clock and the
// monotonic one). It serves the times that are only compared with each other: when a
// connection last read a frame, when a guest call started.
package clock

import "time"

// epoch is the origin of Now: a time with a monotonic reading, so time.Since reads only the
// monotonic clock.
var epoch = time.Now()

// Now returns the nanoseconds since the process started, on the monotonic clock: never 0 (so 0
// can stand for "none"), and never going back.
func Now() int64 { return int64(time.Since(epoch)) + 1 }
