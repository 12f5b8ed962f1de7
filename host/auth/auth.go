package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Reasons an *Error carries. They are fixed strings, safe to send to the client: they never
// contain key material, token content or configuration values.
const (
	ReasonMissingToken          = "missing token"
	ReasonMalformedToken        = "malformed token"
	ReasonAlgorithmNotAllowed   = "algorithm not allowed"
	ReasonSignatureInvalid      = "signature invalid"
	ReasonTokenExpired          = "token expired"
	ReasonTokenNotYetValid      = "token not yet valid"
	ReasonMissingExpiry         = "missing exp claim"
	ReasonAudienceMismatch      = "audience mismatch"
	ReasonIssuerMismatch        = "issuer mismatch"
	ReasonMissingUserClaim      = "missing user claim"
	ReasonInvalidUserClaim      = "invalid user claim"
	ReasonMissingNamespaceClaim = "missing namespace claim"
	ReasonInvalidNamespaceClaim = "invalid namespace claim"
	ReasonInvalidToken          = "invalid token"
	ReasonOriginNotAllowed      = "origin not allowed"
	ReasonMissingOrigin         = "missing origin"
)

// Error is an authentication (Status 401) or origin (Status 403) refusal.
type Error struct {
	// Status is the HTTP status to refuse the handshake with: 401 or 403.
	Status int
	// Reason is one of the Reason constants: a short fixed text, safe to send to the client.
	Reason string
	// Err is the underlying cause, for the server log only (nil when Reason says it all). It
	// can contain text chosen by the client (such as an "alg" value): log it as a quoted
	// attribute, and never send it to the client.
	Err error
}

// Error returns the Reason only, so that writing the error to the client reveals nothing more.
func (e *Error) Error() string { return e.Reason }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func unauthorized(reason string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Reason: reason, Err: cause}
}

// Request is what Authenticate reads from a handshake request. It needs no *http.Request:
// FromHTTP and FromHeaderPairs build one.
type Request struct {
	// Header returns every value of the named request header field, in the order received; the
	// name is matched case-insensitively. nil means no headers.
	Header func(name string) []string
	// Query is the parsed query string of the request target.
	Query url.Values
}

// FromHTTP returns the Request of an *http.Request.
func FromHTTP(r *http.Request) Request {
	return Request{
		Header: func(name string) []string { return r.Header.Values(name) },
		Query:  r.URL.Query(),
	}
}

// FromHeaderPairs returns a Request from raw header fields as read from the request head:
// pairs alternate name and value (name, value, name, value, ...).
func FromHeaderPairs(pairs []string, query url.Values) Request {
	return Request{
		Header: func(name string) []string {
			var vs []string
			for i := 0; i+1 < len(pairs); i += 2 {
				if strings.EqualFold(pairs[i], name) {
					vs = append(vs, pairs[i+1])
				}
			}
			return vs
		},
		Query: query,
	}
}

func (r Request) header(name string) []string {
	if r.Header == nil {
		return nil
	}
	return r.Header(name)
}

// Identity is who a handshake authenticated as.
type Identity struct {
	// User is the value of the user claim; "" for an anonymous connection.
	User string
	// Namespace is the value of the namespace claim; "" when namespace_claim is not set (the
	// host then picks the namespace as it would without authentication) or for an anonymous
	// connection.
	Namespace string
	// Claims are all the token's claims, as decoded from JSON, numbers as json.Number (exact);
	// nil for an anonymous connection.
	Claims map[string]any
	// Authenticated is true when a valid token was presented, false for an anonymous
	// connection (only possible when the config does not require a token).
	Authenticated bool
	// Expires is when the token stops being accepted: its "exp" plus clock_skew. Zero for an
	// anonymous connection.
	Expires time.Time
}

// Authenticator verifies the tokens of handshake requests. It is safe for concurrent use.
type Authenticator struct {
	required  bool
	algs      []string
	secret    []byte
	rsaKey    *rsa.PublicKey
	ecKey     *ecdsa.PublicKey
	sources   []source
	userClaim string
	nsClaim   string
	issuer    string
	audience  string
	parser    *jwt.Parser
	skew      time.Duration
	closeExp  bool
	now       func() time.Time // time.Now; tests replace it before first use
}

