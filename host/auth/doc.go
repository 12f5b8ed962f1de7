// Package auth authenticates WebSocket handshakes with JSON Web Tokens and checks their Origin,
// before the host answers 101. It depends on nothing else in the host.
//
// Use: build an Authenticator with New and an OriginChecker with NewOriginChecker once, at
// config load; per handshake, call CheckHost (403 on refusal) and then Authenticate (401 on
// refusal), answering with the *Error's Status and Reason. Both are safe for concurrent use.
// An authenticated Identity's User becomes the connection's user id (group "user:<id>"), and,
// when namespace_claim is set, its Namespace the connection's namespace: the host must then not
// let the query string or a header override it.
//
// # Configuration
//
// The keys below (Config and OriginPolicy, decoded from TOML) with their defaults. This block
// can be pasted into the README as it is.
//
//	# JWT authentication of WebSocket handshakes.
//	required   = false        # true: a handshake without a valid token gets 401.
//	                          # false (default): one without any token is anonymous
//	                          # (no user); an INVALID token still gets 401.
//	algorithms = ["RS256"]    # required, no default: a subset of "HS256", "RS256",
//	                          # "ES256" (RS256 and ES256 exclude each other). Tokens
//	                          # with any other "alg", "none" included, get 401.
//	secret     = { env = "WASMSOCK_JWT_SECRET" }  # HS256 key; required with HS256,
//	                          # refused without it. Exactly one of file = "PATH" or
//	                          # env = "VAR" (never inline); at least 32 bytes; trailing
//	                          # CR/LF of the file or variable are removed.
//	public_key = { file = "keys/issuer.pem" }     # RS256/ES256 key; required with one
//	                          # of them, refused without. Exactly one of file or env,
//	                          # holding ONE PEM block: "PUBLIC KEY", "RSA PUBLIC KEY" or
//	                          # "CERTIFICATE" (only its key is used; its dates and chain
//	                          # are not checked). RSA >= 2048 bits, or EC P-256.
//	                          # Private keys are refused.
//	issuer     = ""           # default "" (not checked); else "iss" must equal it.
//	audience   = ""           # default "" (not checked); else "aud" must contain it.
//	clock_skew = "30s"        # default "30s", "0s" to "5m": leeway for exp, nbf, iat.
//	token_from = ["header"]   # default ["header"]: where the token is looked for, in
//	                          # order: "header" (Authorization: Bearer TOKEN),
//	                          # "query:NAME" (?NAME=TOKEN), "cookie:NAME" (NAME=TOKEN).
//	                          # The FIRST source that carries a token is the one used:
//	                          # a bad token there is refused even if a later source has
//	                          # a good one. Two tokens in one source are refused.
//	                          # Query strings end up in access and proxy logs: prefer
//	                          # "header", or a cookie. A cookie is sent by the browser
//	                          # on cross-site requests too: keep the origin check on.
//	user_claim = "sub"        # default "sub": the claim holding the user id, a
//	                          # non-empty string, at most 123 bytes of UTF-8 without
//	                          # control characters; a token without it gets 401.
//	namespace_claim = ""      # default "" (the namespace does not come from the token);
//	                          # else the claim holding the namespace (same rules as
//	                          # user_claim; a token without it gets 401). A route
//	                          # with namespace_claim takes no namespace_from: a client
//	                          # without a token (required = false) gets the default
//	                          # namespace "", never one it asks for.
//	close_on_expiry = true    # default true: a connection is closed when its token
//	                          # expires (exp + clock_skew), with close code 3000
//	                          # ("Unauthorized", IANA registry) and reason "token
//	                          # expired"; the client should get a fresh token and
//	                          # reconnect. false: the token is checked at the
//	                          # handshake only.
//
//	# Origin check (cross-site WebSocket hijacking protection).
//	allowed_origins = []      # default [] = same origin only: the Origin must be the
//	                          # scheme, host and port the client used to reach the
//	                          # host. Entries: "https://app.example.com",
//	                          # "http://localhost:8080", "https://*.example.com" (any
//	                          # subdomain, not example.com itself), "null" (sandboxed
//	                          # pages; rarely right), "*" (any origin: UNSAFE with
//	                          # cookies or other browser-held credentials). Scheme and
//	                          # port must match; default ports are implied.
//	allow_missing_origin = true  # default true: a handshake without an Origin header
//	                          # (non-browser clients: servers, CLI tools, mobile apps)
//	                          # is let in; false refuses it with 403. Browsers always
//	                          # send Origin, so this does not weaken the check for them.
//
// Every token must be signed with a listed algorithm and carry "exp"; "nbf" and "iat", when
// present, are checked too (an iat in the future is refused), all with clock_skew leeway.
// Header parameters that point at keys ("kid", "jku", "jwk", "x5u", "x5c") are ignored: the
// key is always the configured one. A token with a "crit" header parameter is refused.
//
// # Refusals
//
// Authenticate and Verify return *Error values with Status 401 and one of the Reason
// constants ("missing token", "malformed token", "algorithm not allowed", "signature invalid",
// "token expired", "token not yet valid", "missing exp claim", "audience mismatch", "issuer
// mismatch", "missing user claim", "invalid user claim", "missing namespace claim", "invalid
// namespace claim", "invalid token"); the origin checks return Status 403 with "origin not
// allowed" or "missing origin". Reasons are safe to send to the client; the wrapped cause (Err)
// is for the server log only.
package auth
