package host_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host/cluster/natstest"
)

// TestLeastPrivilegeBackendAccount runs the README's acme-backend account against a real NATS
// server: with it, a backend answers acme's bridge events and commands acme's connections, and
// NATS itself refuses it everything of globex.
func TestLeastPrivilegeBackendAccount(t *testing.T) {
	ns := natstest.Start(t, &natsserver.Options{Users: []*natsserver.User{
		{Username: "wasmsock", Password: "node-secret", Permissions: &natsserver.Permissions{
			Publish:   &natsserver.SubjectPermission{Allow: []string{"wasmsock.>", "_INBOX.>"}},
			Subscribe: &natsserver.SubjectPermission{Allow: []string{"wasmsock.>", "_INBOX.>"}},
		}},
		{Username: "acme-backend", Password: "acme-secret", Permissions: &natsserver.Permissions{
			Publish:   &natsserver.SubjectPermission{Allow: []string{"wasmsock.api.ns.acme.>", "wasmsock.bus.acme.>"}},
			Subscribe: &natsserver.SubjectPermission{Allow: []string{"wasmsock.bus.acme.>", "_INBOX.acme.>"}},
			Response:  &natsserver.ResponsePermission{MaxMsgs: 1},
		}},
	}})
	u, _ := url.Parse(ns.ClientURL())
	u.User = url.UserPassword("wasmsock", "node-secret")
	_, base := startBusHost(t, u.String(), bridgeConfig(t))

	violations := make(chan string, 10)
	be, err := nats.Connect(ns.ClientURL(), nats.UserInfo("acme-backend", "acme-secret"), nats.CustomInboxPrefix("_INBOX.acme"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	expectViolation := func(what string) {
		t.Helper()
		select {
		case v := <-violations:
			if !strings.Contains(v, "Permissions Violation") || !strings.Contains(v, what) {
				t.Fatalf("got %q, want a permissions violation for %s", v, what)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("NATS let acme-backend use %s", what)
		}
	}

	// acme's connection events: the backend answers them.
	if _, err := be.Subscribe("wasmsock.bus.acme.socket:connection", func(m *nats.Msg) { _ = m.Respond([]byte(`{"ok":1}`)) }); err != nil {
		t.Fatal(err)
	}
	// globex's: NATS refuses the subscription.
	if _, err := be.Subscribe("wasmsock.bus.globex.socket:connection", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	expectViolation(`wasmsock.bus.globex.socket:connection`)
	waitInterest(t, ns, "wasmsock.bus.acme.socket:connection", 1)

	alice := dialBridge(t, base, "acme", "alice")
	if env := expectOnly(t, alice, "onconnect"); string(env.Payload) != `{"ok":1}` {
		t.Fatalf("onconnect payload %s", env.Payload)
	}
	carol := dialBridge(t, base, "globex", "carol")
	if env := expectOnly(t, carol, "error"); string(env.Payload) != `"no responders"` {
		t.Fatalf("carol's onconnect went to a backend: %s", env.Payload)
	}
	if code, _ := carol.ExpectClose(10 * time.Second); code != 4000 {
		t.Fatalf("carol closed with %d", code)
	}

	// acme's commands work; globex's are refused by NATS before they reach any node.
	waitInterest(t, ns, "wasmsock.api.ns.acme.send", 1)
	m, err := be.Request("wasmsock.api.ns.acme.send", []byte(`{"user":"alice","text":"hi"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Delivered int }
	if json.Unmarshal(m.Data, &d) != nil || d.Delivered != 1 {
		t.Fatalf("acme send: %s", m.Data)
	}
	if op, p := alice.Read(); op.IsData() && string(p) != "hi" {
		t.Fatalf("alice got %q", p)
	}
	for _, subject := range []string{"wasmsock.api.ns.globex.send", "wasmsock.api.send", "wasmsock.bus.globex.socket:send"} {
		if err := be.Publish(subject, []byte(fmt.Sprintf(`{"user":"carol","text":"leak via %s"}`, subject))); err != nil {
			t.Fatal(err)
		}
		expectViolation(subject) // the server dropped it: no node ever saw it
	}
}
