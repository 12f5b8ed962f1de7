package plugintest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/plugin"
	wasmsock "github.com/wasmsock/wasmsock/sdk/go"
)

// Kind is the type of a WebSocket message: the Go SDK's, so plugin code and its tests share it.
type Kind = wasmsock.Kind

// The message kinds.
const (
	Text   = wasmsock.Text
	Binary = wasmsock.Binary
)

// Message is a WebSocket message the plugin sent to a connection.
type Message struct {
	Kind Kind
	Data []byte
}

// Text returns the message's data as a string.
func (m Message) Text() string { return string(m.Data) }

// String describes the message: text quoted, binary in hex.
func (m Message) String() string {
	if m.Kind == Binary {
		return "binary " + hex.EncodeToString(m.Data)
	}
	return m.Kind.String() + " " + strconv.Quote(string(m.Data))
}

// ConnInfo describes the WebSocket handshake of a fake connection: what the plugin reads with
// conn_get. Every field is optional.
type ConnInfo struct {
	// User is the authenticated user id ("" for none). A connection with a user id is in the
	// group "user:<User>" of its namespace.
	User string
	// Namespace is the connection's namespace ("" is the default namespace).
	Namespace string
	// Route is the path of the route that accepted the connection; default "/".
	Route string
	// Path is the request path; default Route.
	Path string
	// Query is the raw query string, without '?', percent-encoding kept: "room=a%20b&x".
	Query string
	// Header holds the request headers (names are matched case-insensitively).
	Header http.Header
	// RemoteAddr is the client's address as host:port; default 127.0.0.1 and a port made from the
	// connection id.
	RemoteAddr string
	// Subprotocol is the subprotocol the host selected; "" for none, which conn_get reports as
	// absent (ErrNotFound), as ABI.md says.
	Subprotocol string
}

// Conn is a fake client connection. Its methods may be called from several goroutines.
type Conn struct {
	h    *Harness
	id   uint64
	info ConnInfo

	// Guarded by h.mu.
	accepted    bool      // on_connect accepted it: on_close is owed
	rejected    bool      // on_connect rejected it (or faulted)
	closing     bool      // a close has started
	released    bool      // on_close has returned: the id is gone
	closeCode   int       // of the close, once closing
	closeReason string    // of the close, once closing
	received    []Message // every message the plugin sent to it
	read        int       // how many of received Next has returned
	m           *member   // its membership of groups, held by the harness's hub
}

// member is a Conn as the hub (host/hub) holds it.
type member struct {
	c  *Conn
	ms hub.Memberships
}

func (m *member) ID() uint64                    { return m.c.id }
func (m *member) Namespace() string             { return m.c.info.Namespace }
func (m *member) Memberships() *hub.Memberships { return &m.ms }

// Rejected is the error of a connection the plugin did not let through.
//
// When on_connect refused the handshake (it returned an HTTP status 400-599, returned something
// invalid, or faulted), HTTPStatus is what the client got and no connection exists: Connect
// returns a nil *Conn.
//
// When on_connect returned a close code 4000-4999, the handshake completed and the connection
// was closed right away: CloseCode is that code (or the code the plugin passed to close during
// on_connect, which wins), and Connect returns the *Conn along with the error, so a test can
// still read what the plugin sent before the close.
type Rejected struct {
	HTTPStatus int    // 400-599 when the handshake was refused, else 0
	CloseCode  int    // 4000-4999 (or the plugin's own close code) when it was accepted then closed
	Verdict    int32  // what on_connect returned (0 when it faulted or was never called)
	Fault      error  // why on_connect failed, when it faulted (HTTPStatus is then 500 or 503)
	Reason     string // what refused it, in words
}

func (r *Rejected) Error() string {
	if r.HTTPStatus != 0 {
		return fmt.Sprintf("plugintest: handshake refused with HTTP %d: %s", r.HTTPStatus, r.Reason)
	}
	return fmt.Sprintf("plugintest: connection accepted, then closed with %d: %s", r.CloseCode, r.Reason)
}

