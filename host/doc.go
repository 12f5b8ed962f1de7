// Package host is the wasmsock server: it accepts connections, routes WebSocket handshakes to
// plugins, keeps connections healthy and carries out what plugins ask through the ABI.
//
// A Server is built from a validated config (package config) with New, served with Serve or
// ListenAndServe and stopped with Shutdown, which drains: clients get 1001 and plugins on_close.
// The moving parts have their lifecycle written down in one place each: a plugin's in
// host/plugin (doc.go), the cluster's in host/cluster (doc.go), a config reload's at the top of
// configreload.go, and a connection's here.
//
// # The life of a connection
//
// Accept (handshake.go, handleConn). The listener's goroutine hands each TCP connection to a
// goroutine of its own, under handshake_timeout. A client over the per-IP rate of new connections
// gets 429. The request head is read into a pooled buffer (max_header_bytes; over it, 431). A
// head that asks a route's path for an Upgrade: websocket takes the WebSocket path below; any
// other goes to net/http (pages, /healthz, /readyz, /metrics, the admin API, 426 and 404).
//
// Handshake (upgrade, admit). While the server drains, 503. gobwas/ws parses the head; the
// Conn gets its id (with the node's id in a cluster, host/hub). Before the 101 is written, in
// this order: the plugin must be enabled (503); the route's subprotocol rule (400); the Origin
// check and the token (guard.go: 403 or 401, which set the user and the namespace); the
// connection limits (503 or 429); the connection is registered with the hub, and the plugin's
// on_connect decides: accept, accept and close with a code at once, or refuse with an HTTP status
// (a fault is 500). An accepted connection with a user is in the group "user:<id>". The head
// buffer goes back to its pool after the 101; bytes the client sent with its handshake are kept
// and read first.
//
// Open: reading (conn.go, run and readLoop). One goroutine at a time reads a connection, and it
// alone hands the connection's messages to the plugin, so they arrive in order. Frames are checked
// as RFC 6455 and RFC 7692 say (host/internal/wsproto); a frame that breaks the protocol, or a
// message over max_message_bytes, starts the close below with the RFC's code (1002, 1007, 1009).
// A message over the route's rate gets 1008. A message goes to the plugin (plugin.MessageFrom):
// on the reader's own goroutine when an instance is free, else into the instance's mailbox, which
// is bounded in bytes, so a busy plugin slows its readers down instead of buffering without end.
// Pings are answered with pongs; any frame counts as a sign of life. On Linux, a connection with
// nothing to read for a second, or nothing left to read after a ping or a pong (the heartbeat that
// woke it), gives its goroutine and its reader up and is parked with one epoll instance for the
// process (poll_linux.go); bytes from the peer, or its hang-up, start a reader again.
//
// Open: writing (enqueue, writeNow, writeLoop). What the plugin sends (send, broadcast, a group's
// publication from another node) is framed once per message and put on the connection's
// outbound queue, which is bounded by queue_messages and queue_bytes: a peer that does not read
// fills it and is closed with 1008 as a slow consumer, whoever sends to it. A reply to a message
// the reader ran on its own goroutine, when nothing else is queued, is written by the reader with
// one non-blocking write once the guest call has returned (so no instance waits on a socket).
// Everything else (broadcasts, replies from events the instance's worker ran) goes, on Linux over
// plain TCP, to the process's writer pool (writers.go): a few workers that write
// each connection's queue with non-blocking writev calls and never wait on a socket (one at a
// time while the list of connections to write is short, so that each writev carries more
// frames; more to drain a backlog); a socket
// that does not take everything hands its connection to a writer goroutine of its own, which
// writes each batch with one writev under a write deadline until the queue is empty. TLS
// connections and other platforms use that goroutine for every burst.
//
// Open: health. A heartbeat timer pings a connection silent for ping_interval and drops one that
// sends nothing for pong_timeout after the ping (1006 to the plugin). With close_on_expiry, the
// connection is closed with 3000 when its token expires.
//
// Closing. A close starts from the plugin (close(code, reason)), from the peer's close frame
// (answered with its code), from a protocol error, a limit (1008, 1009), the heartbeat, the token's
// expiry, a config reload that removed the route or the plugin (1001), or Shutdown (1001). A
// close frame is queued after the replies to the messages read before it (settle), nothing is
// queued after it, and the peer has close_timeout to answer before the TCP connection is closed.
// After a protocol error the server half-closes and discards what the peer still sends, so that
// its close frame is not destroyed by a reset.
//
// Finish (finish, exactly once). The heartbeat and expiry timers stop; send, close and join on the
// connection return ErrClosed from then on; it leaves all its groups (in a cluster, a group's
// last local member ends the node's subscription to it); its limits are released; the plugin gets
// on_close, and the id stays known (to fail with ErrClosed) until on_close has returned; a plugin
// retired by a reload stops once its last connection is finished.
//
// Reloads. A plugin's new module takes over its open connections without closing them: each gets
// on_connect with the resumed flag and its attachment (abi/ABI.md), and its timers are re-armed.
// A config reload keeps every connection whose route and plugin it keeps.
package host
