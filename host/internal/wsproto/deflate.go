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
// inflater's) between messages. See RATIONALE.md.

// CompressMinBytes is the smallest payload the server compresses; smaller messages go out
// uncompressed (RFC 7692 lets a sender choose per message), since deflate would not pay for itself.
const CompressMinBytes = 128

// Negotiate answers one permessage-deflate offer (RFC 7692 §7.1): it accepts the first offer it can
// honour and declines (returns a zero option) the others. It is a gobwas/ws Upgrader.Negotiate.
type Negotiate struct {
	Accepted bool
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
	if p.ServerMaxWindowBits.Defined() && p.ServerMaxWindowBits < 15 {
		// Go's compressor always uses a 32 KiB window: an offer asking for a smaller one cannot be
		// honoured, so it is declined (§7.1.2.1).
		return httphead.Option{}, nil
	}
	n.Accepted = true
	resp := wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	if p.ServerMaxWindowBits.Defined() {
		resp.ServerMaxWindowBits = 15
	}
	return resp.Option(), nil
}

var (
	flateWriters sync.Pool
	flateReaders sync.Pool
)

// Compress deflates p as one permessage-deflate message: the raw DEFLATE stream ending in a sync
// flush whose trailing 0x00 0x00 0xff 0xff is removed (§7.2.1).
func Compress(p []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(p)/2 + 16)
	w, _ := flateWriters.Get().(*flate.Writer)
	if w == nil {
		w, _ = flate.NewWriter(&buf, flate.BestSpeed)
	} else {
		w.Reset(&buf)
	}
	_, _ = w.Write(p)
	_ = w.Flush()
	flateWriters.Put(w)
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// CompressedFrame returns one complete server frame carrying p compressed, with RSV1 set.
func CompressedFrame(op byte, p []byte) []byte {
	z := Compress(p)
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