// Unwrap returns the fault, if on_connect faulted.
func (r *Rejected) Unwrap() error { return r.Fault }

// ErrConnClosed is returned when a test sends on, or closes, a connection that is closed.
var ErrConnClosed = errors.New("plugintest: connection is closed")

// Connect opens a fake connection: the plugin gets on_connect, and Connect returns once the
// plugin has handled it (and anything it caused). Connection ids are 1, 2, 3... in the order of
// Connect calls.
//
// If on_connect refuses the connection, the error is a [*Rejected] (see there: for a close code
// verdict the *Conn is returned too). A User or Namespace that the server would refuse (over 123
// bytes, or with control characters) gets a *Rejected with HTTP 400 without calling the plugin.
func (h *Harness) Connect(info ConnInfo) (*Conn, error) {
	h.ops.Lock()
	defer h.ops.Unlock()
	if err := h.checkOpen(); err != nil {
		return nil, err
	}
	if !validIdentity(info.Namespace) {
		return nil, &Rejected{HTTPStatus: http.StatusBadRequest, Reason: "invalid namespace"}
	}
	if !validIdentity(info.User) {
		return nil, &Rejected{HTTPStatus: http.StatusBadRequest, Reason: "invalid user id"}
	}
	// As in the server, the connection is known to the host (conn_get works) during its fresh
	// on_connect, and joins its user group only once accepted.
	h.mu.Lock()
	h.nextID++
	c := &Conn{h: h, id: h.nextID, info: info.withDefaults(h.nextID)}
	c.m = &member{c: c}
	h.conns[c.id] = c
	h.mu.Unlock()
	v := h.p.Connect(c.id, 0)
	switch {
	case v.Accepted():
		h.mu.Lock()
		c.accepted = true
		if c.info.User != "" {
			_ = h.groups.Join(c.m, plugin.UserGroupPrefix+c.info.User, true) // the host's own: no limit
		}
		if code := v.CloseCode(); code != 0 && !c.closing { // a close during on_connect wins
			h.startClose(c, code, "")
		}
		h.mu.Unlock()
		if err := h.settle(); err != nil {
			return c, err
		}
		if v.CloseCode() != 0 {
			h.mu.Lock()
			defer h.mu.Unlock()
			return c, &Rejected{CloseCode: c.closeCode, Verdict: v.Code, Reason: "on_connect returned " + strconv.Itoa(int(v.Code))}
		}
		return c, nil
	case v.Fault != nil:
		h.reject(c)
		// A fault replaces the instance and replays its other connections; let that finish.
		if err := h.settle(); err != nil {
			return nil, err
		}
		rej := &Rejected{HTTPStatus: http.StatusInternalServerError, Fault: v.Fault, Reason: "on_connect failed: " + v.Fault.Error()}
		if h.p.Disabled() {
			rej.HTTPStatus = http.StatusServiceUnavailable
		}
		return nil, rej
	case v.Code >= 400 && v.Code <= 599:
		h.reject(c)
		return nil, &Rejected{HTTPStatus: int(v.Code), Verdict: v.Code, Reason: "on_connect returned " + strconv.Itoa(int(v.Code))}
	default:
		h.reject(c)
		return nil, &Rejected{HTTPStatus: http.StatusInternalServerError, Verdict: v.Code, Reason: "on_connect returned the invalid verdict " + strconv.Itoa(int(v.Code))}
	}
}

// reject forgets a connection on_connect did not accept: what the plugin sent it is discarded,
// a close it started is dropped (no on_close is owed) and it leaves any group it joined.
func (h *Harness) reject(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.rejected = true
	c.received, c.read = nil, 0
	h.groups.LeaveAll(c.m)
	delete(h.conns, c.id)
	h.pending = slices.DeleteFunc(h.pending, func(p *Conn) bool { return p == c })
}

// validIdentity reports whether the server would take s as a user id or namespace: it must fit
// in a group name after "user:".
func validIdentity(s string) bool {
	return s == "" || (len(s) <= abi.MaxGroupName-len(plugin.UserGroupPrefix) && plugin.ValidGroupName([]byte(s)))
}

