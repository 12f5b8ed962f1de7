package wsproto

import (
	"math/rand"
	"testing"
	"unicode/utf8"
)

func TestUTF8MatchesStdlib(t *testing.T) {
	cases := []string{
		"", "hello", "κόσμε", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", "\xed\xa0\x80", "\xed\x9f\xbf",
		"\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xff",
		"\xef\xbb\xbf", "\xc2", "\xe2\x82", "\xf0\x9f\x98", "\xf0\x9f\x98\x80", "abc\x80", "\x7f",
	}
	for _, c := range cases {
		if got, want := ValidUTF8([]byte(c)), utf8.ValidString(c); got != want {
			t.Errorf("ValidUTF8(%q) = %v, want %v", c, got, want)
		}
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff}
	for i := 0; i < 200000; i++ {
		b := make([]byte, rng.Intn(12))
		for j := range b {
			b[j] = alphabet[rng.Intn(len(alphabet))]
		}
		if got, want := ValidUTF8(b), utf8.Valid(b); got != want {
			t.Fatalf("ValidUTF8(%x) = %v, want %v", b, got, want)
		}
	}
}

// Split anywhere, the incremental validator agrees with validating the whole.
func TestUTF8Incremental(t *testing.T) {
	s := []byte("aé€😀z\xed\x9f\xbf")
	for i := 0; i <= len(s); i++ {
		var v utf8Validator
		ok := v.write(s[:i]) && v.write(s[i:]) && v.complete()
		if !ok {
			t.Fatalf("split at %d rejected valid text", i)
		}
	}
	// Fail fast: the first fragment of an invalid sequence is already rejected.
	var v utf8Validator
	if v.write([]byte("ok\xf4\x90")) {
		t.Fatal("\\xf4\\x90 accepted as a prefix")
	}
}

func FuzzUTF8(f *testing.F) {
	f.Add([]byte("κόσμε"), 3)
	f.Add([]byte("\xed\xa0\x80"), 1)
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		if split < 0 || split > len(b) {
			split = len(b) / 2
		}
		var v utf8Validator
		got := v.write(b[:split]) && v.write(b[split:]) && v.complete()
		if want := utf8.Valid(b); got != want {
			t.Fatalf("%x split at %d: got %v want %v", b, split, got, want)
		}
	})
}

func TestTruncateReason(t *testing.T) {
	long := ""
	for len(long) < 200 {
		long += "é"
	}
	tests := []struct{ in, want string }{
		{"bye", "bye"},
		{string(make([]byte, 123)), string(make([]byte, 123))},
		{string(make([]byte, 124)), string(make([]byte, 123))},
		{long, long[:122]}, // 123 would split the 62nd two-byte rune
	}
	for _, tc := range tests {
		got := TruncateReason(tc.in)
		if got != tc.want || !utf8.ValidString(got) || len(got) > 123 {
			t.Errorf("TruncateReason(len %d) = len %d, want len %d", len(tc.in), len(got), len(tc.want))
		}
	}
}
