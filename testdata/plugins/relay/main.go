//go:build wasip1

// Command relay is the bus example of the Go SDK, and the reference of the behaviour suite's
// bus scenario (sdk/bus_suite_test.go): the Rust, C and AssemblyScript SDKs have the same plugin
// in sdk/LANG/examples/relay, and all four must behave alike.
//
// Text commands, one per message (DATA is the rest of the message, spaces included):
//
//	pub SUBJECT DATA   publish DATA to SUBJECT; reply "ok" or "error STATUS"
//	sub SUBJECT        subscribe; reply "sub ID" or "error STATUS"
//	unsub ID           unsubscribe; reply "ok" or "error STATUS"
//	req SUBJECT DATA   request with a 1000 ms timeout; reply "req ID" or "error STATUS"
//
// Any other message gets "error unknown". Every bus event goes to the connection that made the
// subscription or the request, as "event ID KIND SUBJECT DATA" (KIND 1 message, 2 reply,
// 3 error).
package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	wasmsock "github.com/wasmsock/wasmsock/sdk/go"
)

// owners maps subscriptions and requests to the connection that made them.
var owners = map[int32]wasmsock.Conn{}

func main() {}

func init() {
	wasmsock.OnMessage(func(c wasmsock.Conn, m wasmsock.Message) {
		verb, rest, _ := strings.Cut(m.Text(), " ")
		subject, data, _ := strings.Cut(rest, " ")
		var reply string
		switch verb {
		case "pub":
			reply = result(wasmsock.Publish(subject, []byte(data)), "ok")
		case "sub":
			s, err := wasmsock.Subscribe(rest)
			if err == nil {
				owners[int32(s)] = c
			}
			reply = result(err, "sub "+strconv.Itoa(int(s)))
		case "unsub":
			id, _ := strconv.Atoi(rest)
			err := wasmsock.Subscription(id).Unsubscribe()
			if err == nil {
				delete(owners, int32(id))
			}
			reply = result(err, "ok")
		case "req":
			r, err := wasmsock.SendRequest(subject, []byte(data), time.Second)
			if err == nil {
				owners[int32(r)] = c
			}
			reply = result(err, "req "+strconv.Itoa(int(r)))
		default:
			reply = "error unknown"
		}
		_ = c.SendText(reply)
	})
	wasmsock.OnEvent(func(e wasmsock.Event) {
		c, ok := owners[e.ID]
		if !ok {
			return
		}
		if e.Kind != wasmsock.EventMessage {
			delete(owners, e.ID) // a request is over
		}
		_ = c.SendText("event " + strconv.Itoa(int(e.ID)) + " " + strconv.Itoa(int(e.Kind)) + " " + e.Subject + " " + string(e.Data))
	})
}

// result is ok, or "error STATUS" for a host error.
func result(err error, ok string) string {
	var e wasmsock.Error
	if errors.As(err, &e) {
		return "error " + strconv.Itoa(int(e.Status))
	}
	return ok
}
