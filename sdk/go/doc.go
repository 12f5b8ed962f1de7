// Package wasmsock is the Go SDK for wasmsock plugins: WebAssembly modules that hold the
// application logic of a WebSocket service run by the wasmsock host.
//
// A plugin is a Go main package built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o chat.wasm ./chat
//
// The -buildmode=c-shared flag matters: it makes the module export _initialize instead of _start.
// The host calls _initialize once, which starts the Go runtime and runs every package's init
// functions, including the plugin's own; main.main is never called. The Go compiler still wants
// a main function in package main, so a plugin declares an empty one. Without c-shared, the
// module is a command: the host accepts it but never calls its _start, so the Go runtime is never
// started, and the first export the host calls (on_start) traps: the plugin does not start.
//
// A plugin registers its handlers from init with [OnConnect], [OnMessage], [OnClose] and
// [OnStart]; each one may be left out. The host then calls them, one at a time, as connections
// open, send messages and close. Inside a handler the plugin acts on a connection through the
// methods of [Conn] (send, close, read handshake details, join and leave groups) and on groups
// with [Broadcast] and [SendToUser].
//
// This example is a chat room per URL: it puts every connection into the room named by its
// "room" query parameter, relays text messages to the rest of the room and refuses clients that
// ask for no room.
//
//	//go:build wasip1
//
//	package main
//
//	import (
//		"encoding/json"
//
//		wasmsock "github.com/wasmsock/wasmsock/sdk/go"
//	)
//
//	var greeting = "welcome"
//
//	func init() {
//		wasmsock.OnStart(func(config []byte) error {
//			var cfg struct{ Greeting string }
//			if len(config) > 0 {
//				if err := json.Unmarshal(config, &cfg); err != nil {
//					return err // logged, and the host does not start the plugin
//				}
//			}
//			if cfg.Greeting != "" {
//				greeting = cfg.Greeting
//			}
//			return nil
//		})
//
//		wasmsock.OnConnect(func(c wasmsock.Conn, resumed bool) wasmsock.Verdict {
//			room := c.Query("room")
//			if room == "" {
//				return wasmsock.RejectHTTP(400)
//			}
//			if err := c.Join("room:" + room); err != nil {
//				wasmsock.Errorf("conn %d: join %q: %v", c.ID(), room, err)
//				return wasmsock.RejectClose(4000)
//			}
//			if !resumed { // a resumed connection was greeted by an earlier instance
//				c.SendText(greeting + ", " + c.RemoteAddr())
//			}
//			return wasmsock.Accept
//		})
//
//		wasmsock.OnMessage(func(c wasmsock.Conn, m wasmsock.Message) {
//			if m.Kind != wasmsock.Text {
//				c.Close(1003, "text only")
//				return
//			}
//			n, err := wasmsock.Broadcast("room:"+c.Query("room"), wasmsock.Text, m.Data, c)
//			if err != nil {
//				wasmsock.Warnf("conn %d: broadcast: %v", c.ID(), err)
//			}
//			wasmsock.Debugf("conn %d: relayed %d bytes to %d others", c.ID(), len(m.Data), n)
//		})
//
//		wasmsock.OnClose(func(c wasmsock.Conn, code int, reason string) {
//			wasmsock.Infof("conn %d closed: %d %s", c.ID(), code, reason)
//		})
//	}
//
//	func main() {} // required by the compiler, never called
//
// # Handlers
//
// Handlers run on the instance's single thread and the host calls one at a time, so a plugin
// needs no locks around its own state. Nothing in the plugin runs between calls: a goroutine,
// whether started in init or by a handler, gets to run only while a handler is blocked (in
// time.Sleep or on a channel, say), and a blocked handler holds up the whole instance until the
// plugin's call_timeout. So a plugin does its work in the handler itself, not in the background.
//
// A panic in a handler is recovered and logged at error level with its stack, so one bad
// message does not take down the instance and every other connection's state with it. A panic
// in the OnConnect handler rejects the handshake with HTTP 500; one in the OnStart handler
// refuses to start the plugin.
//
// # The event bus
//
// [Publish], [Subscribe], [QueueSubscribe] and [SendRequest] connect a plugin to NATS subjects
// (abi/ABI.md, "Bus"): subjects are those of the namespace being handled, and messages,
// replies and failures come to the [OnEvent] handler with the id of their subscription or
// request. A host without [cluster] in its config has no bus: the calls return
// [ErrUnavailable]; a full host queue returns [ErrBusy].
//
// # State the host keeps
//
// A plugin's variables live in one instance and are gone after a reload or a fault. What must
// outlive them goes to the host (abi/ABI.md, "Timers", "Attachments", "Shared state"):
//
//   - Timers: [Conn.After] and [Conn.Every] arm a named timer of a connection (it ends with the
//     connection), [After] and [Every] one of the plugin; the [OnTimer] handler gets them by name,
//     on whichever module serves after a reload. Arming a name again replaces the timer; at most
//     abi.MaxTimers are armed per plugin ([ErrLimit]).
//   - Attachments: [Conn.SetAttachment] keeps up to abi.MaxAttachment bytes with a connection;
//     read it back with [Conn.Attachment] in the OnConnect handler when resumed is set.
//   - Shared state: [KV] is a key-value store shared by the plugin's instances, per namespace,
//     with TTLs and compare-and-swap ([ErrMismatch]).
//
// plugins/lobby in the repository uses all three; sdk/go/plugintest drives time in tests.
//
// # Errors
//
// Functions that call the host return nil or an [Error] holding the host's [abi.Status].
// Compare with errors.Is against the sentinel values, such as [ErrUnknownConn] for a
// connection that has gone away or [ErrClosed] for one that is closing.
//
// # Other platforms
//
// Outside GOOS=wasip1 the package still builds, so that tools and tests can load it, but there
// is no host: every function that would call the host returns [ErrNotSupported] (or reports
// nothing found), and the handlers are never called.
package wasmsock
