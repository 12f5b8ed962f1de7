//go:build wasip1

// Command bridge is a wasmsock plugin that connects WebSocket clients to backend services over
// the event bus (NATS), with no plugin code of the operator's own: the socket container of the
// socket-container seed. Its config table says which subjects it publishes connection events and
// messages to, and which subjects backends publish to when they send to a user or broadcast.
// README.md next to this file describes the config, the events and the envelopes.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/bridge/bridge.wasm ./plugins/bridge
//
// or with "make wasm" at the top of the repository.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/wasmsock/wasmsock/abi"
	wasmsock "github.com/wasmsock/wasmsock/sdk/go"
)

// allGroup is the group every connection of the bridge joins: broadcast reaches it.
const allGroup = "bridge:all"

// queueGroup is the NATS queue group of the send and broadcast subscriptions: one host of the
// cluster takes each command, and its send or broadcast reaches the connections on every host.
const queueGroup = "wasmsock-bridge"

// failCloseCode closes a connection whose onconnect request failed.
const failCloseCode = 4000

// config is the plugin's config table, the seed's socket.yaml in TOML.
type config struct {
	OnConnect *struct {
		Publish string `json:"publish"`
	} `json:"onconnect"`
	OnMessage *struct {
		Publish string `json:"publish"`
		Types   []struct {
			Type    string `json:"type"`
			Publish string `json:"publish"`
		} `json:"types"`
	} `json:"onmessage"`
	OnClose *struct {
		Publish string `json:"publish"`
	} `json:"onclose"`
	Send *struct {
		Subscribe string `json:"subscribe"`
	} `json:"send"`
	Broadcast *struct {
		Subscribe string `json:"subscribe"`
	} `json:"broadcast"`
	// TimeoutMS bounds how long a request waits for the backend's answer (default 5000).
	TimeoutMS int `json:"timeout_ms"`
}

// The config, as onStart checked it.
var (
	onConnect, onMessage, onClose string
	types                         = map[string]string{} // message type -> subject
	sendSubject, broadcastSubject string
	timeout                       = 5 * time.Second
)

// session is what the bridge knows about a connection.
type session struct {
	user, ns string
}

// pending is a request waiting for the backend's answer.
type pending struct {
	conn    wasmsock.Conn
	typ     string // the envelope type of the answer
	connect bool   // the onconnect request: a failure closes the connection
}

var (
	sessions = map[wasmsock.Conn]*session{}
	requests = map[wasmsock.Request]pending{}
	// namespaces counts the connections of each namespace and holds its subscriptions.
	namespaces = map[string]*nsState{}
)

type nsState struct {
	conns int
	subs  []wasmsock.Subscription
}

func main() {}

func init() {
	wasmsock.OnStart(start)
	wasmsock.OnConnect(connect)
	wasmsock.OnMessage(message)
	wasmsock.OnClose(closed)
	wasmsock.OnEvent(event)
}

// start reads and checks the config: unknown keys, a bad subject or a type listed twice make
// the plugin refuse to start, and the host (wasmsock check too) reports why.
func start(raw []byte) error {
	var cfg config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return errors.New("bridge: bad config: " + err.Error())
	}
	subject := func(key, s string) (string, error) {
		if !abi.ValidSubject(s, false) {
			return "", errors.New("bridge: bad config: " + key + ": " + strconv.Quote(s) + " is not a subject (1-256 bytes, tokens separated by '.', no spaces or wildcards)")
		}
		return s, nil
	}
	var err error
	if c := cfg.OnConnect; c != nil {
		if onConnect, err = subject("onconnect.publish", c.Publish); err != nil {
			return err
		}
	}
	if m := cfg.OnMessage; m != nil {
		if m.Publish != "" {
			if onMessage, err = subject("onmessage.publish", m.Publish); err != nil {
				return err
			}
		}
		for i, t := range m.Types {
			key := "onmessage.types[" + strconv.Itoa(i) + "]"
			if t.Type == "" {
				return errors.New("bridge: bad config: " + key + ".type: missing")
			}
			if _, dup := types[t.Type]; dup {
				return errors.New("bridge: bad config: " + key + ".type: " + strconv.Quote(t.Type) + " is listed twice")
			}
			if types[t.Type], err = subject(key+".publish", t.Publish); err != nil {
				return err
			}
		}
	}
	if c := cfg.OnClose; c != nil {
		if onClose, err = subject("onclose.publish", c.Publish); err != nil {
			return err
		}
	}
	if s := cfg.Send; s != nil {
		if sendSubject, err = subject("send.subscribe", s.Subscribe); err != nil {
			return err
		}
	}
	if b := cfg.Broadcast; b != nil {
		if broadcastSubject, err = subject("broadcast.subscribe", b.Subscribe); err != nil {
			return err
		}
	}
	if cfg.TimeoutMS < 0 || cfg.TimeoutMS > abi.MaxRequestTimeoutMS {
		return errors.New("bridge: bad config: timeout_ms: must be between 1 and " + strconv.Itoa(abi.MaxRequestTimeoutMS) + " (0: 5000)")
	}
	if cfg.TimeoutMS > 0 {
		timeout = time.Duration(cfg.TimeoutMS) * time.Millisecond
	}
	return nil
}

