// Package abi holds the names and numbers of wasmsock's plugin ABI, shared by the host and the Go
// SDK. The specification is ABI.md in this directory; this package only gives its constants names.
//
// Nothing in here imports the host or the runtime, so a plugin built with GOOS=wasip1 can import it.
package abi

// Version is the ABI version this package describes. A module declares it by exporting the marker
// function named by Marker.
const Version = 1

// Marker is the export every plugin must have: a function with no parameters and no results.
const Marker = "wasmsock_abi_v1"

// ImportModule is the module name of every host function.
const ImportModule = "wasmsock"

// Names of the guest exports.
const (
	ExportOnConnect  = "on_connect"  // (conn i64, flags i32) -> i32
	ExportOnMessage  = "on_message"  // (conn i64, kind i32, len i32)
	ExportOnClose    = "on_close"    // (conn i64, code i32, reason_len i32)
	ExportOnStart    = "on_start"    // optional: (config_len i32) -> i32
	ExportInitialize = "_initialize" // optional: WASI reactor initialisation
	ExportMemory     = "memory"      // the guest's linear memory
)

// Names of the host functions in module ImportModule.
const (
	FuncMsgRead   = "msg_read"  // (dst i32, cap i32) -> i32
	FuncSend      = "send"      // (conn i64, kind i32, ptr i32, len i32) -> i32
	FuncBroadcast = "broadcast" // (group_ptr i32, group_len i32, kind i32, ptr i32, len i32, except i64) -> i32
	FuncJoin      = "join"      // (conn i64, group_ptr i32, group_len i32) -> i32
	FuncLeave     = "leave"     // (conn i64, group_ptr i32, group_len i32) -> i32
	FuncClose     = "close"     // (conn i64, code i32, reason_ptr i32, reason_len i32) -> i32
	FuncConnGet   = "conn_get"  // (conn i64, key_ptr i32, key_len i32, dst i32, cap i32) -> i32
	FuncLog       = "log"       // (level i32, ptr i32, len i32) -> i32
)

// Status is what a host function returns: >= 0 is success (a count or a length where the function
// says so), < 0 is one of the errors below.
type Status int32

// Error statuses. Their numbers are part of ABI v1 and never change.
const (
	OK                 Status = 0
	ErrBadPointer      Status = -1  // a (ptr, len) pair is outside the guest's memory
	ErrUnknownConn     Status = -2  // no open connection with that id, as this plugin sees it (same plugin, same namespace)
	ErrInvalidCode     Status = -3  // a close code that RFC 6455 §7.4 does not allow an endpoint to send
	ErrNotSupported    Status = -4  // called outside any guest context (a plugin never sees it)
	ErrNotFound        Status = -5  // conn_get: no such key
	ErrInvalidArgument Status = -6  // a bad kind, level, group name or other argument
	ErrClosed          Status = -7  // the connection is closing; nothing more can be sent to it
	ErrForbidden       Status = -8  // the route's mode forbids it (send on a receive-only route)
	ErrNoMessage       Status = -9  // msg_read outside an event that carries bytes
	ErrTooLarge        Status = -10 // a payload over the route's max_message_bytes
)

var statusText = map[Status]string{
	OK:                 "ok",
	ErrBadPointer:      "bad pointer",
	ErrUnknownConn:     "unknown connection",
	ErrInvalidCode:     "invalid close code",
	ErrNotSupported:    "not supported",
	ErrNotFound:        "not found",
	ErrInvalidArgument: "invalid argument",
	ErrClosed:          "connection closed",
	ErrForbidden:       "forbidden by route mode",
	ErrNoMessage:       "no message to read",
	ErrTooLarge:        "payload too large",
}

// String names the status.
func (s Status) String() string {
	if t, ok := statusText[s]; ok {
		return t
	}
	if s > 0 {
		return "ok"
	}
	return "unknown status"
}

// Message kinds, equal to the RFC 6455 opcodes of the frames that carry them.
const (
	KindText   = 1
	KindBinary = 2
)

// Flags passed to on_connect.
const (
	// FlagResumed says the connection was already open: the host is replaying it to a new instance
	// (after a reload or an instance restart). The guest rebuilds its state and must not greet again.
	// Its on_connect result is ignored.
	FlagResumed = 1
)

// Log levels for the log host function.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)

// Limits.
const (
	// MaxCloseReason is the longest close reason, in bytes: a close frame's payload is at most 125
	// bytes (RFC 6455 §5.5) and the code takes 2 of them.
	MaxCloseReason = 123
	// MaxGroupName is the longest group name, in bytes.
	MaxGroupName = 128
	// MaxConnGetKey is the longest key conn_get accepts, in bytes.
	MaxConnGetKey = 256
)

// ValidCloseCode reports whether an endpoint may send code in a close frame (RFC 6455 §7.4):
// 1000-1003, 1007-1014 and 3000-4999. 1004, 1005, 1006 and 1015 are reserved and never sent.
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
