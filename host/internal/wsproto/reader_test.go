package wsproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// testMask is the masking key of every client frame built by the tests: no byte is 0, so a reader
// that forgot to unmask would see garbage.
var testMask = [4]byte{0xa1, 0x5e, 0x37, 0xc4}

// Length encodings for frameLen (RFC 6455 §5.2, "Payload length").
const (
	encMinimal = -1  // the shortest encoding, as the RFC requires
	enc7       = 0   // the length in the 7 bits of the second byte
	enc16      = 126 // 126, then a 16-bit length
	enc64      = 127 // 127, then a 64-bit length
)

// frame builds one client frame: fin, the three RSV bits (rsv is 0-7: RSV1 is 4, RSV2 2, RSV3 1),
// the opcode and the payload, masked with testMask when mask is set.
func frame(fin bool, rsv byte, op byte, payload []byte, mask bool) []byte {
	return frameLen(fin, rsv, op, payload, mask, encMinimal, uint64(len(payload)))
}

// frameLen is frame that lets the test lie: the length is encoded with enc (encMinimal, enc7,
// enc16 or enc64) and declares length bytes, whatever len(payload) is.
func frameLen(fin bool, rsv byte, op byte, payload []byte, mask bool, enc int, length uint64) []byte {
	b0 := rsv<<4 | op&0x0f
	if fin {
		b0 |= 0x80
	}
	var b1 byte
	if mask {
		b1 = 0x80
	}
	if enc == encMinimal {
		switch {
		case length < 126:
			enc = enc7
		case length <= 0xffff:
			enc = enc16
		default:
			enc = enc64
		}
	}
	out := []byte{b0}
	switch enc {
	case enc7:
		out = append(out, b1|byte(length))
	case enc16:
		out = append(out, b1|126)
		out = binary.BigEndian.AppendUint16(out, uint16(length))
	case enc64:
		out = append(out, b1|127)
		out = binary.BigEndian.AppendUint64(out, length)
	default:
		panic("bad encoding")
	}
	if !mask {
		return append(out, payload...)
	}
	out = append(out, testMask[:]...)
	for i, c := range payload {
		out = append(out, c^testMask[i%4])
	}
	return out
}

