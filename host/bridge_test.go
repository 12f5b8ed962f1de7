package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// waitInterest waits until at least n subscriptions on the NATS server match subject: the host
// sends a plugin's SUB asynchronously, and a publication before it arrives would reach nobody.
func waitInterest(t testing.TB, ns *natsserver.Server, subject string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ns.GlobalAccount().Interest(subject) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions match %s, want %d", ns.GlobalAccount().Interest(subject), subject, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// natsConn connects to the NATS server at u.
func natsConn(t testing.TB, u string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(u, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startBusHost serves the config src (plugins and routes) as a node of the cluster on the NATS
// server at natsURL, and returns the server and its ws:// base URL.
func startBusHost(t testing.TB, natsURL, src string) (*host.Server, string) {
	t.Helper()
	src = fmt.Sprintf("listen = \"127.0.0.1:0\"\ncompilation_cache = %q\n[log]\nlevel = \"error\"\n[cluster]\nurls = [%q]\n%s", testCache, natsURL, src)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "host.toml"), []byte(generousStart(src)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return hosttest.Serve(t, cfg, testLogger())
}

// bridgeConfig is the seed's socket.yaml as host.toml (plugins/bridge/README.md).
func bridgeConfig(t testing.TB) string {
	abs, err := filepath.Abs("../plugins/bridge/bridge.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
[plugin.bridge]
module = %q
call_timeout = "10s" # _initialize of a Go module can take long on a loaded test machine

[plugin.bridge.config]
onconnect = { publish = "socket:connection" }
onmessage = { publish = "socket:generalMessage", types = [
  { type = "message_type_one", publish = "socket:type_one" },
  { type = "message_type_two", publish = "socket:type_two" },
] }
onclose = { publish = "socket:close" }
send = { subscribe = "socket:send" }
broadcast = { subscribe = "socket:broadcast" }

[[route]]
path = "/connect"
plugin = "bridge"
namespace_from = "query:namespace"
user_from = "query:user"
`, abs)
}

// busEvent is what the bridge publishes about a connection.
type busEvent struct {
	Subject   string          `json:"-"`
	Event     string          `json:"event"`
	Conn      uint64          `json:"conn"`
	User      string          `json:"user"`
	Namespace string          `json:"namespace"`
	Type      string          `json:"type"`
	Message   json.RawMessage `json:"message"`
	Code      int             `json:"code"`
}

// backend is a backend service on NATS, as the seed's handlers were: it answers connection
// events and messages (msg.reply), fails some (msg.fail, as a NATS service error), and records
// every event it gets.
func backend(t *testing.T, nc *nats.Conn) chan busEvent {
	t.Helper()
	events := make(chan busEvent, 100)
	handle := func(m *nats.Msg) {
		var e busEvent
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Errorf("backend got %s on %s: %v", m.Data, m.Subject, err)
			return
		}
		e.Subject = m.Subject
		events <- e
		if m.Reply == "" {
			return
		}
		var fail bool
		_ = json.Unmarshal(e.Message, &struct {
			Fail *bool `json:"fail"`
		}{&fail})
		if e.User == "mallory" || fail {
			r := nats.NewMsg(m.Reply)
			r.Header.Set("Nats-Service-Error-Code", "403")
			r.Header.Set("Nats-Service-Error", "forbidden")
			r.Data = []byte(`{"reason":"not for ` + e.User + `"}`)
			_ = m.RespondMsg(r)
			return
		}
		answer, _ := json.Marshal(map[string]any{"for": e.User, "event": e.Event, "echo": e.Message})
		_ = m.Respond(answer)
	}
	for _, s := range []string{"socket:connection", "socket:generalMessage", "socket:type_one", "socket:close"} {
		if _, err := nc.Subscribe("wasmsock.bus.*."+s, handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return events
}

func nextEvent(t *testing.T, events chan busEvent) busEvent {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("the backend got no event")
	}
	return busEvent{}
}

// envelope is what a client of the bridge gets.
type envelope struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func readEnvelope(t *testing.T, c *wstest.Client) envelope {
	t.Helper()
	op, p := c.Read()
	var e envelope
	if op != ws.OpText || json.Unmarshal(p, &e) != nil {
		t.Fatalf("got %v %q, want a {type, payload} envelope", op, p)
	}
	return e
}

func dialBridge(t *testing.T, base, ns, user string) *wstest.Client {
	t.Helper()
	return wstest.Dial(t, base+"/connect?namespace="+url.QueryEscape(ns)+"&user="+url.QueryEscape(user), nil)
}

// expectNothing checks that c receives no data message while a marker it does receive travels
// the same path after: the marker is sent by the caller through send.
func expectOnly(t *testing.T, c *wstest.Client, wantType string) envelope {
	t.Helper()
	e := readEnvelope(t, c)
	if e.Type != wantType {
		t.Fatalf("got envelope %s %s, want type %s", e.Type, e.Payload, wantType)
	}
	return e
}

// TestBridgeSeedRound plays the socket-container seed's full round through plugins/bridge on two
// hosts sharing a real NATS server, with the backend a separate NATS client.
func TestBridgeSeedRound(t *testing.T) {
	ns := natstest.Start(t, nil)
	natsURL := ns.ClientURL()
	be := natsConn(t, natsURL)
	events := backend(t, be)
	srvA, a := startBusHost(t, natsURL, bridgeConfig(t))
	srvB, b := startBusHost(t, natsURL, bridgeConfig(t))
	waitPeers(t, srvA, srvB)

	// connect -> the backend gets socket:connection with user, namespace and id -> its reply
	// reaches the client as {type: "onconnect", payload}.
	alice := dialBridge(t, a, "acme", "alice")
	e := nextEvent(t, events)
	if e.Subject != "wasmsock.bus.acme.socket:connection" || e.Event != "connect" || e.User != "alice" || e.Namespace != "acme" || e.Conn == 0 {
		t.Fatalf("connect event %+v", e)
	}
	aliceID := e.Conn
	if env := expectOnly(t, alice, "onconnect"); !strings.Contains(string(env.Payload), `"for":"alice"`) {
		t.Fatalf("onconnect payload %s", env.Payload)
	}
	bob := dialBridge(t, b, "acme", "bob")
	if e := nextEvent(t, events); e.User != "bob" || e.Namespace != "acme" {
		t.Fatalf("connect event %+v", e)
	}
	expectOnly(t, bob, "onconnect")
	carol := dialBridge(t, a, "globex", "carol")
	if e := nextEvent(t, events); e.Subject != "wasmsock.bus.globex.socket:connection" || e.User != "carol" {
		t.Fatalf("connect event %+v", e)
	}
	expectOnly(t, carol, "onconnect")
	// Every (host, namespace) pair with a connection subscribes to send and broadcast.
	for _, s := range []string{"socket:send", "socket:broadcast"} {
		waitInterest(t, ns, "wasmsock.bus.acme."+s, 2)
		waitInterest(t, ns, "wasmsock.bus.globex."+s, 1)
	}

	// A typed message goes to its own subject; the reply's type is that subject.
	alice.Send(ws.OpText, []byte(`{"type":"message_type_one","text":"hi"}`))
	e = nextEvent(t, events)
	if e.Subject != "wasmsock.bus.acme.socket:type_one" || e.Type != "message_type_one" || e.Conn != aliceID || !strings.Contains(string(e.Message), `"hi"`) {
		t.Fatalf("typed message event %+v", e)
	}
	expectOnly(t, alice, "socket:type_one")
	// Any other message goes to onmessage.publish.
	alice.Send(ws.OpText, []byte(`{"type":"chatter","text":"yo"}`))
	if e := nextEvent(t, events); e.Subject != "wasmsock.bus.acme.socket:generalMessage" || e.Type != "chatter" {
		t.Fatalf("generic message event %+v", e)
	}
	expectOnly(t, alice, "socket:generalMessage")
	// msg.fail on a message: {type: "error", payload}, and the connection stays open.
	alice.Send(ws.OpText, []byte(`{"type":"chatter","fail":true}`))
	nextEvent(t, events)
	if env := expectOnly(t, alice, "error"); string(env.Payload) != `{"reason":"not for alice"}` {
		t.Fatalf("error payload %s", env.Payload)
	}
	alice.Send(ws.OpText, []byte(`{"type":"message_type_one"}`))
	nextEvent(t, events)
	expectOnly(t, alice, "socket:type_one")

	// msg.fail on connect: {type: "error", payload}, then the connection is closed.
	mallory := dialBridge(t, b, "acme", "mallory")
	nextEvent(t, events)
	expectOnly(t, mallory, "error")
	if code, _ := mallory.ExpectClose(10 * time.Second); code != 4000 {
		t.Fatalf("mallory closed with %d, want 4000", code)
	}
	if e := nextEvent(t, events); e.Subject != "wasmsock.bus.acme.socket:close" || e.User != "mallory" {
		t.Fatalf("close event %+v", e)
	}

	// The backend sends to a username in a namespace: bob (on the other host) gets it, nobody
	// else does; the same username in another namespace is another user.
	pub := func(subject, body string) {
		t.Helper()
		if err := be.Publish(subject, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	pub("wasmsock.bus.acme.socket:send", `{"username":"bob","namespace":"acme","type":"note","payload":{"n":1}}`)
	if env := expectOnly(t, bob, "note"); string(env.Payload) != `{"n":1}` {
		t.Fatalf("note payload %s", env.Payload)
	}
	pub("wasmsock.bus.globex.socket:send", `{"username":"alice","namespace":"globex","type":"wrong","payload":1}`)
	pub("wasmsock.bus.acme.socket:send", `{"username":"alice","namespace":"globex","type":"wrong","payload":2}`)
	// broadcast: every connection of the namespace, on both hosts; not carol's namespace.
	pub("wasmsock.bus.acme.socket:broadcast", `{"type":"news","payload":"hello"}`)
	for _, c := range []*wstest.Client{alice, bob} {
		if env := expectOnly(t, c, "news"); string(env.Payload) != `"hello"` {
			t.Fatalf("news payload %s", env.Payload)
		}
	}
	pub("wasmsock.bus.globex.socket:broadcast", `{"type":"globex-news","payload":null}`)
	expectOnly(t, carol, "globex-news")

	// close -> socket:close with the connection's id.
	alice.Close(1000, "bye")
	for {
		e := nextEvent(t, events)
		if e.Subject == "wasmsock.bus.acme.socket:close" {
			if e.Conn != aliceID || e.User != "alice" || e.Code != 1000 {
				t.Fatalf("close event %+v", e)
			}
			break
		}
	}
}

// TestBridgeConfigErrors: a bridge config that does not express a socket.yaml is refused by
// check (and serve), naming the key.
func TestBridgeConfigErrors(t *testing.T) {
	abs, err := filepath.Abs("../plugins/bridge/bridge.wasm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ config, want string }{
		{`onmesage = { publish = "x" }`, `unknown field "onmesage"`},
		{`onconnect = { publish = "x", subscribe = "y" }`, `unknown field "subscribe"`},
		{`onmessage = { types = [{ type = "a", publish = "x" }, { type = "a", publish = "y" }] }`, `onmessage.types[1].type: "a" is listed twice`},
		{`onmessage = { types = [{ publish = "x" }] }`, `onmessage.types[0].type: missing`},
		{`onconnect = { publish = "socket connection" }`, `onconnect.publish: "socket connection" is not a subject`},
		{`send = { subscribe = "socket.*" }`, `send.subscribe: "socket.*" is not a subject`},
		{`onclose = { publish = "" }`, `onclose.publish: "" is not a subject`},
		{`timeout_ms = -5`, `timeout_ms: must be between`},
	} {
		// testCallTimeout: Check starts the plugin (a Go module).
		src := fmt.Sprintf("listen = \"127.0.0.1:0\"\ncompilation_cache = %q\n[plugin.bridge]\nmodule = %q\n%s\n[plugin.bridge.config]\n%s\n[[route]]\npath = \"/connect\"\nplugin = \"bridge\"\n", testCache, abs, testCallTimeout, tc.config)
		cfg, err := config.Parse(filepath.Join(t.TempDir(), "host.toml"), []byte(src))
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		err = host.Check(context.Background(), cfg, nil)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), `\"`, `"`), tc.want) || !strings.Contains(err.Error(), "host.toml:6: plugin.bridge.config:") {
			t.Errorf("%s: check says %v, want %q", tc.config, err, tc.want)
		}
	}
}
