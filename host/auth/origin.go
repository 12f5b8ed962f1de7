package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// OriginPolicy says which browser origins may open a WebSocket (the Origin request header,
// RFC 6454). Browsers send Origin on every WebSocket handshake and let any page open a
// WebSocket to any host, with the user's cookies: checking Origin is what stops another site
// from using a logged-in user's session (cross-site WebSocket hijacking).
type OriginPolicy struct {
	// Allowed lists the origins allowed, each one of:
	//   - "https://example.com", "http://localhost:8080", "http://[::1]:8080": that exact
	//     origin. Scheme and port must match (a missing port is the scheme's default:
	//     "https://x" and "https://x:443" are the same origin); the host is case-insensitive.
	//   - "https://*.example.com": any subdomain, at any depth (a.example.com, a.b.example.com),
	//     with that scheme and port; not example.com itself, not evil-example.com. The part
	//     after "*." needs at least two labels ("*.com" is refused).
	//   - "null": the opaque origin browsers send from sandboxed iframes, file: pages and some
	//     redirects. Never allowed unless listed, and listing it is rarely right: any sandboxed
	//     page anywhere sends it.
	//   - "*": any origin except "null". UNSAFE with cookie or browser-held credentials: any
	//     site can then connect as the user. Only for public, unauthenticated endpoints.
	// Empty: see Check and CheckHost.
	Allowed []string `toml:"allowed_origins"`
	// AllowMissing lets in handshakes without an Origin header. Browsers always send one, so
	// this is for non-browser clients (servers, CLI tools, mobile apps). The zero value is
	// false; the host's config key allow_missing_origin defaults to true.
	AllowMissing bool `toml:"allow_missing_origin"`
}

// origin is a parsed tuple origin: lower-case scheme and host, port "" when it is the scheme's
// default. For a wildcard entry, host is the part after "*.".
type origin struct {
	scheme, host, port string
	ip                 bool
}

func (o origin) String() string {
	s := o.scheme + "://" + o.host
	if o.port != "" {
		s += ":" + o.port
	}
	return s
}

// OriginChecker is a compiled OriginPolicy. It is safe for concurrent use.
type OriginChecker struct {
	empty        bool
	any          bool
	null         bool
	allowMissing bool
	exact        map[origin]bool
	wildcards    []origin
}

// Validate checks the entries of allowed_origins. It returns nil or the errors.Join of one
// *ConfigError per bad entry, naming it ("allowed_origins[1]").
func (p OriginPolicy) Validate() error {
	_, err := NewOriginChecker(p)
	return err
}

