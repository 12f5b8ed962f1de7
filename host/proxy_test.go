package host_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestTrustedProxies: behind a TLS-terminating proxy listed in trusted_proxies, the same-origin
// check uses the scheme and host the browser used (X-Forwarded-Proto/-Host or Forwarded), and the
// per-IP limits and remote_addr use the client's address (X-Forwarded-For or Forwarded for=). A
// peer that is not listed cannot claim any of it.
func TestTrustedProxies(t *testing.T) {
	const route = "[[route]]\npath = \"/ws\"\nplugin = \"p\"\n"
	limits := "[limits]\nmax_connections_per_ip = 1\n"
	// The test's clients connect from 127.0.0.1: as the proxy, or as an untrusted peer.
	_, trusted := startConfigTop(t, "trusted_proxies = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\n"+limits, probe, route)
	_, untrusted := startConfigTop(t, "trusted_proxies = [\"10.0.0.0/8\"]\n"+limits, probe, route)

	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	origin := []struct {
		name     string
		h        http.Header
		trusted  int // status through the trusted proxy
		untrusts int // status from a peer that is not a trusted proxy
	}{
		{"https page behind TLS proxy (X-Forwarded-*)",
			hdr("Origin", "https://app.example.com", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-For", "203.0.113.1"),
			101, 403},
		{"https page behind TLS proxy (Forwarded)",
			hdr("Origin", "https://app.example.com", "Forwarded", `for="203.0.113.2:4711";proto=https;host=app.example.com`),
			101, 403},
		{"http origin while the client used https",
			hdr("Origin", "http://app.example.com", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-For", "203.0.113.3"),
			403, 403},
		{"another site",
			hdr("Origin", "https://evil.example.net", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-For", "203.0.113.4"),
			403, 403},
	}
	for _, tc := range origin {
		if got := dialStatus(t, trusted+"/ws", tc.h); got != tc.trusted {
			t.Errorf("%s, from a trusted proxy: %d, want %d", tc.name, got, tc.trusted)
		}
		if got := dialStatus(t, untrusted+"/ws", tc.h); got != tc.untrusts {
			t.Errorf("%s, from an untrusted peer: %d, want %d", tc.name, got, tc.untrusts)
		}
	}

	// Per-IP limits (1 connection per IP) count the client behind the proxy.
	a := wstest.Dial(t, trusted+"/ws", hdr("X-Forwarded-For", "198.51.100.1"))
	a.Send(ws.OpText, []byte("get remote_addr"))
	if _, got := a.Read(); string(got) != "198.51.100.1" {
		t.Errorf("remote_addr behind the proxy: %q, want the client's address", got)
	}
	wstest.Dial(t, trusted+"/ws", hdr("X-Forwarded-For", "198.51.100.2"))
	// A client cannot escape its limit by sending its own X-Forwarded-For: the proxy appends
	// the address it saw, and the chain is read from the proxy's end.
	if got := dialStatus(t, trusted+"/ws", hdr("X-Forwarded-For", "192.0.2.99, 198.51.100.1")); got != 429 {
		t.Errorf("second connection of 198.51.100.1 (spoofed chain): %d, want 429", got)
	}
	// An untrusted peer is counted by its own address whatever it says.
	u := wstest.Dial(t, untrusted+"/ws", hdr("X-Forwarded-For", "198.51.100.1"))
	u.Send(ws.OpText, []byte("get remote_addr"))
	if _, got := u.Read(); !strings.HasPrefix(string(got), "127.0.0.1:") {
		t.Errorf("remote_addr from an untrusted peer: %q, want the peer's own", got)
	}
	if got := dialStatus(t, untrusted+"/ws", hdr("X-Forwarded-For", "198.51.100.2")); got != 429 {
		t.Errorf("untrusted peer claiming another client: %d, want 429", got)
	}
}