// cat concatenates frames into one byte stream.
func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// closeBody is a close frame payload: the code, big-endian, then the reason.
func closeBody(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// filled returns n bytes of printable ASCII.
func filled(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// errReadPastEnd is what a strictReader returns once its bytes are used up: a reader that asks for
// more than the test gave it (the rest of a payload it should have refused from the header, or a
// fragment it should not have needed) gets this error instead of the verdict the test expects.
var errReadPastEnd = errors.New("test: read past the bytes the reader needed")

// strictReader serves its bytes, then fails every further Read with errReadPastEnd.
type strictReader struct{ r *bytes.Reader }

func (s *strictReader) Read(p []byte) (int, error) {
	if s.r.Len() == 0 {
		return 0, errReadPastEnd
	}
	return s.r.Read(p)
}

// sources are the ways a test feeds its bytes to a Reader. Every case must give the same result
// through each of them.
var sources = []struct {
	name string
	wrap func(b []byte, strict bool) io.Reader
}{
	{"whole", func(b []byte, strict bool) io.Reader {
		if strict {
			return &strictReader{bytes.NewReader(b)}
		}
		return bytes.NewReader(b)
	}},
	{"onebyte", func(b []byte, strict bool) io.Reader {
		if strict {
			return iotest.OneByteReader(&strictReader{bytes.NewReader(b)})
		}
		return iotest.OneByteReader(bytes.NewReader(b))
	}},
	{"half", func(b []byte, strict bool) io.Reader {
		if strict {
			return iotest.HalfReader(&strictReader{bytes.NewReader(b)})
		}
		return iotest.HalfReader(bytes.NewReader(b))
	}},
	{"dataerr", func(b []byte, strict bool) io.Reader {
		if strict {
			return iotest.DataErrReader(&strictReader{bytes.NewReader(b)})
		}
		return iotest.DataErrReader(bytes.NewReader(b))
	}},
}

// msg is an expected Message.
type msg struct {
	op      byte
	payload string
}

// outcome is everything a Reader returned for a stream: the messages (payloads copied, since a
// control frame's is only valid until the next call) and the final error.
type outcome struct {
	msgs []msg
	err  error
}

// readAll calls Next until it fails (at most limit messages).
func readAll(r *Reader, limit int) outcome {
	var o outcome
	for range limit {
		m, err := r.Next()
		if err != nil {
			o.err = err
			return o
		}
		o.msgs = append(o.msgs, msg{m.Op, string(m.Payload)})
	}
	o.err = errors.New("test: too many messages")
	return o
}

// errString describes an error for comparing outcomes: a CloseError by its code alone (the reason
// is free text), anything else by its message.
func errString(err error) string {
	var ce *CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close %d", ce.Code)
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestReader(t *testing.T) {
	const defMax = 1 << 20
	text := func(s string) msg { return msg{OpText, s} }
	bin := func(b []byte) msg { return msg{OpBinary, string(b)} }
	ping := func(s string) msg { return msg{OpPing, s} }
	pong := func(s string) msg { return msg{OpPong, s} }
	closeMsg := func(b []byte) msg { return msg{OpClose, string(b)} }

	type tc struct {
		name string
		in   []byte
		max  int64 // 0: defMax
		// strict: the input is exactly what the reader may consume before its verdict; a Read
		// beyond it fails with errReadPastEnd (proving, for instance, that a size was refused from
		// the header alone). The expected err must then be a CloseError.
		strict bool
		want   []msg
		code   int   // the CloseError code expected after want; 0: expect err
		err    error // expected when code is 0 (nil means io.EOF)
	}
	tests := []tc{
		// Valid single frames.
		{name: "text", in: frame(true, 0, OpText, []byte("Hello"), true), want: []msg{text("Hello")}},
		{name: "binary", in: frame(true, 0, OpBinary, []byte{0, 1, 2, 0xff}, true), want: []msg{bin([]byte{0, 1, 2, 0xff})}},
		{name: "empty text", in: frame(true, 0, OpText, nil, true), want: []msg{text("")}},
		{name: "empty binary", in: frame(true, 0, OpBinary, nil, true), want: []msg{bin(nil)}},
		{name: "empty ping", in: frame(true, 0, OpPing, nil, true), want: []msg{ping("")}},
		{name: "ping pong", in: cat(frame(true, 0, OpPing, []byte("p1"), true), frame(true, 0, OpPong, []byte("p2"), true)), want: []msg{ping("p1"), pong("p2")}},
		{name: "ping 125 bytes", in: frame(true, 0, OpPing, filled(125), true), want: []msg{ping(string(filled(125)))}},
		{name: "utf8 text", in: frame(true, 0, OpText, []byte("κόσμε €😀"), true), want: []msg{text("κόσμε €😀")}},
		{name: "several messages", in: cat(frame(true, 0, OpText, []byte("a"), true), frame(true, 0, OpBinary, []byte("b"), true), frame(true, 0, OpText, []byte("c"), true)),
			want: []msg{text("a"), bin([]byte("b")), text("c")}},

		// Length encodings.
		{name: "125 bytes, 7-bit length", in: frame(true, 0, OpBinary, filled(125), true), want: []msg{bin(filled(125))}},
		{name: "126 bytes, 16-bit length", in: frame(true, 0, OpBinary, filled(126), true), want: []msg{bin(filled(126))}},
		{name: "65535 bytes, 16-bit length", in: frame(true, 0, OpBinary, filled(65535), true), want: []msg{bin(filled(65535))}},
		{name: "65536 bytes, 64-bit length", in: frame(true, 0, OpBinary, filled(65536), true), want: []msg{bin(filled(65536))}},
		{name: "65536 bytes text", in: frame(true, 0, OpText, filled(65536), true), want: []msg{text(string(filled(65536)))}},
		{name: "200000 bytes, several chunks", in: frame(true, 0, OpText, filled(200000), true), want: []msg{text(string(filled(200000)))}},
		{name: "16-bit length of 125", in: frameLen(true, 0, OpBinary, filled(125), true, enc16, 125), code: CloseProtocolError},
		{name: "16-bit length of 0", in: frameLen(true, 0, OpBinary, nil, true, enc16, 0), code: CloseProtocolError},
		{name: "64-bit length of 65535", in: frameLen(true, 0, OpBinary, filled(65535), true, enc64, 65535), code: CloseProtocolError},
		{name: "64-bit length of 126", in: frameLen(true, 0, OpBinary, filled(126), true, enc64, 126), code: CloseProtocolError},
		{name: "64-bit length of 5", in: frameLen(true, 0, OpBinary, filled(5), true, enc64, 5), code: CloseProtocolError},
		{name: "64-bit length with MSB set", in: frameLen(true, 0, OpBinary, nil, true, enc64, 1<<63|5), strict: true, code: CloseProtocolError},
		{name: "64-bit length all ones", in: frameLen(true, 0, OpBinary, nil, true, enc64, ^uint64(0)), strict: true, code: CloseProtocolError},
		{name: "ping with 16-bit length of 5", in: frameLen(true, 0, OpPing, filled(5), true, enc16, 5), code: CloseProtocolError},

		// Fragmentation (§5.4).
		{name: "fragmented text with interleaved ping",
			in: cat(
				frame(false, 0, OpText, []byte("Hel"), true),
				frame(true, 0, OpPing, []byte("are you there"), true),
				frame(true, 0, OpContinuation, []byte("lo"), true)),
			want: []msg{ping("are you there"), text("Hello")}},
		{name: "fragmented binary, pong and ping interleaved, empty fragments",
			in: cat(
				frame(false, 0, OpBinary, nil, true),
				frame(true, 0, OpPong, nil, true),
				frame(false, 0, OpContinuation, []byte{1, 2}, true),
				frame(false, 0, OpContinuation, nil, true),
				frame(true, 0, OpPing, []byte("x"), true),
				frame(true, 0, OpContinuation, []byte{3}, true),
				frame(true, 0, OpText, []byte("next"), true)),
			want: []msg{pong(""), ping("x"), bin([]byte{1, 2, 3}), text("next")}},
		{name: "close inside a fragmented message",
			in:   cat(frame(false, 0, OpText, []byte("a"), true), frame(true, 0, OpClose, closeBody(1000, "bye"), true)),
			want: []msg{closeMsg(closeBody(1000, "bye"))}},
		{name: "two fragmented messages in a row",
			in: cat(
				frame(false, 0, OpText, []byte("ab"), true), frame(true, 0, OpContinuation, []byte("cd"), true),
				frame(false, 0, OpBinary, []byte("ef"), true), frame(true, 0, OpContinuation, []byte("gh"), true)),
			want: []msg{text("abcd"), bin([]byte("efgh"))}},
		{name: "large fragments", in: cat(frame(false, 0, OpBinary, filled(70000), true), frame(true, 0, OpContinuation, filled(70000), true)),
			want: []msg{bin(append(filled(70000), filled(70000)...))}},
		{name: "continuation without start", in: frame(true, 0, OpContinuation, []byte("x"), true), code: CloseProtocolError},
		{name: "non-final continuation without start", in: frame(false, 0, OpContinuation, []byte("x"), true), code: CloseProtocolError},
		{name: "continuation after a complete message", in: cat(frame(true, 0, OpText, []byte("a"), true), frame(true, 0, OpContinuation, []byte("b"), true)),
			want: []msg{text("a")}, code: CloseProtocolError},
		{name: "text inside a fragmented message", in: cat(frame(false, 0, OpText, []byte("a"), true), frame(true, 0, OpText, []byte("b"), true)), code: CloseProtocolError},
		{name: "binary inside a fragmented text", in: cat(frame(false, 0, OpText, []byte("a"), true), frame(true, 0, OpBinary, []byte("b"), true)), code: CloseProtocolError},
		{name: "non-final text inside a fragmented binary", in: cat(frame(false, 0, OpBinary, []byte("a"), true), frame(false, 0, OpText, []byte("b"), true)), code: CloseProtocolError},

		// Control frames (§5.5).
		{name: "ping over 125 bytes", in: frame(true, 0, OpPing, filled(126), true), strict: true, code: CloseProtocolError},
		{name: "pong over 125 bytes", in: frame(true, 0, OpPong, filled(1000), true), code: CloseProtocolError},
		{name: "close over 125 bytes", in: frame(true, 0, OpClose, append(closeBody(1000, ""), filled(124)...), true), code: CloseProtocolError},
		{name: "control 64-bit length", in: frameLen(true, 0, OpPing, nil, true, enc64, 1<<40), strict: true, code: CloseProtocolError},
		{name: "fragmented ping", in: frame(false, 0, OpPing, []byte("p"), true), code: CloseProtocolError},
		{name: "fragmented pong", in: frame(false, 0, OpPong, nil, true), code: CloseProtocolError},
		{name: "fragmented close", in: frame(false, 0, OpClose, closeBody(1000, ""), true), code: CloseProtocolError},
		{name: "fragmented ping inside a fragmented message", in: cat(frame(false, 0, OpText, []byte("a"), true), frame(false, 0, OpPing, nil, true)), code: CloseProtocolError},

		// Masking (§5.3): a server must fail an unmasked client frame.
		{name: "unmasked text", in: frame(true, 0, OpText, []byte("hi"), false), code: CloseProtocolError},
		{name: "unmasked ping", in: frame(true, 0, OpPing, nil, false), code: CloseProtocolError},
		{name: "unmasked continuation", in: cat(frame(false, 0, OpText, []byte("a"), true), frame(true, 0, OpContinuation, []byte("b"), false)), code: CloseProtocolError},
		{name: "unmasked after a good message", in: cat(frame(true, 0, OpText, []byte("a"), true), frame(true, 0, OpText, []byte("b"), false)),
			want: []msg{text("a")}, code: CloseProtocolError},

		// Sizes: a message over max is refused from the header, before its payload is read.
		{name: "exactly max", max: 100, in: frame(true, 0, OpBinary, filled(100), true), want: []msg{bin(filled(100))}},
		{name: "exactly max, fragmented", max: 100, in: cat(frame(false, 0, OpText, filled(60), true), frame(true, 0, OpContinuation, filled(40), true)),
			want: []msg{text(string(append(filled(60), filled(40)...)))}},
		{name: "over max, 7-bit length, header only", max: 100, in: frameLen(true, 0, OpBinary, nil, true, enc7, 101), strict: true, code: CloseTooBig},
		{name: "over max, 16-bit length, header only", max: 1000, in: frameLen(true, 0, OpText, nil, true, enc16, 1001), strict: true, code: CloseTooBig},
		{name: "over max, 64-bit length, header only", max: defMax, in: frameLen(true, 0, OpBinary, nil, true, enc64, 1<<40), strict: true, code: CloseTooBig},
		{name: "over max, largest 64-bit length, header only", max: defMax, in: frameLen(false, 0, OpBinary, nil, true, enc64, 1<<63-1), strict: true, code: CloseTooBig},
		{name: "over max non-final first fragment, header only", max: 100, in: frameLen(false, 0, OpText, nil, true, enc7, 101), strict: true, code: CloseTooBig},
		{name: "fragmented over max, second header only", max: 10,
			in:     cat(frame(false, 0, OpBinary, filled(6), true), frameLen(true, 0, OpContinuation, nil, true, enc7, 6)),
			strict: true, code: CloseTooBig},
		{name: "fragmented over max, third header only", max: 10,
			in:     cat(frame(false, 0, OpText, filled(5), true), frame(false, 0, OpContinuation, filled(5), true), frameLen(true, 0, OpContinuation, nil, true, enc7, 1)),
			strict: true, code: CloseTooBig},
		{name: "control frames do not count towards max", max: 10,
			in:   cat(frame(false, 0, OpText, filled(5), true), frame(true, 0, OpPing, filled(100), true), frame(true, 0, OpContinuation, filled(5), true)),
			want: []msg{ping(string(filled(100))), text(string(append(filled(5), filled(5)...)))}},

		// UTF-8 (§8.1): fail fast.
		{name: "invalid UTF-8 byte", in: frame(true, 0, OpText, []byte("ab\xffcd"), true), code: CloseInvalidPayload},
		{name: "overlong encoding", in: frame(true, 0, OpText, []byte("\xc0\xaf"), true), code: CloseInvalidPayload},
		{name: "surrogate", in: frame(true, 0, OpText, []byte("\xed\xa0\x80"), true), code: CloseInvalidPayload},
		{name: "over U+10FFFF", in: frame(true, 0, OpText, []byte("\xf4\x90\x80\x80"), true), code: CloseInvalidPayload},
		{name: "lone continuation byte", in: frame(true, 0, OpText, []byte("\x80"), true), code: CloseInvalidPayload},
		{name: "invalid UTF-8 in binary is fine", in: frame(true, 0, OpBinary, []byte("\xff\xc0\xaf"), true), want: []msg{bin([]byte("\xff\xc0\xaf"))}},
		{name: "invalid UTF-8 in ping is fine", in: frame(true, 0, OpPing, []byte("\xff"), true), want: []msg{ping("\xff")}},
		{name: "invalid in first fragment, only that fragment given",
			in: frame(false, 0, OpText, []byte("ok\xf4\x90"), true), strict: true, code: CloseInvalidPayload},
		{name: "invalid at second fragment, third not needed",
			in:     cat(frame(false, 0, OpText, []byte("a\xf0\x9f"), true), frame(false, 0, OpContinuation, []byte("\x41"), true)),
			strict: true, code: CloseInvalidPayload},
		{name: "invalid early in a large frame, rest of payload not needed",
			in: frameLen(true, 0, OpText, []byte("abc\xff"), true, encMinimal, 100000), strict: true, code: CloseInvalidPayload},
		{name: "text ends inside a sequence",
			in: frame(true, 0, OpText, []byte("a\xe2\x82"), true), code: CloseInvalidPayload},
		{name: "fragmented text ends inside a sequence at FIN",
			in: cat(frame(false, 0, OpText, []byte("a\xf0"), true), frame(true, 0, OpContinuation, []byte("\x9f\x98"), true)), code: CloseInvalidPayload},
		{name: "text ends inside a sequence, then an empty FIN fragment",
			in: cat(frame(false, 0, OpText, []byte("a\xe2"), true), frame(true, 0, OpContinuation, nil, true)), code: CloseInvalidPayload},
		{name: "code point split across fragments",
			in:   cat(frame(false, 0, OpText, []byte("a\xe2\x82"), true), frame(true, 0, OpContinuation, []byte("\xac!"), true)),
			want: []msg{text("a€!")}},
		{name: "4-byte code point split over three fragments with a ping",
			in: cat(
				frame(false, 0, OpText, []byte("\xf0"), true),
				frame(false, 0, OpContinuation, []byte("\x9f\x98"), true),
				frame(true, 0, OpPing, nil, true),
				frame(true, 0, OpContinuation, []byte("\x80"), true)),
			want: []msg{ping(""), text("😀")}},
		{name: "validator reset between messages",
			in:   cat(frame(false, 0, OpText, []byte("a\xe2"), true), frame(true, 0, OpContinuation, []byte("\x82\xac"), true), frame(true, 0, OpText, []byte("b"), true)),
			want: []msg{text("a€"), text("b")}},

		// Close frames (§5.5.1, §7.4).
		{name: "close empty", in: frame(true, 0, OpClose, nil, true), want: []msg{closeMsg(nil)}},
		{name: "close 1-byte payload", in: frame(true, 0, OpClose, []byte{0x03}, true), code: CloseProtocolError},
		{name: "close reason invalid UTF-8", in: frame(true, 0, OpClose, closeBody(1000, "bye\xff"), true), code: CloseInvalidPayload},
		{name: "close reason truncated sequence", in: frame(true, 0, OpClose, closeBody(1000, "\xe2\x82"), true), code: CloseInvalidPayload},
		{name: "close with reason", in: frame(true, 0, OpClose, closeBody(1001, "κόσμε"), true), want: []msg{closeMsg(closeBody(1001, "κόσμε"))}},
		{name: "close 123-byte reason", in: frame(true, 0, OpClose, closeBody(1000, string(filled(123))), true), want: []msg{closeMsg(closeBody(1000, string(filled(123))))}},

		// Reading past the end.
		{name: "EOF before anything", in: nil, err: io.EOF},
		{name: "EOF after a message", in: frame(true, 0, OpText, []byte("x"), true), want: []msg{text("x")}, err: io.EOF},
		{name: "EOF after the first header byte", in: []byte{0x81}, err: io.ErrUnexpectedEOF},
		{name: "EOF in the mask key", in: frame(true, 0, OpText, []byte("x"), true)[:4], err: io.ErrUnexpectedEOF},
		{name: "EOF in a 16-bit length", in: frame(true, 0, OpText, filled(200), true)[:3], err: io.ErrUnexpectedEOF},
		{name: "EOF in a 64-bit length", in: frame(true, 0, OpText, filled(70000), true)[:7], err: io.ErrUnexpectedEOF},
		{name: "EOF in the payload", in: frame(true, 0, OpBinary, filled(10), true)[:10], err: io.ErrUnexpectedEOF},
		{name: "EOF in a large payload", in: frame(true, 0, OpBinary, filled(100000), true)[:50000], err: io.ErrUnexpectedEOF},
		{name: "EOF in a ping payload", in: frame(true, 0, OpPing, filled(10), true)[:10], err: io.ErrUnexpectedEOF},
		{name: "EOF in a second frame's header", in: cat(frame(true, 0, OpText, []byte("a"), true), []byte{0x81, 0x85, 1}),
			want: []msg{text("a")}, err: io.ErrUnexpectedEOF},
	}

	// Reserved bits (§5.2): no extension is negotiated, so any of them is a protocol error.
	for rsv := byte(1); rsv <= 7; rsv++ {
		tests = append(tests,
			tc{name: fmt.Sprintf("RSV %03b on text", rsv), in: frame(true, rsv, OpText, []byte("x"), true), code: CloseProtocolError},
			tc{name: fmt.Sprintf("RSV %03b on ping", rsv), in: frame(true, rsv, OpPing, nil, true), code: CloseProtocolError})
	}
	tests = append(tests, tc{name: "RSV1 on continuation",
		in: cat(frame(false, 0, OpText, []byte("a"), true), frame(true, 4, OpContinuation, []byte("b"), true)), code: CloseProtocolError})

	// Reserved opcodes (§5.2): 3-7 (data) and 0xB-0xF (control).
	for _, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		tests = append(tests,
			tc{name: fmt.Sprintf("opcode %#x", op), in: frame(true, 0, op, []byte("x"), true), code: CloseProtocolError},
			tc{name: fmt.Sprintf("opcode %#x inside a fragmented message", op),
				in: cat(frame(false, 0, OpBinary, []byte("a"), true), frame(true, 0, op, nil, true)), code: CloseProtocolError})
	}

	// Close codes a peer may and may not send (§7.4.1, §7.4.2).
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		tests = append(tests, tc{name: fmt.Sprintf("close code %d", code), in: frame(true, 0, OpClose, closeBody(code, ""), true), code: CloseProtocolError})
	}
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		b := closeBody(code, "why")
		tests = append(tests, tc{name: fmt.Sprintf("close code %d", code), in: frame(true, 0, OpClose, b, true), want: []msg{closeMsg(b)}})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = defMax
			}
			wantErr := tt.err
			if tt.code == 0 && wantErr == nil {
				wantErr = io.EOF
			}
			if tt.strict && tt.code == 0 {
				t.Fatal("bad test: strict needs a close code")
			}
			for _, src := range sources {
				r := NewReader(src.wrap(tt.in, tt.strict), max)
				got := readAll(r, len(tt.want)+1)
				if !equalMsgs(got.msgs, tt.want) {
					t.Errorf("%s: messages:\n got %s\nwant %s", src.name, showMsgs(got.msgs), showMsgs(tt.want))
				}
				if tt.code != 0 {
					var ce *CloseError
					if !errors.As(got.err, &ce) || ce.Code != tt.code {
						t.Errorf("%s: error %v, want a close %d", src.name, got.err, tt.code)
					}
				} else if !errors.Is(got.err, wantErr) {
					t.Errorf("%s: error %v, want %v", src.name, got.err, wantErr)
				}
				if r.b != nil && r.Buffered() == 0 {
					t.Errorf("%s: read buffer held after the final error with nothing buffered", src.name)
				}
			}
		})
	}
}

