package wasmsock

import (
	"runtime/debug"
	"strconv"

	"github.com/wasmsock/wasmsock/abi"
)

// Verdict is an OnConnect handler's answer to a new connection: [Accept], or a rejection made by
// [RejectHTTP] or [RejectClose].
type Verdict int32

// Accept completes the WebSocket handshake.
const Accept Verdict = 0

// RejectHTTP refuses the handshake with HTTP status code status, which must be 400-599; the
// client never gets a WebSocket. A status outside that range becomes 500, so a mistake still
// refuses the connection rather than accepting it.
func RejectHTTP(status int) Verdict {
	if status < 400 || status > 599 {
		status = 500
	}
	return Verdict(status)
}

// RejectClose completes the handshake and then closes the connection at once with close code
// code, which must be 4000-4999 (the range RFC 6455 leaves to applications). Browsers report
// close codes to scripts but not HTTP statuses, so this is the way to tell a browser client why.
// A code outside that range becomes 4000.
func RejectClose(code int) Verdict {
	if code < 4000 || code > 4999 {
		code = 4000
	}
	return Verdict(code)
}

var (
	connectHandler func(c Conn, resumed bool) Verdict
	messageHandler func(c Conn, m Message)
	closeHandler   func(c Conn, code int, reason string)
	startHandler   func(config []byte) error
)

// OnConnect sets the handler for new connections; it decides whether to accept each one.
//
// resumed is true when the connection was already open and the host is replaying it to a fresh
// instance of the plugin (after a reload or a restart). The handler should then rebuild the
// plugin's own state for the connection but not greet the client again; its verdict is ignored.
// Group memberships are kept by the host across reloads and restarts, so joining the
// connection's groups again is not needed (though harmless).
//
// Without a handler every connection is accepted. Register handlers from init; a later call
// replaces the handler and nil removes it.
func OnConnect(h func(c Conn, resumed bool) Verdict) { connectHandler = h }

// OnMessage sets the handler for messages from clients. m.Data is valid only until the handler
// returns (see [Message]). Without a handler messages are dropped.
func OnMessage(h func(c Conn, m Message)) { messageHandler = h }

// OnClose sets the handler called once a connection has closed, whoever closed it, with the
// close code and reason the connection ended with. The connection can no longer be sent to.
// Without a handler nothing is done.
func OnClose(h func(c Conn, code int, reason string)) { closeHandler = h }

// OnStart sets the handler called once when the host starts an instance of the plugin, after
// init and before any connection. config is the plugin's config table from the host
// configuration, encoded as JSON, and "{}" when the plugin has no config table; the slice
// belongs to the handler. Returning an error stops the host from starting the plugin; the SDK
// logs the error at error level first. There is no current connection during OnStart: group and
// connection calls act in the default namespace "".
func OnStart(h func(config []byte) error) { startHandler = h }

// keepBuffer is the largest message buffer kept between messages: a larger one, grown for a big
// message, is left to the garbage collector after the handler returns.
const keepBuffer = 64 << 10

// msgBuf holds the current message's payload. Only one handler runs at a time, so one buffer
// serves every message.
var msgBuf []byte

// readPayload reads the current event's n-byte payload with msg_read into buf, growing it as
// needed, and returns the bytes read (fewer than n if the host has fewer) and the grown buffer.
// One msg_read call reads a whole payload that fits; readRest handles the rest.
func readPayload(buf []byte, n int) ([]byte, error) {
	if n <= 0 {
		return buf[:0], nil
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if r := hostMsgRead(buf); int(r) != n {
		return readRest(buf, r)
	}
	return buf, nil
}

// readRest goes on reading into buf after a first msg_read returned r: a shorter read, the end,
// or an error.
func readRest(buf []byte, r int32) ([]byte, error) {
	off := 0
	for {
		if r < 0 {
			return buf[:off], statusErr(r)
		}
		if r == 0 {
			return buf[:off], nil
		}
		off += min(int(r), len(buf)-off)
		if off == len(buf) {
			return buf, nil
		}
		r = hostMsgRead(buf[off:])
	}
}

// logPanic logs a panic recovered from a handler, with the stack where it happened. It avoids
// fmt, which would add a third of a megabyte to every plugin whether it formats anything or not.
func logPanic(event string, v any) {
	Log(LevelError, "wasmsock: panic in "+event+" handler: "+panicText(v)+"\n"+string(debug.Stack()))
}

// panicText describes a recovered panic value.
func panicText(v any) string {
	switch x := v.(type) {
	case error:
		return x.Error()
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return "(a value that is not an error, string or number; the stack shows the panic)"
}

// dispatchConnect handles the on_connect export, and is the export.
//
//go:wasmexport on_connect
func dispatchConnect(conn uint64, flags int32) (result int32) {
	h := connectHandler
	if h == nil {
		return int32(Accept)
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic("OnConnect", v)
			result = int32(RejectHTTP(500))
		}
	}()
	return int32(h(Conn(conn), flags&abi.FlagResumed != 0))
}

// dispatchMessage handles the on_message export, and is the export itself (go:wasmexport is
// ignored outside WebAssembly). It runs for every message, so it keeps the number of Go calls
// down: each costs about 27 ns compiled to WebAssembly (BENCHMARKS.md). So it does not call
// readPayload: a payload that fits the kept buffer is read here with one msg_read (inlined), and
// readRest finishes anything else.
//
//go:wasmexport on_message
func dispatchMessage(conn uint64, kind int32, n int32) {
	h := messageHandler
	if h == nil {
		return
	}
	data := msgBuf[:0]
	if n > 0 {
		if int(n) > cap(data) {
			data = make([]byte, n)
		}
		data = data[:n]
		if r := hostMsgRead(data); r != n {
			var err error
			if data, err = readRest(data, r); err != nil {
				Log(LevelError, "wasmsock: message dropped: reading it from the host: "+err.Error())
				return
			}
		}
		if cap(data) != cap(msgBuf) {
			msgBuf = nil
			if cap(data) <= keepBuffer {
				msgBuf = data[:0]
			}
		}
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic("OnMessage", v)
		}
	}()
	h(Conn(conn), Message{Kind: Kind(kind), Data: data})
}

// dispatchClose handles the on_close export, and is the export.
//
//go:wasmexport on_close
func dispatchClose(conn uint64, code int32, reasonLen int32) {
	h := closeHandler
	if h == nil {
		return
	}
	var small [abi.MaxCloseReason]byte
	reason, err := readPayload(small[:], int(reasonLen))
	if err != nil {
		Log(LevelWarn, "wasmsock: close reason lost: reading it from the host: "+err.Error())
		reason = nil
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic("OnClose", v)
		}
	}()
	h(Conn(conn), int(code), string(reason))
}

// dispatchStart handles the on_start export, and is the export.
//
//go:wasmexport on_start
func dispatchStart(configLen int32) (result int32) {
	h := startHandler
	if h == nil {
		return 0
	}
	config, err := readPayload(nil, int(configLen))
	if err != nil {
		Log(LevelError, "wasmsock: reading the plugin config from the host: "+err.Error())
		return 1
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic("OnStart", v)
			result = 1
		}
	}()
	if err := h(config); err != nil {
		Log(LevelError, "wasmsock: plugin refused to start: "+err.Error())
		return 1
	}
	return 0
}
