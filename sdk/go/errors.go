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

// The sentinel errors, one per negative [abi.Status], are in errors_gen.go, generated from
// abi/abi.json.

// statusErr turns a host function's result into an error: nil for a status >= 0.
func statusErr(st int32) error {
	if st >= 0 {
		return nil
	}
	return Error{abi.Status(st)}
}