func equalMsgs(a, b []msg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func showMsgs(ms []msg) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		p := m.payload
		if len(p) > 40 {
			p = fmt.Sprintf("%s... (%d bytes)", p[:40], len(p))
		}
		parts[i] = fmt.Sprintf("{op %d %q}", m.op, p)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// A few streams, each cut at every position: the reader must report either what it
// reports for the whole input (a verdict reached before the cut) or a clean or unexpected EOF,
// never panic, and never return a message that the whole input does not start with.
func TestReaderTruncated(t *testing.T) {
	inputs := [][]byte{
		cat(frame(false, 0, OpText, []byte("a\xe2\x82"), true), frame(true, 0, OpPing, []byte("p"), true), frame(true, 0, OpContinuation, []byte("\xac!"), true)),
		cat(frame(true, 0, OpBinary, filled(300), true), frame(true, 0, OpClose, closeBody(1000, "ok"), true)),
		cat(frame(true, 0, OpText, []byte("ok"), true), frame(true, 0, OpText, []byte("\xff"), true)),
	}
	for i, in := range inputs {
		full := readAll(NewReader(bytes.NewReader(in), 1<<20), 100)
		for cut := 0; cut <= len(in); cut++ {
			got := readAll(NewReader(bytes.NewReader(in[:cut]), 1<<20), 100)
			if len(got.msgs) > len(full.msgs) || !equalMsgs(got.msgs, full.msgs[:len(got.msgs)]) {
				t.Fatalf("input %d cut at %d: messages %s, not a prefix of %s", i, cut, showMsgs(got.msgs), showMsgs(full.msgs))
			}
			if errString(got.err) == errString(full.err) {
				continue
			}
			if !errors.Is(got.err, io.EOF) && !errors.Is(got.err, io.ErrUnexpectedEOF) {
				t.Fatalf("input %d cut at %d: error %v; the whole input gives %v", i, cut, got.err, full.err)
			}
		}
	}
}

// EOF in the middle of a fragmented message, between two of its frames, is not a clean end.
// The reader may report io.EOF (the peer closed the TCP connection) or io.ErrUnexpectedEOF; what
// matters is that no partial message is returned.
func TestReaderEOFBetweenFragments(t *testing.T) {
	for _, src := range sources {
		r := NewReader(src.wrap(frame(false, 0, OpText, []byte("part"), true), false), 1<<20)
		m, err := r.Next()
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: Next = %v, %v; want an EOF", src.name, m, err)
		}
	}
}

