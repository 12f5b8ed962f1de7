// Package kvtest checks that a shared store (kv.Store) behaves as abi/ABI.md's "Shared state"
// says: the same steps run against the in-memory store and the cluster's JetStream store, so the
// two implementations cannot drift apart.
package kvtest

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/kv"
)

// Operations runs get, set, CAS and delete in sequence, each step with its expected status, step i
// on stores[i % len(stores)] (stores that share their data: the nodes of a cluster). It leaves one
// entry: namespace "other", key "k", value "o".
func Operations(t testing.TB, stores ...kv.Store) {
	t.Helper()
	steps := []struct {
		op, ns, key   string
		expect, value []byte
		want          abi.Status
		wantValue     string // for get
	}{
		{op: "get", key: "k", want: abi.ErrNotFound},
		{op: "delete", key: "k", want: abi.ErrNotFound},
		{op: "cas", key: "k", expect: []byte("x"), value: []byte("v"), want: abi.ErrNotFound},
		{op: "cas", key: "k", expect: nil, value: []byte("v1"), want: abi.OK},
		{op: "cas", key: "k", expect: nil, value: []byte("v2"), want: abi.ErrMismatch},
		{op: "get", key: "k", want: abi.OK, wantValue: "v1"},
		{op: "get", ns: "other", key: "k", want: abi.ErrNotFound},
		{op: "cas", key: "k", expect: []byte("nope"), value: []byte("v2"), want: abi.ErrMismatch},
		{op: "cas", key: "k", expect: []byte("v1"), value: []byte{}, want: abi.OK},
		{op: "get", key: "k", want: abi.OK, wantValue: ""},
		{op: "cas", key: "k", expect: nil, value: []byte("v3"), want: abi.ErrMismatch}, // empty is a value
		{op: "cas", key: "k", expect: []byte{}, value: []byte("v3"), want: abi.OK},
		{op: "set", ns: "other", key: "k", value: []byte("o"), want: abi.OK},
		{op: "get", key: "k", want: abi.OK, wantValue: "v3"},
		{op: "delete", key: "k", want: abi.OK},
		{op: "get", key: "k", want: abi.ErrNotFound},
		{op: "get", ns: "other", key: "k", want: abi.OK, wantValue: "o"},
	}
	for i, st := range steps {
		var got abi.Status
		var v []byte
		s := stores[i%len(stores)]
		switch st.op {
		case "get":
			v, got = s.Get(context.Background(), st.ns, st.key)
		case "set":
			got = s.Set(context.Background(), st.ns, st.key, st.value, 0)
		case "cas":
			got = s.CAS(context.Background(), st.ns, st.key, st.expect, st.value, 0)
		case "delete":
			got = s.Delete(context.Background(), st.ns, st.key)
		}
		if got != st.want || (st.op == "get" && got == abi.OK && string(v) != st.wantValue) {
			t.Fatalf("step %d %s %q/%q: %v %q, want %v %q", i, st.op, st.ns, st.key, got, v, st.want, st.wantValue)
		}
	}
}

// CASRace increments one counter (key "n" of the default namespace) from workers goroutines,
// each each times, with get and CAS, worker w on stores[w % len(stores)], and checks that no
// increment is lost.
func CASRace(t testing.TB, workers, each int, stores ...kv.Store) {
	t.Helper()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		s := stores[w%len(stores)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					old, st := s.Get(context.Background(), "", "n")
					n := 0
					if st == abi.OK {
						n, _ = strconv.Atoi(string(old))
					} else {
						old = nil
					}
					st = s.CAS(context.Background(), "", "n", old, []byte(strconv.Itoa(n+1)), 0)
					if st == abi.OK {
						break
					}
					if st != abi.ErrMismatch && st != abi.ErrNotFound {
						t.Errorf("cas: %v", st)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if v, _ := stores[0].Get(context.Background(), "", "n"); string(v) != strconv.Itoa(workers*each) {
		t.Errorf("counter %s, want %d", v, workers*each)
	}
}
