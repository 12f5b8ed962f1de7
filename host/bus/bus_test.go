package bus

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/plugin"
)

func natsConn(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(natstest.Start(t, nil).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestSubjectMapping(t *testing.T) {
	b := &Bus{prefix: "wasmsock.bus"}
	for _, p := range []string{"global.>", "audit.*.log"} {
		b.shared = append(b.shared, strings.Split(p, "."))
	}
	for _, tc := range []struct {
		ns, subject, want string
		shared            bool
	}{
		{"acme", "orders.created", "wasmsock.bus.acme.orders.created", false},
		{"", "orders", "wasmsock.bus.%.orders", false},
		{"a.b", ">", "wasmsock.bus.a%2Eb.>", false},
		{"acme", "global.news", "global.news", true},
		{"acme", "global.>", "global.>", true},
		{"acme", "global", "wasmsock.bus.acme.global", false}, // '>' needs one more token
		{"acme", ">", "wasmsock.bus.acme.>", false},           // wider than the grant
		{"acme", "global.*", "global.*", true},
		{"acme", "audit.x.log", "audit.x.log", true},
		{"acme", "audit.*.log", "audit.*.log", true},
		{"acme", "audit.>", "wasmsock.bus.acme.audit.>", false},
		{"acme", "audit.x.log.more", "wasmsock.bus.acme.audit.x.log.more", false},
		{"acme", "*.x.log", "wasmsock.bus.acme.*.x.log", false},
	} {
		got, shared := b.Subject(tc.ns, tc.subject)
		if got != tc.want || shared != tc.shared {
			t.Errorf("Subject(%q, %q) = %q %v, want %q %v", tc.ns, tc.subject, got, shared, tc.want, tc.shared)
		}
	}
}

// TestPublishQueueBound: a full queue refuses at once with ErrBusy and counts it; it never
// waits for NATS.
func TestPublishQueueBound(t *testing.T) {
	nc := natsConn(t)
	// No publisher goroutine: nothing drains the queue.
	b := &Bus{nc: nc, prefix: "p", out: make(chan *nats.Msg, 2), maxBytes: 1 << 20}
	for i, want := range []abi.Status{abi.OK, abi.OK, abi.ErrBusy, abi.ErrBusy} {
		if st := b.Publish("ns", "s", []byte("x")); st != want {
			t.Fatalf("publish %d: %v, want %v", i, st, want)
		}
	}
	b2 := &Bus{nc: nc, prefix: "p", out: make(chan *nats.Msg, 100), maxBytes: 10}
	if st := b2.Publish("ns", "s", make([]byte, 8)); st != abi.OK {
		t.Fatal(st)
	}
	if st := b2.Publish("ns", "s", make([]byte, 8)); st != abi.ErrBusy {
		t.Fatalf("over the byte bound: %v", st)
	}
	if b.stats.Dropped.Load() != 2 || b2.stats.Dropped.Load() != 1 {
		t.Fatalf("dropped %d, %d", b.stats.Dropped.Load(), b2.stats.Dropped.Load())
	}
	if st := b.Publish("ns", "s", make([]byte, nc.MaxPayload()+1)); st != abi.ErrTooLarge {
		t.Fatalf("over max payload: %v", st)
	}
	nc.Close()
	if st := b2.Publish("ns", "s", nil); st != abi.ErrUnavailable {
		t.Fatalf("closed connection: %v", st)
	}
}

// TestPublisherKeepsOrderAndCopies: what the guest's memory held at the call is what goes out,
// in call order.
func TestPublisherKeepsOrderAndCopies(t *testing.T) {
	nc := natsConn(t)
	b, err := New(nc, Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ch := make(chan *nats.Msg, 100)
	sub, _ := nc.ChanSubscribe("p.%.s", ch)
	defer sub.Unsubscribe()
	_ = nc.Flush()
	buf := []byte("0")
	for i := 0; i < 10; i++ {
		buf[0] = byte('0' + i)
		if st := b.Publish("", "s", buf); st != abi.OK {
			t.Fatal(st)
		}
	}
	for i := 0; i < 10; i++ {
		select {
		case m := <-ch:
			if string(m.Data) != string(rune('0'+i)) {
				t.Fatalf("message %d is %q", i, m.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("timeout")
		}
	}
}

func TestRequestEndsOnce(t *testing.T) {
	nc := natsConn(t)
	b, err := New(nc, Options{Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan plugin.BusMsg, 4)
	cancel, st := b.Request("", "nobody", nil, time.Second, func(m plugin.BusMsg) { got <- m })
	if st != abi.OK {
		t.Fatal(st)
	}
	m := <-got
	if m.Kind != abi.EventError || string(m.Data) != "no responders" || m.Subject != "nobody" {
		t.Fatalf("got %+v", m)
	}
	cancel() // after the end: nothing happens
	// A cancelled request never delivers.
	sub, _ := nc.Subscribe("p.%.slow", func(*nats.Msg) {})
	defer sub.Unsubscribe()
	_ = nc.Flush()
	cancel, _ = b.Request("", "slow", nil, 20*time.Millisecond, func(m plugin.BusMsg) { got <- m })
	cancel()
	b.mu.Lock()
	n := len(b.pending)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d requests still pending", n)
	}
}