// An error from the connection other than EOF is passed through as it is, mid-frame or between
// frames.
func TestReaderIOError(t *testing.T) {
	boom := errors.New("boom")
	whole := frame(true, 0, OpText, filled(50), true)
	for _, n := range []int{0, 1, 4, 10, len(whole)} {
		r := NewReader(io.MultiReader(bytes.NewReader(whole[:n]), iotest.ErrReader(boom)), 1<<20)
		var err error
		if n == len(whole) {
			if _, err = r.Next(); err != nil {
				t.Fatalf("whole frame: %v", err)
			}
		}
		_, err = r.Next()
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: error %v, want %v", n, err, boom)
		}
	}
}

// An idle Reader holds no pooled buffer; one is taken when bytes arrive and released as soon as a
// complete message or control frame leaves nothing unread.
func TestReaderReleasesBuffer(t *testing.T) {
	a := frame(true, 0, OpText, []byte("first"), true)
	b := frame(true, 0, OpBinary, filled(300), true)
	p := frame(true, 0, OpPing, []byte("p"), true)
	frag := cat(frame(false, 0, OpText, []byte("he"), true), frame(true, 0, OpContinuation, []byte("llo"), true))

	// One Read returns all of a, b and p: after a, the rest is still buffered.
	r := NewReader(bytes.NewReader(cat(a, b, p)), 1<<20)
	if r.b != nil || r.Buffered() != 0 {
		t.Fatal("new reader holds a buffer")
	}
	if m, err := r.Next(); err != nil || string(m.Payload) != "first" {
		t.Fatalf("Next = %q, %v", m.Payload, err)
	}
	if r.Buffered() == 0 || r.b == nil {
		t.Fatalf("after the first of three pipelined frames: Buffered() = %d, buf held %v", r.Buffered(), r.b != nil)
	}
	if m, err := r.Next(); err != nil || !bytes.Equal(m.Payload, filled(300)) {
		t.Fatalf("Next = %d bytes, %v", len(m.Payload), err)
	}
	if m, err := r.Next(); err != nil || m.Op != OpPing {
		t.Fatalf("Next = %v, %v", m, err)
	}
	if r.Buffered() != 0 || r.b != nil {
		t.Fatalf("after the last frame: Buffered() = %d, buf held %v", r.Buffered(), r.b != nil)
	}

	// Through every source, after each complete message of a stream read frame by frame.
	for _, src := range sources {
		for _, in := range [][]byte{a, b, p, frag, frame(true, 0, OpText, filled(70000), true), frame(true, 0, OpClose, nil, true)} {
			r := NewReader(src.wrap(in, false), 1<<20)
			if _, err := r.Next(); err != nil {
				t.Fatalf("%s: %v", src.name, err)
			}
			if r.Buffered() != 0 || r.b != nil {
				t.Errorf("%s: after a complete message: Buffered() = %d, buf held %v", src.name, r.Buffered(), r.b != nil)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("%s: then %v, want io.EOF", src.name, err)
			}
		}
	}
}

