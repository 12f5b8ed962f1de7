package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Key paths name a value in the file the way Problem.Key spells it: dotted keys, a key that is not
// bare quoted as a Go string, and the index of a table in an array of tables in brackets, as in
// route[1].path or plugin."a b".module. The TOML library keeps no positions that callers can use
// (and one per dotted key at most, so every [[route]] shares one), so keyLines finds the lines
// itself.

// childKey is the path of the key name in the table at path ("" for the top level).
func childKey(path, name string) string {
	if !isBareKey(name) {
		name = strconv.Quote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// indexKey is the path of the i-th table in the array of tables at path.
func indexKey(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareKeyChar(s[i]) {
			return false
		}
	}
	return true
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// enclosingKeys returns the paths that enclose path, innermost first: for route[1].path, route[1]
// and route.
func enclosingKeys(path string) []string {
	var keys []string
	quoted := false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == '.' || c == '[') && i > 0:
			keys = append(keys, path[:i])
		}
	}
	for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
		keys[i], keys[j] = keys[j], keys[i]
	}
	return keys
}

// keyLines maps the path of every table and key that src defines to the line (from 1) that first
// defines it: a table header, or a key = value line (for a dotted key, each of its prefixes too).
// Keys inside inline tables and arrays are not listed; the key holding them is. src must be valid
// TOML (the result is meaningless otherwise, but keyLines returns on any input).
func keyLines(src string) map[string]int {
	s := &lineScanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	for _, bom := range []string{"\xef\xbb\xbf", "\xff\xfe", "\xfe\xff"} {
		if strings.HasPrefix(src, bom) {
			s.pos = len(bom)
			break
		}
	}
	table := "" // the path of the table the lines belong to
	for s.pos < len(s.src) {
		start := s.pos
		s.skipSpace()
		switch s.peek() {
		case '\n', '#':
			s.skipComment()
			s.next()
		case '[':
			table = s.header()
		default:
			s.keyValue(table)
		}
		if s.pos == start { // not TOML: skip what cannot be read
			s.next()
		}
	}
	return s.lines
}

type lineScanner struct {
	src    string
	pos    int
	line   int
	lines  map[string]int // see keyLines
	arrays map[string]int // path of an array of tables → the number of its tables so far
}

func (s *lineScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

// next moves past one byte, counting lines.
func (s *lineScanner) next() {
	if s.pos < len(s.src) {
		if s.src[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
}

func (s *lineScanner) eat(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

func (s *lineScanner) skipSpace() {
	for c := s.peek(); c == ' ' || c == '\t' || c == '\r'; c = s.peek() {
		s.pos++
	}
}

// skipComment moves to the end of the line (not past the newline).
func (s *lineScanner) skipComment() {
	if i := strings.IndexByte(s.src[s.pos:], '\n'); i >= 0 {
		s.pos += i
	} else {
		s.pos = len(s.src)
	}
}

func (s *lineScanner) define(path string, line int) {
	if _, ok := s.lines[path]; !ok {
		s.lines[path] = line
	}
}

// header reads a table header, [a.b] or [[a.b]], and returns the path of its table. A name on the
// way that is an array of tables means its last table; [[a.b]] adds a table to the array a.b.
func (s *lineScanner) header() string {
	line := s.line
	s.pos++ // [
	array := s.eat('[')
	keys := s.key()
	path := ""
	for i, k := range keys {
		path = childKey(path, k)
		s.define(path, line)
		n, isArray := s.arrays[path]
		switch {
		case array && i == len(keys)-1:
			s.arrays[path] = n + 1
			path = indexKey(path, n)
			s.define(path, line)
		case isArray:
			path = indexKey(path, n-1)
		}
	}
	s.skipSpace()
	s.eat(']')
	if array {
		s.eat(']')
	}
	return path
}

// keyValue reads key = value in the table at path.
func (s *lineScanner) keyValue(path string) {
	line := s.line
	keys := s.key()
	if len(keys) == 0 {
		return
	}
	for _, k := range keys {
		path = childKey(path, k)
		s.define(path, line)
	}
	s.skipSpace()
	if s.eat('=') {
		s.skipValue()
	}
}

// key reads a key, dotted or not, bare or quoted, and returns its parts.
func (s *lineScanner) key() []string {
	var keys []string
	for {
		s.skipSpace()
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			keys = append(keys, s.str())
		case isBareKeyChar(c):
			start := s.pos
			for isBareKeyChar(s.peek()) {
				s.pos++
			}
			keys = append(keys, s.src[start:s.pos])
		default:
			return keys
		}
		s.skipSpace()
		if !s.eat('.') {
			return keys
		}
	}
}

// skipValue moves past a value to the end of its line: past arrays and inline tables that span
// lines, strings and comments.
func (s *lineScanner) skipValue() {
	depth := 0
	for s.pos < len(s.src) {
		switch s.peek() {
		case '\n':
			if depth == 0 {
				return
			}
			s.next()
		case '#':
			s.skipComment()
		case '"', '\'':
			s.str()
		case '[', '{':
			depth++
			s.pos++
		case ']', '}':
			depth = max(depth-1, 0)
			s.pos++
		default:
			s.pos++
		}
	}
}

// str reads a string, basic or literal, on one line or more, and returns its value. (For keys,
// which are on one line; the value of a multi-line basic string is only approximated.)
func (s *lineScanner) str() string {
	q := s.src[s.pos]
	delim := string(q)
	if strings.HasPrefix(s.src[s.pos:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	s.pos += len(delim)
	var b strings.Builder
	for s.pos < len(s.src) {
		if strings.HasPrefix(s.src[s.pos:], delim) {
			s.pos += len(delim)
			// A multi-line string may end in up to two more quotes, which belong to it.
			for i := 0; i < 2 && len(delim) == 3 && s.peek() == q; i++ {
				b.WriteByte(q)
				s.pos++
			}
			return b.String()
		}
		if c := s.src[s.pos]; c == '\\' && q == '"' {
			s.escape(&b)
		} else {
			b.WriteByte(c)
			s.next()
		}
	}
	return b.String()
}

// escape reads the escape sequence at pos in a basic string and writes what it stands for.
func (s *lineScanner) escape(b *strings.Builder) {
	s.pos++ // \
	c := s.peek()
	s.next()
	if i := strings.IndexByte(`btnfre"\`, c); i >= 0 {
		b.WriteByte("\b\t\n\f\r\x1b\"\\"[i])
		return
	}
	var digits int
	switch c {
	case 'x':
		digits = 2
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	}
	if digits == 0 || s.pos+digits > len(s.src) {
		return // a line-ending backslash in a multi-line string: its value is not needed
	}
	n, err := strconv.ParseUint(s.src[s.pos:s.pos+digits], 16, 32)
	if err == nil && n <= utf8.MaxRune {
		b.WriteRune(rune(n))
		s.pos += digits
	}
}