// eventBody is what the bridge publishes about a connection.
type eventBody struct {
	Event     string          `json:"event"`
	Conn      uint64          `json:"conn"`
	User      string          `json:"user"`
	Namespace string          `json:"namespace"`
	Type      string          `json:"type,omitempty"`
	Message   json.RawMessage `json:"message,omitempty"`
	Binary    bool            `json:"binary,omitempty"`
	Code      int             `json:"code,omitempty"`
	Reason    string          `json:"reason,omitempty"`
}

func (s *session) body(event string, c wasmsock.Conn) eventBody {
	return eventBody{Event: event, Conn: c.ID(), User: s.user, Namespace: s.ns}
}

func connect(c wasmsock.Conn, resumed bool) wasmsock.Verdict {
	s := &session{user: c.User(), ns: c.Namespace()}
	sessions[c] = s
	ns := namespaces[s.ns]
	if ns == nil {
		ns = &nsState{}
		namespaces[s.ns] = ns
		for _, subj := range []string{sendSubject, broadcastSubject} {
			if subj == "" {
				continue
			}
			sub, err := wasmsock.QueueSubscribe(subj, queueGroup)
			if err != nil {
				wasmsock.Errorf("bridge: subscribe %s in namespace %q: %v", subj, s.ns, err)
				continue
			}
			ns.subs = append(ns.subs, sub)
		}
	}
	ns.conns++
	if err := c.Join(allGroup); err != nil {
		wasmsock.Warnf("bridge: join %s: %v", allGroup, err)
	}
	if !resumed && onConnect != "" {
		request(c, onConnect, s.body("connect", c), "onconnect", true)
	}
	return wasmsock.Accept
}

func message(c wasmsock.Conn, m wasmsock.Message) {
	s := sessions[c]
	if s == nil {
		// A message from a connection this instance has not seen connect (it was replaced):
		// rebuild the session without announcing it again.
		connect(c, true)
		s = sessions[c]
	}
	b := s.body("message", c)
	subject := onMessage
	switch {
	case m.Kind == wasmsock.Binary:
		enc, _ := json.Marshal(m.Data) // base64
		b.Message, b.Binary = enc, true
	case json.Valid(m.Data):
		b.Message = append(json.RawMessage(nil), m.Data...)
		var typed struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(m.Data, &typed) == nil && typed.Type != "" {
			b.Type = typed.Type
			if t, ok := types[typed.Type]; ok {
				subject = t
			}
		}
	default:
		enc, _ := json.Marshal(string(m.Data))
		b.Message = enc
	}
	if subject == "" {
		return // neither a listed type nor an onmessage.publish: nothing to do
	}
	request(c, subject, b, subject, false)
}

func closed(c wasmsock.Conn, code int, reason string) {
	s := sessions[c]
	if s == nil {
		return
	}
	delete(sessions, c)
	if onClose != "" {
		b := s.body("close", c)
		b.Code, b.Reason = code, reason
		data, _ := json.Marshal(b)
		if err := wasmsock.Publish(onClose, data); err != nil {
			wasmsock.Warnf("bridge: publish %s: %v", onClose, err)
		}
	}
	if ns := namespaces[s.ns]; ns != nil {
		if ns.conns--; ns.conns <= 0 {
			for _, sub := range ns.subs {
				_ = sub.Unsubscribe()
			}
			delete(namespaces, s.ns)
		}
	}
}

