package plugin

import "github.com/wasmsock/wasmsock/abi"

// Host is what a plugin's host functions act on: the connections and groups of the server.
// Implementations must not block (sends are enqueued) and must not call back into the plugin.
type Host interface {
	// Send enqueues a data message (kind abi.KindText or abi.KindBinary) to conn.
	Send(conn uint64, kind int32, data []byte) abi.Status
	// Close starts the closing handshake of conn with a code valid per abi.ValidCloseCode and a
	// reason already cut to abi.MaxCloseReason bytes.
	Close(conn uint64, code int, reason string) abi.Status
	// ConnGet returns a property of conn (see the conn_get keys in ABI.md).
	ConnGet(conn uint64, key string) (string, abi.Status)
	// Join and Leave change conn's membership of a group in conn's namespace.
	Join(conn uint64, group string) abi.Status
	Leave(conn uint64, group string) abi.Status
	// Broadcast sends a data message to every member of group except the connection except
	// (0: nobody), in the namespace of the connection current (0: the default namespace).
	// It returns the number of recipients.
	Broadcast(current uint64, group string, kind int32, data []byte, except uint64) (int, abi.Status)
}
