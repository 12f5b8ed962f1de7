package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/golang-jwt/jwt/v5"
)

// testNow is the clock of every Authenticator in these tests.
var testNow = time.Unix(1_700_000_000, 0)

var (
	rsaKey   = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaOther = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	ecKey    = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
	ecOther  = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func pkixPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func randomSecret(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return []byte(hex.EncodeToString(b)) // 64 printable bytes
}

// fixture holds the keys of one test, written to files in a temporary directory.
type fixture struct {
	dir     string
	secret  []byte
	rsaPEM  []byte // the RSA public key, PKIX PEM (public_key file "rsa.pem")
	ecPEM   []byte // the EC public key ("ec.pem")
	secret2 []byte // another secret, never configured
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{
		dir:     t.TempDir(),
		secret:  randomSecret(t),
		secret2: randomSecret(t),
		rsaPEM:  pkixPEM(t, &rsaKey().PublicKey),
		ecPEM:   pkixPEM(t, &ecKey().PublicKey),
	}
	f.write(t, "secret", append(append([]byte{}, f.secret...), '\n')) // as `echo` writes it
	f.write(t, "rsa.pem", f.rsaPEM)
	f.write(t, "ec.pem", f.ecPEM)
	return f
}

func (f *fixture) write(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) config(algs ...string) Config {
	c := Config{Required: true, Algorithms: algs}
	for _, a := range algs {
		switch a {
		case HS256:
			c.Secret = KeySource{File: "secret"}
		case RS256:
			c.PublicKey = KeySource{File: "rsa.pem"}
		case ES256:
			c.PublicKey = KeySource{File: "ec.pem"}
		}
	}
	return c
}

func (f *fixture) newAuth(t testing.TB, c Config) *Authenticator {
	t.Helper()
	a, err := New(c, f.dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.now = func() time.Time { return testNow }
	return a
}

// claims returns valid claims for user alice with the changes given: a nil value deletes the
// claim.
func claims(changes map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "alice",
		"iat": testNow.Add(-time.Minute).Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// handMade builds a token from a header and claims with the given signature bytes.
func handMade(header map[string]any, c jwt.MapClaims, sig []byte) string {
	return b64(header) + "." + b64(c) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hs256With signs header+claims with HMAC-SHA256 under key (for hand-made headers).
func hs256With(t testing.TB, header map[string]any, c jwt.MapClaims, key []byte) string {
	t.Helper()
	signing := b64(header) + "." + b64(c)
	sig, err := jwt.SigningMethodHS256.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// signRaw signs a hand-written header and payload JSON with HS256.
func signRaw(t testing.TB, header, payload string, key []byte) string {
	t.Helper()
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// req builds a Request from header name/value pairs and a raw query.
func req(query string, pairs ...string) Request {
	q, err := url.ParseQuery(query)
	if err != nil {
		panic(err)
	}
	return FromHeaderPairs(pairs, q)
}

func bearer(tok string) Request { return req("", "authorization", "Bearer "+tok) }

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v (cause: %v)", err, errors.Unwrap(err))
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error %q", err, err, reason)
	}
	if e.Reason != reason || e.Error() != reason {
		t.Fatalf("reason = %q (cause: %v), want %q", e.Reason, e.Err, reason)
	}
	if e.Status != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", e.Status)
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, f.secret, c) }
	rs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, rsaKey(), c) }
	es := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodES256, ecKey(), c) }
	valid := claims(nil)
	noneHeader := map[string]any{"alg": "none", "typ": "JWT"}

	tampered := func() string {
		parts := strings.Split(hs(valid), ".")
		parts[1] = b64(claims(map[string]any{"sub": "mallory"}))
		return strings.Join(parts, ".")
	}()
	long := strings.Repeat("a", MaxIdentityBytes)
	// Invalid UTF-8 in the user claim: encoding/json would replace it, so the JSON is hand-made.
	invalidUTF8 := signRaw(t, `{"alg":"HS256"}`, `{"sub":"ali`+"\xff"+`ce","exp":`+jsonInt(testNow.Add(time.Hour).Unix())+`}`, f.secret)
	notObject := signRaw(t, `{"alg":"HS256"}`, `[1]`, f.secret)

	type tc struct {
		name   string
		cfg    func(c *Config)
		algs   []string // default HS256
		req    Request
		reason string // "" = success
		user   string // checked on success ("" = anonymous)
		ns     string
		anon   bool
	}
	tests := []tc{
		// The three algorithms.
		{name: "HS256 valid", req: bearer(hs(valid)), user: "alice"},
		{name: "RS256 valid", algs: []string{RS256}, req: bearer(rs(valid)), user: "alice"},
		{name: "ES256 valid", algs: []string{ES256}, req: bearer(es(valid)), user: "alice"},
		{name: "HS256+RS256 config, RS256 token", algs: []string{HS256, RS256}, req: bearer(rs(valid)), user: "alice"},
		{name: "HS256+RS256 config, HS256 token", algs: []string{HS256, RS256}, req: bearer(hs(valid)), user: "alice"},

		// Time.
		{name: "expired", req: bearer(hs(claims(map[string]any{"exp": testNow.Add(-time.Minute).Unix()}))), reason: ReasonTokenExpired},
		{name: "expired within skew", req: bearer(hs(claims(map[string]any{"exp": testNow.Add(-10 * time.Second).Unix()}))), user: "alice"},
		{name: "expired within skew, skew 0", cfg: func(c *Config) { c.ClockSkew = Duration{Set: true} },
			req: bearer(hs(claims(map[string]any{"exp": testNow.Add(-10 * time.Second).Unix()}))), reason: ReasonTokenExpired},
		{name: "exp 0", req: bearer(hs(claims(map[string]any{"exp": 0}))), reason: ReasonTokenExpired},
		{name: "nbf in future beyond skew", req: bearer(hs(claims(map[string]any{"nbf": testNow.Add(time.Minute).Unix()}))), reason: ReasonTokenNotYetValid},
		{name: "nbf in future within skew", req: bearer(hs(claims(map[string]any{"nbf": testNow.Add(10 * time.Second).Unix()}))), user: "alice"},
		{name: "nbf in future, skew 0", cfg: func(c *Config) { c.ClockSkew = Duration{Set: true} },
			req: bearer(hs(claims(map[string]any{"nbf": testNow.Add(10 * time.Second).Unix()}))), reason: ReasonTokenNotYetValid},
		{name: "nbf in future, skew 2m", cfg: func(c *Config) { c.ClockSkew = Duration{D: 2 * time.Minute, Set: true} },
			req: bearer(hs(claims(map[string]any{"nbf": testNow.Add(time.Minute).Unix()}))), user: "alice"},
		{name: "nbf past", req: bearer(hs(claims(map[string]any{"nbf": testNow.Add(-time.Minute).Unix()}))), user: "alice"},
		{name: "iat in future", req: bearer(hs(claims(map[string]any{"iat": testNow.Add(time.Hour).Unix()}))), reason: ReasonTokenNotYetValid},
		{name: "missing exp", req: bearer(hs(claims(map[string]any{"exp": nil}))), reason: ReasonMissingExpiry},
		{name: "exp not a number", req: bearer(hs(claims(map[string]any{"exp": "tomorrow"}))), reason: ReasonMalformedToken},
		{name: "exp null", req: bearer(hs(claims(map[string]any{"exp": json.RawMessage("null")}))), reason: ReasonMalformedToken},
		{name: "nbf huge", req: bearer(hs(claims(map[string]any{"nbf": json.RawMessage("1e300")}))), reason: ReasonMalformedToken},
		{name: "exp huge", req: bearer(hs(claims(map[string]any{"exp": json.RawMessage("1e300")}))), reason: ReasonTokenExpired},

		// Signatures and algorithms.
		{name: "HS256 wrong secret", req: bearer(sign(t, jwt.SigningMethodHS256, f.secret2, valid)), reason: ReasonSignatureInvalid},
		{name: "RS256 wrong key", algs: []string{RS256}, req: bearer(sign(t, jwt.SigningMethodRS256, rsaOther(), valid)), reason: ReasonSignatureInvalid},
		{name: "ES256 wrong key", algs: []string{ES256}, req: bearer(sign(t, jwt.SigningMethodES256, ecOther(), valid)), reason: ReasonSignatureInvalid},
		{name: "tampered payload", req: bearer(tampered), reason: ReasonSignatureInvalid},
		{name: "signature removed", req: bearer(strings.Join(strings.Split(hs(valid), ".")[:2], ".") + "."), reason: ReasonSignatureInvalid},
		{name: "alg none", req: bearer(handMade(noneHeader, valid, nil)), reason: ReasonAlgorithmNotAllowed},
		{name: "alg none, RS256 config", algs: []string{RS256}, req: bearer(handMade(noneHeader, valid, nil)), reason: ReasonAlgorithmNotAllowed},
		{name: "alg None", req: bearer(handMade(map[string]any{"alg": "None"}, valid, nil)), reason: ReasonAlgorithmNotAllowed},
		{name: "alg none with signature", req: bearer(handMade(noneHeader, valid, []byte("x"))), reason: ReasonAlgorithmNotAllowed},
		{name: "HS256 token, RS256 only", algs: []string{RS256}, req: bearer(hs(valid)), reason: ReasonAlgorithmNotAllowed},
		{name: "key confusion: HS256 signed with the RSA public key PEM, RS256 only", algs: []string{RS256},
			req: bearer(sign(t, jwt.SigningMethodHS256, f.rsaPEM, valid)), reason: ReasonAlgorithmNotAllowed},
		{name: "key confusion: HS256 signed with the RSA public key PEM, HS256+RS256", algs: []string{HS256, RS256},
			req: bearer(sign(t, jwt.SigningMethodHS256, f.rsaPEM, valid)), reason: ReasonSignatureInvalid},
		{name: "key confusion: HS256 signed with the RSA public key DER", algs: []string{HS256, RS256},
			req: bearer(sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey), valid)), reason: ReasonSignatureInvalid},
		{name: "key confusion: HS256 signed with the EC public key PEM, ES256 only", algs: []string{ES256},
			req: bearer(sign(t, jwt.SigningMethodHS256, f.ecPEM, valid)), reason: ReasonAlgorithmNotAllowed},
		{name: "RS384 token, RS256 only", algs: []string{RS256}, req: bearer(sign(t, jwt.SigningMethodRS384, rsaKey(), valid)), reason: ReasonAlgorithmNotAllowed},
		{name: "PS256 token, RS256 only", algs: []string{RS256}, req: bearer(sign(t, jwt.SigningMethodPS256, rsaKey(), valid)), reason: ReasonAlgorithmNotAllowed},
		{name: "HS512 token, HS256 only", req: bearer(sign(t, jwt.SigningMethodHS512, f.secret, valid)), reason: ReasonAlgorithmNotAllowed},
		{name: "ES256 token, RS256 only", algs: []string{RS256}, req: bearer(es(valid)), reason: ReasonAlgorithmNotAllowed},
		{name: "unknown alg", req: bearer(handMade(map[string]any{"alg": "XS999"}, valid, []byte("x"))), reason: ReasonAlgorithmNotAllowed},
		{name: "alg missing", req: bearer(handMade(map[string]any{"typ": "JWT"}, valid, []byte("x"))), reason: ReasonMalformedToken},
		{name: "alg not a string", req: bearer(handMade(map[string]any{"alg": 256}, valid, []byte("x"))), reason: ReasonMalformedToken},
		{name: "crit header", req: bearer(hs256With(t, map[string]any{"alg": "HS256", "crit": []string{"exp"}, "exp": 1}, valid, f.secret)), reason: ReasonMalformedToken},
		{name: "kid and jku are ignored", req: bearer(hs256With(t, map[string]any{"alg": "HS256", "kid": "../../etc/passwd", "jku": "https://evil.example/keys"}, valid, f.secret)), user: "alice"},

		// Issuer and audience.
		{name: "audience ok", cfg: func(c *Config) { c.Audience = "wasmsock" }, req: bearer(hs(claims(map[string]any{"aud": "wasmsock"}))), user: "alice"},
		{name: "audience in list", cfg: func(c *Config) { c.Audience = "wasmsock" }, req: bearer(hs(claims(map[string]any{"aud": []string{"other", "wasmsock"}}))), user: "alice"},
		{name: "audience mismatch", cfg: func(c *Config) { c.Audience = "wasmsock" }, req: bearer(hs(claims(map[string]any{"aud": "other"}))), reason: ReasonAudienceMismatch},
		{name: "audience missing", cfg: func(c *Config) { c.Audience = "wasmsock" }, req: bearer(hs(valid)), reason: ReasonAudienceMismatch},
		{name: "audience not checked when unset", req: bearer(hs(claims(map[string]any{"aud": "other"}))), user: "alice"},
		{name: "issuer ok", cfg: func(c *Config) { c.Issuer = "https://id.example.com" }, req: bearer(hs(claims(map[string]any{"iss": "https://id.example.com"}))), user: "alice"},
		{name: "issuer mismatch", cfg: func(c *Config) { c.Issuer = "https://id.example.com" }, req: bearer(hs(claims(map[string]any{"iss": "https://evil.example.com"}))), reason: ReasonIssuerMismatch},
		{name: "issuer missing", cfg: func(c *Config) { c.Issuer = "https://id.example.com" }, req: bearer(hs(valid)), reason: ReasonIssuerMismatch},
		{name: "issuer missing, audience wrong", cfg: func(c *Config) { c.Issuer = "i"; c.Audience = "a" }, req: bearer(hs(claims(map[string]any{"aud": "b"}))), reason: ReasonIssuerMismatch},
		{name: "issuer ok, audience missing", cfg: func(c *Config) { c.Issuer = "i"; c.Audience = "a" }, req: bearer(hs(claims(map[string]any{"iss": "i"}))), reason: ReasonAudienceMismatch},
		{name: "wrong issuer and expired", cfg: func(c *Config) { c.Issuer = "i" },
			req: bearer(hs(claims(map[string]any{"iss": "j", "exp": testNow.Add(-time.Hour).Unix()}))), reason: ReasonTokenExpired},

		// Token sources.
		{name: "header, lower-case scheme", req: req("", "Authorization", "bearer "+hs(valid)), user: "alice"},
		{name: "header, tab", req: req("", "authorization", "Bearer\t"+hs(valid)), user: "alice"},
		{name: "header, extra spaces", req: req("", "authorization", "  Bearer   "+hs(valid)+" "), user: "alice"},
		{name: "header, Basic scheme is no token", req: req("", "authorization", "Basic YWxpY2U6cHc="), reason: ReasonMissingToken},
		{name: "header, Bearer without token", req: req("", "authorization", "Bearer"), reason: ReasonMissingToken},
		{name: "header, two Bearer fields", req: req("", "authorization", "Bearer "+hs(valid), "authorization", "Bearer "+hs(valid)), reason: ReasonMalformedToken},
		{name: "header, two tokens in one field", req: req("", "authorization", "Bearer "+hs(valid)+", Bearer "+hs(valid)), reason: ReasonMalformedToken},
		{name: "header, Basic and Bearer fields", req: req("", "authorization", "Basic YWxpY2U6cHc=", "authorization", "Bearer "+hs(valid)), user: "alice"},
		{name: "header not configured", cfg: func(c *Config) { c.TokenFrom = []string{"query:token"} }, req: bearer(hs(valid)), reason: ReasonMissingToken},
		{name: "query", cfg: func(c *Config) { c.TokenFrom = []string{"query:access_token"} }, req: req("namespace=x&access_token=" + hs(valid)), user: "alice"},
		{name: "query, twice", cfg: func(c *Config) { c.TokenFrom = []string{"query:t"} }, req: req("t=" + hs(valid) + "&t=" + hs(valid)), reason: ReasonMalformedToken},
		{name: "query, empty value", cfg: func(c *Config) { c.TokenFrom = []string{"query:t"} }, req: req("t="), reason: ReasonMissingToken},
		{name: "cookie ID_TOKEN", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", "theme=dark; ID_TOKEN="+hs(valid)+"; lang=en"), user: "alice"},
		{name: "cookie, quoted", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", `ID_TOKEN="`+hs(valid)+`"`), user: "alice"},
		{name: "cookie, unrelated malformed cookie", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", `bad"cookie=x\y; noequals; ID_TOKEN=`+hs(valid)), user: "alice"},
		{name: "cookie, second Cookie field", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", "a=b", "cookie", "ID_TOKEN="+hs(valid)), user: "alice"},
		{name: "cookie, twice", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", "ID_TOKEN="+hs(valid)+"; ID_TOKEN="+hs(valid)), reason: ReasonMalformedToken},
		{name: "cookie, name is case-sensitive", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", "id_token="+hs(valid)), reason: ReasonMissingToken},
		{name: "cookie, malformed value", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", `ID_TOKEN=a"b`), reason: ReasonMalformedToken},
		{name: "cookie, bad token", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN"} },
			req: req("", "cookie", "ID_TOKEN=nope"), reason: ReasonMalformedToken},

		// Order of sources: the first source with a token decides.
		{name: "order: bad header, good query", cfg: func(c *Config) { c.TokenFrom = []string{"header", "query:t"} },
			req: req("t="+hs(valid), "authorization", "Bearer "+hs(claims(map[string]any{"exp": 1}))), reason: ReasonTokenExpired},
		{name: "order: bad cookie, good header", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN", "header"} },
			req: req("", "cookie", "ID_TOKEN="+sign(t, jwt.SigningMethodHS256, f.secret2, valid), "authorization", "Bearer "+hs(valid)), reason: ReasonSignatureInvalid},
		{name: "order: no cookie, good header", cfg: func(c *Config) { c.TokenFrom = []string{"cookie:ID_TOKEN", "header"} },
			req: req("", "cookie", "other=1", "authorization", "Bearer "+hs(valid)), user: "alice"},
		{name: "order: Basic header, query token", cfg: func(c *Config) { c.TokenFrom = []string{"header", "query:t"} },
			req: req("t="+hs(claims(map[string]any{"sub": "bob"})), "authorization", "Basic eDp5"), user: "bob"},
		{name: "order: header and query both good, header first", cfg: func(c *Config) { c.TokenFrom = []string{"header", "query:t"} },
			req: req("t="+hs(claims(map[string]any{"sub": "bob"})), "authorization", "Bearer "+hs(valid)), user: "alice"},
		{name: "order: query first", cfg: func(c *Config) { c.TokenFrom = []string{"query:t", "header"} },
			req: req("t="+hs(claims(map[string]any{"sub": "bob"})), "authorization", "Bearer "+hs(valid)), user: "bob"},

		// Required or not.
		{name: "required, no token", req: req(""), reason: ReasonMissingToken},
		{name: "required, nil Header", req: Request{}, reason: ReasonMissingToken},
		{name: "optional, no token: anonymous", cfg: func(c *Config) { c.Required = false }, req: req(""), anon: true},
		{name: "optional, bad token", cfg: func(c *Config) { c.Required = false }, req: bearer("not-a-token"), reason: ReasonMalformedToken},
		{name: "optional, expired token", cfg: func(c *Config) { c.Required = false }, req: bearer(hs(claims(map[string]any{"exp": 1}))), reason: ReasonTokenExpired},
		{name: "optional, good token", cfg: func(c *Config) { c.Required = false }, req: bearer(hs(valid)), user: "alice"},

		// User claim.
		{name: "user claim missing", req: bearer(hs(claims(map[string]any{"sub": nil}))), reason: ReasonMissingUserClaim},
		{name: "user claim empty", req: bearer(hs(claims(map[string]any{"sub": ""}))), reason: ReasonMissingUserClaim},
		{name: "user claim not a string", req: bearer(hs(claims(map[string]any{"sub": 42}))), reason: ReasonInvalidUserClaim},
		{name: "custom user claim not a string", cfg: func(c *Config) { c.UserClaim = "uid" }, req: bearer(hs(claims(map[string]any{"uid": 42}))), reason: ReasonInvalidUserClaim},
		{name: "custom user claim a list", cfg: func(c *Config) { c.UserClaim = "uid" }, req: bearer(hs(claims(map[string]any{"uid": []string{"a"}}))), reason: ReasonInvalidUserClaim},
		{name: "custom user claim null", cfg: func(c *Config) { c.UserClaim = "uid" }, req: bearer(hs(claims(map[string]any{"uid": json.RawMessage("null")}))), reason: ReasonMissingUserClaim},
		{name: "user claim 123 bytes", req: bearer(hs(claims(map[string]any{"sub": long}))), user: long},
		{name: "user claim 124 bytes", req: bearer(hs(claims(map[string]any{"sub": long + "b"}))), reason: ReasonInvalidUserClaim},
		{name: "user claim with NUL", req: bearer(hs(claims(map[string]any{"sub": "ali\x00ce"}))), reason: ReasonInvalidUserClaim},
		{name: "user claim with newline", req: bearer(hs(claims(map[string]any{"sub": "alice\n"}))), reason: ReasonInvalidUserClaim},
		{name: "user claim with DEL", req: bearer(hs(claims(map[string]any{"sub": "ali\x7fce"}))), reason: ReasonInvalidUserClaim},
		{name: "user claim with C1 control", req: bearer(hs(claims(map[string]any{"sub": "ali\u0085ce"}))), reason: ReasonInvalidUserClaim},
		// encoding/json replaces invalid UTF-8 with U+FFFD: the id is valid UTF-8 either way.
		{name: "user claim invalid UTF-8", req: bearer(invalidUTF8), user: "ali\ufffdce"},
		{name: "user claim unicode", req: bearer(hs(claims(map[string]any{"sub": "Zoë 🚀"}))), user: "Zoë 🚀"},
		{name: "preferred_username", cfg: func(c *Config) { c.UserClaim = "preferred_username" },
			req: bearer(hs(claims(map[string]any{"sub": "0b5c-uuid", "preferred_username": "alex"}))), user: "alex"},
		{name: "preferred_username missing", cfg: func(c *Config) { c.UserClaim = "preferred_username" }, req: bearer(hs(valid)), reason: ReasonMissingUserClaim},

		// Namespace claim.
		{name: "namespace claim", cfg: func(c *Config) { c.NamespaceClaim = "tenant" }, req: bearer(hs(claims(map[string]any{"tenant": "acme"}))), user: "alice", ns: "acme"},
		{name: "namespace claim missing", cfg: func(c *Config) { c.NamespaceClaim = "tenant" }, req: bearer(hs(valid)), reason: ReasonMissingNamespaceClaim},
		{name: "namespace claim not a string", cfg: func(c *Config) { c.NamespaceClaim = "tenant" }, req: bearer(hs(claims(map[string]any{"tenant": true}))), reason: ReasonInvalidNamespaceClaim},
		{name: "namespace claim too long", cfg: func(c *Config) { c.NamespaceClaim = "tenant" }, req: bearer(hs(claims(map[string]any{"tenant": long + "x"}))), reason: ReasonInvalidNamespaceClaim},
		{name: "namespace claim control char", cfg: func(c *Config) { c.NamespaceClaim = "tenant" }, req: bearer(hs(claims(map[string]any{"tenant": "a\tb"}))), reason: ReasonInvalidNamespaceClaim},
		{name: "namespace not read without namespace_claim", req: bearer(hs(claims(map[string]any{"tenant": "acme"}))), user: "alice"},

		// Malformed tokens.
		{name: "one segment", req: bearer("abc"), reason: ReasonMalformedToken},
		{name: "two segments", req: bearer("abc.def"), reason: ReasonMalformedToken},
		{name: "four segments", req: bearer(hs(valid) + ".x"), reason: ReasonMalformedToken},
		{name: "empty segments", req: bearer(".."), reason: ReasonMalformedToken},
		{name: "padding", req: bearer(strings.Replace(hs(valid), ".", "=.", 1)), reason: ReasonMalformedToken},
		{name: "standard base64", req: bearer("a+b.c/d.e"), reason: ReasonMalformedToken},
		{name: "header not JSON", req: bearer(base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + b64(valid) + ".sig"), reason: ReasonMalformedToken},
		{name: "claims not an object", req: bearer(notObject), reason: ReasonMalformedToken},
		{name: "non-canonical base64", req: bearer(nonCanonical(hs(valid))), reason: ReasonMalformedToken},
		{name: "too long", req: bearer(strings.Repeat("a", MaxTokenBytes) + ".b.c"), reason: ReasonMalformedToken},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			algs := tt.algs
			if algs == nil {
				algs = []string{HS256}
			}
			c := f.config(algs...)
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			a := f.newAuth(t, c)
			id, err := a.Authenticate(tt.req)
			wantReason(t, err, tt.reason)
			if tt.reason != "" {
				if id.Authenticated || id.User != "" || id.Claims != nil {
					t.Fatalf("refused, yet identity = %+v", id)
				}
				return
			}
			if tt.anon {
				if id.Authenticated || id.User != "" || id.Namespace != "" || id.Claims != nil {
					t.Fatalf("identity = %+v, want anonymous", id)
				}
				return
			}
			if !id.Authenticated || id.User != tt.user || id.Namespace != tt.ns {
				t.Fatalf("identity = %+v, want user %q namespace %q", id, tt.user, tt.ns)
			}
			if id.Claims[c.userClaimName()] != tt.user {
				t.Fatalf("claims = %v", id.Claims)
			}
		})
	}
}

