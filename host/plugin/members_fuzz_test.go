package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wasmsock/wasmsock/abi"
)

// FuzzDecodeMembers: decoding any bytes never panics; what decodes encodes back to the same
// bytes (the encoding has one form), and the members of a valid encoding round-trip.
func FuzzDecodeMembers(f *testing.F) {
	enc := func(ms ...Member) []byte {
		b := make([]byte, EncodeMembers(nil, ms))
		EncodeMembers(b, ms)
		return b
	}
	f.Add(enc())
	f.Add(enc(Member{Conn: 1, User: "ada"}, Member{Conn: 0, User: ""}))
	f.Add(enc(Member{Conn: 1 << 52, User: strings.Repeat("é", abi.MaxUser/2)}))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := DecodeMembers(b)
		if err != nil {
			return
		}
		if again := enc(ms...); !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x != %x", again, b)
		}
	})
}
