package host

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/auth"
	"github.com/wasmsock/wasmsock/host/config"
)

// guard is what a route checks before its plugin's on_connect: the Origin (cross-site WebSocket
// hijacking), the token (authentication) and the connection limits.
type guard struct {
	origin *auth.OriginChecker
	auth   *auth.Authenticator // nil: no authentication on the route
}

// newGuard builds a route's guard; keys are loaded now, so a missing key file or environment
// variable stops the server from starting.
func newGuard(cfg *config.Config, rc *config.Route) (*guard, error) {
	g := &guard{}
	var err error
	if g.origin, err = auth.NewOriginChecker(rc.OriginPolicy()); err != nil {
		return nil, fmt.Errorf("route %s: %w", rc.Path, err)
	}
	if a := rc.AuthConfig(cfg); a != nil {
		if g.auth, err = auth.New(*a, cfg.Dir); err != nil {
			return nil, fmt.Errorf("route %s: auth: %w", rc.Path, err)
		}
	}
	return g, nil
}

// check runs the origin and token checks for c. On success c.user and c.namespace are set from
// the token (when the route authenticates) or from the route's unauthenticated sources.
func (s *Server) check(c *Conn) error {
	g := c.route.guard
	origin, _ := c.header("origin")
	if err := g.origin.CheckHost(origin, c.host, false); err != nil {
		return c.refuseAuth(err, "origin")
	}
	if g.auth != nil {
		id, err := g.auth.Authenticate(auth.FromHeaderPairs(c.headers, c.query))
		if err != nil {
			return c.refuseAuth(err, "auth")
		}
		if id.Authenticated {
			c.user, c.namespace = id.User, id.Namespace
			if c.namespace != "" {
				return nil // the token's namespace wins over the route's source
			}
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

// refuseAuth turns an auth.Error into the handshake's answer (401 or 403 with its reason).
func (c *Conn) refuseAuth(err error, label string) error {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		return c.refuse(http.StatusForbidden, label, "refused")
	}
	c.log.Debug("handshake refused", "check", label, "reason", ae.Reason, "detail", fmt.Sprintf("%q", errString(ae.Err)))
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
func (c *Conn) allowMessage(now time.Time) bool {
	rate := float64(*c.srv.cfg.Limits.MessagesPerSecond)
	if rate <= 0 {
		return true
	}
	return c.msgBucket.take(now, rate, 2*rate)
}
