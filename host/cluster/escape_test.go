package cluster

import (
	"strings"
	"testing"
)

// The two escapings of names into tokens: subject tokens (Token, Untoken) and JetStream key
// tokens (kvToken, kvUntoken), with the bytes each may write.
var escapings = []struct {
	name     string
	escape   func(string) string
	unescape func(string) (string, bool)
	alphabet string
}{
	{"Token", Token, Untoken, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:+=@!~'(),%"},
	{"kvToken", kvToken, kvUntoken, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="},
}

// TestTokens pins the encodings: they are subjects and stream keys other nodes (of other
// versions) and `nats sub` users see, so they must not change.
func TestTokens(t *testing.T) {
	tests := []struct {
		escape   func(string) string
		in, want string
	}{
		{Token, "", "%"},
		{Token, "general", "general"},
		{Token, "room:general", "room:general"},
		{Token, "a.b", "a%2Eb"},
		{Token, "*", "%2A"},
		{Token, ">", "%3E"},
		{Token, "two words", "two%20words"},
		{Token, "%", "%25"},
		{Token, "=", "="},
		{Token, "κ", "%CE%BA"},
		{Token, "$SYS", "%24SYS"},
		{kvToken, "", "="},
		{kvToken, "acme-corp_1", "acme-corp_1"},
		{kvToken, "room:general", "room=3Ageneral"},
		{kvToken, "a.b", "a=2Eb"},
		{kvToken, "=", "=3D"},
		{kvToken, "%", "=25"},
		{kvToken, "*>", "=2A=3E"},
		{kvToken, "κ", "=CE=BA"},
		{kvToken, "\x00", "=00"},
	}
	for _, tc := range tests {
		got := tc.escape(tc.in)
		if got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestUntokenRefuses: the inverses accept only what the escaping writes, so a name has one
// token only.
func TestUntokenRefuses(t *testing.T) {
	tests := []struct {
		unescape func(string) (string, bool)
		in       string
	}{
		{Untoken, ""},
		{Untoken, "%4"},
		{Untoken, "%G1"},
		{Untoken, "%41"}, // "A" is written as it is
		{Untoken, "a%"},
		{Untoken, "%2"},
		{Untoken, "%2e"}, // lower-case hex
		{Untoken, "a.b"},
		{Untoken, "%%"},
		{kvUntoken, ""},
		{kvUntoken, "=4"},
		{kvUntoken, "=G1"},
		{kvUntoken, "=41"},
		{kvUntoken, "=2e"},
		{kvUntoken, "a%2Eb"},
		{kvUntoken, "a.b"},
		{kvUntoken, "=="},
	}
	for _, tc := range tests {
		if v, ok := tc.unescape(tc.in); ok {
			t.Errorf("unescape(%q) = %q, true", tc.in, v)
		}
	}
}

// FuzzTokens: each escaping's output is a non-empty token of its alphabet (so never a
// separator, wildcard, space or '$'), its inverse gives the string back, and the inverse accepts
// nothing the escaping would not write (so two names never share a token, and a token names
// one name).
func FuzzTokens(f *testing.F) {
	for _, s := range []string{"", "a", "a.b", "*", ">", " ", "%", "%25", "=", "=3D", "%41", "é", "κόσμε", "user:bob", "acme-corp_1", "*>", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range escapings {
			tok := e.escape(s)
			if tok == "" || strings.Trim(tok, e.alphabet) != "" {
				t.Fatalf("%s(%q) = %q", e.name, s, tok)
			}
			if back, ok := e.unescape(tok); !ok || back != s {
				t.Fatalf("%s: unescape(escape(%q)) = %q, %v", e.name, s, back, ok)
			}
			if back, ok := e.unescape(s); ok && e.escape(back) != s {
				t.Fatalf("%s: unescape(%q) = %q, which escapes to %q", e.name, s, back, e.escape(back))
			}
		}
	})
}

func TestNewEscapingRefusesPlainEscape(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("newEscaping with a plain escape byte did not panic")
		}
	}()
	newEscaping('a', func(c byte) bool { return c == 'a' })
}
