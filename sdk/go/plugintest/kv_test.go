package plugintest_test

import (
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

// TestKVByTheHarnessClock drives the shared store of a real module with two instances: both see
// a value, a test inspects and seeds the store per namespace, and TTLs expire when Advance
// moves the harness's clock, without waiting.
func TestKVByTheHarnessClock(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{Instances: 2})
	a := connect(t, h, plugintest.ConnInfo{Namespace: "t1"})
	b := connect(t, h, plugintest.ConnInfo{Namespace: "t1"}) // the next id: the other instance
	o := connect(t, h, plugintest.ConnInfo{Namespace: "t2"})

	if got := say(t, a, "kvset session 60000 abc"); got != "ok" {
		t.Fatalf("set: %q", got)
	}
	if got := say(t, b, "kvget session"); got != "kv abc" {
		t.Errorf("the other instance: %q", got)
	}
	if got := say(t, o, "kvget session"); got != "ERR -5" {
		t.Errorf("another namespace: %q", got)
	}
	if got := h.KV("t1"); len(got) != 1 || string(got["session"]) != "abc" {
		t.Errorf("KV(t1) = %q", got)
	}
	if got := h.KV("t2"); len(got) != 0 {
		t.Errorf("KV(t2) = %q", got)
	}
	if err := h.SetKV("t2", "seeded", []byte("s"), 0); err != nil {
		t.Fatal(err)
	}
	if got := say(t, o, "kvget seeded"); got != "kv s" {
		t.Errorf("a seeded value: %q", got)
	}
	if err := h.SetKV("t2", "bad key", nil, 0); err == nil {
		t.Error("SetKV took an invalid key")
	}

	advance(t, h, 59999*time.Millisecond)
	if got := say(t, b, "kvget session"); got != "kv abc" {
		t.Errorf("1ms before the TTL: %q", got)
	}
	advance(t, h, time.Millisecond)
	if got := say(t, b, "kvget session"); got != "ERR -5" {
		t.Errorf("at the TTL: %q", got)
	}
	if got := h.KV("t1"); len(got) != 0 {
		t.Errorf("KV(t1) after expiry = %q", got)
	}
	if got := say(t, a, "kvcas session - again"); got != "ok" {
		t.Errorf("create after expiry: %q", got)
	}
}
