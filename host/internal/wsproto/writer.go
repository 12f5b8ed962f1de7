package wsproto

import (
	"encoding/binary"
	"unicode/utf8"
)

// AppendFrame appends one complete, unmasked server frame (FIN set) with opcode op and payload p
// to dst. The result can be written to any number of connections.
func AppendFrame(dst []byte, op byte, p []byte) []byte {
	return appendHeader(dst, bitFin|op, len(p), p)
}

// Frame returns a new buffer holding one complete server frame.
func Frame(op byte, p []byte) []byte {
	return AppendFrame(make([]byte, 0, HeaderSize(len(p))+len(p)), op, p)
}

// HeaderSize is the size of a server frame header for a payload of n bytes.
func HeaderSize(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

func appendHeader(dst []byte, b0 byte, n int, p []byte) []byte {
	switch {
	case n < 126:
		dst = append(dst, b0, byte(n))
	case n <= 0xffff:
		dst = append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, p...)
}

// CloseFrame returns a close frame with code and reason, the reason cut to fit (see TruncateReason).
// Code 1005 (no status) gives a close frame with an empty body.
func CloseFrame(code int, reason string) []byte {
	if code == CloseNoStatus {
		return Frame(OpClose, nil)
	}
	reason = TruncateReason(reason)
	body := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(body, uint16(code))
	body = append(body, reason...)
	return Frame(OpClose, body)
}

// MaxCloseReason is the longest close reason in bytes: 125 bytes of control payload less 2 for
// the code.
const MaxCloseReason = MaxControlPayload - 2

// TruncateReason cuts s to at most MaxCloseReason bytes without splitting a UTF-8 sequence.
func TruncateReason(s string) string {
	if len(s) <= MaxCloseReason {
		return s
	}
	s = s[:MaxCloseReason]
	// Drop a sequence the cut left incomplete.
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				s = s[:i]
			}
			break
		}
	}
	return s
}
