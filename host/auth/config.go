package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults and limits. The doc comment of the package lists the same values for the README.
const (
	// DefaultClockSkew is the leeway for exp, nbf and iat when clock_skew is not set.
	DefaultClockSkew = 30 * time.Second
	// MaxClockSkew is the largest clock_skew accepted.
	MaxClockSkew = 5 * time.Minute
	// DefaultUserClaim is the claim the user id is read from when user_claim is not set.
	DefaultUserClaim = "sub"
	// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518 section 3.2: a key of the
	// same size as the hash output, 256 bits, or larger).
	MinSecretBytes = 32
	// MinRSABits is the smallest RSA public key accepted.
	MinRSABits = 2048
	// MaxTokenBytes is the longest token accepted; a longer one is a "malformed token".
	MaxTokenBytes = 8 << 10
	// MaxIdentityBytes is the longest user id or namespace: "user:" plus the id must fit in a
	// 128-byte group name.
	MaxIdentityBytes = 123
	// maxKeyFileBytes bounds what is read from a key file or variable.
	maxKeyFileBytes = 1 << 20
)

// Supported signing algorithms.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
)

var supportedAlgorithms = []string{HS256, RS256, ES256}

// Token sources (entries of token_from).
const (
	// SourceHeader is the Authorization request header with the Bearer scheme (RFC 6750).
	SourceHeader = "header"
	// SourceQueryPrefix starts a query parameter source: "query:NAME".
	SourceQueryPrefix = "query:"
	// SourceCookiePrefix starts a cookie source: "cookie:NAME".
	SourceCookiePrefix = "cookie:"
)

// Config configures the authentication of WebSocket handshakes with JSON Web Tokens. It is meant
// to be decoded from TOML; the package documentation lists every key with its default.
type Config struct {
	// Required: true refuses (401) a handshake without a valid token; false lets a handshake
	// without any token in through as anonymous. An invalid token is refused (401) either way.
	Required bool `toml:"required"`
	// Algorithms the tokens may be signed with: a non-empty subset of HS256, RS256 and ES256
	// (RS256 and ES256 exclude each other: there is one public_key). Any other "alg", "none"
	// included, is refused.
	Algorithms []string `toml:"algorithms"`
	// Secret is the HS256 key (required with HS256, refused without it).
	Secret KeySource `toml:"secret"`
	// PublicKey is the PEM public key (PKIX "PUBLIC KEY", PKCS #1 "RSA PUBLIC KEY" or a
	// "CERTIFICATE") for RS256 (RSA, >= 2048 bits) or ES256 (ECDSA P-256). Required with RS256
	// or ES256, refused without them.
	PublicKey KeySource `toml:"public_key"`
	// Issuer, when set, must equal the token's "iss".
	Issuer string `toml:"issuer"`
	// Audience, when set, must be in the token's "aud".
	Audience string `toml:"audience"`
	// ClockSkew is the leeway for exp, nbf and iat (default 30s, at most 5m).
	ClockSkew Duration `toml:"clock_skew"`
	// TokenFrom lists where the token is looked for, in order: "header", "query:NAME",
	// "cookie:NAME" (default ["header"]). The first source that carries a token decides.
	TokenFrom []string `toml:"token_from"`
	// UserClaim names the claim holding the user id (default "sub").
	UserClaim string `toml:"user_claim"`
	// NamespaceClaim, when set, names the claim holding the connection's namespace; a token
	// without it is refused.
	NamespaceClaim string `toml:"namespace_claim"`
	// CloseOnExpiry closes a connection when its token expires ("exp" plus clock_skew), with
	// close code 3000 and reason "token expired" (default true). false lets a connection outlive
	// its token: the token is only checked at the handshake.
	CloseOnExpiry *bool `toml:"close_on_expiry"`
}

// KeySource says where key material is read from: exactly one of a file (a path relative to
// the config file's directory, or absolute) or an environment variable. Keys are never written
// inline in the config.
type KeySource struct {
	File string `toml:"file"`
	Env  string `toml:"env"`
}

// IsZero reports whether neither file nor env is set.
func (k KeySource) IsZero() bool { return k.File == "" && k.Env == "" }

// Duration is a TOML string such as "30s" or "1m30s" (Go's time.ParseDuration syntax).
type Duration struct {
	D   time.Duration
	Set bool // the config gave a value, so an explicit "0s" is not replaced by the default
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: \"0s\", \"30s\", \"2m\")", string(b))
	}
	d.D, d.Set = v, true
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.D.String()), nil }

