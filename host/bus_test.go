package host_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// probeBusConfig serves the probe on /ws with the namespace from ?ns=, and extra keys in its
// plugin table.
func probeBusConfig(t testing.TB, pluginExtra string) string {
	abs, err := filepath.Abs(probe)
	if err != nil {
		t.Fatal(err)
	}
	// A generous call_timeout: _initialize of a Go module can take long on a loaded machine.
	return fmt.Sprintf("[plugin.p]\nmodule = %q\ncall_timeout = \"10s\"\n%s\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\nnamespace_from = \"query:ns\"\n", abs, pluginExtra)
}

// ask sends a probe command and returns its reply.
func ask(t *testing.T, c *wstest.Client, cmd string) string {
	t.Helper()
	c.Send(ws.OpText, []byte(cmd))
	return text(t, c)
}

func text(t *testing.T, c *wstest.Client) string {
	t.Helper()
	op, p := c.Read()
	if op != ws.OpText {
		t.Fatalf("got %v, want text", op)
	}
	return string(p)
}

// flushed waits until the NATS server has handled everything nc sent (its subscriptions
// included), so that a publication after it reaches them.
func flushed(t *testing.T, nc *nats.Conn) {
	t.Helper()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestBusTenancy(t *testing.T) {
	ns := natstest.Start(t, nil)
	natsURL := ns.ClientURL()
	be := natsConn(t, natsURL)
	_, base := startBusHost(t, natsURL, probeBusConfig(t, "[plugin.p.bus]\nshared = [\"global.>\"]"))
	acme := wstest.Dial(t, base+"/ws?ns=acme", nil)
	acme2 := wstest.Dial(t, base+"/ws?ns=acme", nil)
	globex := wstest.Dial(t, base+"/ws?ns=globex", nil)
	acme2ID, globexID := ask(t, acme2, "id"), ask(t, globex, "id")

	// Both subscribe to everything they can see; each sees its own namespace only.
	subs := map[*wstest.Client]string{}
	for _, c := range []*wstest.Client{acme, globex} {
		r := ask(t, c, "sub >")
		if !strings.HasPrefix(r, "sub ") {
			t.Fatalf("sub: %s", r)
		}
		subs[c] = strings.TrimPrefix(r, "sub ")
		if r := ask(t, c, "sub global.news"); !strings.HasPrefix(r, "sub ") {
			t.Fatalf("sub shared: %s", r)
		}
	}
	waitInterest(t, ns, "wasmsock.bus.acme.x", 1)
	waitInterest(t, ns, "wasmsock.bus.globex.x", 1)
	waitInterest(t, ns, "global.news", 2)
	seen := make(chan *nats.Msg, 10)
	if _, err := be.ChanSubscribe("wasmsock.bus.*.orders.paid", seen); err != nil {
		t.Fatal(err)
	}
	flushed(t, be)
	// A backend publishing into globex reaches globex's plugin only; acme's gets the next one,
	// published after, first.
	_ = be.Publish("wasmsock.bus.globex.orders.new", []byte("for globex"))
	_ = be.Publish("wasmsock.bus.acme.orders.new", []byte("for acme"))
	if got := text(t, globex); !strings.HasSuffix(got, " message orders.new for globex") {
		t.Fatalf("globex got %q", got)
	}
	if got := text(t, acme); !strings.HasSuffix(got, " message orders.new for acme") {
		t.Fatalf("acme got %q (a message of another namespace?)", got)
	}
	// A plugin's publication goes into its own namespace's subject.
	if r := ask(t, acme, "pub orders.paid 42"); r != "ok" {
		t.Fatalf("pub: %s", r)
	}
	select {
	case m := <-seen:
		if m.Subject != "wasmsock.bus.acme.orders.paid" || string(m.Data) != "42" {
			t.Fatalf("backend got %s %q", m.Subject, m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backend got nothing")
	}
	// acme's own subscription gets it; globex's does not (its next is the marker below).
	if got := text(t, acme); !strings.HasSuffix(got, " message orders.paid 42") {
		t.Fatalf("acme got %q", got)
	}
	// A granted (shared) subject crosses namespaces, as the operator said, and keeps its name.
	if r := ask(t, acme, "pub global.news shared"); r != "ok" {
		t.Fatalf("pub shared: %s", r)
	}
	for _, c := range []*wstest.Client{acme, globex} {
		if got := text(t, c); !strings.HasSuffix(got, " message global.news shared") {
			t.Fatalf("shared subject: got %q", got)
		}
	}
	// During on_event the plugin acts in the subscription's namespace: it reaches acme's other
	// connection, but a connection of globex is no connection at all.
	_ = be.Publish("wasmsock.bus.acme.orders.x", []byte("tell "+acme2ID+" from the bus"))
	if got := text(t, acme); got != "told "+acme2ID+" ok" {
		t.Fatalf("tell within the namespace: %q", got)
	}
	if got := text(t, acme2); got != "from the bus" {
		t.Fatalf("acme2 got %q", got)
	}
	_ = be.Publish("wasmsock.bus.acme.orders.x", []byte("tell "+globexID+" leak"))
	if got := text(t, acme); got != "told "+globexID+" ERR -2" {
		t.Fatalf("tell across namespaces: %q", got)
	}
	// globex saw none of acme's subjects: its next message is this marker.
	_ = be.Publish("wasmsock.bus.globex.orders.marker", []byte("m"))
	if got := text(t, globex); !strings.HasSuffix(got, " message orders.marker m") {
		t.Fatalf("globex got %q", got)
	}
	// Unsubscribing needs the namespace that subscribed: globex cannot end acme's subscription,
	// which keeps delivering.
	if r := ask(t, globex, "unsub "+subs[acme]); r != "ERR -5" {
		t.Fatalf("globex ended acme's subscription: %s", r)
	}
	_ = be.Publish("wasmsock.bus.acme.orders.after", []byte("a"))
	if got := text(t, acme); !strings.HasSuffix(got, " message orders.after a") {
		t.Fatalf("acme got %q", got)
	}
	if r := ask(t, acme, "unsub "+subs[acme]); r != "ok" {
		t.Fatalf("acme unsub: %s", r)
	}
}

func TestBusBadInput(t *testing.T) {
	natsURL := natstest.Start(t, &natsserver.Options{MaxPayload: 4096}).ClientURL()
	_, base := startBusHost(t, natsURL, probeBusConfig(t, ""))
	c := wstest.Dial(t, base+"/ws?ns=acme", nil)
	for _, tc := range []struct{ cmd, want string }{
		{"pub  x", "ERR -6"},                                    // empty subject
		{"pub a.* x", "ERR -6"},                                 // wildcard in a publish
		{"pub a.> x", "ERR -6"},                                 //
		{"pub a..b x", "ERR -6"},                                // empty token
		{"pub .a x", "ERR -6"},                                  //
		{"sub a.>.b", "ERR -6"},                                 // '>' not last
		{"sub a* ", "ERR -6"},                                   // a wildcard inside a token
		{"sub ok bad.queue", "ERR -6"},                          // a queue name with a dot
		{"req a.* 100 x", "ERR -6"},                             // wildcard in a request
		{"req ok 60001 x", "ERR -6"},                            // timeout over the longest
		{"unsub 12345", "ERR -5"},                               // no such subscription
		{"pub " + strings.Repeat("s", 257) + " x", "ERR -6"},    // too long
		{"pub big " + strings.Repeat("x", 5000), "ERR -10"},     // over NATS's max payload
		{"req big 100 " + strings.Repeat("x", 5000), "ERR -10"}, //
		{"pub " + strings.Repeat("s", 256) + " x", "ok"},        // the longest
	} {
		if got := ask(t, c, tc.cmd); got != tc.want {
			t.Errorf("%.40s: got %q, want %q", tc.cmd, got, tc.want)
		}
	}
	// The connection and the plugin are fine after all that.
	if got := ask(t, c, "echo still here"); got != "still here" {
		t.Fatalf("echo: %q", got)
	}
}

func TestBusOffWithoutNATS(t *testing.T) {
	srv, url := startServer(t, probe, "", "")
	c := wstest.Dial(t, url, nil)
	for _, cmd := range []string{"pub a x", "sub a", "req a 100 x"} {
		if got := ask(t, c, cmd); got != "ERR -11" {
			t.Errorf("%s without a bus: %q, want ERR -11 (unavailable)", cmd, got)
		}
	}
	if st := srv.Status().Plugins[0].Bus.State; !strings.HasPrefix(st, "off") {
		t.Errorf("bus state %q", st)
	}
}

func TestBusRequest(t *testing.T) {
	natsURL := natstest.Start(t, nil).ClientURL()
	be := natsConn(t, natsURL)
	_, _ = be.Subscribe("wasmsock.bus.acme.svc.upper", func(m *nats.Msg) { _ = m.Respond([]byte(strings.ToUpper(string(m.Data)))) })
	_, _ = be.Subscribe("wasmsock.bus.acme.svc.fail", func(m *nats.Msg) {
		r := nats.NewMsg(m.Reply)
		r.Header.Set("Nats-Service-Error-Code", "400")
		r.Header.Set("Nats-Service-Error", "bad order")
		_ = m.RespondMsg(r)
	})
	_, _ = be.Subscribe("wasmsock.bus.acme.svc.silent", func(*nats.Msg) {})
	flushed(t, be)
	_, base := startBusHost(t, natsURL, probeBusConfig(t, ""))
	c := wstest.Dial(t, base+"/ws?ns=acme", nil)
	for _, tc := range []struct{ cmd, want string }{
		{"req svc.upper 2000 hello", "reply svc.upper HELLO"},
		{"req svc.fail 2000 x", "error svc.fail bad order"},
		{"req svc.nobody 2000 x", "error svc.nobody no responders"},
		{"req svc.silent 50 x", "error svc.silent timeout"},
	} {
		r := ask(t, c, tc.cmd)
		id, ok := strings.CutPrefix(r, "req ")
		if !ok {
			t.Fatalf("%s: %q", tc.cmd, r)
		}
		if got := text(t, c); got != "event "+id+" "+tc.want {
			t.Errorf("%s: got %q, want %q", tc.cmd, got, "event "+id+" "+tc.want)
		}
	}
}

// TestBusBackpressure floods a plugin's subscription and fills its publish queue: the host never
// blocks, every message is either handled or counted as dropped, and the plugin is told ErrBusy.
func TestBusBackpressure(t *testing.T) {
	ns := natstest.Start(t, nil)
	natsURL := ns.ClientURL()
	be := natsConn(t, natsURL)
	srv, base := startBusHost(t, natsURL, probeBusConfig(t, "[plugin.p.bus]\nevent_queue = 4\nqueue_bytes = 64"))
	c := wstest.Dial(t, base+"/ws?ns=acme", nil)
	if r := ask(t, c, "sub flood"); r != "sub 1" {
		t.Fatalf("sub: %s", r)
	}
	waitInterest(t, ns, "wasmsock.bus.acme.flood", 1)
	const n = 2000
	for i := 0; i < n; i++ {
		_ = be.Publish("wasmsock.bus.acme.flood", []byte("x"))
	}
	flushed(t, be)
	status := func() host.BusStatus { return srv.Status().Plugins[0].Bus }
	received := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := status()
		if int64(received) == st.Events && st.Events+st.EventsDropped >= n {
			if st.Events+st.EventsDropped != n || st.Received != n {
				t.Fatalf("received %d from NATS, handled %d + dropped %d, want %d", st.Received, st.Events, st.EventsDropped, n)
			}
			if st.EventsDropped == 0 {
				t.Logf("no event was dropped (the plugin kept up)")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v after %d events read", st, received)
		}
		if f, err := c.ReadFrame(100 * time.Millisecond); err == nil && f.Op == ws.OpText {
			received++
		}
	}
	// A publish queue of 64 bytes takes one 60-byte message at a time: a burst gets ErrBusy for
	// some, and every refusal is counted.
	r := ask(t, c, "pubn 500 out "+strings.Repeat("p", 60))
	var okN, busy int
	if _, err := fmt.Sscanf(r, "ok %d busy %d", &okN, &busy); err != nil || okN+busy != 500 || okN == 0 {
		t.Fatalf("pubn: %q", r)
	}
	if got := status().PublishDropped; got != int64(busy) {
		t.Fatalf("publish_dropped %d, want %d", got, busy)
	}
	if got := ask(t, c, "echo alive"); got != "alive" {
		t.Fatalf("echo: %q", got)
	}
	_ = http.StatusOK
	_ = json.Valid
}

// TestBusSingleNodeEmbedded: one node with [cluster] embedded = true has a bus with nothing else
// running: a plugin's subscription gets what a plugin publishes, within its namespace.
func TestBusSingleNodeEmbedded(t *testing.T) {
	_, url := startConfigTop(t, "[cluster]\nembedded = true\nembedded_listen = \"127.0.0.1:0\"", probe,
		"call_timeout = \"10s\"\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\nnamespace_from = \"query:ns\"\n")
	// subscribe returns once the embedded server has the subscription: one publication after it
	// reaches it.
	publishOnce := func(pub, sub *wstest.Client, cmd string) string {
		t.Helper()
		if r := ask(t, pub, cmd); r != "ok" {
			t.Fatalf("%s: %s", cmd, r)
		}
		return text(t, sub)
	}
	acme, acmePub := wstest.Dial(t, url+"/ws?ns=acme", nil), wstest.Dial(t, url+"/ws?ns=acme", nil)
	globex, globexPub := wstest.Dial(t, url+"/ws?ns=globex", nil), wstest.Dial(t, url+"/ws?ns=globex", nil)
	if r := ask(t, acme, "sub news.>"); r != "sub 1" {
		t.Fatalf("sub: %s", r)
	}
	if r := ask(t, globex, "sub news.>"); r != "sub 2" {
		t.Fatalf("sub: %s", r)
	}
	if got := publishOnce(acmePub, acme, "pub news.today sunny"); got != "event 1 message news.today sunny" {
		t.Fatalf("acme got %q", got)
	}
	// globex's subscription got none of acme's publications: its first message is globex's.
	if got := publishOnce(globexPub, globex, "pub news.globex g"); got != "event 2 message news.globex g" {
		t.Fatalf("globex got %q", got)
	}
}
