package wasmsock

import (
	"math"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// KV is the plugin's shared key-value store (abi/ABI.md, "Shared state"): a small store the
// host keeps for the plugin, shared by all its instances and scoped by namespace (a key is a key
// of the namespace of the event being handled). Keys are 1 to abi.MaxKVKey (128) bytes of
// A-Z a-z 0-9 - _ / = and ., not starting or ending with . ([ErrInvalidArgument] otherwise);
// values at most abi.MaxKVValue (64 KiB, [ErrTooLarge]). A plugin's store holds at most
// abi.MaxKVEntries entries and abi.MaxKVBytes bytes: a write beyond returns [ErrLimit]. In a
// cluster, each node has its own store (DRAFT).
//
//	n := 0
//	for {
//		old, err := wasmsock.KV.Get("visits")
//		if err == nil {
//			n, _ = strconv.Atoi(string(old))
//		} else if !errors.Is(err, wasmsock.ErrNotFound) {
//			return err
//		}
//		next := []byte(strconv.Itoa(n + 1))
//		if err := wasmsock.KV.CAS("visits", old, next, 0); !errors.Is(err, wasmsock.ErrMismatch) {
//			return err // nil: stored; a mismatch means another instance won: read again
//		}
//	}
var KV Store

// Store is the type of [KV].
type Store struct{}

// Get returns the value of key: [ErrNotFound] when it has none (never set, deleted or expired).
func (Store) Get(key string) ([]byte, error) {
	var small [256]byte
	buf := small[:]
	for range 4 {
		n := hostKVGet(key, buf)
		if n < 0 {
			return nil, statusErr(n)
		}
		if int(n) <= len(buf) {
			return append([]byte{}, buf[:n]...), nil
		}
		buf = make([]byte, n)
	}
	return nil, ErrTooLarge
}

// Set stores value under key; it expires after ttl (0: never; rounded up to a millisecond).
func (Store) Set(key string, value []byte, ttl time.Duration) error {
	ms, err := ttlMS(ttl)
	if err != nil {
		return err
	}
	return statusErr(hostKVSet(key, value, ms))
}

// CAS stores value under key (expiring after ttl, as [Store.Set]) only if the key's value is
// expect: with expect nil (not an empty slice), only if the key has no value. [ErrMismatch] when
// the value differs (or exists), [ErrNotFound] when expect is not nil and the key has no value;
// nothing is stored then.
func (Store) CAS(key string, expect, value []byte, ttl time.Duration) error {
	ms, err := ttlMS(ttl)
	if err != nil {
		return err
	}
	return statusErr(hostKVCAS(key, expect, value, ms))
}

// Delete removes key: [ErrNotFound] when it had no value.
func (Store) Delete(key string) error { return statusErr(hostKVDelete(key)) }

// ttlMS converts a TTL to the ABI's milliseconds, rounding up.
func ttlMS(ttl time.Duration) (int32, error) {
	if ttl < 0 || ttl > time.Duration(math.MaxInt32)*time.Millisecond {
		return 0, statusErr(int32(abi.ErrInvalidArgument))
	}
	return int32((ttl + time.Millisecond - 1) / time.Millisecond), nil
}
