package kv

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkStore measures the in-memory store's operations on 1000 keys of 64-byte values, side
// by side with a plain map behind a mutex that copies the same bytes (the least any shared store
// must do): the difference is the cost of namespaces, TTLs, the deadline heap and the budget.
func BenchmarkStore(b *testing.B) {
	const keys = 1000
	names := make([]string, keys)
	for i := range names {
		names[i] = "room/" + strconv.Itoa(i)
	}
	value := bytes.Repeat([]byte("v"), 64)
	b.Run("get", func(b *testing.B) {
		s := NewMemory(nil, Limits{})
		for _, k := range names {
			s.Set(ctx, "ns", k, value, 0)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s.Get(ctx, "ns", names[i%keys])
		}
	})
	b.Run("set", func(b *testing.B) {
		s := NewMemory(nil, Limits{})
		for i := 0; i < b.N; i++ {
			s.Set(ctx, "ns", names[i%keys], value, 0)
		}
	})
	b.Run("set-ttl", func(b *testing.B) {
		s := NewMemory(nil, Limits{})
		for i := 0; i < b.N; i++ {
			s.Set(ctx, "ns", names[i%keys], value, time.Hour)
		}
	})
	b.Run("cas", func(b *testing.B) {
		s := NewMemory(nil, Limits{})
		for _, k := range names {
			s.Set(ctx, "ns", k, value, 0)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s.CAS(ctx, "ns", names[i%keys], value, value, 0)
		}
	})
	b.Run("map-get", func(b *testing.B) {
		var mu sync.Mutex
		m := map[string][]byte{}
		for _, k := range names {
			m[k] = bytes.Clone(value)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			mu.Lock()
			_ = bytes.Clone(m[names[i%keys]])
			mu.Unlock()
		}
	})
	b.Run("map-set", func(b *testing.B) {
		var mu sync.Mutex
		m := map[string][]byte{}
		for i := 0; i < b.N; i++ {
			mu.Lock()
			m[names[i%keys]] = bytes.Clone(value)
			mu.Unlock()
		}
	})
}
