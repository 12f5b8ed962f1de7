package kv_test

import (
	"testing"

	"github.com/wasmsock/wasmsock/host/kv"
	"github.com/wasmsock/wasmsock/host/kv/kvtest"
)

// TestOperations runs the store's steps (kvtest.Operations) on the in-memory store, and checks
// what it holds after them.
func TestOperations(t *testing.T) {
	s := kv.NewMemory(nil, kv.Limits{})
	kvtest.Operations(t, s)
	if n, b := s.Len(); n != 1 || b != len("other")+len("k")+len("o") {
		t.Errorf("Len = %d, %d", n, b)
	}
}

// TestCASRace increments one counter from many goroutines with get and CAS: no update is lost.
func TestCASRace(t *testing.T) {
	kvtest.CASRace(t, 8, 200, kv.NewMemory(nil, kv.Limits{}))
}
