package host_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestCloseOnTokenExpiry (issue 13 item 10): a connection is closed with 3000 "token expired" when
// its token expires (close_on_expiry, on by default); with close_on_expiry = false it outlives
// its token.
func TestCloseOnTokenExpiry(t *testing.T) {
	t.Setenv("WASMSOCK_TEST_JWT_SECRET", testSecret)
	_, base := startConfigTop(t, "", probe, `
[[route]]
path = "/default"
plugin = "p"
[route.auth]
required = true
algorithms = ["HS256"]
secret = { env = "WASMSOCK_TEST_JWT_SECRET" }
clock_skew = "0s"
[[route]]
path = "/keep"
plugin = "p"
[route.auth]
required = true
algorithms = ["HS256"]
secret = { env = "WASMSOCK_TEST_JWT_SECRET" }
clock_skew = "0s"
close_on_expiry = false`)
	exp := time.Now().Add(2 * time.Second).Unix()
	tok := token(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice", "exp": exp})
	h := http.Header{"Authorization": {"Bearer " + tok}}
	closing := wstest.Dial(t, base+"/default", h)
	keep := wstest.Dial(t, base+"/keep", h)
	if got := command(t, closing, "echo before"); got != "before" {
		t.Fatalf("before expiry: %q", got)
	}

	code, reason := closing.ExpectClose(10 * time.Second)
	if code != host.CloseTokenExpired || reason != "token expired" {
		t.Errorf("at expiry: close %d %q, want %d \"token expired\"", code, reason, host.CloseTokenExpired)
	}
	if now := time.Now().Unix(); now < exp {
		t.Errorf("closed at %d, before the token's exp %d", now, exp)
	}
	// The token has expired (the other connection was closed for it); this one stays.
	if got := command(t, keep, "echo after"); got != "after" {
		t.Errorf("close_on_expiry = false: %q after expiry, want the echo", got)
	}
}
