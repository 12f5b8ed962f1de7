package wasmsock

import (
	"fmt"
	"strconv"

	"github.com/wasmsock/wasmsock/abi"
)

// Kind is the type of a WebSocket message.
type Kind int

// The message kinds, equal to the opcodes of the WebSocket frames that carry them.
const (
	Text   Kind = abi.KindText   // UTF-8 text
	Binary Kind = abi.KindBinary // arbitrary bytes
)

// String returns "text", "binary" or, for any other value, "Kind(n)".
func (k Kind) String() string {
	switch k {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Message is one complete WebSocket message from a client.
//
// Data belongs to the SDK and is valid only until the OnMessage handler returns: the SDK reuses
// the buffer for the next message. A handler that keeps the bytes, or hands them to a goroutine,
// must copy them first (for example with bytes.Clone or string(m.Data)). Passing Data to a
// Send, Broadcast or SendToUser call during the handler is fine: the host copies it.
type Message struct {
	Kind Kind
	Data []byte
}

// Text returns a copy of the message's data as a string.
func (m Message) Text() string {
	return string(m.Data)
}

// Conn is a WebSocket connection, identified by the id the host gave it. Ids are nonzero and
// never reused, so a Conn can be stored and used later: once the connection has closed, its
// methods return [ErrUnknownConn]. The zero Conn, [Nobody], is no connection.
//
// The host resolves a Conn in the namespace of the connection whose event is being handled (the
// default namespace "" in the OnStart handler): a connection of another namespace is, to the
// plugin, no connection at all, and its methods return [ErrUnknownConn] (Get reports false).
type Conn uint64

// Nobody is the zero Conn. Pass it as the except argument of [Broadcast] or [SendToUser] to
// leave no one out.
const Nobody Conn = 0

// ID returns the connection's id.
func (c Conn) ID() uint64 {
	return uint64(c)
}

// Send sends a message of the given kind. It returns once the host has queued the message, not
// when the client has received it. Text data must be valid UTF-8.
//
// Send returns [ErrClosed] when the connection is closing, and also when the message does not fit
// in the connection's outbound queue: the client is not keeping up, so the host drops its queue
// and closes it with 1008 ("slow consumer: outbound queue full").
func (c Conn) Send(kind Kind, data []byte) error {
	if kind != Text && kind != Binary {
		return ErrInvalidArgument
	}
	return statusErr(hostSend(uint64(c), int32(kind), data))
}

// SendText sends s as a text message.
func (c Conn) SendText(s string) error {
	return statusErr(hostSendString(uint64(c), int32(Text), s))
}

// SendBinary sends b as a binary message.
func (c Conn) SendBinary(b []byte) error {
	return statusErr(hostSend(uint64(c), int32(Binary), b))
}

// Close starts the closing handshake with the given close code and reason. The code must be one
// RFC 6455 allows an endpoint to send (1000-1003, 1007-1014, 3000-4999), otherwise Close returns
// [ErrInvalidCode]; the host cuts the reason to 123 bytes on a UTF-8 boundary. The plugin's
// OnClose handler still runs when the handshake completes.
func (c Conn) Close(code int, reason string) error {
	if !abi.ValidCloseCode(code) {
		return ErrInvalidCode
	}
	return statusErr(hostClose(uint64(c), int32(code), reason))
}

// Get returns the value the host holds for key about the connection, and whether it has one.
// The keys are:
//
//	id            the connection id (ID returns it without asking the host)
//	route         the route that accepted the connection
//	path          the request path of the handshake
//	query         the raw query string, without the '?'
//	query.NAME    the value of query parameter NAME
//	header.NAME   the value of handshake request header NAME
//	remote_addr   the client's address, host:port
//	subprotocol   the WebSocket subprotocol agreed on; none when none was selected
//	user          the user id (from the token, or from the route's user_from); none when anonymous
//	namespace     the namespace the connection belongs to; always present, "" for the default
//
// Get reports false for a key the connection has no value for, for a connection that has gone,
// and for a connection of another namespace.
func (c Conn) Get(key string) (string, bool) {
	var small [128]byte
	buf := small[:]
	// The value's full length comes back even when it does not fit, so a second call with a
	// buffer of that size gets it all. Values do not change, but a bounded loop guards against a
	// host whose answer does.
	for range 4 {
		n := hostConnGet(uint64(c), key, buf)
		if n < 0 {
			return "", false
		}
		if int(n) <= len(buf) {
			return string(buf[:n]), true
		}
		buf = make([]byte, n)
	}
	return "", false
}

// get returns the value for key, or "" when there is none.
func (c Conn) get(key string) string {
	v, _ := c.Get(key)
	return v
}

// Route returns the route that accepted the connection.
func (c Conn) Route() string { return c.get("route") }

// Path returns the request path of the WebSocket handshake.
func (c Conn) Path() string { return c.get("path") }

// RawQuery returns the handshake's query string, without the '?'.
func (c Conn) RawQuery() string { return c.get("query") }

// Query returns the value of query parameter name in the handshake request, or "" when it is
// absent. Use Get("query." + name) to tell an absent parameter from an empty one.
func (c Conn) Query(name string) string { return c.get("query." + name) }

// Header returns the value of header name in the handshake request, or "" when it is absent.
func (c Conn) Header(name string) string { return c.get("header." + name) }

// User returns the connection's user id, or "" for an anonymous connection. The id comes from
// the token's user claim when the route authenticates, or else from the route's user_from source
// (a query parameter or header, not authenticated).
func (c Conn) User() string { return c.get("user") }

// Namespace returns the namespace the connection belongs to; "" is the default namespace.
func (c Conn) Namespace() string { return c.get("namespace") }

// RemoteAddr returns the client's network address as host:port.
func (c Conn) RemoteAddr() string { return c.get("remote_addr") }

// Subprotocol returns the WebSocket subprotocol agreed on in the handshake, or "" when there is
// none.
func (c Conn) Subprotocol() string { return c.get("subprotocol") }

// Join adds the connection to group in its namespace, creating the group if needed. Joining a
// group the connection is already in does nothing. Membership is kept by the host: it survives
// reloads and instance restarts, and the host drops the connection from all its groups when it
// closes. Groups whose name starts with "user:" are managed by the host: joining one returns
// [ErrInvalidArgument]. Joining a connection that is closing returns [ErrClosed].
func (c Conn) Join(group string) error {
	return statusErr(hostJoin(uint64(c), group))
}

// Leave removes the connection from group. Leaving a group the connection is not in does
// nothing. Leaving a "user:" group returns [ErrInvalidArgument].
func (c Conn) Leave(group string) error {
	return statusErr(hostLeave(uint64(c), group))
}

// Broadcast sends a message to every connection in group except the connection except (pass
// [Nobody] to leave no one out), and returns how many connections the host queued it for. An
// empty or unknown group reaches nobody and is not an error.
//
// The group is looked up in the namespace of the connection whose event is being handled (the
// default namespace "" in the OnStart handler), whatever except is; except must be [Nobody] or a
// connection of that namespace, else Broadcast returns [ErrUnknownConn]. Members that are
// closing, on a receive-only route, or whose route does not take a message that large are
// skipped and not counted.
func Broadcast(group string, kind Kind, data []byte, except Conn) (int, error) {
	if kind != Text && kind != Binary {
		return 0, ErrInvalidArgument
	}
	n := hostBroadcast(group, int32(kind), data, uint64(except))
	if n < 0 {
		return 0, statusErr(n)
	}
	return int(n), nil
}

// SendToUser sends a message to every connection of user except the connection except, and
// returns how many connections the host queued it for. It is Broadcast to the group
// "user:"+user, in the namespace of the connection whose event is being handled. The host puts
// every connection that has a user id (see [Conn.User]) into that group by itself; a plugin
// cannot join or leave "user:" groups, and need not.
func SendToUser(user string, kind Kind, data []byte, except Conn) (int, error) {
	return Broadcast("user:"+user, kind, data, except)
}

// Level is the severity of a log message.
type Level int

// The log levels, from least to most severe.
const (
	LevelDebug Level = abi.LogDebug
	LevelInfo  Level = abi.LogInfo
	LevelWarn  Level = abi.LogWarn
	LevelError Level = abi.LogError
)

// Log writes msg to the host's log at level, attributed to the plugin. Logging never fails
// loudly: if the host refuses the message, it is dropped.
func Log(level Level, msg string) {
	hostLog(int32(level), msg)
}

// Debugf logs a message formatted as by fmt.Sprintf at debug level.
func Debugf(format string, args ...any) { Log(LevelDebug, fmt.Sprintf(format, args...)) }

// Infof logs a message formatted as by fmt.Sprintf at info level.
func Infof(format string, args ...any) { Log(LevelInfo, fmt.Sprintf(format, args...)) }

// Warnf logs a message formatted as by fmt.Sprintf at warn level.
func Warnf(format string, args ...any) { Log(LevelWarn, fmt.Sprintf(format, args...)) }

// Errorf logs a message formatted as by fmt.Sprintf at error level.
func Errorf(format string, args ...any) { Log(LevelError, fmt.Sprintf(format, args...)) }