func (c Config) userClaimName() string {
	if c.UserClaim == "" {
		return DefaultUserClaim
	}
	return c.UserClaim
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// nonCanonical changes the last character of the signature so that its unused low bits are set:
// it decodes to the same bytes under lenient base64, and is refused under strict decoding.
func nonCanonical(tok string) string {
	last := tok[len(tok)-1]
	i := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
	// A 32-byte HMAC is 43 base64 characters: the last one carries 4 bits and 2 unused ones.
	return tok[:len(tok)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i|1])
}

func TestIdentityClaims(t *testing.T) {
	f := newFixture(t)
	a := f.newAuth(t, f.config(HS256))
	tok := sign(t, jwt.SigningMethodHS256, f.secret, claims(map[string]any{"big": json.RawMessage("12345678901234567890"), "roles": []string{"a", "b"}}))
	id, err := a.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := id.Claims["big"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Fatalf("big = %#v, want the exact json.Number", id.Claims["big"])
	}
	if r, ok := id.Claims["roles"].([]any); !ok || len(r) != 2 {
		t.Fatalf("roles = %#v", id.Claims["roles"])
	}
}

func TestErrorDoesNotLeak(t *testing.T) {
	f := newFixture(t)
	a := f.newAuth(t, f.config(HS256))
	// A token signed with another key: nothing of the secret, nor of the token, is in Error().
	tok := sign(t, jwt.SigningMethodHS256, f.secret2, claims(nil))
	_, err := a.Authenticate(bearer(tok))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, s := range []string{string(f.secret), tok, "alice"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q contains %q", err.Error(), s)
		}
	}
	var e *Error
	if !errors.As(err, &e) || e.Err == nil || !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("cause not kept for the log: %#v", err)
	}
}