// A data message's payload belongs to the caller: later reads do not overwrite it.
func TestReaderPayloadNotReused(t *testing.T) {
	r := NewReader(bytes.NewReader(cat(
		frame(true, 0, OpText, []byte("one"), true),
		frame(true, 0, OpText, []byte("two"), true),
		frame(false, 0, OpBinary, []byte("thr"), true),
		frame(true, 0, OpContinuation, []byte("ee"), true))), 1<<20)
	var got [][]byte
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Payload)
	}
	if len(got) != 3 || string(got[0]) != "one" || string(got[1]) != "two" || string(got[2]) != "three" {
		t.Fatalf("payloads %q", got)
	}
}

func TestParseClose(t *testing.T) {
	tests := []struct {
		in     []byte
		code   int
		reason string
	}{
		{nil, CloseNoStatus, ""},
		{[]byte{}, CloseNoStatus, ""},
		{closeBody(1000, ""), 1000, ""},
		{closeBody(4999, "κόσμε"), 4999, "κόσμε"},
	}
	for _, tt := range tests {
		code, reason := ParseClose(tt.in)
		if code != tt.code || reason != tt.reason {
			t.Errorf("ParseClose(%x) = %d, %q; want %d, %q", tt.in, code, reason, tt.code, tt.reason)
		}
	}

	// What Next returns for an empty close frame parses as 1005.
	m, err := NewReader(bytes.NewReader(frame(true, 0, OpClose, nil, true)), 1<<20).Next()
	if err != nil || m.Op != OpClose {
		t.Fatalf("Next = %v, %v", m, err)
	}
	if code, reason := ParseClose(m.Payload); code != CloseNoStatus || reason != "" {
		t.Errorf("ParseClose(empty close) = %d, %q", code, reason)
	}
}

