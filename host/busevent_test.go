package host_test

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestBusEventActsInItsNamespace: during on_event the plugin acts in the namespace of the
// subscription the event belongs to (abi/ABI.md, "Namespaces"), for every host function that
// names a group or a connection: presence (group_size, group_members), timers, attachments,
// groups, broadcasts and the shared store. Three namespaces hold a group "room" of different
// sizes; a backend publishes "run ID COMMAND" into each namespace's subject, and the probe runs
// the command within on_event of the subscription made there.
func TestBusEventActsInItsNamespace(t *testing.T) {
	ns := natstest.Start(t, nil)
	be := natsConn(t, ns.ClientURL())
	_, base := startBusHost(t, ns.ClientURL(), probeBusConfig(t, ""))

	// Namespace "acme" has 2 members in "room", "globex" 1 and the default namespace "" 3.
	dial := func(namespace string) (*wstest.Client, string) {
		u := base + "/ws"
		if namespace != "" {
			u += "?ns=" + namespace
		}
		c := wstest.Dial(t, u, nil)
		if r := ask(t, c, "join room"); r != "ok" {
			t.Fatalf("join in %q: %s", namespace, r)
		}
		return c, ask(t, c, "id")
	}
	acme, acmeID := dial("acme")
	acme2, acme2ID := dial("acme")
	globex, globexID := dial("globex")
	dflt, dfltID := dial("")
	_, dflt2ID := dial("")
	_, dflt3ID := dial("")
	// The first connection of each namespace subscribes to "cmd" there.
	subscriber := map[string]*wstest.Client{"acme": acme, "globex": globex, "": dflt}
	for namespace, c := range subscriber {
		if r := ask(t, c, "sub cmd"); !strings.HasPrefix(r, "sub ") {
			t.Fatalf("sub in %q: %s", namespace, r)
		}
		waitInterest(t, ns, "wasmsock.bus."+cluster.Token(namespace)+".cmd", 1)
	}
	members := func(ids ...string) string {
		slices.SortFunc(ids, func(a, b string) int {
			x, _ := strconv.ParseUint(a, 10, 64)
			y, _ := strconv.ParseUint(b, 10, 64)
			return cmp.Compare(x, y)
		})
		return "members " + strings.Join(ids, ": ") + ":"
	}

	for _, tc := range []struct {
		name      string
		namespace string // the event's namespace
		run       string // "ID COMMAND" carried out in on_event
		first     string // a message the subscriber gets before the reply (queued first)
		want      string // the reply the subscriber gets
		// then, optionally: a client's command and its reply, or a message it receives
		client      *wstest.Client
		ask, answer string
	}{
		{name: "group_size acme", namespace: "acme", run: acmeID + " size room", want: "ran size 2"},
		{name: "group_size globex", namespace: "globex", run: globexID + " size room", want: "ran size 1"},
		{name: "group_size default", namespace: "", run: dfltID + " size room", want: "ran size 3"},
		{name: "group_members acme", namespace: "acme", run: acmeID + " members room", want: "ran " + members(acmeID, acme2ID)},
		{name: "group_members default", namespace: "", run: dfltID + " members room", want: "ran " + members(dfltID, dflt2ID, dflt3ID)},
		{name: "group_size of a user group", namespace: "globex", run: globexID + " size user:nobody", want: "ran size 0"},
		// Timers and attachments of a connection of the event's namespace: allowed.
		{name: "timer_set", namespace: "acme", run: acme2ID + " timer t 0", want: "ran ok", client: acme2, answer: "timer t"},
		{name: "attach_set", namespace: "acme", run: acme2ID + " attach kept", want: "ran ok", client: acme2, ask: "attachment", answer: "attachment kept"},
		{name: "attach_get", namespace: "acme", run: acme2ID + " attachment", want: "ran attachment kept"},
		{name: "timer_cancel", namespace: "acme", run: acme2ID + " cancel none", want: "ran ERR -5"},
		// A connection of another namespace, the default one included, is no connection at all.
		{name: "timer_set across", namespace: "acme", run: globexID + " timer t 0", want: "ran ERR -2"},
		{name: "timer_set into default", namespace: "acme", run: dfltID + " timer t 0", want: "ran ERR -2"},
		{name: "attach_set into default", namespace: "acme", run: dflt2ID + " attach leak", want: "ran ERR -2"},
		{name: "attach_get across", namespace: "", run: acme2ID + " attachment", want: "ran ERR -2"},
		{name: "join across", namespace: "globex", run: acmeID + " join side", want: "ran ERR -2"},
		// Groups, broadcasts and the shared store of the event's namespace.
		{name: "join", namespace: "acme", run: acme2ID + " join side", want: "ran ok", client: acme, ask: "size side", answer: "size 1"},
		{name: "broadcast", namespace: "globex", run: globexID + " bcastall room hi", first: "hi", want: "ran sent 1"},
		{name: "kv_set", namespace: "acme", run: acme2ID + " kvset k 0 acme's", want: "ran ok", client: acme, ask: "kvget k", answer: "kv acme's"},
		{name: "kv_get in another namespace", namespace: "globex", run: globexID + " kvget k", want: "ran ERR -5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := subscriber[tc.namespace]
			if err := be.Publish("wasmsock.bus."+cluster.Token(tc.namespace)+".cmd", []byte("run "+tc.run)); err != nil {
				t.Fatal(err)
			}
			if tc.first != "" {
				if got := text(t, sub); got != tc.first {
					t.Fatalf("run %s in namespace %q: first %q, want %q", tc.run, tc.namespace, got, tc.first)
				}
			}
			if got := text(t, sub); got != tc.want {
				t.Fatalf("run %s in namespace %q: %q, want %q", tc.run, tc.namespace, got, tc.want)
			}
			switch {
			case tc.client != nil && tc.ask != "":
				if got := ask(t, tc.client, tc.ask); got != tc.answer {
					t.Fatalf("then %s: %q, want %q", tc.ask, got, tc.answer)
				}
			case tc.client != nil:
				if got := text(t, tc.client); got != tc.answer {
					t.Fatalf("then: %q, want %q", got, tc.answer)
				}
			}
		})
	}
}