func TestFromHTTP(t *testing.T) {
	f := newFixture(t)
	c := f.config(HS256)
	c.TokenFrom = []string{"cookie:ID_TOKEN", "query:token", "header"}
	a := f.newAuth(t, c)
	tok := sign(t, jwt.SigningMethodHS256, f.secret, claims(nil))

	r := httptest.NewRequest("GET", "/connect?namespace=alex", nil)
	r.Header.Set("Cookie", "ID_TOKEN="+tok)
	if id, err := a.Authenticate(FromHTTP(r)); err != nil || id.User != "alice" {
		t.Fatalf("cookie: %+v, %v", id, err)
	}
	r = httptest.NewRequest("GET", "/connect?token="+tok, nil)
	if id, err := a.Authenticate(FromHTTP(r)); err != nil || id.User != "alice" {
		t.Fatalf("query: %+v, %v", id, err)
	}
	r = httptest.NewRequest("GET", "/connect", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if id, err := a.Authenticate(FromHTTP(r)); err != nil || id.User != "alice" {
		t.Fatalf("header: %+v, %v", id, err)
	}
}

func TestConcurrent(t *testing.T) {
	f := newFixture(t)
	a := f.newAuth(t, f.config(HS256))
	good := sign(t, jwt.SigningMethodHS256, f.secret, claims(nil))
	bad := sign(t, jwt.SigningMethodHS256, f.secret2, claims(nil))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := a.Authenticate(bearer(good)); err != nil {
					t.Error(err)
					return
				}
				if _, err := a.Authenticate(bearer(bad)); err == nil {
					t.Error("bad token accepted")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestNew covers key loading.
func TestNew(t *testing.T) {
	f := newFixture(t)
	rsa1024 := mustRSA(1024)
	p384 := mustEC(elliptic.P384())
	certPEM := selfSignedPEM(t, rsaKey())
	privDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey())
	f.write(t, "short", []byte(strings.Repeat("s", MinSecretBytes-1)+"\n"))
	f.write(t, "exact", []byte(strings.Repeat("s", MinSecretBytes)))
	f.write(t, "empty", nil)
	f.write(t, "garbage.pem", []byte("not a pem file\n"))
	f.write(t, "corrupt.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")}))
	f.write(t, "corrupt-cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	f.write(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	f.write(t, "rsa1024.pem", pkixPEM(t, &rsa1024.PublicKey))
	f.write(t, "p384.pem", pkixPEM(t, &p384.PublicKey))
	f.write(t, "pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)}))
	f.write(t, "cert.pem", certPEM)
	f.write(t, "two.pem", append(append([]byte{}, f.rsaPEM...), f.ecPEM...))
	f.write(t, "other.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{1}}))
	f.write(t, "pem-secret", f.rsaPEM)
	if err := os.Mkdir(filepath.Join(f.dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AUTH_TEST_SECRET", string(f.secret))
	t.Setenv("AUTH_TEST_EMPTY", "")
	t.Setenv("AUTH_TEST_PEM", string(f.ecPEM))
	os.Unsetenv("AUTH_TEST_UNSET")

	hsCfg := func(ks KeySource) Config { return Config{Algorithms: []string{HS256}, Secret: ks} }
	pkCfg := func(alg string, ks KeySource) Config { return Config{Algorithms: []string{alg}, PublicKey: ks} }
	tests := []struct {
		name    string
		cfg     Config
		wantKey string // "" = success
		wantMsg string
	}{
		{"secret file", hsCfg(KeySource{File: "secret"}), "", ""},
		{"secret absolute file", hsCfg(KeySource{File: filepath.Join(f.dir, "secret")}), "", ""},
		{"secret env", hsCfg(KeySource{Env: "AUTH_TEST_SECRET"}), "", ""},
		{"secret exactly 32 bytes", hsCfg(KeySource{File: "exact"}), "", ""},
		{"secret too short", hsCfg(KeySource{File: "short"}), "secret.file", "31 bytes; at least 32"},
		{"secret env unset", hsCfg(KeySource{Env: "AUTH_TEST_UNSET"}), "secret.env", "AUTH_TEST_UNSET is not set"},
		{"secret env empty", hsCfg(KeySource{Env: "AUTH_TEST_EMPTY"}), "secret.env", "AUTH_TEST_EMPTY is empty"},
		{"secret file missing", hsCfg(KeySource{File: "nope"}), "secret.file", "no such file"},
		{"secret file empty", hsCfg(KeySource{File: "empty"}), "secret.file", "is empty"},
		{"secret file a directory", hsCfg(KeySource{File: "adir"}), "secret.file", "not a regular file"},
		{"secret is a PEM key", hsCfg(KeySource{File: "pem-secret"}), "secret.file", "PEM"},
		{"RSA PKIX", pkCfg(RS256, KeySource{File: "rsa.pem"}), "", ""},
		{"RSA PKCS1", pkCfg(RS256, KeySource{File: "pkcs1.pem"}), "", ""},
		{"RSA certificate", pkCfg(RS256, KeySource{File: "cert.pem"}), "", ""},
		{"EC PKIX", pkCfg(ES256, KeySource{File: "ec.pem"}), "", ""},
		{"EC from env", pkCfg(ES256, KeySource{Env: "AUTH_TEST_PEM"}), "", ""},
		{"not PEM", pkCfg(RS256, KeySource{File: "garbage.pem"}), "public_key.file", "no PEM block"},
		{"corrupt PUBLIC KEY", pkCfg(RS256, KeySource{File: "corrupt.pem"}), "public_key.file", `PEM "PUBLIC KEY" block`},
		{"corrupt CERTIFICATE", pkCfg(RS256, KeySource{File: "corrupt-cert.pem"}), "public_key.file", `PEM "CERTIFICATE" block`},
		{"private key", pkCfg(RS256, KeySource{File: "priv.pem"}), "public_key.file", "private key"},
		{"other PEM type", pkCfg(RS256, KeySource{File: "other.pem"}), "public_key.file", `"EC PARAMETERS" is not a public key`},
		{"two PEM blocks", pkCfg(RS256, KeySource{File: "two.pem"}), "public_key.file", "more than one PEM block"},
		{"RSA 1024", pkCfg(RS256, KeySource{File: "rsa1024.pem"}), "public_key.file", "1024 bits"},
		{"EC P-384", pkCfg(ES256, KeySource{File: "p384.pem"}), "public_key.file", "P-384"},
		{"RS256 with an EC key", pkCfg(RS256, KeySource{File: "ec.pem"}), "public_key.file", "RS256 needs an RSA public key"},
		{"ES256 with an RSA key", pkCfg(ES256, KeySource{File: "rsa.pem"}), "public_key.file", "ES256 needs an EC P-256"},
		{"public key env unset", pkCfg(ES256, KeySource{Env: "AUTH_TEST_UNSET"}), "public_key.env", "not set"},
		{"invalid config", Config{}, "algorithms", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg, f.dir)
			if tt.wantKey == "" {
				if err != nil || a == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v (%T), want *ConfigError", err, err)
			}
			if ce.Key != tt.wantKey || !strings.Contains(ce.Msg, tt.wantMsg) {
				t.Fatalf("error = %q, want key %q and %q", err, tt.wantKey, tt.wantMsg)
			}
			for _, secret := range []string{string(f.secret), strings.Repeat("s", MinSecretBytes-1)} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q contains the secret", err)
				}
			}
		})
	}

	// The secret read from the file ends without the newline `echo` wrote.
	a := f.newAuth(t, f.config(HS256))
	if string(a.secret) != string(f.secret) {
		t.Fatalf("secret = %q, want %q", a.secret, f.secret)
	}
}