func TestValidReceivedCloseCode(t *testing.T) {
	for code := -1; code <= 70000; code++ {
		want := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
		if got := ValidReceivedCloseCode(code); got != want {
			t.Fatalf("ValidReceivedCloseCode(%d) = %v", code, got)
		}
	}
}

func TestCloseErrorMessage(t *testing.T) {
	_, err := NewReader(bytes.NewReader(frame(true, 0, OpText, []byte("x"), false)), 10).Next()
	if err == nil || !strings.Contains(err.Error(), "1002") {
		t.Errorf("error %v, want one naming 1002", err)
	}
}

// A continuation frame declaring a huge length (the 64-bit maximum the RFC allows) after a
// started message must be refused with 1009 from its header, like any other oversized fragment.
// (A size check written as len+length > max overflowed here and let any client crash the host
// with these 21 bytes.)
func TestReaderContinuationLengthOverflow(t *testing.T) {
	for _, first := range []int{1, 2, 100} {
		in := cat(frame(false, 0, OpText, filled(first), true), frameLen(true, 0, OpContinuation, nil, true, enc64, 1<<63-uint64(first)))
		var err error
		panicked := func() (p any) {
			defer func() { p = recover() }()
			_, err = NewReader(&strictReader{bytes.NewReader(in)}, 4096).Next()
			return nil
		}()
		if panicked != nil {
			t.Fatalf("first fragment %d bytes, continuation declaring %d bytes: panic %v; want close 1009", first, uint64(1<<63-uint64(first)), panicked)
		}
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != CloseTooBig {
			t.Errorf("first fragment %d bytes: error %v, want close 1009", first, err)
		}
	}
}

// FuzzReader feeds arbitrary bytes to a Reader (with a small max) and checks what comes out: no
// panic, no data message over max, text valid UTF-8, control payloads within 125 bytes, close
// payloads that ParseClose can trust, only the close codes the reader may produce, and the same
// results whether the bytes arrive at once or one at a time. Each input is read twice: without
// extensions, and with permessage-deflate negotiated (RSV1 then marks a compressed message).
func FuzzReader(f *testing.F) {
	const max = 4096
	seeds := [][]byte{
		frame(true, 0, OpText, []byte("Hello"), true),
		cat(frame(false, 0, OpText, []byte("a\xe2\x82"), true), frame(true, 0, OpPing, []byte("p"), true), frame(true, 0, OpContinuation, []byte("\xac"), true)),
		frame(true, 0, OpBinary, filled(130), true),
		frame(true, 0, OpClose, closeBody(1000, "bye"), true),
		frame(true, 0, OpClose, closeBody(1005, ""), true),
		frameLen(true, 0, OpBinary, nil, true, enc64, 1<<40),
		frameLen(true, 0, OpBinary, filled(5), true, enc16, 5),
		frame(true, 0, OpText, []byte("\xed\xa0\x80"), true),
		frame(true, 0, OpText, []byte("x"), false),
		cat(frame(false, 0, OpBinary, filled(10), true), frameLen(true, 0, OpContinuation, nil, true, enc16, max-9)),
		frame(true, 4, OpText, Compress([]byte("Hello, Hello, Hello")), true),
		cat(frame(false, 4, OpBinary, Compress(filled(130))[:5], true), frame(true, 0, OpContinuation, Compress(filled(130))[5:], true)),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, deflate := range []bool{false, true} {
			read := func(src io.Reader) outcome {
				r := NewReader(src, max)
				r.SetDeflate(deflate)
				return readAll(r, len(data)+1)
			}
			whole := read(bytes.NewReader(data))
			for _, m := range whole.msgs {
				switch m.op {
				case OpText:
					if !utf8.ValidString(m.payload) {
						t.Fatalf("deflate %v: invalid UTF-8 text message %q", deflate, m.payload)
					}
					fallthrough
				case OpBinary:
					if len(m.payload) > max {
						t.Fatalf("deflate %v: data message of %d bytes, max %d", deflate, len(m.payload), max)
					}
				case OpPing, OpPong:
					if len(m.payload) > MaxControlPayload {
						t.Fatalf("deflate %v: control frame of %d bytes", deflate, len(m.payload))
					}
				case OpClose:
					if len(m.payload) > MaxControlPayload || len(m.payload) == 1 {
						t.Fatalf("deflate %v: close payload of %d bytes", deflate, len(m.payload))
					}
					if code, reason := ParseClose([]byte(m.payload)); code != CloseNoStatus && (!ValidReceivedCloseCode(code) || !utf8.ValidString(reason)) {
						t.Fatalf("deflate %v: close %d %q accepted", deflate, code, reason)
					}
				default:
					t.Fatalf("deflate %v: message with opcode %d", deflate, m.op)
				}
			}
			var ce *CloseError
			switch {
			case errors.As(whole.err, &ce):
				if ce.Code != CloseProtocolError && ce.Code != CloseInvalidPayload && ce.Code != CloseTooBig {
					t.Fatalf("deflate %v: close code %d", deflate, ce.Code)
				}
			case errors.Is(whole.err, io.EOF), errors.Is(whole.err, io.ErrUnexpectedEOF):
			default:
				t.Fatalf("deflate %v: error %v (%T)", deflate, whole.err, whole.err)
			}

			one := read(iotest.OneByteReader(bytes.NewReader(data)))
			if !equalMsgs(one.msgs, whole.msgs) || errString(one.err) != errString(whole.err) {
				t.Fatalf("deflate %v: one byte at a time: %s, %v\nall at once: %s, %v", deflate, showMsgs(one.msgs), one.err, showMsgs(whole.msgs), whole.err)
			}
		}
	})
}

