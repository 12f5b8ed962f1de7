package plugintest

import (
	"context"
	"fmt"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/kv"
)

// Epoch is where a harness's clock starts. A harness never looks at the real clock: its timers
// fire only when [Harness.Advance] moves its clock past their time, so a test of a timer that is
// due in an hour runs at once and gives the same result every time.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// maxFires bounds the timers one Advance fires, so that a timer whose handler re-arms it with no
// delay fails the test instead of looping forever.
const maxFires = 1_000_000

// now is the harness's clock, which the plugin's timers are armed and fired by.
func (h *Harness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clock
}

// Now is the time on the harness's clock: [Epoch], plus what [Harness.Advance] added.
func (h *Harness) Now() time.Time { return h.now() }

// Advance moves the harness's clock forward by d and fires every timer that falls due on the
// way, in the order they fall due (a repeating timer as often as its interval fits in d), each
// with the clock at its time. Each on_timer, and everything it caused, is done before the next
// fires and before Advance returns. It returns how many timers fired.
func (h *Harness) Advance(d time.Duration) (int, error) {
	if d < 0 {
		return 0, fmt.Errorf("plugintest: Advance(%s): time does not go back", d)
	}
	h.ops.Lock()
	defer h.ops.Unlock()
	if err := h.checkOpen(); err != nil {
		return 0, err
	}
	target := h.now().Add(d)
	fired := 0
	for {
		due, ok := h.p.NextTimer()
		if !ok || due.After(target) {
			break
		}
		if fired >= maxFires {
			return fired, fmt.Errorf("plugintest: Advance(%s): %d timers fired and more are due: a timer that re-arms itself with no delay?", d, fired)
		}
		h.mu.Lock()
		if due.After(h.clock) {
			h.clock = due
		}
		h.mu.Unlock()
		fired += h.p.FireTimers()
		if err := h.settle(); err != nil {
			return fired, err
		}
	}
	h.mu.Lock()
	h.clock = target
	h.mu.Unlock()
	return fired, nil
}

// Timer is an armed timer of the plugin.
type Timer struct {
	Conn  uint64        // the connection it belongs to; 0 for a plugin timer
	Name  string        // its name
	In    time.Duration // how long until it fires, by the harness's clock
	Every time.Duration // its interval; 0 for a timer that fires once
}

// Timers returns the plugin's armed timers, the next to fire first.
func (h *Harness) Timers() []Timer {
	now := h.now()
	var out []Timer
	for _, t := range h.p.Timers() {
		out = append(out, Timer{Conn: t.Conn, Name: t.Name, In: t.Due.Sub(now), Every: t.Every})
	}
	return out
}

// Attachment returns the connection's attachment, as the host keeps it for the plugin: nil when
// it has none (or the connection has ended).
func (c *Conn) Attachment() []byte { return c.h.p.Attachment(c.id) }

// KV returns the live values of the plugin's shared store (kv_get, kv_set, kv_cas, kv_delete) in
// namespace ("" for the default one), by key: what every instance of the plugin sees. Values
// whose TTL has run out by the harness's clock are gone, so [Harness.Advance] expires them.
func (h *Harness) KV(namespace string) map[string][]byte { return h.kv.Snapshot(namespace) }

// SetKV stores value under key in namespace of the plugin's shared store, as kv_set does (ttl 0:
// no expiry), to give a test a starting state. It returns the ABI status as an error
// (abi.ErrLimit when the store is full); a key that kv_set would refuse is refused too.
func (h *Harness) SetKV(namespace, key string, value []byte, ttl time.Duration) error {
	if !kv.ValidKey([]byte(key)) {
		return fmt.Errorf("plugintest: invalid key %q: %s", key, abi.ErrInvalidArgument)
	}
	if len(value) > abi.MaxKVValue {
		return fmt.Errorf("plugintest: value of %q: %s", key, abi.ErrTooLarge)
	}
	if st := h.kv.Set(context.Background(), namespace, key, value, ttl); st != abi.OK {
		return fmt.Errorf("plugintest: set %q: %s", key, st)
	}
	return nil
}
