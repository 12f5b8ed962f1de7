package kv

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
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

// BenchmarkStores measures get, set, set with a TTL and compare-and-swap on the in-memory store
// and on the JetStream store (an in-process nats-server with JetStream on loopback, file storage
// in a temporary directory, one connection), side by side in one run, on 1000 keys of 64-byte
// values:
//
//	go test -run '^$' -bench '^BenchmarkStores$' -benchtime 2000x -count 5 ./host/kv/
//
// For the JetStream store each operation is one round trip to the server (a direct get, or a
// publish and its acknowledgement; CAS is both).
func BenchmarkStores(b *testing.B) {
	const keys = 1000
	names := make([]string, keys)
	for i := range names {
		names[i] = "room/" + strconv.Itoa(i)
	}
	value := bytes.Repeat([]byte("v"), 64)
	ns := runJetStream(b)
	for _, impl := range []struct {
		name string
		new  func(b *testing.B, bucket string) Store
	}{
		{"memory", func(*testing.B, string) Store { return NewMemory(nil, Limits{}) }},
		{"jetstream", func(b *testing.B, bucket string) Store { return jsStore(b, ns.ClientURL(), bucket, Limits{}) }},
	} {
		fill := func(b *testing.B, s Store) {
			for _, k := range names {
				if st := s.Set(ctx, "ns", k, value, 0); st != abi.OK {
					b.Fatal(st)
				}
			}
		}
		b.Run(impl.name+"/get", func(b *testing.B) {
			s := impl.new(b, "get")
			fill(b, s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, st := s.Get(ctx, "ns", names[i%keys]); st != abi.OK {
					b.Fatal(st)
				}
			}
		})
		b.Run(impl.name+"/set", func(b *testing.B) {
			s := impl.new(b, "set")
			for i := 0; i < b.N; i++ {
				if st := s.Set(ctx, "ns", names[i%keys], value, 0); st != abi.OK {
					b.Fatal(st)
				}
			}
		})
		b.Run(impl.name+"/set-ttl", func(b *testing.B) {
			s := impl.new(b, "setttl")
			for i := 0; i < b.N; i++ {
				if st := s.Set(ctx, "ns", names[i%keys], value, time.Hour); st != abi.OK {
					b.Fatal(st)
				}
			}
		})
		b.Run(impl.name+"/cas", func(b *testing.B) {
			s := impl.new(b, "cas")
			fill(b, s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if st := s.CAS(ctx, "ns", names[i%keys], value, value, 0); st != abi.OK {
					b.Fatal(st)
				}
			}
		})
	}
}
