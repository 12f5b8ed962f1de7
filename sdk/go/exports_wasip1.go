//go:build wasip1

package wasmsock

// The guest exports the host calls (see package abi for their contract). Each hands over to the
// dispatch function for its event, which calls the plugin's handler.

// abiV1 is the marker export that declares ABI version 1 (abi.Marker).
//
//go:wasmexport wasmsock_abi_v1
func abiV1() {}

//go:wasmexport on_connect
func onConnect(conn uint64, flags int32) int32 {
	return dispatchConnect(conn, flags)
}

//go:wasmexport on_message
func onMessage(conn uint64, kind int32, n int32) {
	dispatchMessage(conn, kind, n)
}

//go:wasmexport on_close
func onClose(conn uint64, code int32, reasonLen int32) {
	dispatchClose(conn, code, reasonLen)
}

//go:wasmexport on_start
func onStart(configLen int32) int32 {
	return dispatchStart(configLen)
}

//go:wasmexport on_event
func onEvent(id int32, kind int32, subjectLen int32, dataLen int32) {
	dispatchEvent(id, kind, subjectLen, dataLen)
}

//go:wasmexport on_timer
func onTimer(conn uint64, nameLen int32) {
	dispatchTimer(conn, nameLen)
}
