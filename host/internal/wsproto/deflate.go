package wsproto

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// permessage-deflate (RFC 7692), always negotiated with server_no_context_takeover and
// client_no_context_takeover: every message is compressed on its own. That costs some ratio on
// streams of similar small messages, and buys two things: a broadcast is compressed once and the
// same frame goes to every member, and a connection keeps no 32 KiB compression window (nor the
// inflater's) between messages. A client that limits the server's window (server_max_window_bits
// below 15) gets messages compressed with Huffman coding only: no back-references, so they are
// valid for any window size (RFC 7692 §7.1.2.1 leaves the encoder free to use less than the
// window it may). See RATIONALE.md.

// CompressMinBytes is the smallest payload the server compresses; smaller messages go out
// uncompressed (RFC 7692 lets a sender choose per message), since deflate would not pay for itself.
const CompressMinBytes = 128

// Negotiate answers one permessage-deflate offer (RFC 7692 §7.1): it accepts the first offer it can
// honour and declines (returns a zero option) the others. It is a gobwas/ws Upgrader.Negotiate.
type Negotiate struct {
	Accepted bool
	// NoBackRefs: the client limited the server's LZ77 window below 32 KiB, so messages to it
	// are compressed without back-references (CompressedFrameNoRefs).
	NoBackRefs bool
}

// Offer implements the Upgrader's Negotiate callback.
func (n *Negotiate) Offer(opt httphead.Option) (httphead.Option, error) {
	if n.Accepted || !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
		return httphead.Option{}, nil
	}
	var p wsflate.Parameters
	if err := p.Parse(opt); err != nil {
		return httphead.Option{}, nil // §7.1: decline a malformed offer, do not fail the handshake
	}
	n.Accepted = true
	resp := wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	if p.ServerMaxWindowBits.Defined() {
		// Accepted with the value offered (§7.1.2.1). Go's compressor always looks back up to
		// 32 KiB, so for a smaller window messages are compressed without back-references.
		resp.ServerMaxWindowBits = p.ServerMaxWindowBits
		n.NoBackRefs = p.ServerMaxWindowBits < 15
	}
	return resp.Option(), nil
}

var (
	flateWriters     sync.Pool // flate.BestSpeed
	huffmanWriters   sync.Pool // flate.HuffmanOnly: no back-references
	flateReaders     sync.Pool
	emptyFlushMarker = []byte{0, 0, 0xff, 0xff}
)

// Compress deflates p as one permessage-deflate message: the raw DEFLATE stream ending in a sync
// flush whose trailing 0x00 0x00 0xff 0xff is removed (§7.2.1).
func Compress(p []byte) []byte { return compress(p, &flateWriters, flate.BestSpeed) }

// CompressNoRefs is Compress with Huffman coding only: the stream has no back-references, so a
// peer that limited the server's window to any size (8 to 15 bits) can inflate it.
func CompressNoRefs(p []byte) []byte { return compress(p, &huffmanWriters, flate.HuffmanOnly) }

func compress(p []byte, pool *sync.Pool, level int) []byte {
	var buf bytes.Buffer
	buf.Grow(len(p)/2 + 16)
	w, _ := pool.Get().(*flate.Writer)
	if w == nil {
		w, _ = flate.NewWriter(&buf, level)
	} else {
		w.Reset(&buf)
	}
	_, _ = w.Write(p)
	_ = w.Flush()
	pool.Put(w)
	return bytes.TrimSuffix(buf.Bytes(), emptyFlushMarker)
}

// CompressedFrame returns one complete server frame carrying p compressed, with RSV1 set.
func CompressedFrame(op byte, p []byte) []byte { return compressedFrame(op, Compress(p)) }

// CompressedFrameNoRefs is CompressedFrame compressed with CompressNoRefs.
func CompressedFrameNoRefs(op byte, p []byte) []byte { return compressedFrame(op, CompressNoRefs(p)) }

func compressedFrame(op byte, z []byte) []byte {
	return appendHeader(make([]byte, 0, HeaderSize(len(z))+len(z)), bitFin|bitRsv1|op, len(z), z)
}

// tail is appended to a compressed message before inflating (§7.2.2), followed by an empty final
// stored block so the inflater ends with io.EOF instead of io.ErrUnexpectedEOF.
var tail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflate decompresses a permessage-deflate message, refusing to produce more than max bytes: a
// compression bomb is stopped at the limit, never allocated past it.
func inflate(p []byte, max int64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader(tail))
	fr, _ := flateReaders.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(src)
	} else if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, err
	}
	defer flateReaders.Put(fr)
	var out bytes.Buffer
	out.Grow(int(min(int64(len(p))*3+64, max+1)))
	n, err := out.ReadFrom(io.LimitReader(fr, max+1))
	if n > max {
		return nil, &CloseError{Code: CloseTooBig, Reason: "message too big after decompression"}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, &CloseError{Code: CloseInvalidPayload, Reason: "corrupt compressed message"}
	}
	return out.Bytes(), nil
}
