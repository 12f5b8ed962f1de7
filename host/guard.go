package host

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/auth"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/internal/clock"
)

// guard is what a route checks before its plugin's on_connect: the Origin (cross-site WebSocket
// hijacking), the token (authentication) and the connection limits.
type guard struct {
	origin *auth.OriginChecker
	auth   *auth.Authenticator // nil: no authentication on the route
}

// newGuard builds a route's guard; keys are loaded now, so a missing key file or environment
// variable stops the server from starting. shared is the authenticator of the top-level [auth]
// (nil without one), used by routes without an [route.auth] of their own. Errors are
// *auth.ConfigError values (joined), with keys relative to the route's table ("auth.secret.env").
func newGuard(cfg *config.Config, rc *config.Route, shared *auth.Authenticator) (*guard, error) {
	g := &guard{auth: shared}
	var err error
	if g.origin, err = auth.NewOriginChecker(rc.OriginPolicy()); err != nil {
		return nil, err
	}
	if rc.Auth != nil {
		if g.auth, err = auth.New(*rc.Auth, cfg.Dir); err != nil {
			return nil, underKey("auth", err)
		}
	}
	return g, nil
}

// underKey puts the keys of the *auth.ConfigError values in err under the table key prefix.
func underKey(prefix string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for i, e := range errs {
		var ce *auth.ConfigError
		if errors.As(e, &ce) {
			errs[i] = &auth.ConfigError{Key: prefix + "." + ce.Key, Msg: ce.Msg}
		} else {
			errs[i] = &auth.ConfigError{Key: prefix, Msg: e.Error()}
		}
	}
	return errors.Join(errs...)
}

// check runs the origin and token checks for c. On success c.user and c.namespace are set from
// the token (when the route authenticates) or from the route's unauthenticated sources.
//
// Behind a trusted proxy (trusted_proxies), the client's address (for the per-IP limits, which
// are applied to it here) and the scheme and host it used (for the same-origin check) are those
// the proxy reports.
func (s *Server) check(c *Conn) error {
	g := c.route.guard
	_, secure := c.nc.(*tls.Conn)
	host := c.host
	if f, ok := s.proxies.resolve(c.ip, c.headerValues); ok {
		c.ip, c.remoteAddr = f.ip, f.ip
		switch f.proto {
		case "https", "wss":
			secure = true
		case "http", "ws":
			secure = false
		}
		if f.host != "" {
			host = f.host
		}
		if !s.limits.take(c.ip, clock.Now()) {
			return c.refuse(http.StatusTooManyRequests, "rate_per_ip", "too many new connections from your address")
		}
	}
	origin, _ := c.header("origin")
	if err := g.origin.CheckHost(origin, host, secure); err != nil {
		return c.refuseAuth(err, "origin")
	}
	if g.auth != nil {
		id, err := g.auth.Authenticate(auth.FromHeaderPairs(c.headers, c.query))
		if err != nil {
			return c.refuseAuth(err, "auth")
		}
		if id.Authenticated {
			c.user, c.namespace = id.User, id.Namespace
			if g.auth.CloseOnExpiry() {
				if !id.Expires.IsZero() {
					c.expires = id.Expires.UnixNano()
				}
			}
		}
		if g.auth.NamespaceFromToken() {
			// The namespace is the token's, never the request's: a connection without a token
			// (required = false) stays in the default namespace "" whatever it asks for.
			return nil
		}
	} else {
		var ok bool
		if c.user, ok = c.source(c.route.cfg.User); !ok {
			return c.refuse(http.StatusBadRequest, "bad_identity", "invalid user id")
		}
	}
	var ok bool
	if c.namespace, ok = c.source(c.route.cfg.Namespace); !ok {
		return c.refuse(http.StatusBadRequest, "bad_identity", "invalid namespace")
	}
	return nil
}

// CloseTokenExpired is the close code of a connection whose token expired (close_on_expiry):
// 3000, "Unauthorized" in the IANA WebSocket close code registry. A client that gets it should
// fetch a fresh token and reconnect.
const CloseTokenExpired = 3000

// startExpiry closes the connection with CloseTokenExpired when its token expires, if the route
// says so (close_on_expiry, on by default). It runs once the connection is upgraded; finish stops
// the timer.
func (c *Conn) startExpiry() {
	if c.expires == 0 {
		return
	}
	expires := time.Unix(0, c.expires)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return
	}
	c.expiry = time.AfterFunc(time.Until(expires), func() {
		if c.startClose(CloseTokenExpired, "token expired", false) {
			c.logger().Info("token expired: closing", "expired", expires.Format(time.RFC3339))
		}
	})
}

// headerValues returns every value of a request header (name in lower case).
func (c *Conn) headerValues(name string) []string {
	var vs []string
	for i := 0; i+1 < len(c.headers); i += 2 {
		if c.headers[i] == name {
			vs = append(vs, c.headers[i+1])
		}
	}
	return vs
}

// refuseAuth turns an auth.Error into the handshake's answer (401 or 403 with its reason).
func (c *Conn) refuseAuth(err error, label string) error {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		return c.refuse(http.StatusForbidden, label, "refused")
	}
	c.logger().Debug("handshake refused", "check", label, "reason", ae.Reason, "detail", fmt.Sprintf("%q", errString(ae.Err)))
	c.rejected = label
	opts := []ws.RejectOption{ws.RejectionStatus(ae.Status), ws.RejectionReason(ae.Reason)}
	if ae.Status == http.StatusUnauthorized {
		opts = append(opts, ws.RejectionHeader(ws.HandshakeHeaderString("WWW-Authenticate: Bearer\r\n")))
	}
	return ws.RejectConnectionError(opts...)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// admitLimits counts c against the connection limits, or refuses it: 503 when the server is
// full, 429 when its IP has too many connections.
func (s *Server) admitLimits(c *Conn) error {
	ok, perIP := s.limits.acquire(c.ip)
	switch {
	case ok:
		c.counted = true
		return nil
	case perIP:
		return c.refuse(http.StatusTooManyRequests, "limit_per_ip", "too many connections from your address")
	}
	return c.refuse(http.StatusServiceUnavailable, "limit_total", "server full")
}

// allowMessage applies the per-connection message rate (token bucket); false means the
// connection went over it.
func (c *Conn) allowMessage(now int64) bool {
	rate := float64(*c.srv.cur.Load().cfg.Limits.MessagesPerSecond) // a reload applies at once
	if rate <= 0 {
		return true
	}
	return c.msgBucket.take(now, rate, 2*rate)
}
