package wasmsock

import "github.com/wasmsock/wasmsock/abi"

// Error is a failure reported by the host: the negative [abi.Status] a host function returned.
//
// The SDK returns Error values, not pointers. They compare equal to the sentinel value with the
// same status, so both err == ErrClosed and errors.Is(err, ErrClosed) work; to get at the status
// itself, declare var e wasmsock.Error and call errors.As(err, &e).
type Error struct {
	Status abi.Status
}

// Error describes the status, as in "wasmsock: unknown connection".
func (e Error) Error() string {
	return "wasmsock: " + e.Status.String()
}

// Is reports whether target is an Error (or *Error) with the same status, which makes
// errors.Is(err, ErrNotFound) true for any Error holding abi.ErrNotFound.
func (e Error) Is(target error) bool {
	switch t := target.(type) {
	case Error:
		return t.Status == e.Status
	case *Error:
		return t != nil && t.Status == e.Status
	}
	return false
}

// The errors the host can return, one per [abi.Status].
var (
	// ErrBadPointer means a buffer handed to the host lies outside the plugin's memory. The SDK
	// only passes its own slices, so seeing it points to a bug in the SDK or the host.
	ErrBadPointer error = Error{abi.ErrBadPointer}
	// ErrUnknownConn means no open connection has that id in the namespace of the connection
	// whose event is being handled: it has closed, the id was never valid, or it belongs to a
	// connection of another namespace (the host does not tell these apart).
	ErrUnknownConn error = Error{abi.ErrUnknownConn}
	// ErrInvalidCode means a close code that RFC 6455 §7.4 does not allow an endpoint to send.
	ErrInvalidCode error = Error{abi.ErrInvalidCode}
	// ErrNotSupported means the plugin is not running under a wasmsock host at all (any GOOS
	// other than wasip1). The host itself returns it only for a host function called outside
	// any guest context, which does not happen to a running plugin; every function of ABI v1,
	// the group functions included, is implemented.
	ErrNotSupported error = Error{abi.ErrNotSupported}
	// ErrNotFound means a connection has no value for the key asked about.
	ErrNotFound error = Error{abi.ErrNotFound}
	// ErrInvalidArgument means a bad message kind, log level, group name or other argument,
	// including a "user:" group (managed by the host) given to Join or Leave.
	ErrInvalidArgument error = Error{abi.ErrInvalidArgument}
	// ErrClosed means the connection is closing and nothing more can be sent to it.
	ErrClosed error = Error{abi.ErrClosed}
	// ErrForbidden means the route's mode forbids the call, such as sending on a receive-only
	// route.
	ErrForbidden error = Error{abi.ErrForbidden}
	// ErrNoMessage means the host had no payload to read. The SDK reads payloads itself, so a
	// plugin should not see it.
	ErrNoMessage error = Error{abi.ErrNoMessage}
	// ErrTooLarge means a payload is larger than the route's max_message_bytes.
	ErrTooLarge error = Error{abi.ErrTooLarge}
)

// statusErr turns a host function's result into an error: nil for a status >= 0.
func statusErr(st int32) error {
	if st >= 0 {
		return nil
	}
	return Error{abi.Status(st)}
}