// Writer: server frames are unmasked, FIN set, with the minimal length encoding.

// toClient turns a server frame into the same frame as a client would send it (masked), so the
// Reader can check what the writer produced.
func toClient(t *testing.T, f []byte) []byte {
	t.Helper()
	if len(f) < 2 || f[1]&0x80 != 0 {
		t.Fatalf("server frame % x: too short or masked", f)
	}
	var n, hdr int
	switch l := int(f[1] & 0x7f); l {
	case 126:
		n, hdr = int(binary.BigEndian.Uint16(f[2:])), 4
	case 127:
		n, hdr = int(binary.BigEndian.Uint64(f[2:])), 10
	default:
		n, hdr = l, 2
	}
	if len(f) != hdr+n {
		t.Fatalf("server frame of %d bytes: header says %d+%d", len(f), hdr, n)
	}
	return frame(f[0]&0x80 != 0, f[0]>>4&7, f[0]&0x0f, f[hdr:], true)
}

func TestFrameHeaders(t *testing.T) {
	tests := []struct {
		n    int
		hdr  []byte // after the first byte
		size int    // HeaderSize
	}{
		{0, []byte{0}, 2},
		{1, []byte{1}, 2},
		{125, []byte{125}, 2},
		{126, []byte{126, 0, 126}, 4},
		{127, []byte{126, 0, 127}, 4},
		{65535, []byte{126, 0xff, 0xff}, 4},
		{65536, []byte{127, 0, 0, 0, 0, 0, 1, 0, 0}, 10},
		{70000, []byte{127, 0, 0, 0, 0, 0, 1, 0x11, 0x70}, 10},
	}
	for _, tt := range tests {
		for _, op := range []byte{OpText, OpBinary, OpPing, OpPong, OpClose} {
			if (op == OpPing || op == OpPong || op == OpClose) && tt.n > MaxControlPayload {
				continue
			}
			p := filled(tt.n)
			want := append(append([]byte{0x80 | op}, tt.hdr...), p...)
			if got := Frame(op, p); !bytes.Equal(got, want) {
				t.Errorf("Frame(%d, %d bytes): header % x, want % x", op, tt.n, got[:min(len(got), 10)], want[:min(len(want), 10)])
			}
			if got := HeaderSize(tt.n); got != tt.size {
				t.Errorf("HeaderSize(%d) = %d, want %d", tt.n, got, tt.size)
			}
			prefix := []byte("already here")
			got := AppendFrame(append([]byte(nil), prefix...), op, p)
			if !bytes.Equal(got, append(append([]byte(nil), prefix...), want...)) {
				t.Errorf("AppendFrame(prefix, %d, %d bytes) did not append the frame after the prefix", op, tt.n)
			}

			// What the writer wrote, the reader (masked, as from a client) reads back. (A close
			// frame's body must be a code and a reason: TestCloseFrame reads those back.)
			if op == OpClose {
				continue
			}
			m, err := NewReader(bytes.NewReader(toClient(t, Frame(op, p))), 1<<20).Next()
			if err != nil || m.Op != op || !bytes.Equal(m.Payload, p) {
				t.Errorf("reading back Frame(%d, %d bytes): op %d, %d bytes, %v", op, tt.n, m.Op, len(m.Payload), err)
			}
		}
	}
}

