package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a log-linear histogram of durations in microseconds: exact below 64 µs, then 32
// buckets per power of two (a relative error under 3.2%). Not safe for concurrent use: each
// connection records into its own, and they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const histBuckets = 64 * 32

func histIndex(us uint64) int {
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 6 // us >> e is in [32, 64)
	return min(64+(e-1)*32+int(us>>uint(e))-32, histBuckets-1)
}

// histUpper is the largest value, in microseconds, that lands in bucket i.
func histUpper(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i-64)/32 + 1
	sub := uint64((i-64)%32 + 32)
	return (sub+1)<<uint(e) - 1
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[histIndex(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1), rounded up to the end of its bucket (or the
// largest value recorded, if smaller).
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i)+1)*time.Microsecond, h.max)
		}
	}
	return h.max
}
