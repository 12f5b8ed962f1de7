package cluster

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/kv"
	"github.com/wasmsock/wasmsock/host/kv/kvtest"
)

// ctx is what the tests pass to the stores' operations.
var ctx = context.Background()

// runJetStream runs a NATS server with JetStream on a random loopback port, its store in a
// temporary directory.
func runJetStream(t testing.TB) *server.Server {
	t.Helper()
	return natstest.Start(t, &server.Options{JetStream: true})
}

// jsStore is the store of bucket over a connection of its own to url: one node of a cluster.
func jsStore(t testing.TB, url, bucket string, limits kv.Limits) *KV {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := NewKV(js, bucket, limits, 5*time.Second, nil)
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKVOperations runs TestOperations' steps alternately on two nodes' stores of one
// bucket: every step sees what the step before did on the other node.
func TestKVOperations(t *testing.T) {
	ns := runJetStream(t)
	a := jsStore(t, ns.ClientURL(), "ops", kv.Limits{})
	b := jsStore(t, ns.ClientURL(), "ops", kv.Limits{})
	kvtest.Operations(t, a, b)
	// Keys and namespaces that escaping must keep apart, and keys with dots.
	for _, k := range []struct{ ns, key string }{
		{"", "a.b"}, {"a", "b"}, {"a.b", ""}, {"=", "x"}, {"", "=3D"}, {"a b", "x"}, {"a", "b.c.d"}, {"a.b", "c.d"},
		{"é", "room/1"}, {"*", ">"},
	} {
		if k.key == "" || !kv.ValidKey([]byte(k.key)) {
			continue
		}
		if st := a.Set(ctx, k.ns, k.key, []byte(k.ns+"|"+k.key), 0); st != abi.OK {
			t.Fatalf("set %q/%q: %v", k.ns, k.key, st)
		}
	}
	for _, k := range []struct{ ns, key string }{{"", "a.b"}, {"=", "x"}, {"", "=3D"}, {"a b", "x"}, {"a", "b.c.d"}, {"a.b", "c.d"}, {"é", "room/1"}} {
		if v, st := b.Get(ctx, k.ns, k.key); st != abi.OK || string(v) != k.ns+"|"+k.key {
			t.Errorf("get %q/%q: %q %v", k.ns, k.key, v, st)
		}
	}
}

// TestKVBuckets: two buckets (two plugins, or two clusters) share nothing.
func TestKVBuckets(t *testing.T) {
	ns := runJetStream(t)
	a := jsStore(t, ns.ClientURL(), KVBucket("c1", "p"), kv.Limits{})
	b := jsStore(t, ns.ClientURL(), KVBucket("c1", "q"), kv.Limits{})
	c := jsStore(t, ns.ClientURL(), KVBucket("c1_p", ""), kv.Limits{})
	if st := a.Set(ctx, "", "k", []byte("a"), 0); st != abi.OK {
		t.Fatal(st)
	}
	for _, s := range []*KV{b, c} {
		if v, st := s.Get(ctx, "", "k"); st != abi.ErrNotFound {
			t.Errorf("bucket %s sees %q %v", s.bucket, v, st)
		}
	}
}

// TestKVTTL: a value with a TTL is gone for every node at its deadline (by the exact TTL,
// before the server's whole seconds), a new write replaces the TTL, and the server drops the
// expired message by itself, freeing its room.
func TestKVTTL(t *testing.T) {
	ns := runJetStream(t)
	a := jsStore(t, ns.ClientURL(), "ttl", kv.Limits{Entries: 2})
	b := jsStore(t, ns.ClientURL(), "ttl", kv.Limits{Entries: 2})
	start := time.Now()
	if st := a.Set(ctx, "", "short", []byte("v"), 200*time.Millisecond); st != abi.OK {
		t.Fatal(st)
	}
	if st := a.Set(ctx, "", "long", []byte("v"), time.Hour); st != abi.OK {
		t.Fatal(st)
	}
	if v, st := b.Get(ctx, "", "short"); (st != abi.OK || string(v) != "v") && time.Since(start) < 200*time.Millisecond {
		t.Fatalf("before the deadline: %q %v", v, st)
	}
	waitFor(t, "short to expire", func() bool { _, st := b.Get(ctx, "", "short"); return st == abi.ErrNotFound })
	if d := time.Since(start); d >= time.Second {
		t.Logf("expired after %v (a loaded machine)", d)
	}
	for _, op := range []func() abi.Status{
		func() abi.Status { return b.CAS(ctx, "", "short", []byte("v"), []byte("w"), 0) },
		func() abi.Status { return b.Delete(ctx, "", "short") },
	} {
		if st := op(); st != abi.ErrNotFound {
			t.Errorf("an expired value: %v, want ErrNotFound", st)
		}
	}
	// The budget still counts the expired message until the server drops it (whole seconds).
	waitFor(t, "the server to drop the expired message", func() bool {
		return b.Set(ctx, "", "third", []byte("v"), 0) == abi.OK
	})
	if v, st := a.Get(ctx, "", "long"); st != abi.OK || string(v) != "v" {
		t.Errorf("long: %q %v", v, st)
	}
	// A set without TTL removes the TTL; a create over an expired value works.
	if st := a.Set(ctx, "", "long", []byte("w"), 0); st != abi.OK {
		t.Fatal(st)
	}
	if st := a.Set(ctx, "", "third", []byte("x"), 100*time.Millisecond); st != abi.OK {
		t.Fatal(st)
	}
	waitFor(t, "third to expire", func() bool { _, st := a.Get(ctx, "", "third"); return st == abi.ErrNotFound })
	if st := b.CAS(ctx, "", "third", nil, []byte("again"), 0); st != abi.OK {
		t.Errorf("create over an expired value: %v", st)
	}
	if v, st := a.Get(ctx, "", "third"); st != abi.OK || string(v) != "again" {
		t.Errorf("third: %q %v", v, st)
	}
}

// TestKVLimits: the entry budget holds across nodes, writes beyond it return ErrLimit and
// store nothing; overwriting and deleting still work, and a delete frees room (it leaves no
// marker behind).
func TestKVLimits(t *testing.T) {
	ns := runJetStream(t)
	a := jsStore(t, ns.ClientURL(), "limits", kv.Limits{Entries: 3})
	b := jsStore(t, ns.ClientURL(), "limits", kv.Limits{Entries: 3})
	for i := range 3 {
		if st := a.Set(ctx, "n", "k"+strconv.Itoa(i), []byte("12345"), 0); st != abi.OK {
			t.Fatal(st)
		}
	}
	steps := []struct {
		name string
		op   func() abi.Status
		want abi.Status
	}{
		{"4th entry", func() abi.Status { return b.Set(ctx, "n", "k3", nil, 0) }, abi.ErrLimit},
		{"4th entry by cas", func() abi.Status { return b.CAS(ctx, "n", "k3", nil, nil, 0) }, abi.ErrLimit},
		{"4th entry gone", func() abi.Status { _, st := a.Get(ctx, "n", "k3"); return st }, abi.ErrNotFound},
		{"overwrite when full", func() abi.Status { return b.Set(ctx, "n", "k0", []byte("abc"), 0) }, abi.OK},
		{"cas when full", func() abi.Status { return b.CAS(ctx, "n", "k0", []byte("abc"), []byte("x"), 0) }, abi.OK},
		{"delete", func() abi.Status { return a.Delete(ctx, "n", "k1") }, abi.OK},
		{"after a delete", func() abi.Status { return b.Set(ctx, "n", "k3", []byte("x"), 0) }, abi.OK},
		{"full again", func() abi.Status { return b.Set(ctx, "n", "k4", []byte("x"), 0) }, abi.ErrLimit},
	}
	for _, st := range steps {
		if got := st.op(); got != st.want {
			t.Errorf("%s: %v, want %v", st.name, got, st.want)
		}
	}
	// The byte budget, with the ABI's limits: 255 values of 64 KiB fit in 16 MiB with their
	// subjects, the 256th does not.
	big := strings.Repeat("v", abi.MaxKVValue)
	c := jsStore(t, ns.ClientURL(), "bytes", kv.Limits{})
	n := 0
	for ; n < 300; n++ {
		if st := c.Set(ctx, "", "b"+strconv.Itoa(n), []byte(big), 0); st != abi.OK {
			if st != abi.ErrLimit {
				t.Fatalf("value %d: %v", n, st)
			}
			break
		}
	}
	if n != 255 {
		t.Errorf("%d values of 64 KiB stored, want 255", n)
	}
}

// TestKVCASRace increments one counter from goroutines on two nodes' stores: no increment
// is lost.
func TestKVCASRace(t *testing.T) {
	ns := runJetStream(t)
	a := jsStore(t, ns.ClientURL(), "race", kv.Limits{})
	b := jsStore(t, ns.ClientURL(), "race", kv.Limits{})
	kvtest.CASRace(t, 6, 40, a, b)
}

// TestKVUnavailable: with NATS gone, every operation returns ErrUnavailable within the
// store's bound (half of what is left of the caller's deadline), and works again when NATS is
// back.
func TestKVUnavailable(t *testing.T) {
	ns := runJetStream(t)
	s := jsStore(t, ns.ClientURL(), "gone", kv.Limits{})
	if st := s.Set(ctx, "", "k", []byte("v"), 0); st != abi.OK {
		t.Fatal(st)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	for _, tc := range []struct {
		name string
		op   func(context.Context) abi.Status
	}{
		{"get", func(c context.Context) abi.Status { _, st := s.Get(c, "", "k"); return st }},
		{"set", func(c context.Context) abi.Status { return s.Set(c, "", "k", []byte("w"), 0) }},
		{"cas", func(c context.Context) abi.Status { return s.CAS(c, "", "k", []byte("v"), []byte("w"), 0) }},
		{"delete", func(c context.Context) abi.Status { return s.Delete(c, "", "k") }},
	} {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		st := tc.op(c)
		cancel()
		if st != abi.ErrUnavailable {
			t.Errorf("%s without NATS: %v, want ErrUnavailable", tc.name, st)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s waited %v, more than half of its 2s deadline", tc.name, d)
		}
	}
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkKVStores measures get, set, set with a TTL and compare-and-swap on the in-memory store
// and on the JetStream store (an in-process nats-server with JetStream on loopback, file storage
// in a temporary directory, one connection), side by side in one run, on 1000 keys of 64-byte
// values:
//
//	go test -run '^$' -bench '^BenchmarkKVStores$' -benchtime 2000x -count 5 ./host/cluster/
//
// For the JetStream store each operation is one round trip to the server (a direct get, or a
// publish and its acknowledgement; CAS is both).
func BenchmarkKVStores(b *testing.B) {
	const keys = 1000
	names := make([]string, keys)
	for i := range names {
		names[i] = "room/" + strconv.Itoa(i)
	}
	value := bytes.Repeat([]byte("v"), 64)
	ns := runJetStream(b)
	for _, impl := range []struct {
		name string
		new  func(b *testing.B, bucket string) kv.Store
	}{
		{"memory", func(*testing.B, string) kv.Store { return kv.NewMemory(nil, kv.Limits{}) }},
		{"jetstream", func(b *testing.B, bucket string) kv.Store { return jsStore(b, ns.ClientURL(), bucket, kv.Limits{}) }},
	} {
		fill := func(b *testing.B, s kv.Store) {
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
