package host_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmsock/wasmsock/host/wstest"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-only"

func token(t *testing.T, alg jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(alg, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dialStatus(t *testing.T, url string, h http.Header) int {
	t.Helper()
	c, err := wstest.TryDial(t, url, h)
	if err == nil {
		c.Conn.Close()
		return 101
	}
	var se ws.StatusError
	if errorsAs(err, &se) {
		return int(se)
	}
	t.Fatalf("dial %s: %v", url, err)
	return 0
}

func TestJWTAuth(t *testing.T) {
	t.Setenv("WASMSOCK_TEST_JWT_SECRET", testSecret)
	_, base := startConfigTop(t, "", probe, `
[[route]]
path = "/ws"
plugin = "p"
[route.auth]
required = true
algorithms = ["HS256"]
secret = { env = "WASMSOCK_TEST_JWT_SECRET" }
audience = "chat"
token_from = ["header", "query:access_token", "cookie:ID_TOKEN"]
namespace_claim = "tenant"
[[route]]
path = "/open"
plugin = "p"
[route.auth]
required = false
algorithms = ["HS256"]
secret = { env = "WASMSOCK_TEST_JWT_SECRET" }`)
	now := time.Now()
	good := jwt.MapClaims{"sub": "alice", "tenant": "acme", "aud": "chat", "exp": now.Add(time.Hour).Unix()}
	valid := token(t, jwt.SigningMethodHS256, []byte(testSecret), good)
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	noneTok := token(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)
	tests := []struct {
		name   string
		url    string
		header http.Header
		want   int
	}{
		{"bearer header", "/ws", http.Header{"Authorization": {"Bearer " + valid}}, 101},
		{"query parameter", "/ws?access_token=" + valid, nil, 101},
		{"cookie, as in the socket-container seed", "/ws", http.Header{"Cookie": {"ID_TOKEN=" + valid}}, 101},
		{"no token", "/ws", nil, 401},
		{"expired", "/ws", http.Header{"Authorization": {"Bearer " + token(t, jwt.SigningMethodHS256, []byte(testSecret), with("exp", now.Add(-time.Hour).Unix()))}}, 401},
		{"wrong signature", "/ws", http.Header{"Authorization": {"Bearer " + token(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), good)}}, 401},
		{"alg none", "/ws", http.Header{"Authorization": {"Bearer " + noneTok}}, 401},
		{"wrong audience", "/ws", http.Header{"Authorization": {"Bearer " + token(t, jwt.SigningMethodHS256, []byte(testSecret), with("aud", "billing"))}}, 401},
		{"anonymous where allowed", "/open", nil, 101},
		{"bad token where anonymous is allowed", "/open", http.Header{"Authorization": {"Bearer x.y.z"}}, 401},
	}
	for _, tc := range tests {
		if got := dialStatus(t, base+tc.url, tc.header); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// The token's claims are the connection's user and namespace, and drive user:<id>. (A user
	// of its own: alice's connections above may still be closing.)
	carol := token(t, jwt.SigningMethodHS256, []byte(testSecret), with("sub", "carol"))
	c := wstest.Dial(t, base+"/ws", http.Header{"Authorization": {"Bearer " + carol}})
	if got := command(t, c, "get user"); got != "carol" {
		t.Errorf("user = %q", got)
	}
	if got := command(t, c, "get namespace"); got != "acme" {
		t.Errorf("namespace = %q", got)
	}
	c2 := wstest.Dial(t, base+"/ws?access_token="+carol, nil)
	if got := command(t, c2, "user carol hello"); got != "sent 1" {
		t.Errorf("send to user: %q, want sent 1 (the other connection of carol)", got)
	}
	if _, got := c.Read(); string(got) != "hello" {
		t.Errorf("user group message: %q", got)
	}
}

func TestOriginCheck(t *testing.T) {
	_, base := startConfig(t, probe, `
[[route]]
path = "/ws"
plugin = "p"
allowed_origins = ["https://app.example.com", "https://*.example.org"]
[[route]]
path = "/strict"
plugin = "p"
allow_missing_origin = false
[[route]]
path = "/same"
plugin = "p"`)
	host := strings.TrimPrefix(base, "ws://")
	tests := []struct {
		url, origin string
		want        int
	}{
		{"/ws", "https://app.example.com", 101},
		{"/ws", "https://chat.example.org", 101},
		{"/ws", "https://example.org", 403},
		{"/ws", "https://evil.example.com.attacker.net", 403},
		{"/ws", "http://app.example.com", 403},
		{"/ws", "", 101}, // non-browser clients send no Origin: allowed by default
		{"/strict", "", 403},
		{"/same", "http://" + host, 101},
		{"/same", "http://localhost:1", 403},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		if got := dialStatus(t, base+tc.url, h); got != tc.want {
			t.Errorf("%s with Origin %q: %d, want %d", tc.url, tc.origin, got, tc.want)
		}
	}
}

func TestConnectionLimits(t *testing.T) {
	srv, base := startConfigTop(t, "[limits]\nmax_connections_per_ip = 2\nmessages_per_second = 20", probe, "[[route]]\npath = \"/ws\"\nplugin = \"p\"")
	a := wstest.Dial(t, base+"/ws", nil)
	wstest.Dial(t, base+"/ws", nil)
	if got := dialStatus(t, base+"/ws", nil); got != 429 {
		t.Errorf("third connection from one IP: %d, want 429", got)
	}
	// A client that floods is closed with 1008; the limit frees its slot.
	for i := 0; i < 200; i++ {
		if ws.WriteFrame(a.Conn, ws.MaskFrameInPlace(ws.NewTextFrame([]byte("echo flood")))) != nil {
			break
		}
	}
	// Messages within the burst are echoed; then comes the close.
	for {
		f, err := a.ReadFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("flood: no close frame: %v", err)
		}
		if f.Op == ws.OpClose {
			if code, reason := wstest.ParseClose(f.Payload); code != 1008 || !strings.Contains(reason, "rate") {
				t.Errorf("flood: close %d %q, want 1008", code, reason)
			}
			break
		}
	}
	a.Close(1008, "")
	// The server frees the slot when it has closed the connection (before it leaves the hub).
	waitFor(t, "the flooder's connection to end", func() bool { return srv.Connections() == 1 })
	if got := dialStatus(t, base+"/ws", nil); got != 101 {
		t.Errorf("after the flooder left: %d", got)
	}
	if v := metric(scrape(t, base), "wasmsock_handshake_rejections_total", "reason", "limit_per_ip"); v != 1 {
		t.Errorf("limit_per_ip rejections counted: %v", v)
	}
}

func TestConnectionRatePerIP(t *testing.T) {
	_, base := startConfigTop(t, "[limits]\nconnections_per_second_per_ip = 5", probe, "[[route]]\npath = \"/ws\"\nplugin = \"p\"")
	refused := 0
	for i := 0; i < 30; i++ {
		if dialStatus(t, base+"/ws", nil) == 429 {
			refused++
		}
	}
	if refused < 10 {
		t.Errorf("%d of 30 rapid connections refused with a rate of 5/s (burst 10)", refused)
	}
}

func TestMemoryLimit(t *testing.T) {
	_, url := startServer(t, "../testdata/wasm/grow.wasm", "memory_limit = \"2MiB\"", "")
	c := wstest.Dial(t, url, nil)
	c.Send(ws.OpText, []byte("grow"))
	if _, got := c.Read(); string(got) != "grow failed" {
		t.Errorf("reply %q, want \"grow failed\" (memory.grow refused at the limit)", got)
	}
}

// The crash-loop guard (backoff, then retry) and the fault that costs only its connection are
// tested in runtime_test.go.

func TestNoCrossNamespaceSend(t *testing.T) {
	_, url := startServer(t, probe, "", "namespace_from = \"query:ns\"")
	victim := wstest.Dial(t, url+"?ns=bank", nil)
	id := command(t, victim, "id")
	attacker := wstest.Dial(t, url+"?ns=mallory", nil)
	if got := command(t, attacker, "send "+id+" gotcha"); got != "ERR -2" {
		t.Errorf("send to another namespace's connection: %q, want ERR -2 (unknown)", got)
	}
	// The victim got nothing: its next message is the answer to its own command.
	if got := command(t, victim, "echo still alone"); got != "still alone" {
		t.Errorf("victim received %q", got)
	}
}
