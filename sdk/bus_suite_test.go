// The behaviour suite's bus scenario: the relay example of every SDK (testdata/plugins/relay
// for Go, the reference; sdk/LANG/examples/relay for the others) goes through the same
// conversation with the event bus, served by a real host on a real NATS server (started in this
// process), with a backend on its own NATS connection. Each language's transcript must equal
// Go's, and every step is also checked against what ABI.md promises.
package sdk_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// relayModules are the bus examples, by language; every language of impls has one.
var relayModules = map[string]string{
	"go":             "../testdata/plugins/relay/relay.wasm",
	"rust":           "rust/examples/relay/relay.wasm",
	"c":              "c/examples/relay/relay.wasm",
	"assemblyscript": "assemblyscript/examples/relay/relay.wasm",
}

func TestSuiteBus(t *testing.T) {
	ns := natstest.Start(t, nil)
	natsURL := ns.ClientURL()
	be, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	// The backend: a service that upper-cases, one that fails, and a recorder of publications.
	_, _ = be.Subscribe("wasmsock.bus.*.svc.upper", func(m *nats.Msg) { _ = m.Respond([]byte(strings.ToUpper(string(m.Data)))) })
	_, _ = be.Subscribe("wasmsock.bus.*.svc.fail", func(m *nats.Msg) {
		r := nats.NewMsg(m.Reply)
		r.Header.Set("Nats-Service-Error-Code", "400")
		r.Header.Set("Nats-Service-Error", "no such order")
		_ = m.RespondMsg(r)
	})
	published := make(chan *nats.Msg, 16)
	if _, err := be.ChanSubscribe("wasmsock.bus.*.out.>", published); err != nil {
		t.Fatal(err)
	}
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	var reference []string
	for _, im := range impls {
		path, ok := relayModules[im.lang]
		if !ok {
			t.Fatalf("no relay example for %s", im.lang)
		}
		t.Run(im.lang, func(t *testing.T) {
			got := busScenario(t, ns, be, published, path)
			if reference == nil {
				reference = got
				return
			}
			if diff := diffLines(reference, got); diff != "" {
				t.Errorf("%s's transcript differs from %s's (- %s, + %s):\n%s", im.lang, impls[0].lang, impls[0].lang, im.lang, diff)
			}
		})
	}
}

// busScenario plays the conversation with one relay module and returns the transcript.
func busScenario(t *testing.T, ns *natsserver.Server, be *nats.Conn, published chan *nats.Msg, module string) []string {
	natsURL := ns.ClientURL()
	abs, err := filepath.Abs(module)
	if err != nil {
		t.Fatal(err)
	}
	// A generous call_timeout: start-up runs within it, and a Go module's under -race on a loaded
	// machine can take longer than the default 1s.
	src := fmt.Sprintf("listen = \"127.0.0.1:0\"\n[log]\nlevel = \"error\"\n[cluster]\nurls = [%q]\n[plugin.relay]\nmodule = %q\ncall_timeout = \"30s\"\n[[route]]\npath = \"/relay\"\nplugin = \"relay\"\nnamespace_from = \"query:ns\"\n", natsURL, abs)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "host.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, base := hosttest.Serve(t, cfg, nil)
	base += "/relay"
	var tr []string
	read := func(name string, c *wstest.Client) string {
		t.Helper()
		op, p := c.Read()
		if op != ws.OpText {
			t.Fatalf("%s got %v", name, op)
		}
		tr = append(tr, name+" < "+string(p))
		return string(p)
	}
	say := func(name string, c *wstest.Client, cmd, want string) {
		t.Helper()
		tr = append(tr, name+" > "+cmd)
		c.Send(ws.OpText, []byte(cmd))
		if got := read(name, c); want != "" && got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
	backendPub := func(subject, data string) {
		t.Helper()
		tr = append(tr, "backend publishes "+subject+" "+data)
		if err := be.Publish(subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	acme := wstest.Dial(t, base+"?ns=acme", nil)
	globex := wstest.Dial(t, base+"?ns=globex", nil)

	say("acme", acme, "sub orders.>", "sub 1")
	say("globex", globex, "sub orders.>", "sub 2")
	waitInterest(t, ns, "wasmsock.bus.acme.orders.x", 1)
	waitInterest(t, ns, "wasmsock.bus.globex.orders.x", 1)
	backendPub("wasmsock.bus.globex.orders.new", "for globex")
	backendPub("wasmsock.bus.acme.orders.new", "for acme")
	if got := read("globex", globex); got != "event 2 1 orders.new for globex" {
		t.Errorf("globex got %q", got)
	}
	if got := read("acme", acme); got != "event 1 1 orders.new for acme" {
		t.Errorf("acme got %q (another namespace's message?)", got)
	}
	say("acme", acme, "pub out.paid 42 EUR", "ok")
	select {
	case m := <-published:
		tr = append(tr, "backend got "+m.Subject+" "+string(m.Data))
		if m.Subject != "wasmsock.bus.acme.out.paid" || string(m.Data) != "42 EUR" {
			t.Errorf("backend got %s %q", m.Subject, m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backend got nothing")
	}
	say("acme", acme, "req svc.upper hello", "req 3")
	if got := read("acme", acme); got != "event 3 2 svc.upper HELLO" {
		t.Errorf("reply: %q", got)
	}
	say("acme", acme, "req svc.fail x", "req 4")
	if got := read("acme", acme); got != "event 4 3 svc.fail no such order" {
		t.Errorf("error answer: %q", got)
	}
	say("acme", acme, "req svc.nobody x", "req 5")
	if got := read("acme", acme); got != "event 5 3 svc.nobody no responders" {
		t.Errorf("no responders: %q", got)
	}
	say("acme", acme, "pub orders.* x", "error -6")
	say("acme", acme, "pub  x", "error -6")
	say("acme", acme, "sub a.>.b", "error -6")
	say("globex", globex, "unsub 1", "error -5") // acme's subscription, another namespace
	say("acme", acme, "unsub 1", "ok")
	say("acme", acme, "unsub 1", "error -5")
	// acme's subscription is gone: a message for acme reaches nobody; globex's marker arrives.
	backendPub("wasmsock.bus.acme.orders.late", "nobody")
	backendPub("wasmsock.bus.globex.orders.marker", "m")
	if got := read("globex", globex); got != "event 2 1 orders.marker m" {
		t.Errorf("globex got %q", got)
	}
	say("acme", acme, "hello", "error unknown")
	return tr
}

// waitInterest waits until at least n subscriptions on the NATS server match subject. subscribe
// returns once the server has the subscription (abi/ABI.md, "Bus"), so after the plugin's answer
// this holds at once; a publication before it would reach nobody.
func waitInterest(t *testing.T, ns *natsserver.Server, subject string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ns.GlobalAccount().Interest(subject) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions match %s, want %d", ns.GlobalAccount().Interest(subject), subject, n)
		}
		time.Sleep(time.Millisecond)
	}
}
