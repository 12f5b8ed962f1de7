package host_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestBusSubscribeInPlace (abi/ABI.md, "Bus"): when subscribe returns OK, the subscription is in
// place on the NATS server, so that a message a backend publishes afterwards reaches it. The
// host's NATS connection goes through a proxy that delays what the host sends by 200ms: a SUB
// still on its way when the plugin hears OK would miss the backend's publication. No wait for
// interest here: the plugin's OK is the only signal.
func TestBusSubscribeInPlace(t *testing.T) {
	ns := natstest.Start(t, nil)
	be := natsConn(t, ns.ClientURL())
	proxied := delayProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"), 200*time.Millisecond)
	_, base := startBusHost(t, "nats://"+proxied, probeBusConfig(t, ""))
	c := wstest.Dial(t, base+"/ws?ns=acme", nil)
	for i, subject := range []string{"orders.>", "orders.*.paid", "audit"} {
		r := ask(t, c, "sub "+subject)
		id, ok := strings.CutPrefix(r, "sub ")
		if !ok {
			t.Fatalf("sub %s: %s", subject, r)
		}
		full := "wasmsock.bus.acme." + strings.NewReplacer(">", "x", "*", "x").Replace(subject)
		if n := ns.GlobalAccount().Interest(full); n < 1 {
			t.Fatalf("subscribe %d returned OK before the server had the subscription (%d match %s)", i, n, full)
		}
		if err := be.Publish(full, []byte("after-ok")); err != nil {
			t.Fatal(err)
		}
		want := " message " + strings.TrimPrefix(full, "wasmsock.bus.acme.") + " after-ok"
		if got := text(t, c); !strings.HasSuffix(got, want) {
			t.Fatalf("after subscribe %s: got %q, want ...%q", subject, got, want)
		}
		if r := ask(t, c, "unsub "+id); r != "ok" {
			t.Fatalf("unsub: %s", r)
		}
	}
}

// delayProxy forwards TCP connections to target, holding back every byte a client sends for
// delay (what the server sends comes back at once), and returns its address.
func delayProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
			type chunk struct {
				at time.Time
				b  []byte
			}
			chunks := make(chan chunk, 4096)
			go func() {
				defer s.Close()
				for ch := range chunks {
					time.Sleep(time.Until(ch.at)) // the link's latency
					if _, err := s.Write(ch.b); err != nil {
						return
					}
				}
			}()
			go func() {
				defer close(chunks)
				for {
					buf := make([]byte, 32<<10)
					n, err := c.Read(buf)
					if n > 0 {
						chunks <- chunk{time.Now().Add(delay), buf[:n]}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
