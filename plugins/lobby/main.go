//go:build wasip1

// Command lobby is the stateful example plugin: the state lives with the host, not in the
// instance, so it survives reloads, instance restarts and instances > 1. Clients send text
// commands; README.md next to this file is the protocol, which the Rust, C and AssemblyScript
// examples (sdk/LANG/examples/lobby) implement too, checked by the behaviour suite.
//
//   - a connection's nickname is its attachment (Conn.SetAttachment), restored into the
//     instance's memory from on_connect(resumed) after a reload;
//   - the visit counter and the topic are in the plugin's shared store (KV), the counter
//     updated with a compare-and-swap loop, the topic with a TTL;
//   - reminders, a repeating tick and a countdown are connection timers (Conn.After,
//     Conn.Every), an announcement is a plugin timer (After, CancelTimer);
//   - who is here (the lobby group) and how many connections a user has open (its "user:"
//     group) are presence (GroupSize): the host's, cluster-wide, whichever instance asks.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/lobby/lobby.wasm ./plugins/lobby
//
// or with "make wasm" at the top of the repository.
package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	wasmsock "github.com/wasmsock/wasmsock/sdk/go"
)

const (
	lobby    = "lobby"          // the group every connection joins, for announcements
	topicTTL = 60 * time.Second // a topic expires a minute after it was last written
	maxRetry = 100              // compare-and-swap attempts before visit gives up
)

// nicks is this instance's copy of its connections' nicknames; the attachments are the truth.
var nicks = map[wasmsock.Conn]string{}

func main() {}

func init() {
	wasmsock.OnConnect(func(c wasmsock.Conn, resumed bool) wasmsock.Verdict {
		if resumed {
			// A new module or instance takes the connection over: the host kept its attachment.
			if nick, err := c.Attachment(); err == nil && len(nick) > 0 {
				nicks[c] = string(nick)
			}
			return wasmsock.Accept // group membership is host state too: no join again
		}
		if err := c.Join(lobby); err != nil {
			wasmsock.Errorf("conn %d: join %s: %v", c.ID(), lobby, err)
		}
		return wasmsock.Accept
	})
	wasmsock.OnClose(func(c wasmsock.Conn, _ int, _ string) { delete(nicks, c) })
	wasmsock.OnMessage(func(c wasmsock.Conn, m wasmsock.Message) { _ = c.SendText(command(c, m.Text())) })
	wasmsock.OnTimer(timer)
}

// command carries out one command and returns the reply.
func command(c wasmsock.Conn, text string) string {
	verb, arg, _ := strings.Cut(text, " ")
	switch verb {
	case "nick":
		if err := c.SetAttachment([]byte(arg)); err != nil {
			return failure(err)
		}
		if arg == "" {
			delete(nicks, c)
		} else {
			nicks[c] = arg
		}
		return "ok"
	case "whoami":
		if nick, ok := nicks[c]; ok {
			return "you are " + nick
		}
		return "you are nobody"
	case "visit":
		n, err := visit()
		if err != nil {
			return failure(err)
		}
		return "visits " + strconv.Itoa(n)
	case "topic":
		t, err := wasmsock.KV.Get("topic")
		switch {
		case errors.Is(err, wasmsock.ErrNotFound):
			return "no topic"
		case err != nil:
			return failure(err)
		}
		return "topic " + string(t)
	case "set-topic":
		return result(wasmsock.KV.Set("topic", []byte(arg), topicTTL))
	case "new-topic":
		return result(wasmsock.KV.CAS("topic", nil, []byte(arg), topicTTL))
	case "edit-topic":
		old, next, ok := strings.Cut(arg, "\n")
		if !ok {
			return "error usage"
		}
		return result(wasmsock.KV.CAS("topic", []byte(old), []byte(next), topicTTL))
	case "clear-topic":
		return result(wasmsock.KV.Delete("topic"))
	case "remind":
		ms, name, _ := strings.Cut(arg, " ")
		d, ok := millis(ms)
		if !ok {
			return "error usage"
		}
		return result(c.After(d, name))
	case "tick":
		d, ok := millis(arg)
		switch {
		case !ok:
			return "error usage"
		case d == 0:
			return result(c.CancelTimer("tick"))
		}
		return result(c.Every(d, "tick"))
	case "cancel":
		return result(c.CancelTimer(arg))
	case "countdown":
		n, ok := number(arg)
		if !ok || n == 0 {
			return "error usage"
		}
		for k := 1; k <= n; k++ {
			if err := c.After(time.Duration(k)*time.Second, "count/"+strconv.Itoa(k)); err != nil {
				for j := 1; j < k; j++ { // all or nothing
					_ = c.CancelTimer("count/" + strconv.Itoa(j))
				}
				return failure(err)
			}
		}
		return "ok"
	case "announce":
		if c.Namespace() != "" {
			return "error namespace" // plugin timers act in the default namespace
		}
		ms, msg, _ := strings.Cut(arg, " ")
		d, ok := millis(ms)
		if !ok {
			return "error usage"
		}
		// The text waits in the shared store: whichever instance (or module, after a reload)
		// gets the plugin timer reads it there.
		if err := wasmsock.KV.Set("announce", []byte(msg), 0); err != nil {
			return failure(err)
		}
		return result(wasmsock.After(d, "announce"))
	case "here":
		return size("here ", lobby)
	case "online":
		if arg == "" {
			return "error usage"
		}
		return size("online ", abi.UserGroupPrefix+arg)
	case "unannounce":
		if c.Namespace() != "" {
			return "error namespace"
		}
		if err := wasmsock.CancelTimer("announce"); err != nil {
			return failure(err)
		}
		return result(wasmsock.KV.Delete("announce"))
	}
	return "error unknown"
}

