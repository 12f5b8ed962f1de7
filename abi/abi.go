// Package abi holds the names and numbers of wasmsock's plugin ABI, shared by the host and the Go
// SDK. The specification is ABI.md in this directory.
//
// The facts themselves (functions and their signatures, statuses and their texts, limits, close
// code rules) are written once, in abi.json; abi_gen.go is generated from it, as are the other
// SDKs' bindings and ABI.md's tables (see README.md). This file holds the types they use.
//
// Nothing in here imports the host or the runtime, so a plugin built with GOOS=wasip1 can import it.
package abi

//go:generate go run ./internal/abigen

// Status is what a host function returns: >= 0 is success (a count or a length where the function
// says so), < 0 is one of the error statuses (abi_gen.go).
type Status int32

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

// ValueType is a WebAssembly value type, numbered as in the binary format (and as wazero's
// api.ValueType).
type ValueType byte

// The value types the ABI uses.
const (
	I32 ValueType = 0x7f
	I64 ValueType = 0x7e
)

// String returns the type's name in the text format: "i32" or "i64".
func (t ValueType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	}
	return "unknown"
}

// ParamType says what a parameter holds, which decides its WebAssembly type and its type in each
// language's bindings.
type ParamType string

// The parameter types of abi.json.
const (
	ParamConn ParamType = "conn" // a connection id: i64, read as unsigned
	ParamPtr  ParamType = "ptr"  // an address in guest memory the host reads from: i32
	ParamOut  ParamType = "out"  // an address in guest memory the host writes to: i32
	ParamLen  ParamType = "len"  // a byte count, read as unsigned: i32
	ParamI32  ParamType = "i32"  // a signed 32-bit integer
	ParamI64  ParamType = "i64"  // a signed 64-bit integer
	ParamU64  ParamType = "u64"  // an unsigned 64-bit integer: i64
)

// ValueType returns the WebAssembly type of a parameter of type p.
func (p ParamType) ValueType() ValueType {
	switch p {
	case ParamConn, ParamI64, ParamU64:
		return I64
	}
	return I32
}

// Stability says whether a function's behaviour may still change within the ABI version.
type Stability string

// The stabilities of ABI.md: a FINAL function never changes; a DRAFT function's name and
// signature are fixed, its behaviour may still be refined.
const (
	Final Stability = "FINAL"
	Draft Stability = "DRAFT"
)

// Param is one parameter of a function.
type Param struct {
	Name string
	Type ParamType
}

// Func is a function of the ABI: a host function (imported by the guest from ImportModule) or a
// guest export.
type Func struct {
	Name      string
	Params    []Param
	Results   []ValueType
	Stability Stability
	// Required is true for the exports every plugin must have. Host functions are never
	// required: a module imports only those it uses.
	Required bool
	// RequiresExport, for a host function, names the guest export a module that imports it must
	// have, because the function makes the host call that export (timer_set: on_timer).
	RequiresExport string
}

// ParamTypes returns the WebAssembly types of f's parameters.
func (f Func) ParamTypes() []ValueType {
	ts := make([]ValueType, len(f.Params))
	for i, p := range f.Params {
		ts[i] = p.Type.ValueType()
	}
	return ts
}

// LookupHostFunction returns the host function named name.
func LookupHostFunction(name string) (Func, bool) {
	for _, f := range HostFunctions {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

// CodeRange is an inclusive range of close codes.
type CodeRange struct{ Lo, Hi int }

func inRanges(code int, rs []CodeRange) bool {
	for _, r := range rs {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// ValidCloseCode reports whether an endpoint may send code in a close frame (RFC 6455 §7.4), so
// whether close accepts it: see SendableCloseCodes.
func ValidCloseCode(code int) bool { return inRanges(code, SendableCloseCodes) }

// ValidConnectCloseCode reports whether on_connect may return code to accept the handshake and
// close at once: see ConnectCloseCodes.
func ValidConnectCloseCode(code int) bool { return inRanges(code, ConnectCloseCodes) }
