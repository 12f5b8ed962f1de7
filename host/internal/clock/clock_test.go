package clock

import (
	"testing"
	"time"
)

func TestNowIsMonotonicAndNeverZero(t *testing.T) {
	prev := Now()
	if prev <= 0 {
		t.Fatalf("Now() = %d, want > 0", prev)
	}
	wall := time.Now()
	for range 1000 {
		n := Now()
		if n < prev {
			t.Fatalf("Now() went back: %d after %d", n, prev)
		}
		prev = n
	}
	// It measures elapsed time as time.Since does.
	a := Now()
	for time.Since(wall) < 2*time.Millisecond {
	}
	if d := time.Duration(Now() - a); d <= 0 || d > time.Second {
		t.Fatalf("elapsed %v between two reads around a 2ms wait", d)
	}
}

func BenchmarkNow(b *testing.B) {
	for b.Loop() {
		_ = Now()
	}
}

func BenchmarkTimeNow(b *testing.B) {
	for b.Loop() {
		_ = time.Now()
	}
}