// New validates cfg, loads its keys (key file paths are relative to baseDir, the directory of
// the config file) and returns an Authenticator. Errors are *ConfigError values (joined when
// Validate finds several) naming the key at fault; they never contain key material.
func New(cfg Config, baseDir string) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{
		required:  cfg.Required,
		algs:      slices.Clone(cfg.Algorithms),
		userClaim: cfg.UserClaim,
		nsClaim:   cfg.NamespaceClaim,
		issuer:    cfg.Issuer,
		audience:  cfg.Audience,
		now:       time.Now,
	}
	if a.userClaim == "" {
		a.userClaim = DefaultUserClaim
	}
	tokenFrom := cfg.TokenFrom
	if len(tokenFrom) == 0 {
		tokenFrom = []string{SourceHeader}
	}
	for _, s := range tokenFrom {
		src, _ := parseSource(s) // checked by Validate
		a.sources = append(a.sources, src)
	}
	skew := DefaultClockSkew
	if cfg.ClockSkew.Set {
		skew = cfg.ClockSkew.D
	}
	a.skew = skew
	a.closeExp = cfg.CloseOnExpiry == nil || *cfg.CloseOnExpiry

	if slices.Contains(a.algs, HS256) {
		secret, err := loadSecret(cfg.Secret, baseDir)
		if err != nil {
			return nil, err
		}
		a.secret = secret
	}
	if slices.Contains(a.algs, RS256) || slices.Contains(a.algs, ES256) {
		pub, err := loadPublicKey(cfg.PublicKey, baseDir, a.algs)
		if err != nil {
			return nil, err
		}
		switch p := pub.(type) {
		case *rsa.PublicKey:
			a.rsaKey = p
		case *ecdsa.PublicKey:
			a.ecKey = p
		}
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.algs), // "none" and anything unlisted never reach a key
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), // an iat in the future (beyond the leeway) is refused
		jwt.WithLeeway(skew),
		jwt.WithTimeFunc(func() time.Time { return a.now() }),
		jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(), // canonical base64url only: one encoding per token
	}
	if a.issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.issuer))
	}
	if a.audience != "" {
		opts = append(opts, jwt.WithAudience(a.audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// NamespaceFromToken reports whether connections take their namespace from the token (config
// key namespace_claim). The host must then never take it from the request: not for an
// authenticated connection (the token's wins), and not for an anonymous one either.
func (a *Authenticator) NamespaceFromToken() bool { return a.nsClaim != "" }

// CloseOnExpiry reports whether a connection is to be closed when its token expires (config key
// close_on_expiry, default true).
func (a *Authenticator) CloseOnExpiry() bool { return a.closeExp }

// Required reports whether a token is required (config key "required").
func (a *Authenticator) Required() bool { return a.required }

// Authenticate finds the token of a handshake request and verifies it.
//
// The token sources (token_from) are tried in order and the first one that carries a token is
// the one used: a bad token there is refused even if a later source holds a good one, so a
// client (or an attacker planting a cookie) cannot get a different token considered by adding
// it elsewhere, and the outcome never depends on trying several. A source carries a token when
// its value is non-empty: for "header", an Authorization field with the Bearer scheme (another
// scheme, such as Basic, is not a token for this host and the next source is tried). A source
// that holds two or more tokens (repeated Authorization fields, query parameters or cookies of
// the name) is ambiguous and refused as a "malformed token".
//
// With no token anywhere it returns an anonymous Identity (Authenticated false) and a nil error
// when the config does not require one, else ReasonMissingToken. Every error is an *Error with
// Status 401.
func (a *Authenticator) Authenticate(r Request) (Identity, error) {
	tok, err := a.findToken(r)
	if err != nil {
		return Identity{}, err
	}
	if tok == "" {
		if a.required {
			return Identity{}, unauthorized(ReasonMissingToken, nil)
		}
		return Identity{}, nil
	}
	return a.Verify(tok)
}

func (a *Authenticator) findToken(r Request) (string, error) {
	for _, s := range a.sources {
		var vals []string
		switch s.kind {
		case "header":
			vals = bearerTokens(r.header("Authorization"))
		case "query":
			vals = nonEmpty(r.Query[s.name])
		case "cookie":
			var err error
			if vals, err = cookieValues(r.header("Cookie"), s.name); err != nil {
				return "", unauthorized(ReasonMalformedToken, err)
			}
		}
		switch len(vals) {
		case 0:
			continue
		case 1:
			return vals[0], nil
		default:
			return "", unauthorized(ReasonMalformedToken, fmt.Errorf("%d tokens in %s", len(vals), s.describe()))
		}
	}
	return "", nil
}

func (s source) describe() string {
	if s.kind == "header" {
		return "Authorization headers"
	}
	return s.kind + " " + s.name
}

// bearerTokens returns the credentials of the Authorization values that use the Bearer scheme
// (case-insensitive, RFC 9110 section 11.1).
func bearerTokens(values []string) []string {
	var toks []string
	for _, v := range values {
		v = strings.Trim(v, " \t")
		scheme, cred := v, ""
		if i := strings.IndexAny(v, " \t"); i >= 0 {
			scheme, cred = v[:i], strings.Trim(v[i:], " \t")
		}
		if strings.EqualFold(scheme, "Bearer") && cred != "" {
			toks = append(toks, cred)
		}
	}
	return toks
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// cookieValues returns the non-empty values of the cookies called name in the Cookie header
// fields. Each cookie-pair is parsed on its own with http.ParseCookie, so that an unrelated
// malformed cookie (set by another application on the same site) does not break
// authentication; a malformed pair with the token cookie's name is an error.
func cookieValues(headers []string, name string) ([]string, error) {
	var vals []string
	for _, h := range headers {
		for pair := range strings.SplitSeq(h, ";") {
			pair = strings.Trim(pair, " \t")
			n, _, _ := strings.Cut(pair, "=")
			if strings.Trim(n, " \t") != name {
				continue
			}
			cs, err := http.ParseCookie(pair)
			if err != nil {
				return nil, fmt.Errorf("cookie %s: %w", name, err)
			}
			for _, c := range cs {
				if c.Value != "" {
					vals = append(vals, c.Value)
				}
			}
		}
	}
	return vals, nil
}

// errCritical refuses a token whose header lists critical extensions (RFC 7515 section
// 4.1.11): this verifier implements none.
var errCritical = errors.New(`"crit" header parameter: extensions are not supported`)

// errAlgorithm is returned by the key function for an algorithm not configured. (Unreachable
// while jwt.WithValidMethods is set; kept as a second line of defence.)
var errAlgorithm = errors.New("algorithm not configured")

// key returns the verification key for the token's algorithm. The key is chosen by the
// configured algorithm, and each algorithm has its own key of its own type, so a token cannot
// make an RSA public key be used as an HMAC secret (key confusion).
func (a *Authenticator) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	alg := t.Method.Alg()
	if !slices.Contains(a.algs, alg) {
		return nil, errAlgorithm
	}
	switch alg {
	case HS256:
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok && a.secret != nil {
			return a.secret, nil
		}
	case RS256:
		if _, ok := t.Method.(*jwt.SigningMethodRSA); ok && a.rsaKey != nil {
			return a.rsaKey, nil
		}
	case ES256:
		if _, ok := t.Method.(*jwt.SigningMethodECDSA); ok && a.ecKey != nil {
			return a.ecKey, nil
		}
	}
	return nil, errAlgorithm
}

// Verify verifies a token (without its "Bearer " prefix) and returns its identity. Every error
// is an *Error with Status 401.
func (a *Authenticator) Verify(token string) (Identity, error) {
	if err := checkSyntax(token); err != nil {
		return Identity{}, unauthorized(ReasonMalformedToken, err)
	}
	claims := jwt.MapClaims{}
	t, err := a.parser.ParseWithClaims(token, claims, a.key)
	if err != nil {
		return Identity{}, unauthorized(a.reason(t, claims, err), err)
	}
	if err := checkDates(claims); err != nil {
		return Identity{}, unauthorized(ReasonMalformedToken, err)
	}
	id := Identity{Claims: claims, Authenticated: true}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.Expires = exp.Add(a.skew)
	}
	if id.User, err = identityClaim(claims, a.userClaim); err != nil {
		reason := ReasonInvalidUserClaim
		if errors.Is(err, errClaimMissing) {
			reason = ReasonMissingUserClaim
		}
		return Identity{}, unauthorized(reason, fmt.Errorf("claim %q: %w", a.userClaim, err))
	}
	if a.nsClaim != "" {
		if id.Namespace, err = identityClaim(claims, a.nsClaim); err != nil {
			reason := ReasonInvalidNamespaceClaim
			if errors.Is(err, errClaimMissing) {
				reason = ReasonMissingNamespaceClaim
			}
			return Identity{}, unauthorized(reason, fmt.Errorf("claim %q: %w", a.nsClaim, err))
		}
	}
	return id, nil
}

// checkSyntax refuses, before any parsing, what cannot be a compact JWS: too long, or bytes
// other than base64url and the two dots.
func checkSyntax(tok string) error {
	if len(tok) > MaxTokenBytes {
		return fmt.Errorf("token is %d bytes, longer than %d", len(tok), MaxTokenBytes)
	}
	dots := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
		default:
			return fmt.Errorf("byte %#02x at offset %d is not base64url", c, i)
		}
	}
	if dots != 2 {
		return fmt.Errorf("%d dots: a token has 3 segments", dots+1)
	}
	return nil
}