func selfSignedPEM(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1, 0), // expired: only the key is used
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestValidate(t *testing.T) {
	ok := Config{Algorithms: []string{HS256}, Secret: KeySource{Env: "X"}}
	tests := []struct {
		name    string
		change  func(c *Config)
		wantKey string
		wantMsg string
	}{
		{"ok", func(c *Config) {}, "", ""},
		{"all options", func(c *Config) {
			c.Algorithms = []string{HS256, RS256}
			c.PublicKey = KeySource{File: "k.pem"}
			c.ClockSkew = Duration{D: 5 * time.Minute, Set: true}
			c.TokenFrom = []string{"header", "query:token", "cookie:ID_TOKEN"}
			c.UserClaim = "preferred_username"
			c.NamespaceClaim = "tenant"
		}, "", ""},
		{"no algorithms", func(c *Config) { c.Algorithms = nil }, "algorithms", "required"},
		{"alg none", func(c *Config) { c.Algorithms = []string{"none"} }, "algorithms", `"none" is not supported`},
		{"alg HS512", func(c *Config) { c.Algorithms = []string{HS256, "HS512"} }, "algorithms", `"HS512" is not supported`},
		{"alg lower case", func(c *Config) { c.Algorithms = []string{"hs256"} }, "algorithms", "not supported"},
		{"alg twice", func(c *Config) { c.Algorithms = []string{HS256, HS256} }, "algorithms", "listed twice"},
		{"RS256 and ES256", func(c *Config) {
			c.Algorithms = []string{RS256, ES256}
			c.Secret = KeySource{}
			c.PublicKey = KeySource{File: "k"}
		}, "algorithms", "exclude each other"},
		{"HS256 without secret", func(c *Config) { c.Secret = KeySource{} }, "secret", "required with HS256"},
		{"secret without HS256", func(c *Config) { c.Algorithms = []string{RS256}; c.PublicKey = KeySource{File: "k"} }, "secret", "HS256 is not in algorithms"},
		{"secret file and env", func(c *Config) { c.Secret.File = "f" }, "secret", "exactly one"},
		{"RS256 without public key", func(c *Config) { c.Algorithms = []string{RS256}; c.Secret = KeySource{} }, "public_key", "required with RS256"},
		{"public key without RS256/ES256", func(c *Config) { c.PublicKey = KeySource{File: "k"} }, "public_key", "neither RS256 nor ES256"},
		{"public key file and env", func(c *Config) {
			c.Algorithms = []string{ES256}
			c.Secret = KeySource{}
			c.PublicKey = KeySource{File: "k", Env: "K"}
		}, "public_key", "exactly one"},
		{"negative skew", func(c *Config) { c.ClockSkew = Duration{D: -time.Second, Set: true} }, "clock_skew", "out of range"},
		{"skew too large", func(c *Config) { c.ClockSkew = Duration{D: 10 * time.Minute, Set: true} }, "clock_skew", "out of range"},
		{"token_from unknown", func(c *Config) { c.TokenFrom = []string{"header:X-Token"} }, "token_from[0]", "want"},
		{"token_from empty query", func(c *Config) { c.TokenFrom = []string{"header", "query:"} }, "token_from[1]", "empty"},
		{"token_from bad cookie", func(c *Config) { c.TokenFrom = []string{"cookie:a b"} }, "token_from[0]", "not a valid cookie name"},
		{"token_from twice", func(c *Config) { c.TokenFrom = []string{"header", "header"} }, "token_from[1]", "listed twice"},
		{"user_claim spaces", func(c *Config) { c.UserClaim = " sub" }, "user_claim", "spaces"},
		{"namespace_claim spaces", func(c *Config) { c.NamespaceClaim = "ns " }, "namespace_claim", "spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want *ConfigError", err)
			}
			if ce.Key != tt.wantKey || !strings.Contains(ce.Msg, tt.wantMsg) {
				t.Fatalf("error = %q, want key %q and %q", err, tt.wantKey, tt.wantMsg)
			}
		})
	}

	// Several problems are all reported.
	err := Config{Algorithms: []string{"none"}, ClockSkew: Duration{D: -1, Set: true}}.Validate()
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 2 {
		t.Fatalf("got %d errors, want 2: %v", n, err)
	}
}