// NewOriginChecker validates and compiles p.
func NewOriginChecker(p OriginPolicy) (*OriginChecker, error) {
	c := &OriginChecker{
		empty:        len(p.Allowed) == 0,
		allowMissing: p.AllowMissing,
		exact:        map[origin]bool{},
	}
	var errs []error
	for i, e := range p.Allowed {
		key := fmt.Sprintf("allowed_origins[%d]", i)
		switch {
		case e == "*":
			c.any = true
		case e == "null":
			c.null = true
		case strings.Contains(e, "://*."):
			w, err := parseWildcard(e)
			if err != nil {
				errs = append(errs, cfgErr(key, "%q: %v", e, err))
				continue
			}
			c.wildcards = append(c.wildcards, w)
		default:
			o, err := parseOrigin(e)
			if err != nil {
				errs = append(errs, cfgErr(key, "%q: %v", e, err))
				continue
			}
			c.exact[o] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func forbidden(reason string, cause error) *Error {
	return &Error{Status: http.StatusForbidden, Reason: reason, Err: cause}
}

// Check checks the value of the Origin header ("" when the request has none; a request with
// the header more than once should be given the values joined with ", ", which is refused).
// It returns nil or an *Error with Status 403 and Reason ReasonOriginNotAllowed or
// ReasonMissingOrigin.
//
// With an empty allowed_origins list Check allows everything: no origin check at all. The host
// should call CheckHost instead, which then allows only the same origin.
func (c *OriginChecker) Check(origin string) error {
	if c.empty {
		return nil
	}
	return c.check(origin)
}

// CheckHost is Check, except that with an empty allowed_origins list it allows only the same
// origin as the request (see SameOrigin), not everything. host is the Host header; tls says
// whether the client reached the host over https (true behind a TLS-terminating proxy that
// the client used https to reach). A missing Origin is allowed only with allow_missing_origin.
//
// This is the default the host should use: a browser page served by this host can connect, a
// page of any other site cannot, and non-browser clients need allow_missing_origin.
func (c *OriginChecker) CheckHost(origin, host string, tls bool) error {
	if !c.empty {
		return c.check(origin)
	}
	if origin == "" {
		if c.allowMissing {
			return nil
		}
		return forbidden(ReasonMissingOrigin, nil)
	}
	if SameOrigin(origin, host, tls) {
		return nil
	}
	return forbidden(ReasonOriginNotAllowed, fmt.Errorf("origin %q is not the same as the host's %q", origin, host))
}

func (c *OriginChecker) check(s string) error {
	if s == "" {
		if c.allowMissing {
			return nil
		}
		return forbidden(ReasonMissingOrigin, nil)
	}
	if s == "null" {
		if c.null {
			return nil
		}
		return forbidden(ReasonOriginNotAllowed, errors.New(`origin "null" is not listed`))
	}
	o, err := parseOrigin(s)
	if err != nil {
		return forbidden(ReasonOriginNotAllowed, fmt.Errorf("origin %q: %w", s, err))
	}
	if c.any || c.exact[o] {
		return nil
	}
	if !o.ip {
		for _, w := range c.wildcards {
			if o.scheme == w.scheme && o.port == w.port &&
				len(o.host) > len(w.host)+1 && strings.HasSuffix(o.host, w.host) && o.host[len(o.host)-len(w.host)-1] == '.' {
				return nil
			}
		}
	}
	return forbidden(ReasonOriginNotAllowed, fmt.Errorf("origin %q is not allowed", s))
}

// SameOrigin reports whether origin (an Origin header value) is the origin of a request with
// this Host header reached over https (tls) or http. Scheme, host and port must all match,
// default ports normalised (http 80, https 443), host case-insensitive. An origin of "null"
// or one that does not parse is never the same origin.
func SameOrigin(origin, host string, tls bool) bool {
	if origin == "" || host == "" || origin == "null" {
		return false
	}
	o, err := parseOrigin(origin)
	if err != nil {
		return false
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	h, err := parseOrigin(scheme + "://" + host)
	if err != nil {
		return false
	}
	return o == h
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// parseOrigin parses an origin serialization: scheme "://" host [":" port], nothing else (no
// user info, path, query or fragment; not even a trailing "/"). Scheme and host are
// lower-cased, an IPv6 address is put in canonical form and the scheme's default port is
// dropped.
func parseOrigin(s string) (origin, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return origin{}, errors.New(`want scheme "://" host [":" port]`)
	}
	if !validScheme(scheme) {
		return origin{}, errors.New("invalid scheme")
	}
	o := origin{scheme: strings.ToLower(scheme)}
	if i := strings.IndexAny(rest, "/?#@\\"); i >= 0 {
		return origin{}, fmt.Errorf("unexpected %q: an origin has no user info, path, query or fragment", rest[i])
	}
	hostport := rest
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return origin{}, errors.New("unclosed '[' in the host")
		}
		addr, err := netip.ParseAddr(rest[1:end])
		if err != nil || !addr.Is6() || addr.Zone() != "" || addr.Is4In6() {
			return origin{}, errors.New("invalid IPv6 address")
		}
		o.host, o.ip = "["+addr.String()+"]", true
		hostport = rest[end+1:]
		if hostport != "" && hostport[0] != ':' {
			return origin{}, errors.New("unexpected text after the IPv6 address")
		}
		if hostport != "" {
			hostport = "x" + hostport // a placeholder host before ":port"
		}
	}
	host, port, hasPort := strings.Cut(hostport, ":")
	if hasPort {
		if err := validPort(port); err != nil {
			return origin{}, err
		}
		o.port = port
	}
	if !o.ip {
		h, ip, err := parseHost(host)
		if err != nil {
			return origin{}, err
		}
		o.host, o.ip = h, ip
	}
	if o.port != "" && o.port == defaultPorts[o.scheme] {
		o.port = ""
	}
	return o, nil
}

// parseWildcard parses "scheme://*.domain[:port]".
func parseWildcard(s string) (origin, error) {
	w, err := parseOrigin(strings.Replace(s, "://*.", "://", 1))
	if err != nil {
		return origin{}, err
	}
	if w.ip {
		return origin{}, errors.New("a wildcard needs a domain name, not an IP address")
	}
	if !strings.Contains(w.host, ".") {
		return origin{}, errors.New(`a wildcard needs at least two labels after "*." (such as "*.example.com")`)
	}
	return w, nil
}

func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func validPort(p string) error {
	if p == "" || len(p) > 5 || (len(p) > 1 && p[0] == '0') {
		return errors.New("invalid port")
	}
	for i := 0; i < len(p); i++ {
		if !isDigit(p[i]) {
			return errors.New("invalid port")
		}
	}
	if n, _ := strconv.Atoi(p); n < 1 || n > 65535 {
		return errors.New("port out of range")
	}
	return nil
}

// parseHost checks and lower-cases a DNS name or an IPv4 address. Names must be ASCII (an
// internationalised name is written in its "xn--" form, as browsers send it), made of labels of
// letters, digits, '-' and '_' of at most 63 bytes, 253 bytes in all, with no trailing dot.
func parseHost(h string) (host string, ip bool, err error) {
	if h == "" {
		return "", false, errors.New("empty host")
	}
	if len(h) > 253 {
		return "", false, errors.New("host name too long")
	}
	// Check the bytes before lower-casing: strings.ToLower maps some non-ASCII runes to ASCII
	// (U+212A KELVIN SIGN becomes 'k').
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" {
			return "", false, errors.New("empty label in the host (or a trailing dot)")
		}
		if len(l) > 63 {
			return "", false, errors.New("host label longer than 63 bytes")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
				return "", false, fmt.Errorf("invalid character %q in the host", c)
			}
		}
	}
	h = strings.ToLower(h)
	// A last label of digits only is an IPv4 address (RFC 3986 / WHATWG URL): it must be one,
	// in dotted-decimal form.
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		addr, err := netip.ParseAddr(h)
		if err != nil || !addr.Is4() {
			return "", false, errors.New("invalid IPv4 address")
		}
		return addr.String(), true, nil
	}
	return h, false, nil
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
