package cluster

import "strings"

// escaping maps any string one to one onto a non-empty string of plain bytes and escapes: a
// plain byte stands for itself, every other byte becomes the escape byte and two upper-case hex
// digits, and the empty string is the escape byte alone. Token (subject tokens, '%') and
// kvToken (JetStream key tokens, '=') are two of them.
type escaping struct {
	esc   byte
	plain [256]bool
}

// newEscaping returns the escaping that writes bytes for which plain holds as they are and esc
// before the hex of every other byte. esc must not be plain (the mapping would not be one to
// one).
func newEscaping(esc byte, plain func(c byte) bool) *escaping {
	e := &escaping{esc: esc}
	for c := 0; c < 256; c++ {
		e.plain[c] = plain(byte(c))
	}
	if e.plain[esc] {
		panic("cluster: escape byte " + string(rune(esc)) + " is a plain byte")
	}
	return e
}

const upperHex = "0123456789ABCDEF"

// escape returns the escaped form of s (s itself when every byte is plain).
func (e *escaping) escape(s string) string {
	if s == "" {
		return string(e.esc)
	}
	n := 0 // bytes to escape
	for i := 0; i < len(s); i++ {
		if !e.plain[s[i]] {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if e.plain[c] {
			b.WriteByte(c)
		} else {
			b.WriteByte(e.esc)
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return b.String()
}

// unescape reverses escape; ok is false for any string escape never returns (a byte that is
// neither plain nor an escape, a short or lower-case escape, or an escaped plain byte), so that
// every string has exactly one escaped form.
func (e *escaping) unescape(t string) (string, bool) {
	if t == string(e.esc) {
		return "", true
	}
	if t == "" {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case e.plain[c]:
			b.WriteByte(c)
		case c == e.esc && i+2 < len(t):
			hi, lo := strings.IndexByte(upperHex, t[i+1]), strings.IndexByte(upperHex, t[i+2])
			if hi < 0 || lo < 0 || e.plain[hi<<4|lo] {
				return "", false
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}
