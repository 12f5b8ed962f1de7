package wasmsock

import (
	"strconv"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// The event bus (abi/ABI.md, "Bus"): a plugin publishes to NATS subjects, subscribes to them and
// sends requests whose answers come back later, all through the OnEvent handler. Subjects are
// NATS subjects ("orders.created"); the host puts them in the namespace of the connection whose
// event is being handled (the default namespace "" in OnStart, the subscription's or request's
// namespace in OnEvent), so a plugin never reaches another tenant's subjects unless the operator
// shares them in host.toml. Without a [cluster] in host.toml the bus is off and every call
// returns [ErrUnavailable].

// EventKind says what an [Event] is.
type EventKind int32

// The kinds of bus events.
const (
	// EventMessage is a message on a subscription's subject; Event.ID is the subscription's.
	EventMessage EventKind = abi.EventMessage
	// EventReply is the answer to a request; Event.ID is the request's.
	EventReply EventKind = abi.EventReply
	// EventError is a request that failed: no responders, a timeout, or an error answer from the
	// responder (NATS service error headers). Data says why (the answer's body, or a
	// description); Event.ID is the request's.
	EventError EventKind = abi.EventError
)

// String returns "message", "reply", "error" or "EventKind(n)".
func (k EventKind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventReply:
		return "reply"
	case EventError:
		return "error"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a message from the bus. Data is valid only until the OnEvent handler returns.
type Event struct {
	ID      int32     // the Subscription or Request it belongs to
	Kind    EventKind // message, reply or error
	Subject string    // as the plugin named it: without the namespace (for a request: its subject)
	Data    []byte
}

// Subscription is a subscription's id, as Subscribe returned it.
type Subscription int32

// Request is a request's id, as SendRequest returned it.
type Request int32

var eventHandler func(e Event)

// OnEvent sets the handler for bus events: messages on the plugin's subscriptions and the
// answers to its requests. During the handler the plugin acts in the namespace of the
// subscription or request: Broadcast, SendToUser and Conn methods reach that namespace's
// connections. Without a handler events are dropped.
func OnEvent(h func(e Event)) { eventHandler = h }

// Publish sends data to subject (no wildcards) on the bus. It returns once the host has queued
// it: [ErrInvalidArgument] for a bad subject, [ErrTooLarge] over NATS's max payload, [ErrBusy]
// when the host's publish queue is full, [ErrUnavailable] when the bus is off.
func Publish(subject string, data []byte) error {
	return statusErr(hostPublish(subject, data))
}

// Subscribe delivers the messages published on subject to the OnEvent handler, with the
// returned id, until Unsubscribe. subject may use the NATS wildcards "*" (one token) and a final
// ">" (the rest).
func Subscribe(subject string) (Subscription, error) {
	return QueueSubscribe(subject, "")
}

// QueueSubscribe is Subscribe in a queue group: of all the subscriptions with the same subject
// and queue name (on every host of the cluster), one gets each message.
func QueueSubscribe(subject, queue string) (Subscription, error) {
	n := hostSubscribe(subject, queue)
	if n < 0 {
		return 0, statusErr(n)
	}
	return Subscription(n), nil
}

// Unsubscribe ends the subscription. Messages already queued for it are not delivered.
func (s Subscription) Unsubscribe() error {
	return statusErr(hostUnsubscribe(int32(s)))
}

// SendRequest publishes data to subject with a reply subject, and returns at once. The answer
// comes to the OnEvent handler as an event of kind EventReply, or EventError after timeout (0:
// 5s, at most 60s), with the returned id; exactly one of them, unless the instance is replaced
// first.
func SendRequest(subject string, data []byte, timeout time.Duration) (Request, error) {
	ms := timeout.Milliseconds()
	if timeout > 0 && ms == 0 {
		ms = 1
	}
	if ms < 0 || ms > abi.MaxRequestTimeoutMS {
		return 0, ErrInvalidArgument
	}
	n := hostRequest(subject, data, int32(ms))
	if n < 0 {
		return 0, statusErr(n)
	}
	return Request(n), nil
}

// evBuf holds the current event's subject and data.
var evBuf []byte

// dispatchEvent handles the on_event export, and is the export.
//
//go:wasmexport on_event
func dispatchEvent(id, kind, subjectLen, dataLen int32) {
	h := eventHandler
	if h == nil {
		return
	}
	b, err := readPayload(evBuf, int(subjectLen)+int(dataLen))
	if cap(b) <= keepBuffer {
		evBuf = b[:0]
	} else {
		evBuf = nil
	}
	if err != nil || len(b) < int(subjectLen) {
		Log(LevelError, "wasmsock: bus event dropped: reading it from the host failed")
		return
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic("OnEvent", v)
		}
	}()
	h(Event{ID: id, Kind: EventKind(kind), Subject: string(b[:subjectLen]), Data: b[subjectLen:]})
}