func (info ConnInfo) withDefaults(id uint64) ConnInfo {
	if info.Route == "" {
		info.Route = "/"
	}
	if info.Path == "" {
		info.Path = info.Route
	}
	if info.RemoteAddr == "" {
		info.RemoteAddr = "127.0.0.1:" + strconv.FormatUint(10000+id%50000, 10)
	}
	info.Header = info.Header.Clone()
	return info
}

// ID returns the connection's id, as the plugin sees it.
func (c *Conn) ID() uint64 { return c.id }

// Info returns the handshake details the connection was opened with, defaults filled in.
func (c *Conn) Info() ConnInfo { return c.info }

// SendText sends a text message: the plugin gets on_message, and SendText returns once the
// plugin has handled it and everything it caused. s must be valid UTF-8 (a server closes a
// connection that sends invalid text with 1007; the harness returns an error instead).
func (c *Conn) SendText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("plugintest: text message is not valid UTF-8")
	}
	return c.send(Text, []byte(s))
}

// SendBinary sends a binary message, like [Conn.SendText].
func (c *Conn) SendBinary(b []byte) error { return c.send(Binary, b) }

func (c *Conn) send(kind Kind, data []byte) error {
	h := c.h
	h.ops.Lock()
	defer h.ops.Unlock()
	if err := c.checkOpen(); err != nil {
		return err
	}
	h.p.Message(c.id, int32(kind), bytes.Clone(data))
	return h.settle()
}

// Close closes the connection from the client's side, with a close code and a reason: the plugin
// gets on_close with them, and Close returns once it has handled it. Code 0 sends a close frame
// without a code, which the plugin sees as 1005. Otherwise the code must be one a client may
// send (1000-1003, 1007-1014, 3000-4999) and the reason at most 123 bytes of UTF-8.
func (c *Conn) Close(code int, reason string) error {
	switch {
	case code == 0 && reason != "":
		return errors.New("plugintest: a close without a code has no reason")
	case code == 0:
		code = 1005
	case !abi.ValidCloseCode(code):
		return fmt.Errorf("plugintest: %d is not a close code a client may send", code)
	case len(reason) > abi.MaxCloseReason || !utf8.ValidString(reason):
		return fmt.Errorf("plugintest: a close reason is at most %d bytes of UTF-8", abi.MaxCloseReason)
	}
	h := c.h
	h.ops.Lock()
	defer h.ops.Unlock()
	if err := c.checkOpen(); err != nil {
		return err
	}
	h.mu.Lock()
	h.startClose(c, code, reason)
	h.mu.Unlock()
	return h.settle()
}

func (c *Conn) checkOpen() error {
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return ErrHarnessClosed
	case c.rejected || c.closing:
		return ErrConnClosed
	}
	return nil
}

// Received returns every message the plugin sent to the connection, oldest first, including
// those [Conn.Next] has already returned.
func (c *Conn) Received() []Message {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return slices.Clone(c.received)
}

// Pending returns the messages [Conn.Next] has not returned yet, oldest first.
func (c *Conn) Pending() []Message {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return slices.Clone(c.received[c.read:])
}

// Next returns the oldest message that Next has not returned yet; ok is false if there is none.
func (c *Conn) Next() (m Message, ok bool) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if c.read == len(c.received) {
		return Message{}, false
	}
	c.read++
	return c.received[c.read-1], true
}

// Closed reports whether the connection is closed, and with what code and reason: those of the
// first close of the closing handshake, whoever started it (the plugin, on_connect's verdict, the
// host after a fault, or the test with [Conn.Close]), as on_close reports them.
func (c *Conn) Closed() (code int, reason string, closed bool) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return c.closeCode, c.closeReason, c.closing
}

// Groups returns the groups the connection is in, sorted, including its "user:" group. A
// connection stays in its groups until it has finished closing, just before its on_close (a
// closing member receives no broadcast); after that it is in none.
func (c *Conn) Groups() []string {
	groups := c.h.groups.GroupsOf(c.m)
	slices.Sort(groups)
	return groups
}