// request sends an event to the backend and remembers where its answer goes.
func request(c wasmsock.Conn, subject string, b eventBody, typ string, isConnect bool) {
	data, _ := json.Marshal(b)
	id, err := wasmsock.SendRequest(subject, data, timeout)
	if err != nil {
		fail(c, isConnect, "bus: "+err.Error())
		return
	}
	requests[id] = pending{conn: c, typ: typ, connect: isConnect}
}

// envelope is what the client gets: {type, payload}.
type envelope struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// asJSON is data as a JSON value: itself when it is JSON, else a JSON string (null when empty).
func asJSON(data []byte) json.RawMessage {
	if len(bytes.TrimSpace(data)) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(data) {
		return append(json.RawMessage(nil), data...)
	}
	if !utf8.Valid(data) {
		enc, _ := json.Marshal(data)
		return enc
	}
	enc, _ := json.Marshal(string(data))
	return enc
}

func sendEnvelope(c wasmsock.Conn, typ string, payload json.RawMessage) {
	out, _ := json.Marshal(envelope{Type: typ, Payload: payload})
	_ = c.Send(wasmsock.Text, out)
}

// fail tells the client a request failed; a failed onconnect also closes the connection.
func fail(c wasmsock.Conn, isConnect bool, why string) {
	failWith(c, isConnect, asJSON([]byte(why)))
}

func failWith(c wasmsock.Conn, isConnect bool, payload json.RawMessage) {
	sendEnvelope(c, "error", payload)
	if isConnect {
		_ = c.Close(failCloseCode, "onconnect failed")
	}
}

// command is what a backend publishes to the send and broadcast subjects.
type command struct {
	Username  string          `json:"username"`
	Conn      uint64          `json:"conn"`
	Namespace *string         `json:"namespace"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
}

func event(e wasmsock.Event) {
	if e.Kind != wasmsock.EventMessage {
		p, ok := requests[wasmsock.Request(e.ID)]
		if !ok {
			return
		}
		delete(requests, wasmsock.Request(e.ID))
		if e.Kind == wasmsock.EventReply {
			sendEnvelope(p.conn, p.typ, asJSON(e.Data))
		} else {
			failWith(p.conn, p.connect, asJSON(e.Data))
		}
		return
	}
	var cmd command
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	if err := dec.Decode(&cmd); err != nil || cmd.Type == "" {
		wasmsock.Warnf("bridge: %s: ignored a command that is not {type, payload, ...}: %v", e.Subject, err)
		return
	}
	if cmd.Payload == nil {
		cmd.Payload = json.RawMessage("null")
	}
	out, _ := json.Marshal(envelope{Type: cmd.Type, Payload: cmd.Payload})
	switch e.Subject {
	case sendSubject:
		if cmd.Namespace != nil && !inNamespace(*cmd.Namespace) {
			wasmsock.Warnf("bridge: %s: namespace %q is not the subject's: ignored", e.Subject, *cmd.Namespace)
			return
		}
		switch {
		case cmd.Username != "":
			_, _ = wasmsock.SendToUser(cmd.Username, wasmsock.Text, out, wasmsock.Nobody)
		case cmd.Conn != 0:
			_ = wasmsock.Conn(cmd.Conn).Send(wasmsock.Text, out)
		default:
			wasmsock.Warnf("bridge: %s: a send needs username or conn", e.Subject)
		}
	case broadcastSubject:
		_, _ = wasmsock.Broadcast(allGroup, wasmsock.Text, out, wasmsock.Nobody)
	}
}

// inNamespace reports whether ns is the namespace the current event acts in: that of one of the
// sessions of this namespace (the bridge subscribes per namespace, so some exist).
func inNamespace(ns string) bool {
	_, ok := namespaces[ns]
	if !ok {
		return false
	}
	for c, s := range sessions {
		if s.ns == ns {
			_, found := c.Get("namespace")
			return found
		}
	}
	return false
}