// TestTOML decodes the documented keys with BurntSushi/toml, as the host does.
func TestTOML(t *testing.T) {
	const doc = `
[auth]
required        = true
algorithms      = ["HS256", "RS256"]
secret          = { env = "WASMSOCK_JWT_SECRET" }
public_key      = { file = "keys/issuer.pem" }
issuer          = "https://id.example.com"
audience        = "wasmsock"
clock_skew      = "0s"
token_from      = ["header", "query:token", "cookie:ID_TOKEN"]
user_claim      = "preferred_username"
namespace_claim = "tenant"

[origin]
allowed_origins      = ["https://app.example.com", "https://*.example.com"]
allow_missing_origin = true
`
	var v struct {
		Auth   Config       `toml:"auth"`
		Origin OriginPolicy `toml:"origin"`
	}
	md, err := toml.Decode(doc, &v)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("undecoded keys: %v", u)
	}
	want := Config{
		Required:       true,
		Algorithms:     []string{HS256, RS256},
		Secret:         KeySource{Env: "WASMSOCK_JWT_SECRET"},
		PublicKey:      KeySource{File: "keys/issuer.pem"},
		Issuer:         "https://id.example.com",
		Audience:       "wasmsock",
		ClockSkew:      Duration{D: 0, Set: true},
		TokenFrom:      []string{"header", "query:token", "cookie:ID_TOKEN"},
		UserClaim:      "preferred_username",
		NamespaceClaim: "tenant",
	}
	if g, w := mustJSON(v.Auth), mustJSON(want); g != w {
		t.Fatalf("auth = %s\nwant   %s", g, w)
	}
	if err := v.Auth.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(v.Origin.Allowed) != 2 || !v.Origin.AllowMissing {
		t.Fatalf("origin = %+v", v.Origin)
	}

	// An inline secret is a decoding error, not a silently ignored key.
	var c Config
	if _, err := toml.Decode(`secret = "hunter2hunter2hunter2hunter2hunter2"`, &c); err == nil {
		t.Fatal("inline secret decoded")
	}
	if _, err := toml.Decode(`clock_skew = "soon"`, &c); err == nil || !strings.Contains(err.Error(), "not a duration") {
		t.Fatalf("bad duration: %v", err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// FuzzAuthenticate: whatever the token string and wherever it is put, Authenticate never
// panics and never authenticates (the seeds include tokens that are valid in every way but
// one; no mutation can produce a valid signature).
func FuzzAuthenticate(f *testing.F) {
	fx := newFixture(f)
	cfgA := fx.config(HS256, RS256)
	cfgA.Audience = "wasmsock"
	cfgA.Issuer = "issuer"
	cfgA.TokenFrom = []string{"header", "query:token", "cookie:ID_TOKEN"}
	cfgA.NamespaceClaim = "tenant"
	a := fx.newAuth(f, cfgA)
	cfgB := fx.config(ES256)
	cfgB.Required = false
	b := fx.newAuth(f, cfgB)

	good := func(ch map[string]any) jwt.MapClaims {
		c := claims(map[string]any{"aud": "wasmsock", "iss": "issuer", "tenant": "acme"})
		for k, v := range ch {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	seeds := []string{
		"",
		" ",
		"Bearer",
		"a.b.c",
		"..",
		"eyJhbGciOiJub25lIn0.e30.",
		handMade(map[string]any{"alg": "none"}, good(nil), nil),
		handMade(map[string]any{"alg": "HS256"}, good(nil), make([]byte, 32)),
		sign(f, jwt.SigningMethodHS256, fx.secret, good(map[string]any{"exp": 1})),
		sign(f, jwt.SigningMethodHS256, fx.secret, good(map[string]any{"aud": "other"})),
		sign(f, jwt.SigningMethodHS256, fx.secret, good(map[string]any{"iss": nil})),
		sign(f, jwt.SigningMethodHS256, fx.secret, good(map[string]any{"sub": strings.Repeat("x", 200)})),
		sign(f, jwt.SigningMethodHS256, fx.secret, good(map[string]any{"tenant": nil})),
		sign(f, jwt.SigningMethodHS256, fx.secret2, good(nil)),
		sign(f, jwt.SigningMethodHS256, fx.rsaPEM, good(nil)),
		sign(f, jwt.SigningMethodRS256, rsaOther(), good(nil)),
		sign(f, jwt.SigningMethodRS256, rsaKey(), good(map[string]any{"nbf": testNow.Add(time.Hour).Unix()})),
		sign(f, jwt.SigningMethodES256, ecOther(), good(nil)),
		sign(f, jwt.SigningMethodES256, ecKey(), good(map[string]any{"exp": nil})),
		sign(f, jwt.SigningMethodHS512, fx.secret, good(nil)),
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, tok string, where uint8) {
		var r Request
		switch where % 5 {
		case 0:
			r = req("", "authorization", "Bearer "+tok)
		case 1:
			r = Request{Query: url.Values{"token": {tok}}}
		case 2:
			r = req("", "cookie", "ID_TOKEN="+tok)
		case 3:
			r = req("", "authorization", tok, "cookie", tok)
		case 4:
			r = Request{Header: func(string) []string { return []string{tok} }, Query: url.Values{"token": {tok}}}
		}
		for _, x := range []*Authenticator{a, b} {
			id, err := x.Authenticate(r)
			if id.Authenticated || id.User != "" || id.Namespace != "" || id.Claims != nil {
				t.Fatalf("authenticated %q: %+v", tok, id)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Reason == "" || e.Error() != e.Reason {
					t.Fatalf("bad error %#v", err)
				}
			} else if x.required {
				t.Fatalf("required, yet no error for %q", tok)
			}
			if id, err := x.Verify(tok); err == nil || id.Authenticated {
				t.Fatalf("Verify accepted %q", tok)
			}
		}
	})
}
