// Package kv is the shared key-value store of a plugin (abi/ABI.md, "Shared state"): a small
// store shared by every instance of a plugin, scoped by namespace, with get, set (optionally
// with a TTL), compare-and-swap and delete.
//
// Store is the one interface, with two implementations: Memory is the store of one process:
// bounded in entries and bytes (abi.MaxKVEntries, abi.MaxKVBytes, or smaller limits for tests),
// with expired entries dropped lazily, when read, and by a sweep of a deadline heap on every
// write: no goroutine and no timer per key. cluster.KV (package host/cluster) is the store of a
// cluster with kv = "jetstream": a NATS JetStream key-value bucket per plugin that every node
// shares, with the same semantics and limits; package kvtest runs the same steps against both.
package kv

import (
	"bytes"
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// ValidKey reports whether k is a valid key: 1 to abi.MaxKVKey bytes of A-Z a-z 0-9 - _ / = and
// ., not starting or ending with . (the keys NATS JetStream key-value accepts).
func ValidKey(k []byte) bool {
	if len(k) == 0 || len(k) > abi.MaxKVKey || k[0] == '.' || k[len(k)-1] == '.' {
		return false
	}
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '/' || c == '=' || c == '.':
		default:
			return false
		}
	}
	return true
}

// Store is a plugin's shared store. Keys are valid (ValidKey) and values at most abi.MaxKVValue
// bytes: the host function checks them first. A ttl of 0 means no expiry. A store that waits on
// the network (JetStream) does so within ctx and returns abi.ErrUnavailable when it cannot
// answer; Memory never waits.
type Store interface {
	// Get returns a copy of the value of key in namespace ns, or abi.ErrNotFound.
	Get(ctx context.Context, ns, key string) ([]byte, abi.Status)
	// Set stores value; abi.ErrLimit when the store is full.
	Set(ctx context.Context, ns, key string, value []byte, ttl time.Duration) abi.Status
	// CAS stores value only if the key's value equals expect (expect nil: only if the key has
	// no value): abi.ErrNotFound when expect is not nil and the key has no value, abi.ErrMismatch
	// when the value differs (or exists), abi.ErrLimit when the store is full.
	CAS(ctx context.Context, ns, key string, expect, value []byte, ttl time.Duration) abi.Status
	// Delete removes key, or returns abi.ErrNotFound.
	Delete(ctx context.Context, ns, key string) abi.Status
}

// Limits bound a Memory store.
type Limits struct {
	Entries int // live entries; default abi.MaxKVEntries
	Bytes   int // namespaces, keys and values together; default abi.MaxKVBytes
}

type id struct{ ns, key string }

type entry struct {
	value    []byte
	deadline time.Time // zero: none
}

func (e *entry) size(k id) int { return len(k.ns) + len(k.key) + len(e.value) }

// Memory is a Store in this process's memory. The zero value is not usable: use NewMemory.
type Memory struct {
	clock  func() time.Time
	limits Limits

	mu    sync.Mutex
	m     map[id]*entry
	bytes int
	exp   deadlines // entries with a deadline; may hold stale items (overwritten or deleted)
}

// NewMemory returns an empty store whose TTLs run on clock (nil: time.Now).
func NewMemory(clock func() time.Time, limits Limits) *Memory {
	if clock == nil {
		clock = time.Now
	}
	if limits.Entries <= 0 {
		limits.Entries = abi.MaxKVEntries
	}
	if limits.Bytes <= 0 {
		limits.Bytes = abi.MaxKVBytes
	}
	return &Memory{clock: clock, limits: limits, m: map[id]*entry{}}
}

// live returns the live entry of k, dropping it if it has expired. mu is held.
func (s *Memory) live(k id, now time.Time) *entry {
	e := s.m[k]
	if e != nil && !e.deadline.IsZero() && !now.Before(e.deadline) {
		s.remove(k, e)
		return nil
	}
	return e
}

func (s *Memory) remove(k id, e *entry) {
	s.bytes -= e.size(k)
	delete(s.m, k)
}

// sweep drops the entries that have expired by now. mu is held.
func (s *Memory) sweep(now time.Time) {
	for len(s.exp) > 0 && !now.Before(s.exp[0].deadline) {
		d := heap.Pop(&s.exp).(deadline)
		if e := s.m[d.k]; e != nil && e.deadline.Equal(d.deadline) {
			s.remove(d.k, e)
		}
	}
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, ns, key string) ([]byte, abi.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(id{ns, key}, s.clock())
	if e == nil {
		return nil, abi.ErrNotFound
	}
	return bytes.Clone(e.value), abi.OK
}

// Set implements Store.
func (s *Memory) Set(_ context.Context, ns, key string, value []byte, ttl time.Duration) abi.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.sweep(now)
	return s.put(id{ns, key}, s.live(id{ns, key}, now), value, ttl, now)
}

// CAS implements Store.
func (s *Memory) CAS(_ context.Context, ns, key string, expect, value []byte, ttl time.Duration) abi.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.sweep(now)
	k := id{ns, key}
	e := s.live(k, now)
	switch {
	case expect == nil && e != nil:
		return abi.ErrMismatch
	case expect != nil && e == nil:
		return abi.ErrNotFound
	case expect != nil && !bytes.Equal(e.value, expect):
		return abi.ErrMismatch
	}
	return s.put(k, e, value, ttl, now)
}

// put replaces old (nil: none) with value. mu is held.
func (s *Memory) put(k id, old *entry, value []byte, ttl time.Duration, now time.Time) abi.Status {
	n := &entry{value: bytes.Clone(value)}
	if n.value == nil {
		n.value = []byte{}
	}
	grow := n.size(k)
	entries := len(s.m) + 1
	if old != nil {
		grow -= old.size(k)
		entries--
	}
	if entries > s.limits.Entries || s.bytes+grow > s.limits.Bytes {
		return abi.ErrLimit
	}
	if ttl > 0 {
		n.deadline = now.Add(ttl)
		heap.Push(&s.exp, deadline{k, n.deadline})
		if len(s.exp) > 2*len(s.m)+64 {
			s.compact(k, n)
		}
	}
	s.m[k] = n
	s.bytes += grow
	return abi.OK
}

// compact rebuilds the deadline heap from the live entries (and the one being stored), so that
// keys set again and again with a TTL do not grow it without bound. mu is held.
func (s *Memory) compact(nk id, n *entry) {
	exp := deadlines{{nk, n.deadline}}
	for k, e := range s.m {
		if !e.deadline.IsZero() && k != nk {
			exp = append(exp, deadline{k, e.deadline})
		}
	}
	heap.Init(&exp)
	s.exp = exp
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, ns, key string) abi.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := id{ns, key}
	e := s.live(k, s.clock())
	if e == nil {
		return abi.ErrNotFound
	}
	s.remove(k, e)
	return abi.OK
}

// Len returns the number of entries and their bytes, expired entries not yet swept included.
func (s *Memory) Len() (entries, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m), s.bytes
}

// Snapshot returns a copy of the live values of namespace ns, by key (for tests and tools).
func (s *Memory) Snapshot(ns string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	out := map[string][]byte{}
	for k := range s.m {
		if k.ns == ns {
			if e := s.live(k, now); e != nil {
				out[k.key] = bytes.Clone(e.value)
			}
		}
	}
	return out
}

type deadline struct {
	k        id
	deadline time.Time
}

type deadlines []deadline

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlines) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlines) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlines) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