func TestCloseFrame(t *testing.T) {
	repeat := func(s string, n int) string { return strings.Repeat(s, n) }
	tests := []struct {
		name       string
		code       int
		reason     string
		want       []byte // the whole frame, when given
		wantReason string
	}{
		{name: "no status", code: CloseNoStatus, reason: "ignored", want: []byte{0x88, 0}},
		{name: "no status, no reason", code: CloseNoStatus, want: []byte{0x88, 0}},
		{name: "normal, no reason", code: CloseNormal, want: []byte{0x88, 2, 0x03, 0xe8}},
		{name: "going away", code: CloseGoingAway, reason: "bye", want: []byte{0x88, 5, 0x03, 0xe9, 'b', 'y', 'e'}, wantReason: "bye"},
		{name: "4999", code: 4999, reason: "x", want: []byte{0x88, 3, 0x13, 0x87, 'x'}, wantReason: "x"},
		{name: "123-byte reason kept", code: CloseTooBig, reason: repeat("a", 123), wantReason: repeat("a", 123)},
		{name: "124-byte reason cut", code: CloseTooBig, reason: repeat("a", 124), wantReason: repeat("a", 123)},
		{name: "long ASCII reason cut", code: CloseTooBig, reason: repeat("a", 1000), wantReason: repeat("a", 123)},
		{name: "2-byte runes cut before a split", code: ClosePolicyViolation, reason: repeat("é", 100), wantReason: repeat("é", 61)},
		{name: "3-byte runes fit exactly", code: ClosePolicyViolation, reason: repeat("€", 50), wantReason: repeat("€", 41)},
		{name: "4-byte runes cut before a split", code: CloseInternalError, reason: repeat("😀", 40), wantReason: repeat("😀", 30)},
		{name: "ASCII then a 4-byte rune across the limit", code: CloseInternalError, reason: repeat("a", 121) + "😀", wantReason: repeat("a", 121)},
		{name: "ASCII then a 3-byte rune ending at the limit", code: CloseInternalError, reason: repeat("a", 120) + "€b", wantReason: repeat("a", 120) + "€"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := CloseFrame(tt.code, tt.reason)
			if tt.want != nil && !bytes.Equal(f, tt.want) {
				t.Fatalf("CloseFrame = % x, want % x", f, tt.want)
			}
			if f[0] != 0x88 || int(f[1]) != len(f)-2 || len(f)-2 > MaxControlPayload {
				t.Fatalf("CloseFrame = % x: not one close frame of at most 125 bytes of payload", f[:2])
			}
			// A client reading it accepts it and sees the code and the (cut) reason.
			m, err := NewReader(bytes.NewReader(toClient(t, f)), 1<<20).Next()
			if err != nil || m.Op != OpClose {
				t.Fatalf("reading back: %v, %v", m, err)
			}
			code, reason := ParseClose(m.Payload)
			if code != tt.code || reason != tt.wantReason {
				t.Errorf("read back %d %q (%d bytes), want %d %q (%d bytes)", code, reason, len(reason), tt.code, tt.wantReason, len(tt.wantReason))
			}
		})
	}
}

// The payload buffer grows with the bytes that arrive, not with the length a header declares.
func TestReaderGrowsAsBytesArrive(t *testing.T) {
	const declared = 1 << 20
	in := frameLen(true, 0, OpBinary, filled(100), true, enc64, declared)
	r := NewReader(bytes.NewReader(in), 1<<30)
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next = %v, want io.ErrUnexpectedEOF", err)
	}
	if c := cap(r.msg); c > minGrow {
		t.Errorf("100 bytes of a frame declaring %d: buffer of %d bytes", declared, c)
	}
	// A whole large frame still arrives intact, in any read sizes.
	for _, src := range sources {
		big := filled(300000)
		r := NewReader(src.wrap(frame(true, 0, OpBinary, big, true), false), 1<<30)
		m, err := r.Next()
		if err != nil || !bytes.Equal(m.Payload, big) {
			t.Fatalf("%s: %d bytes, %v", src.name, len(m.Payload), err)
		}
		if cap(m.Payload) != len(big) {
			t.Errorf("%s: payload capacity %d for %d bytes", src.name, cap(m.Payload), len(big))
		}
	}
}

// Bytes given with SetPrefix are parsed before the source's.
func TestReaderPrefix(t *testing.T) {
	whole := cat(frame(true, 0, OpText, []byte("one"), true), frame(true, 0, OpText, []byte("two"), true))
	for cut := 0; cut <= len(whole); cut++ {
		r := NewReader(bytes.NewReader(whole[cut:]), 1<<20)
		r.SetPrefix(bytes.Clone(whole[:cut]))
		got := readAll(r, 3)
		if want := []msg{{OpText, "one"}, {OpText, "two"}}; !equalMsgs(got.msgs, want) || got.err != io.EOF {
			t.Fatalf("prefix of %d bytes: %s, %v", cut, showMsgs(got.msgs), got.err)
		}
	}
}

type countingReader struct {
	io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) { c.reads++; return c.Reader.Read(p) }

// A frame that arrives whole in the small array is parsed there: one read, no pooled buffer.
func TestReaderSmallFrameOneRead(t *testing.T) {
	for _, size := range []int{0, 64, smallSize - 6} {
		src := &countingReader{Reader: bytes.NewReader(frame(true, 0, OpText, filled(size), true))}
		r := NewReader(src, 1<<20)
		m, err := r.Next()
		if err != nil || !bytes.Equal(m.Payload, filled(size)) {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if src.reads != 1 || r.buf != nil {
			t.Errorf("%d-byte message: %d reads, pooled buffer held %v; want 1 read and none", size, src.reads, r.buf != nil)
		}
	}
}

// Idle is true only when nothing is buffered and no message is in progress (when a caller may
// park the connection); Reset makes a used Reader read a new source from scratch.
func TestReaderIdleAndReset(t *testing.T) {
	ping := frame(true, 0, OpPing, []byte("p"), true)
	for _, tc := range []struct {
		name  string
		input []byte
		reads int  // calls of Next
		idle  bool // Idle() after them
	}{
		{"new", nil, 0, true},
		{"after a whole frame", ping, 1, true},
		{"another frame buffered", cat(ping, ping), 1, false},
		{"both read", cat(ping, ping), 2, true},
		{"control frame inside a fragmented message", cat(frame(false, 0, OpText, []byte("a"), true), ping), 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.input), 1<<20)
			for i := range tc.reads {
				if _, err := r.Next(); err != nil {
					t.Fatalf("Next %d: %v", i, err)
				}
			}
			if got := r.Idle(); got != tc.idle {
				t.Fatalf("Idle() = %v, want %v", got, tc.idle)
			}
			r.Reset(bytes.NewReader(frame(true, 0, OpText, []byte("fresh"), true)), 1<<20)
			if !r.Idle() {
				t.Fatal("not idle after Reset")
			}
			if got := readAll(r, 2); !equalMsgs(got.msgs, []msg{{OpText, "fresh"}}) || got.err != io.EOF {
				t.Fatalf("after Reset: %s, %v", showMsgs(got.msgs), got.err)
			}
		})
	}
}