// reason maps a jwt error to a Reason. Signature errors are decided before any claim is looked
// at (the library verifies the signature first), so the claim reasons are only ever given for
// tokens the configured key really signed.
func (a *Authenticator) reason(t *jwt.Token, claims jwt.MapClaims, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ReasonMalformedToken
	case errors.Is(err, errCritical):
		return ReasonMalformedToken
	case errors.Is(err, errAlgorithm):
		return ReasonAlgorithmNotAllowed
	}
	if t != nil {
		// WithValidMethods reports an unlisted algorithm as a signature error, and an unknown
		// one as unverifiable: both are "algorithm not allowed".
		alg, ok := t.Header["alg"].(string)
		if !ok {
			return ReasonMalformedToken
		}
		if !slices.Contains(a.algs, alg) {
			return ReasonAlgorithmNotAllowed
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ReasonSignatureInvalid
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return ReasonInvalidToken
	case errors.Is(err, jwt.ErrInvalidType):
		return ReasonMalformedToken // a registered claim of the wrong JSON type
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case claimAbsent(claims, "exp"):
			return ReasonMissingExpiry
		case a.issuer != "" && claimAbsent(claims, "iss"):
			return ReasonIssuerMismatch
		case a.audience != "":
			return ReasonAudienceMismatch
		}
		return ReasonInvalidToken
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonTokenNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonIssuerMismatch
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonAudienceMismatch
	}
	return ReasonInvalidToken
}

