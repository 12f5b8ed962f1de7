package busapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host/cluster/natstest"
)

func TestServe(t *testing.T) {
	ns := natstest.Start(t, nil)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	type call struct {
		name, body, ns string
		scoped         bool
	}
	calls := make(chan call, 10)
	srv, err := Serve(nc, "wasmsock.api", []string{"send", "close"}, time.Second, func(_ context.Context, name string, body []byte, ns string, scoped bool) (int, any) {
		calls <- call{name, string(body), ns, scoped}
		if string(body) == "bad" {
			return http.StatusBadRequest, map[string]string{"error": "bad JSON body"}
		}
		return http.StatusOK, map[string]int{"delivered": 2}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	be, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	for _, tc := range []struct {
		subject, body string
		want          call
		status        string
		answer        string
	}{
		{"wasmsock.api.send", `{"user":"a"}`, call{"send", `{"user":"a"}`, "", false}, "200", `{"delivered":2}`},
		{"wasmsock.api.ns.acme.send", `{}`, call{"send", `{}`, "acme", true}, "200", `{"delivered":2}`},
		{"wasmsock.api.ns.%.close", `{}`, call{"close", `{}`, "", true}, "200", `{"delivered":2}`},
		{"wasmsock.api.ns.a%2Eb.send", `{}`, call{"send", `{}`, "a.b", true}, "200", `{"delivered":2}`},
		{"wasmsock.api.send", `bad`, call{"send", `bad`, "", false}, "400", `{"error":"bad JSON body"}`},
	} {
		m, err := be.Request(tc.subject, []byte(tc.body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.subject, err)
		}
		if got := <-calls; got != tc.want {
			t.Errorf("%s: ran %+v, want %+v", tc.subject, got, tc.want)
		}
		if m.Header.Get(HeaderStatus) != tc.status || string(m.Data) != tc.answer {
			t.Errorf("%s: answer %s %s, want %s %s", tc.subject, m.Header.Get(HeaderStatus), m.Data, tc.status, tc.answer)
		}
		if tc.status != "200" && (m.Header.Get(HeaderServiceErrorCode) != tc.status || m.Header.Get(HeaderServiceError) != "bad JSON body") {
			t.Errorf("%s: error headers %v", tc.subject, m.Header)
		}
	}
	// A namespace token that escaping does not make is refused before any command runs.
	m, err := be.Request("wasmsock.api.ns.%41.send", []byte(`{}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	if json.Unmarshal(m.Data, &e) != nil || m.Header.Get(HeaderStatus) != "400" || e.Error == "" {
		t.Errorf("bad token: %s %s", m.Header, m.Data)
	}
	// An unknown command has no subscriber: NATS says no responders.
	if _, err := be.Request("wasmsock.api.dance", nil, 5*time.Second); err != nats.ErrNoResponders {
		t.Errorf("unknown command: %v", err)
	}
	select {
	case c := <-calls:
		t.Errorf("unexpected call %+v", c)
	default:
	}
}
