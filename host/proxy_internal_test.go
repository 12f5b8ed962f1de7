package host

import (
	"net/netip"
	"strings"
	"testing"
)

func headerGetter(h map[string][]string) func(string) []string {
	return func(name string) []string { return h[name] }
}

// TestResolveForwarded: the client of a connection through trusted proxies is the nearest
// address on the chain that is not a trusted proxy; nothing is believed from another peer.
func TestResolveForwarded(t *testing.T) {
	tp, err := newTrustedProxies([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		peer  string
		h     map[string][]string
		ok    bool
		ip    string
		proto string
		host  string
	}{
		{"untrusted peer", "192.0.2.9", map[string][]string{"x-forwarded-for": {"198.51.100.1"}}, false, "", "", ""},
		{"no headers", "10.0.0.1", nil, true, "10.0.0.1", "", ""},
		{"one hop", "10.0.0.1", map[string][]string{"x-forwarded-for": {"198.51.100.1"}, "x-forwarded-proto": {"https"}}, true, "198.51.100.1", "https", ""},
		{"spoofed left part", "10.0.0.1", map[string][]string{"x-forwarded-for": {"6.6.6.6, 198.51.100.1"}}, true, "198.51.100.1", "", ""},
		{"two proxies", "10.0.0.1", map[string][]string{"x-forwarded-for": {"198.51.100.1, 10.1.2.3"}}, true, "198.51.100.1", "", ""},
		{"repeated header lines", "10.0.0.1", map[string][]string{"x-forwarded-for": {"6.6.6.6", "198.51.100.1, 10.1.2.3"}}, true, "198.51.100.1", "", ""},
		{"all trusted", "10.0.0.1", map[string][]string{"x-forwarded-for": {"10.9.9.9, 10.1.2.3"}}, true, "10.9.9.9", "", ""},
		{"garbage stops the chain", "10.0.0.1", map[string][]string{"x-forwarded-for": {"198.51.100.1, garbage"}}, true, "10.0.0.1", "", ""},
		{"Forwarded", "::1", map[string][]string{"forwarded": {`for="[2001:db8::1]:4711";proto=https;host=app.example.com`}}, true, "2001:db8::1", "https", "app.example.com"},
		{"Forwarded wins over X-Forwarded-For", "10.0.0.1", map[string][]string{"forwarded": {"for=198.51.100.7"}, "x-forwarded-for": {"198.51.100.8"}}, true, "198.51.100.7", "", ""},
		{"Forwarded, two elements", "10.0.0.1", map[string][]string{"forwarded": {"for=6.6.6.6, for=198.51.100.7;proto=http"}}, true, "198.51.100.7", "http", ""},
		{"Forwarded unknown", "10.0.0.1", map[string][]string{"forwarded": {"for=unknown"}}, true, "10.0.0.1", "", ""},
		{"X-Forwarded-Proto list: the nearest proxy's", "10.0.0.1", map[string][]string{"x-forwarded-proto": {"http, https"}}, true, "10.0.0.1", "https", ""},
		{"IPv4-mapped peer", "::ffff:10.0.0.1", map[string][]string{"x-forwarded-for": {"198.51.100.1"}}, true, "198.51.100.1", "", ""},
	}
	for _, tc := range tests {
		f, ok := tp.resolve(tc.peer, headerGetter(tc.h))
		if ok != tc.ok || ok && (f.ip != tc.ip || f.proto != tc.proto || f.host != tc.host) {
			t.Errorf("%s: %+v %v, want ip %q proto %q host %q ok %v", tc.name, f, ok, tc.ip, tc.proto, tc.host, tc.ok)
		}
	}
	var none *trustedProxies
	if _, ok := none.resolve("10.0.0.1", headerGetter(nil)); ok {
		t.Error("no trusted_proxies: a peer was trusted")
	}
}

// FuzzResolveForwarded: any header values give a client address that is the peer or an address
// from the headers, never a panic.
func FuzzResolveForwarded(f *testing.F) {
	f.Add("198.51.100.1, 10.1.2.3", "https", `for="[2001:db8::1]:4711";proto=https;host=x`)
	f.Add("", "", "for=unknown;by=_hidden, for=\"\"")
	f.Add(",,,", "http, https", ";;==;\"")
	tp, err := newTrustedProxies([]string{"10.0.0.0/8", "::1/128"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, xff, xfp, fwd string) {
		h := map[string][]string{"x-forwarded-for": {xff}, "x-forwarded-proto": {xfp}}
		if fwd != "" {
			h["forwarded"] = []string{fwd}
		}
		fw, ok := tp.resolve("10.0.0.1", headerGetter(h))
		if !ok {
			t.Fatal("trusted peer not trusted")
		}
		if fw.ip != "10.0.0.1" {
			if _, err := netip.ParseAddr(fw.ip); err != nil {
				t.Fatalf("client address %q is not an address", fw.ip)
			}
			if !strings.Contains(xff+fwd, strings.Split(fw.ip, "%")[0]) && !strings.Contains(strings.ToLower(xff+fwd), fw.ip) {
				// An address is printed canonically; it must at least parse from the headers.
				found := false
				for _, part := range strings.FieldsFunc(xff+","+fwd, func(r rune) bool { return r == ',' || r == ';' || r == '=' || r == '"' || r == ' ' }) {
					if a, ok := hopAddr(part); ok && a.String() == fw.ip {
						found = true
					}
				}
				if !found {
					t.Fatalf("client address %q is in no header", fw.ip)
				}
			}
		}
	})
}
