//go:build wasip1

// Command chat is a wasmsock plugin for multi-room chat. Clients speak JSON text messages: they
// join and leave rooms, send messages to a room, and send private messages to a user. README.md
// next to this file describes the protocol message by message.
//
// Rooms are host groups named "room:<room>", so membership survives a reload or an instance
// replacement; private messages go to the host-managed group "user:<id>". The plugin itself only
// keeps, per connection, the name it uses in messages and the rooms it joined (to announce the
// user's departure when the connection closes).
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/chat/chat.wasm ./plugins/chat
//
// or with "make wasm" at the top of the repository.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"github.com/wasmsock/wasmsock/abi"
	wasmsock "github.com/wasmsock/wasmsock/sdk/go"
)

// Limits on what clients send.
const (
	// maxRoom is the longest room name, in bytes.
	maxRoom = 64
	// maxUser is the longest user name a private message may be addressed to: the longest that
	// still makes a valid group name "user:<name>".
	maxUser = abi.MaxGroupName - len(userGroupPrefix)
	// defaultMaxText is the longest message text, in bytes, unless the config says otherwise.
	defaultMaxText = 4096
)

// Group name prefixes: a room's group and a user's group (managed by the host).
const (
	roomGroupPrefix = "room:"
	userGroupPrefix = "user:"
)

// maxText is the longest message text accepted, in bytes; set from the config by onStart.
var maxText = defaultMaxText

// session is what the plugin knows about one open connection.
type session struct {
	// name is the sender name used in messages: the host's user id, or "anon-<conn id>".
	name string
	// rooms holds the rooms the connection joined through this instance.
	rooms map[string]bool
	// restored is set when the session was rebuilt after a reload or restart (a RESUMED
	// connect, or a message from a connection this instance has not seen connect). The host
	// kept the connection's groups but this instance lost its list of rooms, so a room missing
	// from rooms may still be one the connection is in.
	restored bool
}

// sessions holds the state of every connection this instance handles. Handlers run one at a
// time, so no lock is needed.
var sessions = map[wasmsock.Conn]*session{}

// request is a message from a client. Fields a given action does not use are ignored.
type request struct {
	Action string `json:"action"`
	Room   string `json:"room"`
	User   string `json:"user"`
	Text   string `json:"text"`
}

