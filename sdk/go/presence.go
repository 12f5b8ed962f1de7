package wasmsock

import (
	"encoding/binary"

	"github.com/wasmsock/wasmsock/abi"
)

// Presence: who is in a group, cluster-wide (abi/ABI.md, "Presence").

// Member is a member of a group.
type Member struct {
	// Conn is its connection; 0 ([Nobody]) for a connection another plugin serves.
	Conn Conn
	// User is its user id; "" for an anonymous connection.
	User string
}

// GroupSize returns how many connections are in group, in the namespace of the connection whose
// event is being handled (0 for an empty or unknown group). A "user:<id>" group's size is how many
// connections that user has open. [ErrInvalidArgument] for a bad group name.
func GroupSize(group string) (int, error) {
	n := hostGroupSize(group)
	if n < 0 {
		return 0, statusErr(n)
	}
	return int(n), nil
}

// Members returns the members of group, in the namespace of the connection whose event is being
// handled, sorted by connection id.
func Members(group string) ([]Member, error) {
	buf := make([]byte, 1024)
	for range 8 {
		n := hostGroupMembers(group, buf)
		if n < 0 {
			return nil, statusErr(n)
		}
		if int(n) <= len(buf) {
			return decodeMembers(buf[:n]), nil
		}
		buf = make([]byte, n) // the group grew, or the first buffer was short: ask again
	}
	return nil, ErrTooLarge
}

// decodeMembers reads group_members' records: a little-endian u64 connection id, a one-byte
// length and the user id.
func decodeMembers(b []byte) []Member {
	var out []Member
	for len(b) >= 9 {
		u := int(b[8])
		if len(b) < 9+u || u > abi.MaxUser {
			break
		}
		out = append(out, Member{Conn: Conn(binary.LittleEndian.Uint64(b)), User: string(b[9 : 9+u])})
		b = b[9+u:]
	}
	return out
}
