//go:build wasip1

package wasmsock

// The guest's exports are the dispatch functions themselves, each marked //go:wasmexport where it
// is defined (the directive is ignored outside WebAssembly, where the package's tests call them):
// on_connect, on_message, on_close and on_start in events.go, on_event in bus.go, on_timer in
// state.go. A wrapper around each would cost a Go call per event (see package abi for their
// contract).

// abiV1 is the marker export that declares ABI version 1 (abi.Marker).
//
//go:wasmexport wasmsock_abi_v1
func abiV1() {}