// claimAbsent mirrors how the library treats a missing string claim ("iss"): absent or "".
// (Numbers are json.Number, never float64, so "exp": 0 is present: a date in 1970.)
func claimAbsent(claims jwt.MapClaims, name string) bool {
	v, ok := claims[name]
	return !ok || v == ""
}

// maxNumericDate bounds exp, nbf and iat (year 5138), far inside what time.Time and the
// library's float conversion handle exactly; a larger or non-finite value is malformed.
const maxNumericDate = 1e11

// checkDates refuses numeric dates the library would convert with overflow (an nbf of 1e300
// converts to a time in the distant past).
func checkDates(claims jwt.MapClaims) error {
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("claim %q is not a number", name)
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
			return fmt.Errorf("claim %q is out of range", name)
		}
	}
	return nil
}

var errClaimMissing = errors.New("missing or empty")

// identityClaim returns a claim that becomes a user id or a namespace: a non-empty JSON string
// of at most MaxIdentityBytes bytes of valid UTF-8 without control characters, so that
// "user:" + id is a valid group name.
func identityClaim(claims jwt.MapClaims, name string) (string, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return "", errClaimMissing
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return "", fmt.Errorf("not a string (%T)", v)
	case s == "":
		return "", errClaimMissing
	case len(s) > MaxIdentityBytes:
		return "", fmt.Errorf("%d bytes, longer than %d", len(s), MaxIdentityBytes)
	case !ValidIdentity(s):
		return "", errors.New("not valid UTF-8, or contains a control character")
	}
	return s, nil
}

// ValidIdentity reports whether s can be a user id or a namespace: 1 to MaxIdentityBytes bytes
// of valid UTF-8 without control characters (U+0000-U+001F, U+007F-U+009F).
func ValidIdentity(s string) bool {
	if s == "" || len(s) > MaxIdentityBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return true
}
