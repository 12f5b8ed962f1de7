package plugin

import (
	"context"

	"github.com/wasmsock/wasmsock/abi"
)

// Host is what a plugin's host functions act on: the connections and groups of the server.
//
// Every call names current, the connection whose event the guest is handling (0 in on_start):
// the host resolves the other connection ids and the groups in current's namespace, so nothing a
// plugin does for one tenant reaches another. Implementations must not block (sends are
// enqueued) and must not call back into the plugin.
type Host interface {
	// Send enqueues a data message (abi.KindText or abi.KindBinary) to conn.
	Send(current, conn uint64, kind int32, data []byte) abi.Status
	// Close starts the closing handshake of conn with a code valid per abi.ValidCloseCode and a
	// reason already cut to abi.MaxCloseReason bytes.
	Close(current, conn uint64, code int, reason string) abi.Status
	// ConnGet returns a property of conn (see the conn_get keys in ABI.md).
	ConnGet(current, conn uint64, key string) (string, abi.Status)
	// Join and Leave change conn's membership of a group.
	Join(current, conn uint64, group string) abi.Status
	Leave(current, conn uint64, group string) abi.Status
	// Broadcast sends a data message to every member of group except the connection except
	// (0: nobody) and returns the number of recipients.
	Broadcast(current uint64, group string, kind int32, data []byte, except uint64) (int, abi.Status)
	// Presence returns the size of group (in current's namespace) and, when members is set, its
	// members sorted by connection id: a member that this plugin does not serve (another
	// plugin's connection) has Conn 0. It is the one Host method that may wait on the network
	// (the other nodes of a cluster), never past ctx, the guest call's context; when it cannot
	// give the whole answer it returns a status instead (abi.ErrUnavailable, abi.ErrTooLarge).
	Presence(ctx context.Context, current uint64, group string, members bool) (int, []Member, abi.Status)
	// Released says the plugin is done with conn: its on_close has returned (or was skipped), so
	// the id may be forgotten.
	Released(conn uint64)
}

// Caller is the connection whose reader delivered the message being handled (MessageFrom), while
// the event runs on that reader's goroutine: the guest's sends to that connection go to Reply
// instead of Host.Send, so the host can leave them for the reader to write once the call has
// returned (no instance waits on a socket, and no lookup finds the connection again). Reply
// must not block.
type Caller interface {
	Reply(kind int32, data []byte) abi.Status
}

// Member is a member of a group, for presence.
type Member struct {
	Conn uint64 // its connection id; 0 for a connection the plugin does not serve
	User string // its user id; "" for an anonymous connection
}