// event is a message to a client; empty fields are left out.
type event struct {
	Action string `json:"action"`
	Room   string `json:"room,omitempty"`
	User   string `json:"user,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Text   string `json:"text,omitempty"`
}

// errorReply is the message a client gets for a request the plugin could not carry out.
type errorReply struct {
	Type    string       `json:"type"` // always "error"
	Payload errorPayload `json:"payload"`
}

type errorPayload struct {
	Message string `json:"message"`
	Action  string `json:"action,omitempty"`
}

// requestError is a request that cannot be carried out; its text goes back to the client.
type requestError string

func (e requestError) Error() string { return string(e) }

func init() {
	wasmsock.OnStart(onStart)
	wasmsock.OnConnect(onConnect)
	wasmsock.OnMessage(onMessage)
	wasmsock.OnClose(onClose)
}

// main is never called: the host starts the plugin through _initialize, which runs init.
func main() {}

// config is the plugin's config table from host.toml.
type config struct {
	// MaxText is the longest message text accepted, in bytes.
	MaxText *int `json:"max_text"`
}

// onStart reads the config. Unknown keys and a max_text below 1 refuse the start, so a typo in
// host.toml is reported instead of ignored.
func onStart(raw []byte) error {
	var cfg config
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return errors.New("chat: bad config: " + err.Error())
		}
	}
	if cfg.MaxText != nil {
		if *cfg.MaxText < 1 {
			return errors.New("chat: bad config: max_text must be at least 1")
		}
		maxText = *cfg.MaxText
	}
	return nil
}

// onConnect sets up the session of a connection and, for a new one, tells the client the name
// it goes by. A RESUMED connection was greeted by an earlier instance: it only gets its session
// back (without its rooms, see session.restored).
func onConnect(c wasmsock.Conn, resumed bool) wasmsock.Verdict {
	s := newSession(c, resumed)
	sessions[c] = s
	if !resumed {
		send(c, event{Action: "welcome", User: s.name})
	}
	return wasmsock.Accept
}

// newSession makes the session of connection c.
func newSession(c wasmsock.Conn, restored bool) *session {
	name := c.User()
	if name == "" {
		name = "anon-" + strconv.FormatUint(c.ID(), 10)
	}
	return &session{name: name, rooms: map[string]bool{}, restored: restored}
}

// sessionOf returns the session of c, rebuilding one if this instance has none (which should
// not happen: the host replays every connection before its messages).
func sessionOf(c wasmsock.Conn) *session {
	s := sessions[c]
	if s == nil {
		s = newSession(c, true)
		sessions[c] = s
	}
	return s
}

// onClose tells the other members of each room the connection was in that its user left. The
// host drops the connection's group memberships itself. An unknown connection (after a fault,
// the replacement instance may get on_close for one it never saw) is ignored.
func onClose(c wasmsock.Conn, code int, reason string) {
	s := sessions[c]
	if s == nil {
		return
	}
	delete(sessions, c)
	for _, room := range sortedRooms(s) {
		broadcast(room, event{Action: "user_left", Room: room, User: s.name}, c)
	}
}

// onMessage decodes a request, carries it out, and answers an error to the sender when it fails.
// The connection stays open whatever the client sends.
func onMessage(c wasmsock.Conn, m wasmsock.Message) {
	if m.Kind != wasmsock.Text {
		sendError(c, "", "binary messages are not supported: send JSON text")
		return
	}
	req, err := decode(m.Data)
	if err == nil {
		err = handle(c, sessionOf(c), req)
	}
	if err != nil {
		sendError(c, req.Action, err.Error())
	}
}

// decode parses a request and checks that it names an action. The returned request has the
// action filled in whenever it could be read, even when err is not nil.
func decode(data []byte) (request, error) {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field != "" {
				return req, requestError("field " + strconv.Quote(typeErr.Field) + " must be a string")
			}
			return req, requestError("message must be a JSON object")
		}
		return req, requestError("message is not valid JSON")
	}
	if req.Action == "" {
		return req, requestError("missing action")
	}
	return req, nil
}

// handle carries out one request from c.
func handle(c wasmsock.Conn, s *session, req request) error {
	switch req.Action {
	case "join":
		return join(c, s, req)
	case "leave":
		return leave(c, s, req)
	case "send_message":
		return sendMessage(c, s, req)
	case "send_to_user":
		return sendToUser(c, s, req)
	case "who":
		return who(c, req)
	}
	return requestError("unknown action " + strconv.Quote(req.Action))
}

// join adds c to a room, answers "joined" and tells the other members. Joining a room again
// answers "joined" again but announces nothing.
func join(c wasmsock.Conn, s *session, req request) error {
	if err := checkRoom(req.Room); err != nil {
		return err
	}
	if s.rooms[req.Room] {
		send(c, event{Action: "joined", Room: req.Room, User: s.name})
		return nil
	}
	if err := c.Join(roomGroupPrefix + req.Room); err != nil {
		return hostError("join", err)
	}
	s.rooms[req.Room] = true
	send(c, event{Action: "joined", Room: req.Room, User: s.name})
	broadcast(req.Room, event{Action: "user_joined", Room: req.Room, User: s.name}, c)
	return nil
}

// leave removes c from a room, answers "left" and tells the remaining members.
func leave(c wasmsock.Conn, s *session, req request) error {
	if err := checkRoom(req.Room); err != nil {
		return err
	}
	if !s.rooms[req.Room] && !s.restored {
		return requestError("not in room " + strconv.Quote(req.Room))
	}
	if err := c.Leave(roomGroupPrefix + req.Room); err != nil {
		return hostError("leave", err)
	}
	delete(s.rooms, req.Room)
	send(c, event{Action: "left", Room: req.Room})
	broadcast(req.Room, event{Action: "user_left", Room: req.Room, User: s.name}, c)
	return nil
}

// sendMessage relays a message to the other members of a room the sender is in. The sender gets
// no copy: its client shows the message itself.
func sendMessage(c wasmsock.Conn, s *session, req request) error {
	if err := checkRoom(req.Room); err != nil {
		return err
	}
	if err := checkText(req.Text); err != nil {
		return err
	}
	if !s.rooms[req.Room] {
		if !s.restored {
			return requestError("not in room " + strconv.Quote(req.Room) + ": join it first")
		}
		// After a reload or restart the host still has the connection in the room's group, but
		// this instance forgot it. Joining again is harmless and restores the list.
		if err := c.Join(roomGroupPrefix + req.Room); err != nil {
			return hostError("join", err)
		}
		s.rooms[req.Room] = true
	}
	broadcast(req.Room, event{Action: "receive_message", Room: req.Room, From: s.name, Text: req.Text}, c)
	return nil
}

// members is the reply to "who".
type members struct {
	Action string   `json:"action"` // always "members"
	Room   string   `json:"room"`
	Users  []string `json:"users"` // sorted, each once; [] for an empty room
}

// who answers with the names of the users in a room (presence: the host knows the members of a
// group, whichever instance serves them). Anyone may ask, member of the room or not. A user with
// two connections in the room is named once; an anonymous connection goes by "anon-<id>".
func who(c wasmsock.Conn, req request) error {
	if err := checkRoom(req.Room); err != nil {
		return err
	}
	ms, err := wasmsock.Members(roomGroupPrefix + req.Room)
	if err != nil {
		return hostError("who", err)
	}
	users := []string{}
	for _, m := range ms {
		name := m.User
		if name == "" {
			if m.Conn == wasmsock.Nobody {
				continue // an anonymous connection of another plugin: no name to give
			}
			name = "anon-" + strconv.FormatUint(m.Conn.ID(), 10)
		}
		users = append(users, name)
	}
	slices.Sort(users)
	data, err := json.Marshal(members{Action: "members", Room: req.Room, Users: slices.Compact(users)})
	if err != nil {
		return err
	}
	_ = c.SendText(string(data))
	return nil
}

// sendToUser sends a private message to every connection of a user (in the sender's namespace),
// except the sending connection itself.
func sendToUser(c wasmsock.Conn, s *session, req request) error {
	if err := checkUser(req.User); err != nil {
		return err
	}
	if err := checkText(req.Text); err != nil {
		return err
	}
	data, err := encode(event{Action: "receive_message", From: s.name, To: req.User, Text: req.Text})
	if err != nil {
		return err
	}
	// The sender is left out (a private message to oneself reaches one's other connections);
	// the host looks the group up in the namespace of the connection being handled.
	n, err := wasmsock.SendToUser(req.User, wasmsock.Text, data, c)
	if err != nil {
		return hostError("send to user", err)
	}
	wasmsock.Log(wasmsock.LevelDebug, "chat: private message to "+req.User+" reached "+strconv.Itoa(n)+" connections")
	return nil
}

// checkRoom reports what is wrong with a room name, if anything.
func checkRoom(room string) error {
	switch {
	case room == "":
		return requestError("missing room")
	case len(room) > maxRoom:
		return requestError("room name longer than " + strconv.Itoa(maxRoom) + " bytes")
	case hasControl(room):
		return requestError("room name contains control characters")
	}
	return nil
}

// checkUser reports what is wrong with the addressee of a private message, if anything.
func checkUser(user string) error {
	switch {
	case user == "":
		return requestError("missing user")
	case len(user) > maxUser:
		return requestError("user name longer than " + strconv.Itoa(maxUser) + " bytes")
	case hasControl(user):
		return requestError("user name contains control characters")
	}
	return nil
}

// checkText reports what is wrong with a message text, if anything.
func checkText(text string) error {
	switch {
	case text == "":
		return requestError("missing text")
	case len(text) > maxText:
		return requestError("text longer than " + strconv.Itoa(maxText) + " bytes")
	}
	return nil
}

// hasControl reports whether s holds a control character (U+0000-U+001F, U+007F-U+009F), which
// a group name may not contain. Strings decoded by encoding/json are always valid UTF-8.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// hostError is the client's error for a host call that failed.
func hostError(what string, err error) error {
	wasmsock.Log(wasmsock.LevelWarn, "chat: "+what+": "+err.Error())
	if errors.Is(err, wasmsock.ErrNotSupported) {
		return requestError(what + " failed: the host does not support groups")
	}
	return requestError(what + " failed: " + err.Error())
}

// encode renders a message as JSON, without escaping <, > and & (clients parse it as JSON, so
// there is no need to, and the text stays readable).
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// send sends a message to c. A failure means c is going away; it is only logged.
func send(c wasmsock.Conn, v any) {
	data, err := encode(v)
	if err == nil {
		err = c.Send(wasmsock.Text, data)
	}
	if err != nil {
		wasmsock.Log(wasmsock.LevelDebug, "chat: send to "+strconv.FormatUint(c.ID(), 10)+": "+err.Error())
	}
}

// sendError sends an error reply to c; action is "" when the request had none.
func sendError(c wasmsock.Conn, action, msg string) {
	send(c, errorReply{Type: "error", Payload: errorPayload{Message: msg, Action: action}})
}

// broadcast sends a message to the members of a room, except the connection except; the room
// is looked up in the namespace of the connection whose event is being handled.
func broadcast(room string, ev event, except wasmsock.Conn) {
	data, err := encode(ev)
	if err == nil {
		_, err = wasmsock.Broadcast(roomGroupPrefix+room, wasmsock.Text, data, except)
	}
	if err != nil {
		wasmsock.Log(wasmsock.LevelWarn, "chat: broadcast to room "+room+": "+err.Error())
	}
}

// sortedRooms returns the rooms of a session in a stable order.
func sortedRooms(s *session) []string {
	rooms := make([]string, 0, len(s.rooms))
	for room := range s.rooms {
		rooms = append(rooms, room)
	}
	slices.Sort(rooms)
	return rooms
}
