package auth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestValidIdentity(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"alice", true},
		{"Zoë 🚀", true},
		{"user@example.com", true},
		{strings.Repeat("x", MaxIdentityBytes), true},
		{strings.Repeat("é", MaxIdentityBytes/2), true}, // 122 bytes
		{"", false},
		{strings.Repeat("x", MaxIdentityBytes+1), false},
		{"a\x00b", false},
		{"a\x1fb", false},
		{"a\x7fb", false},
		{"a\u0080b", false},
		{"a\u009fb", false},
		{"a\xffb", false},
		{"\xc3", false},
	}
	for _, tt := range tests {
		if got := ValidIdentity(tt.s); got != tt.want {
			t.Errorf("ValidIdentity(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func wantOrigin(t *testing.T, err error, reason string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("refused: %v (cause: %v)", err, errors.Unwrap(err))
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Reason != reason {
		t.Fatalf("error = %#v, want 403 %q", err, reason)
	}
}

func TestOriginCheck(t *testing.T) {
	main := []string{
		"https://example.com",
		"http://localhost:8080",
		"https://*.example.org",
		"http://[::1]:9000",
		"https://Upper.Example.NET:443",
		"http://127.0.0.1:3000",
		"https://kexample.com",
		"https://*.apps.example.net:8443",
	}
	tests := []struct {
		name    string
		allowed []string
		missing bool
		origin  string
		reason  string // "" = allowed
	}{
		// Exact.
		{"exact", main, false, "https://example.com", ""},
		{"explicit default port", main, false, "https://example.com:443", ""},
		{"host case", main, false, "https://EXAMPLE.com", ""},
		{"scheme case", main, false, "HTTPS://example.com", ""},
		{"entry with upper case and default port", main, false, "https://upper.example.net", ""},
		{"other scheme", main, false, "http://example.com", ReasonOriginNotAllowed},
		{"other port", main, false, "https://example.com:8443", ReasonOriginNotAllowed},
		{"http default port on https", main, false, "https://example.com:80", ReasonOriginNotAllowed},
		{"trailing slash", main, false, "https://example.com/", ReasonOriginNotAllowed},
		{"path", main, false, "https://example.com/x", ReasonOriginNotAllowed},
		{"trailing dot", main, false, "https://example.com.", ReasonOriginNotAllowed},
		{"subdomain of an exact entry", main, false, "https://www.example.com", ReasonOriginNotAllowed},
		{"suffix attack", main, false, "https://example.com.evil.com", ReasonOriginNotAllowed},
		{"prefix attack", main, false, "https://evilexample.com", ReasonOriginNotAllowed},
		{"user info", main, false, "https://user@example.com", ReasonOriginNotAllowed},
		{"user info trick", main, false, "https://example.com@evil.com", ReasonOriginNotAllowed},
		{"backslash", main, false, `https://example.com\evil.com`, ReasonOriginNotAllowed},
		{"query", main, false, "https://example.com?x", ReasonOriginNotAllowed},
		{"fragment", main, false, "https://example.com#x", ReasonOriginNotAllowed},
		{"space", main, false, "https://example.com ", ReasonOriginNotAllowed},
		{"kelvin sign", main, false, "https://\u212aexample.com", ReasonOriginNotAllowed},
		{"percent-encoded", main, false, "https://%65xample.com", ReasonOriginNotAllowed},
		{"no scheme", main, false, "example.com", ReasonOriginNotAllowed},
		{"list of origins", main, false, "https://example.com, https://evil.com", ReasonOriginNotAllowed},
		{"localhost", main, false, "http://localhost:8080", ""},
		{"localhost, no port", main, false, "http://localhost", ReasonOriginNotAllowed},
		{"localhost, port 80", main, false, "http://localhost:80", ReasonOriginNotAllowed},
		{"localhost, https", main, false, "https://localhost:8080", ReasonOriginNotAllowed},
		{"localhost, leading zero port", main, false, "http://localhost:08080", ReasonOriginNotAllowed},
		{"port 0", main, false, "https://example.com:0", ReasonOriginNotAllowed},
		{"port 65536", main, false, "https://example.com:65536", ReasonOriginNotAllowed},
		{"empty port", main, false, "https://example.com:", ReasonOriginNotAllowed},
		{"IPv4", main, false, "http://127.0.0.1:3000", ""},
		{"IPv4 other spelling", main, false, "http://127.1:3000", ReasonOriginNotAllowed},
		{"IPv6", main, false, "http://[::1]:9000", ""},
		{"IPv6 long form", main, false, "http://[0:0:0:0:0:0:0:1]:9000", ""},
		{"IPv6 other port", main, false, "http://[::1]", ReasonOriginNotAllowed},
		{"IPv6 with zone", main, false, "http://[::1%25eth0]:9000", ReasonOriginNotAllowed},

		// Wildcard.
		{"wildcard, one level", main, false, "https://a.example.org", ""},
		{"wildcard, two levels", main, false, "https://a.b.example.org", ""},
		{"wildcard, upper case", main, false, "https://A.Example.ORG", ""},
		{"wildcard, default port", main, false, "https://a.example.org:443", ""},
		{"wildcard, apex", main, false, "https://example.org", ReasonOriginNotAllowed},
		{"wildcard, dash attack", main, false, "https://evil-example.org", ReasonOriginNotAllowed},
		{"wildcard, no dot", main, false, "https://aexample.org", ReasonOriginNotAllowed},
		{"wildcard, empty label", main, false, "https://.example.org", ReasonOriginNotAllowed},
		{"wildcard, suffix attack", main, false, "https://a.example.org.evil.com", ReasonOriginNotAllowed},
		{"wildcard, other port", main, false, "https://a.example.org:8443", ReasonOriginNotAllowed},
		{"wildcard, other scheme", main, false, "http://a.example.org", ReasonOriginNotAllowed},
		{"wildcard with port", main, false, "https://x.apps.example.net:8443", ""},
		{"wildcard with port, default port", main, false, "https://x.apps.example.net", ReasonOriginNotAllowed},

		// null and missing.
		{"null", main, false, "null", ReasonOriginNotAllowed},
		{"null listed", []string{"null"}, false, "null", ""},
		{"NULL listed as null", []string{"null"}, false, "NULL", ReasonOriginNotAllowed},
		{"missing", main, false, "", ReasonMissingOrigin},
		{"missing, allowed", main, true, "", ""},

		// Any.
		{"star", []string{"*"}, false, "https://evil.com", ""},
		{"star, null", []string{"*"}, false, "null", ReasonOriginNotAllowed},
		{"star, missing", []string{"*"}, false, "", ReasonMissingOrigin},
		{"star, malformed", []string{"*"}, false, "https://evil.com/x", ReasonOriginNotAllowed},

		// No list: Check does not check.
		{"empty list", nil, false, "https://evil.com", ""},
		{"empty list, missing", nil, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewOriginChecker(OriginPolicy{Allowed: tt.allowed, AllowMissing: tt.missing})
			if err != nil {
				t.Fatal(err)
			}
			wantOrigin(t, c.Check(tt.origin), tt.reason)
			if len(tt.allowed) > 0 {
				// With a list, CheckHost is Check.
				wantOrigin(t, c.CheckHost(tt.origin, "example.com", true), tt.reason)
			}
		})
	}
}

func TestOriginPolicyValidate(t *testing.T) {
	tests := []struct {
		entry string
		msg   string // "" = valid
	}{
		{"https://example.com", ""},
		{"http://localhost:8080", ""},
		{"https://*.example.com", ""},
		{"https://*.example.com:8443", ""},
		{"http://[::1]:8080", ""},
		{"http://192.168.1.10:3000", ""},
		{"https://my_host.example.com", ""},
		{"chrome-extension://abcdefghijklmnop", ""},
		{"null", ""},
		{"*", ""},
		{"https://example.com/", "no user info, path"},
		{"https://example.com/app", "no user info, path"},
		{"example.com", "want scheme"},
		{"//example.com", "want scheme"},
		{"1http://example.com", "invalid scheme"},
		{"://example.com", "invalid scheme"},
		{"https://", "empty host"},
		{"https://exa mple.com", "invalid character"},
		{"https://exämple.com", "invalid character"},
		{"https://example.com:99999", "out of range"},
		{"https://example.com:https", "invalid port"},
		{"https://example.com.", "trailing dot"},
		{"https://*.com", "at least two labels"},
		{"https://*.localhost", "at least two labels"},
		{"https://*.1.2.3.4", "not an IP address"},
		{"https://*.*.example.com", "invalid character"},
		{"https://a.*.example.com", "invalid character"},
		{"https://*example.com", "invalid character"},
		{"*.example.com", "want scheme"},
		{"https://[::1", "unclosed"},
		{"https://[zz]", "invalid IPv6"},
		{"https://[::1]x", "after the IPv6"},
		{"https://999.1.1.1", "invalid IPv4"},
		{"https://" + strings.Repeat("a", 64) + ".com", "longer than 63"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			p := OriginPolicy{Allowed: []string{"https://ok.example.com", tt.entry}}
			err := p.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != "allowed_origins[1]" || !strings.Contains(ce.Msg, tt.msg) || !strings.Contains(ce.Msg, tt.entry) {
				t.Fatalf("error = %v, want allowed_origins[1] naming %q and %q", err, tt.entry, tt.msg)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		origin, host string
		tls          bool
		want         bool
	}{
		{"https://example.com", "example.com", true, true},
		{"https://example.com", "example.com:443", true, true},
		{"https://example.com:443", "example.com", true, true},
		{"http://example.com:8080", "example.com:8080", false, true},
		{"http://EXAMPLE.com", "example.COM", false, true},
		{"http://[::1]:8080", "[::1]:8080", false, true},
		{"http://127.0.0.1:8080", "127.0.0.1:8080", false, true},
		{"https://example.com", "example.com", false, false},
		{"http://example.com", "example.com", true, false},
		{"https://example.com", "example.com:8443", true, false},
		{"https://a.example.com", "example.com", true, false},
		{"https://example.com", "", true, false},
		{"", "example.com", true, false},
		{"null", "example.com", true, false},
		{"https://example.com/", "example.com", true, false},
		{"https://example.com", "example.com/", true, false},
		{"https://example.com", "user@example.com", true, false},
	}
	for _, tt := range tests {
		if got := SameOrigin(tt.origin, tt.host, tt.tls); got != tt.want {
			t.Errorf("SameOrigin(%q, %q, %v) = %v, want %v", tt.origin, tt.host, tt.tls, got, tt.want)
		}
	}
}

func TestCheckHostDefault(t *testing.T) {
	c, err := NewOriginChecker(OriginPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	wantOrigin(t, c.CheckHost("https://chat.example.com", "chat.example.com", true), "")
	wantOrigin(t, c.CheckHost("http://localhost:8080", "localhost:8080", false), "")
	wantOrigin(t, c.CheckHost("https://evil.com", "chat.example.com", true), ReasonOriginNotAllowed)
	wantOrigin(t, c.CheckHost("null", "chat.example.com", true), ReasonOriginNotAllowed)
	wantOrigin(t, c.CheckHost("", "chat.example.com", true), ReasonMissingOrigin)
	c, _ = NewOriginChecker(OriginPolicy{AllowMissing: true})
	wantOrigin(t, c.CheckHost("", "chat.example.com", true), "")
	wantOrigin(t, c.CheckHost("https://evil.com", "chat.example.com", true), ReasonOriginNotAllowed)
}

// FuzzOrigin: parsing never panics, and an allowed origin is always one the policy names.
func FuzzOrigin(f *testing.F) {
	for _, s := range [][2]string{
		{"https://example.com", "https://example.com"},
		{"https://example.com:443", "https://example.com"},
		{"https://a.example.com", "https://*.example.com"},
		{"https://evil-example.com", "https://*.example.com"},
		{"https://example.com", "https://*.example.com"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[0::1]:8080", "http://[::1]:8080"},
		{"null", "null"},
		{"null", "*"},
		{"", "https://example.com"},
		{"HTTPS://EXAMPLE.COM:0443", "https://example.com"},
		{"https://\u212aexample.com", "https://kexample.com"},
		{"http://127.0.0.1", "http://127.0.0.1:80"},
		{"https://a.b.c.example.com:8443", "https://*.example.com:8443"},
	} {
		f.Add(s[0], s[1], "example.com", false)
	}
	f.Fuzz(func(t *testing.T, origin, entry, host string, tls bool) {
		p := OriginPolicy{Allowed: []string{entry}}
		c, err := NewOriginChecker(p)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != "allowed_origins[0]" {
				t.Fatalf("bad config error %v", err)
			}
			return
		}
		err = c.Check(origin)
		same := SameOrigin(origin, host, tls)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusForbidden {
				t.Fatalf("bad error %#v", err)
			}
		}

		// Parsing is idempotent: the canonical form parses to itself.
		if o, perr := parseOrigin(origin); perr == nil {
			if o2, err2 := parseOrigin(o.String()); err2 != nil || o2 != o {
				t.Fatalf("%q -> %q -> %v, %v", origin, o.String(), o2, err2)
			}
			if rest := strings.TrimPrefix(o.String(), o.scheme+"://"); strings.ContainsAny(rest, "/?#@\\ %") {
				t.Fatalf("canonical form %q", o.String())
			}
		} else if err == nil && origin != "" && origin != "null" {
			t.Fatalf("unparseable origin %q allowed by %q", origin, entry)
		}
		if same {
			if _, perr := parseOrigin(origin); perr != nil {
				t.Fatalf("SameOrigin true for unparseable %q", origin)
			}
		}

		if err != nil {
			return
		}
		// Allowed: the origin must be one the entry names.
		switch {
		case entry == "*":
			if origin == "null" {
				t.Fatal(`"*" allowed "null"`)
			}
		case origin == "null":
			if entry != "null" {
				t.Fatalf("null allowed by %q", entry)
			}
		case origin == "":
			t.Fatalf("missing origin allowed by %q", entry)
		case strings.Contains(entry, "://*."):
			w, _ := parseWildcard(entry)
			o, _ := parseOrigin(origin)
			if o.ip || o.scheme != w.scheme || o.port != w.port || !strings.HasSuffix(o.host, "."+w.host) {
				t.Fatalf("%q allowed by %q", origin, entry)
			}
		default:
			want, _ := parseOrigin(entry)
			got, _ := parseOrigin(origin)
			if got != want {
				t.Fatalf("%q allowed by %q", origin, entry)
			}
			// Case-insensitive: an upper-cased origin is the same origin (ASCII only: see the
			// KELVIN SIGN test).
			if isASCII(origin) {
				if err := c.Check(strings.ToUpper(origin)); err != nil {
					t.Fatalf("%q allowed but %q refused", origin, strings.ToUpper(origin))
				}
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
