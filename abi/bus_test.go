package abi

import (
	"strings"
	"testing"
)

func TestValidSubject(t *testing.T) {
	for _, tc := range []struct {
		s          string
		plain, sub bool
	}{
		{"orders.created", true, true},
		{"socket:connection", true, true},
		{"a", true, true},
		{"ünïcode.ok", true, true},
		{"", false, false},
		{".", false, false},
		{"a..b", false, false},
		{".a", false, false},
		{"a.", false, false},
		{"a b", false, false},
		{"a\tb", false, false},
		{"a\nb", false, false},
		{"a\x00b", false, false},
		{"*", false, true},
		{">", false, true},
		{"a.*.c", false, true},
		{"a.>", false, true},
		{"a.>.c", false, false},
		{"a*", false, false},
		{"a.b>", false, false},
		{"\xff", false, false},
		{strings.Repeat("a", MaxSubject), true, true},
		{strings.Repeat("a", MaxSubject+1), false, false},
	} {
		if got := ValidSubject(tc.s, false); got != tc.plain {
			t.Errorf("ValidSubject(%q, false) = %v", tc.s, got)
		}
		if got := ValidSubject(tc.s, true); got != tc.sub {
			t.Errorf("ValidSubject(%q, true) = %v", tc.s, got)
		}
	}
	for q, want := range map[string]bool{"workers": true, "": false, "a.b": false, "a b": false, "*": false, strings.Repeat("q", MaxQueueName+1): false} {
		if ValidQueueName(q) != want {
			t.Errorf("ValidQueueName(%q) != %v", q, want)
		}
	}
}

func FuzzValidSubject(f *testing.F) {
	for _, s := range []string{"a.b", "a.*", ">", "a..b", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		plain := ValidSubject(s, false)
		if plain && !ValidSubject(s, true) {
			t.Fatalf("%q valid for publish but not for subscribe", s)
		}
		if plain && strings.ContainsAny(s, "*> \t\r\n") {
			t.Fatalf("%q accepted with a wildcard or whitespace", s)
		}
	})
}