// visit adds one to the shared counter "visits" and returns the new count. Several instances
// may do it at once: the compare-and-swap stores only over the value read, else reads again.
func visit() (int, error) {
	for range maxRetry {
		old, err := wasmsock.KV.Get("visits")
		if err != nil && !errors.Is(err, wasmsock.ErrNotFound) {
			return 0, err
		}
		n, _ := strconv.Atoi(string(old)) // none (old is nil) or not a number: 0
		next := strconv.Itoa(n + 1)
		err = wasmsock.KV.CAS("visits", old, []byte(next), 0) // old nil: only if still absent
		if errors.Is(err, wasmsock.ErrMismatch) || errors.Is(err, wasmsock.ErrNotFound) {
			continue // another instance was faster
		}
		return n + 1, err
	}
	return 0, wasmsock.ErrMismatch
}

// timer handles every timer: the connection's tick, reminders and countdown, the plugin's
// announcement.
func timer(c wasmsock.Conn, name string) {
	switch {
	case c.ID() == 0 && name == "announce":
		msg, err := wasmsock.KV.Get("announce")
		if err != nil {
			return
		}
		_ = wasmsock.KV.Delete("announce")
		_, _ = wasmsock.Broadcast(lobby, wasmsock.Text, append([]byte("announce "), msg...), 0)
	case c.ID() == 0:
		wasmsock.Warnf("unknown plugin timer %q", name)
	case name == "tick":
		v, err := wasmsock.KV.Get("visits")
		if err != nil {
			v = []byte("0")
		}
		_ = c.SendText("tick " + string(v))
	default:
		_ = c.SendText("reminder " + name)
	}
}

// number parses 1 to 9 decimal digits.
func number(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, true
}

// millis parses a number of milliseconds.
func millis(s string) (time.Duration, bool) {
	n, ok := number(s)
	return time.Duration(n) * time.Millisecond, ok
}

// size is prefix and the size of group (in the namespace of the connection being handled), or
// the failure.
func size(prefix, group string) string {
	n, err := wasmsock.GroupSize(group)
	if err != nil {
		return failure(err)
	}
	return prefix + strconv.Itoa(n)
}

// result is "ok", or the failure.
func result(err error) string {
	if err != nil {
		return failure(err)
	}
	return "ok"
}

// failure is "error STATUS" with the host's status number.
func failure(err error) string {
	var e wasmsock.Error
	if errors.As(err, &e) {
		return "error " + strconv.Itoa(int(e.Status))
	}
	return "error " + err.Error()
}
