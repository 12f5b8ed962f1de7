package host_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// natsAPI sends a backend command over NATS and returns the status and the decoded answer.
func natsAPI(t *testing.T, nc *nats.Conn, subject string, body string) (int, map[string]any) {
	t.Helper()
	m, err := nc.Request(subject, []byte(body), 10*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	status, err := strconv.Atoi(m.Header.Get("Wasmsock-Status"))
	if err != nil {
		t.Fatalf("%s: no Wasmsock-Status header: %v", subject, m.Header)
	}
	if status >= 400 && m.Header.Get("Nats-Service-Error-Code") != strconv.Itoa(status) {
		t.Errorf("%s: error %d without the service error headers: %v", subject, status, m.Header)
	}
	var out map[string]any
	if err := json.Unmarshal(m.Data, &out); err != nil {
		t.Fatalf("%s: answer %q: %v", subject, m.Data, err)
	}
	return status, out
}

// httpAPI sends the same command over HTTP.
func httpAPI(t *testing.T, base, key, name, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", httpBase(base)+"/api/"+name, strings.NewReader(body))
	if name == "groups" { // GET /api/groups?namespace=&group=: the same request as a query
		var q map[string]string
		_ = json.Unmarshal([]byte(body), &q)
		v := url.Values{}
		for k, x := range q {
			v.Set(k, x)
		}
		req, _ = http.NewRequest("GET", httpBase(base)+"/api/groups?"+v.Encode(), nil)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(b), &out); err != nil {
		t.Fatalf("/api/%s: answer %q: %v", name, b, err)
	}
	return resp.StatusCode, out
}

// TestBackendAPIOverNATS: every backend command answers the same over NATS as over HTTP (status
// and JSON), reaches connections on both nodes, and the tenant subjects keep a backend inside
// its namespace.
func TestBackendAPIOverNATS(t *testing.T) {
	ns := natstest.Start(t, nil)
	natsURL := ns.ClientURL()
	key := "test-admin-key-0123456789abcdef"
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := probeBusConfig(t, "") + "user_from = \"query:user\"\n[admin]\nstatus_page = \"/status\"\nkey_file = \"" + keyFile + "\"\n"
	srvA, a := startBusHost(t, natsURL, cfg)
	srvB, b := startBusHost(t, natsURL, cfg)
	waitPeers(t, srvA, srvB)
	be := natsConn(t, natsURL)

	alice := wstest.Dial(t, a+"/ws?ns=acme&user=alice", nil)
	aliceB := wstest.Dial(t, b+"/ws?ns=acme&user=alice", nil)
	carol := wstest.Dial(t, b+"/ws?ns=globex&user=carol", nil)
	aliceID, carolID := ask(t, alice, "id"), ask(t, carol, "id")
	if r := ask(t, aliceB, "join room"); r != "ok" {
		t.Fatal(r)
	}
	if r := ask(t, carol, "join room"); r != "ok" {
		t.Fatal(r)
	}
	expect := func(c *wstest.Client, want string) {
		t.Helper()
		if got := text(t, c); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}

	// The same requests over HTTP and over NATS: same status, same answer.
	for _, tc := range []struct {
		name, body string
		status     int
		receivers  []*wstest.Client // who gets the message, once per call
	}{
		{"send", `{"namespace":"acme","user":"alice","text":"hi alice"}`, 200, []*wstest.Client{alice, aliceB}},
		{"send", `{"conn":` + aliceID + `,"text":"to one"}`, 200, []*wstest.Client{alice}},
		{"send", `{"namespace":"acme","conn":` + aliceID + `,"text":"checked"}`, 200, []*wstest.Client{alice}},
		{"send", `{"namespace":"acme","conn":` + carolID + `,"text":"wrong namespace"}`, 404, nil},
		{"send", `{"namespace":"acme","user":"alice","text":"x","colour":"red"}`, 400, nil},
		{"send", `{"namespace":"acme","text":"x"}`, 400, nil},
		{"send", `{"conn":1,"text":"x"}`, 404, nil},
		{"publish", `{"namespace":"acme","group":"room","text":"to the room"}`, 200, []*wstest.Client{aliceB}},
		{"publish", `{"namespace":"acme","group":"","text":"x"}`, 400, nil},
		{"broadcast", `{"namespace":"globex","text":"globex news"}`, 200, []*wstest.Client{carol}},
		{"broadcast", `{"namespace":"acme","all_namespaces":true,"text":"x"}`, 400, nil},
		{"close", `{"conn":` + carolID + `,"code":999}`, 400, nil},
		{"close", `{"namespace":"acme","conn":` + carolID + `}`, 404, nil},
		{"groups", `{"namespace":"acme","group":"room"}`, 200, nil},
	} {
		hs, ha := httpAPI(t, a, key, tc.name, tc.body)
		for _, c := range tc.receivers {
			c.ReadFrame(10 * time.Second)
		}
		subject := "wasmsock.api." + tc.name
		nsStatus, na := natsAPI(t, be, subject, tc.body)
		for _, c := range tc.receivers {
			c.ReadFrame(10 * time.Second)
		}
		if hs != tc.status || nsStatus != tc.status {
			t.Errorf("%s %s: HTTP %d %v, NATS %d %v, want %d", tc.name, tc.body, hs, ha, nsStatus, na, tc.status)
		}
		delete(ha, "nodes")
		delete(na, "nodes")
		if !reflect.DeepEqual(ha, na) {
			t.Errorf("%s %s: HTTP answers %v, NATS %v", tc.name, tc.body, ha, na)
		}
	}
	// Every receiver got exactly its messages: the next message each gets is this marker.
	for _, c := range []*wstest.Client{alice, aliceB, carol} {
		if r := ask(t, c, "echo marker"); r != "marker" {
			t.Fatalf("a client got %q: a message it should not have", r)
		}
	}

	// The tenant subjects: the namespace is the subject's.
	for _, tc := range []struct {
		subject, body string
		status        int
		errPart       string
	}{
		{"wasmsock.api.ns.acme.send", `{"conn":` + carolID + `,"text":"leak"}`, 404, `no such connection in namespace "acme"`},
		{"wasmsock.api.ns.acme.close", `{"conn":` + carolID + `}`, 404, `no such connection in namespace "acme"`},
		{"wasmsock.api.ns.acme.send", `{"namespace":"globex","user":"carol","text":"leak"}`, 403, `is not this subject's namespace`},
		{"wasmsock.api.ns.acme.broadcast", `{"all_namespaces":true,"text":"leak"}`, 403, `needs the admin subject`},
		{"wasmsock.api.ns.acme.publish", `{"namespace":"globex","group":"room","text":"leak"}`, 403, `is not this subject's namespace`},
		{"wasmsock.api.ns.acme.send", `{"user":"carol","text":"nobody"}`, 200, ""},
		{"wasmsock.api.ns.acme.broadcast", `{"text":"acme only"}`, 200, ""},
	} {
		st, out := natsAPI(t, be, tc.subject, tc.body)
		if errText, _ := out["error"].(string); st != tc.status || !strings.Contains(errText, tc.errPart) {
			t.Errorf("%s %s: %d %v, want %d %q", tc.subject, tc.body, st, out, tc.status, tc.errPart)
		}
	}
	expect(alice, "acme only")
	expect(aliceB, "acme only")
	if r := ask(t, carol, "echo marker"); r != "marker" {
		t.Fatalf("carol (globex) got %q from an acme command", r)
	}
	_, out := natsAPI(t, be, "wasmsock.api.ns.globex.groups", ``)
	groups, _ := out["groups"].([]any)
	for _, g := range groups {
		if g.(map[string]any)["namespace"] != "globex" {
			t.Errorf("globex's groups list %v", g)
		}
	}
	if len(groups) == 0 {
		t.Errorf("globex's groups: %v", out)
	}

	// The status page shows the plugin's bus.
	req, _ := http.NewRequest("GET", httpBase(a)+"/status", nil)
	req.SetBasicAuth("admin", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `class="bus" title="published`) || !strings.Contains(string(page), " out / ") {
		t.Errorf("status page %d without the bus column:\n%s", resp.StatusCode, page)
	}
}
