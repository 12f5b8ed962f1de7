package abi

import "unicode/utf8"

// The bus: optional host functions and guest export through which a plugin publishes to,
// subscribes to and requests from NATS subjects (ABI.md, "Bus"). Their names, signatures and
// constants are in abi.json (abi_gen.go); this file holds the subject rules.

// ValidSubject reports whether s is a subject a plugin may use: 1 to MaxSubject bytes of valid
// UTF-8, tokens separated by '.', no empty token, no whitespace or control character. With
// wildcards (subscribe), a token may be "*" (any one token) and the last token may be ">" (one or
// more tokens); without (publish, request), '*' and '>' may not appear at all. A token that
// mixes a wildcard with other characters ("a*") is refused either way.
func ValidSubject(s string, wildcards bool) bool {
	if len(s) == 0 || len(s) > MaxSubject || !utf8.ValidString(s) {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		tok := s[start:i]
		start = i + 1
		if tok == "" {
			return false
		}
		if tok == "*" || tok == ">" {
			if !wildcards || (tok == ">" && i != len(s)) {
				return false
			}
			continue
		}
		if !validToken(tok) {
			return false
		}
	}
	return true
}

// ValidQueueName reports whether q is a queue group name: 1 to MaxQueueName bytes, one token with
// no wildcard.
func ValidQueueName(q string) bool {
	return len(q) > 0 && len(q) <= MaxQueueName && utf8.ValidString(q) && validToken(q)
}

func validToken(tok string) bool {
	for _, r := range tok {
		switch {
		case r <= 0x20, r == 0x7f, r >= 0x80 && r < 0xa0, r == 0x85, r == 0xa0, r == 0x2028, r == 0x2029:
			return false
		case r == '*', r == '>', r == '.':
			return false
		}
	}
	return true
}
