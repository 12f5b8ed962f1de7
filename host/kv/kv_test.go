package kv

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// ctx is what the tests pass to a store's operations.
var ctx = context.Background()

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newStore(limits Limits) (*Memory, *clock) {
	c := &clock{now: time.Unix(1000, 0)}
	return NewMemory(c.Now, limits), c
}

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"a", true}, {"room/lobby.count", true}, {"A-Z_0=9", true}, {strings.Repeat("k", abi.MaxKVKey), true},
		{"", false}, {strings.Repeat("k", abi.MaxKVKey+1), false}, {".a", false}, {"a.", false},
		{"a b", false}, {"a*", false}, {"a>", false}, {"é", false}, {"a\x00", false},
	} {
		if got := ValidKey([]byte(tc.key)); got != tc.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

// TestTTL drives the store's clock: a value expires at its deadline for every operation, a new
// set replaces the TTL, and the sweep frees the budget expired entries held.
func TestTTL(t *testing.T) {
	s, c := newStore(Limits{Entries: 2})
	if st := s.Set(ctx, "", "a", []byte("1"), time.Second); st != abi.OK {
		t.Fatal(st)
	}
	if st := s.Set(ctx, "", "b", []byte("2"), 3*time.Second); st != abi.OK {
		t.Fatal(st)
	}
	if st := s.Set(ctx, "", "c", []byte("3"), 0); st != abi.ErrLimit {
		t.Fatalf("third entry over a budget of 2: %v", st)
	}
	c.add(999 * time.Millisecond)
	if v, st := s.Get(ctx, "", "a"); st != abi.OK || string(v) != "1" {
		t.Fatalf("before the deadline: %q %v", v, st)
	}
	c.add(time.Millisecond)
	if _, st := s.Get(ctx, "", "a"); st != abi.ErrNotFound {
		t.Fatalf("at the deadline: %v", st)
	}
	if st := s.CAS(ctx, "", "a", []byte("1"), []byte("x"), 0); st != abi.ErrNotFound {
		t.Errorf("cas on an expired value: %v", st)
	}
	// b is set again without a TTL: its first deadline no longer applies.
	if st := s.Set(ctx, "", "b", []byte("2"), 0); st != abi.OK {
		t.Fatal(st)
	}
	if st := s.Set(ctx, "", "c", []byte("3"), time.Second); st != abi.OK {
		t.Fatalf("after a's expiry there is room: %v", st)
	}
	c.add(time.Hour)
	if v, st := s.Get(ctx, "", "b"); st != abi.OK || string(v) != "2" {
		t.Errorf("b without TTL: %q %v", v, st)
	}
	if st := s.Set(ctx, "", "d", nil, 0); st != abi.OK {
		t.Errorf("the sweep frees c's room: %v", st)
	}
	if n, _ := s.Len(); n != 2 {
		t.Errorf("%d entries, want 2 (b, d)", n)
	}
}

// TestDeadlineHeapBounded sets one key with a TTL many times: the heap of deadlines stays in
// proportion to the entries, not to the writes.
func TestDeadlineHeapBounded(t *testing.T) {
	s, _ := newStore(Limits{})
	for i := 0; i < 10000; i++ {
		if st := s.Set(ctx, "", "k", []byte("v"), time.Hour+time.Duration(i)); st != abi.OK {
			t.Fatal(st)
		}
	}
	if n := len(s.exp); n > 2*1+64+1 {
		t.Errorf("%d deadlines kept for 1 entry", n)
	}
}

// TestLimits fills the entry and byte budgets: writes beyond return ErrLimit and store nothing;
// overwriting with no more bytes and deleting still work.
func TestLimits(t *testing.T) {
	s, _ := newStore(Limits{Entries: 3, Bytes: 30})
	for i := 0; i < 3; i++ {
		if st := s.Set(ctx, "n", "k"+strconv.Itoa(i), []byte("12345"), 0); st != abi.OK { // 1+2+5 = 8 bytes
			t.Fatal(st)
		}
	}
	if st := s.Set(ctx, "n", "k3", nil, 0); st != abi.ErrLimit {
		t.Errorf("4th entry: %v", st)
	}
	if st := s.CAS(ctx, "n", "k3", nil, nil, 0); st != abi.ErrLimit {
		t.Errorf("4th entry by cas: %v", st)
	}
	if st := s.Set(ctx, "n", "k0", []byte("123456789012"), 0); st != abi.ErrLimit {
		t.Errorf("over the bytes (8+8+15 > 30): %v", st)
	}
	if _, b := s.Len(); b != 24 {
		t.Errorf("%d bytes after refused writes, want 24", b)
	}
	if st := s.Set(ctx, "n", "k0", []byte("abc"), 0); st != abi.OK {
		t.Errorf("a smaller value: %v", st)
	}
	if st := s.Delete(ctx, "n", "k1"); st != abi.OK {
		t.Fatal(st)
	}
	if st := s.Set(ctx, "n", "k3", []byte("x"), 0); st != abi.OK {
		t.Errorf("after a delete: %v", st)
	}
}
