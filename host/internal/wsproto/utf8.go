package wsproto

// utf8Validator checks UTF-8 incrementally, so a text message split across frames (or read in
// chunks) is rejected at the first byte that cannot start or continue a valid sequence, not at the
// end of the message (RFC 6455 §8.1: "fail fast").
//
// It is the DFA of Björn Höhrmann's "Flexible and Economical UTF-8 Decoder", written out as a
// byte-class table and a transition table.
type utf8Validator struct{ state uint8 }

const (
	utf8Accept = 0
	utf8Reject = 12
)

var utf8Class = [256]uint8{
	0x80: 1, 0x81: 1, 0x82: 1, 0x83: 1, 0x84: 1, 0x85: 1, 0x86: 1, 0x87: 1,
	0x88: 1, 0x89: 1, 0x8a: 1, 0x8b: 1, 0x8c: 1, 0x8d: 1, 0x8e: 1, 0x8f: 1,
	0x90: 9, 0x91: 9, 0x92: 9, 0x93: 9, 0x94: 9, 0x95: 9, 0x96: 9, 0x97: 9,
	0x98: 9, 0x99: 9, 0x9a: 9, 0x9b: 9, 0x9c: 9, 0x9d: 9, 0x9e: 9, 0x9f: 9,
	0xa0: 7, 0xa1: 7, 0xa2: 7, 0xa3: 7, 0xa4: 7, 0xa5: 7, 0xa6: 7, 0xa7: 7,
	0xa8: 7, 0xa9: 7, 0xaa: 7, 0xab: 7, 0xac: 7, 0xad: 7, 0xae: 7, 0xaf: 7,
	0xb0: 7, 0xb1: 7, 0xb2: 7, 0xb3: 7, 0xb4: 7, 0xb5: 7, 0xb6: 7, 0xb7: 7,
	0xb8: 7, 0xb9: 7, 0xba: 7, 0xbb: 7, 0xbc: 7, 0xbd: 7, 0xbe: 7, 0xbf: 7,
	0xc0: 8, 0xc1: 8, 0xc2: 2, 0xc3: 2, 0xc4: 2, 0xc5: 2, 0xc6: 2, 0xc7: 2,
	0xc8: 2, 0xc9: 2, 0xca: 2, 0xcb: 2, 0xcc: 2, 0xcd: 2, 0xce: 2, 0xcf: 2,
	0xd0: 2, 0xd1: 2, 0xd2: 2, 0xd3: 2, 0xd4: 2, 0xd5: 2, 0xd6: 2, 0xd7: 2,
	0xd8: 2, 0xd9: 2, 0xda: 2, 0xdb: 2, 0xdc: 2, 0xdd: 2, 0xde: 2, 0xdf: 2,
	0xe0: 10, 0xe1: 3, 0xe2: 3, 0xe3: 3, 0xe4: 3, 0xe5: 3, 0xe6: 3, 0xe7: 3,
	0xe8: 3, 0xe9: 3, 0xea: 3, 0xeb: 3, 0xec: 3, 0xed: 4, 0xee: 3, 0xef: 3,
	0xf0: 11, 0xf1: 6, 0xf2: 6, 0xf3: 6, 0xf4: 5, 0xf5: 8, 0xf6: 8, 0xf7: 8,
	0xf8: 8, 0xf9: 8, 0xfa: 8, 0xfb: 8, 0xfc: 8, 0xfd: 8, 0xfe: 8, 0xff: 8,
}

var utf8Transition = [108]uint8{
	0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72,
	12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
	12, 0, 12, 12, 12, 12, 12, 0, 12, 0, 12, 12,
	12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
	12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12,
	12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
	12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
	12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
	12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
}

// write feeds p and reports false as soon as the input cannot be valid UTF-8.
func (v *utf8Validator) write(p []byte) bool {
	s := v.state
	i := 0
	if s == utf8Accept {
		// Fast path over ASCII, eight bytes at a time while aligned on sequence starts.
		for ; i+8 <= len(p); i += 8 {
			if (p[i]|p[i+1]|p[i+2]|p[i+3]|p[i+4]|p[i+5]|p[i+6]|p[i+7])&0x80 != 0 {
				break
			}
		}
	}
	for ; i < len(p); i++ {
		s = utf8Transition[s+utf8Class[p[i]]]
		if s == utf8Reject {
			v.state = s
			return false
		}
	}
	v.state = s
	return true
}

// complete reports whether the input so far ends on a sequence boundary.
func (v *utf8Validator) complete() bool { return v.state == utf8Accept }

func (v *utf8Validator) reset() { v.state = utf8Accept }

// ValidUTF8 reports whether p is valid UTF-8 by the same rules as the incremental validator.
func ValidUTF8(p []byte) bool {
	var v utf8Validator
	return v.write(p) && v.complete()
}
