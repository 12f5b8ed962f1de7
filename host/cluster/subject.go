package cluster

import (
	"strings"
)

// Subject returns the subject of tokens in this cluster: the cluster's name, then each token
// escaped with Token, joined by dots.
func (n *Node) Subject(tokens ...string) string {
	var b strings.Builder
	b.WriteString(n.cfg.Name)
	for _, t := range tokens {
		b.WriteByte('.')
		b.WriteString(Token(t))
	}
	return b.String()
}

// Token escapes s into one NATS subject token that is never a wildcard and never empty: bytes
// other than ASCII letters, digits and "-_:+=@!~'()," become %XX (so ".", "*", ">", spaces and
// every non-ASCII byte are escaped), and the empty string is "%". The mapping is one to one, so
// two names never share a subject, and a name stays readable in `nats sub` output.
func Token(s string) string { return subjectTokens.escape(s) }

// Untoken reverses Token: it reports false for a token that Token does not produce (so that a
// name has one token only: "%41" is not "A").
func Untoken(tok string) (string, bool) { return subjectTokens.unescape(tok) }

var subjectTokens = newEscaping('%', func(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_:+=@!~'(),", c) >= 0
})