// ConfigError is one problem with a Config or an OriginPolicy. Key is the TOML key relative to
// the table the struct is decoded from ("algorithms", "secret.env", "allowed_origins[2]"); the
// caller prefixes its table name. Msg never contains key material.
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the config without reading any key (New does that). It returns nil or the
// errors.Join of one *ConfigError per problem found.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	// algorithms
	var hs, rs, es bool
	if len(c.Algorithms) == 0 {
		add(cfgErr("algorithms", "required: list one or more of %s", strings.Join(supportedAlgorithms, ", ")))
	}
	for i, a := range c.Algorithms {
		switch {
		case !slices.Contains(supportedAlgorithms, a):
			add(cfgErr("algorithms", "%q is not supported (supported: %s)", a, strings.Join(supportedAlgorithms, ", ")))
		case slices.Contains(c.Algorithms[:i], a):
			add(cfgErr("algorithms", "%q is listed twice", a))
		}
		hs = hs || a == HS256
		rs = rs || a == RS256
		es = es || a == ES256
	}
	if rs && es {
		add(cfgErr("algorithms", "RS256 and ES256 exclude each other: public_key holds one key, RSA or EC"))
	}

	// secret and public_key
	switch {
	case hs && c.Secret.IsZero():
		add(cfgErr("secret", "required with HS256: set secret.file or secret.env"))
	case !hs && !c.Secret.IsZero():
		add(cfgErr("secret", "set, but HS256 is not in algorithms"))
	}
	add(c.Secret.validate("secret"))
	switch {
	case (rs || es) && c.PublicKey.IsZero():
		add(cfgErr("public_key", "required with RS256 or ES256: set public_key.file or public_key.env"))
	case !rs && !es && !c.PublicKey.IsZero():
		add(cfgErr("public_key", "set, but neither RS256 nor ES256 is in algorithms"))
	}
	add(c.PublicKey.validate("public_key"))

	// clock_skew
	if c.ClockSkew.Set && (c.ClockSkew.D < 0 || c.ClockSkew.D > MaxClockSkew) {
		add(cfgErr("clock_skew", "%s is out of range (0s to %s)", c.ClockSkew.D, MaxClockSkew))
	}

	// token_from
	for i, s := range c.TokenFrom {
		key := fmt.Sprintf("token_from[%d]", i)
		if _, err := parseSource(s); err != nil {
			add(cfgErr(key, "%v", err))
		} else if slices.Contains(c.TokenFrom[:i], s) {
			add(cfgErr(key, "%q is listed twice", s))
		}
	}

	// claims
	if c.UserClaim != "" && strings.TrimSpace(c.UserClaim) != c.UserClaim {
		add(cfgErr("user_claim", "%q has leading or trailing spaces", c.UserClaim))
	}
	if c.NamespaceClaim != "" && strings.TrimSpace(c.NamespaceClaim) != c.NamespaceClaim {
		add(cfgErr("namespace_claim", "%q has leading or trailing spaces", c.NamespaceClaim))
	}
	return errors.Join(errs...)
}

func (k KeySource) validate(key string) error {
	if k.File != "" && k.Env != "" {
		return cfgErr(key, "set exactly one of %s.file and %s.env, not both", key, key)
	}
	return nil
}

// source is a parsed token_from entry.
type source struct {
	kind string // "header", "query" or "cookie"
	name string // query parameter or cookie name
}

func parseSource(s string) (source, error) {
	if s == SourceHeader {
		return source{kind: "header"}, nil
	}
	if name, ok := strings.CutPrefix(s, SourceQueryPrefix); ok {
		if name == "" {
			return source{}, fmt.Errorf("%q: the query parameter name is empty", s)
		}
		return source{kind: "query", name: name}, nil
	}
	if name, ok := strings.CutPrefix(s, SourceCookiePrefix); ok {
		if !isToken(name) {
			return source{}, fmt.Errorf("%q: %q is not a valid cookie name", s, name)
		}
		return source{kind: "cookie", name: name}, nil
	}
	return source{}, fmt.Errorf("%q: want \"header\", \"query:NAME\" or \"cookie:NAME\"", s)
}

// isToken reports whether s is a non-empty RFC 9110 token (the syntax of a cookie name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
