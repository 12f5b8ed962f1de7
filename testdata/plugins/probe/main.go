//go:build wasip1

// Command probe is a test plugin (Go SDK) that does whatever its client tells it, so host tests
// can drive every host function through a real socket and watch the events a plugin receives.
//
// On connect: ?observe=1 joins the group "observers"; ?reject=N refuses with HTTP status N;
// ?closewith=N accepts then closes with code N. Every accepted connection, on_connect(RESUMED) and
// on_close is reported to "observers" as "connected <id> <route>", "resumed <id>" and
// "closed <id> <code> <reason>".
//
// Text commands (one per message, words separated by single spaces):
//
//	echo TEXT              reply TEXT
//	id                     reply the connection's id
//	get KEY                reply conn_get(KEY), or "ERR <status>"
//	close CODE [REASON]    close this connection
//	join G / leave G       join or leave group G; reply "ok" or "ERR <status>"
//	bcast G TEXT           broadcast TEXT to G except this connection; reply "sent N"
//	bcastall G TEXT        broadcast TEXT to G, this connection included; reply "sent N"
//	send ID TEXT           send TEXT to connection ID; reply "ok" or "ERR <status>"
//	user U TEXT            send TEXT to every connection of user U; reply "sent N"
//	flood N G TEXT         broadcast TEXT to G N times; reply "sent TOTAL"
//	pub SUBJ TEXT          publish TEXT to SUBJ on the bus; reply "ok" or "ERR <status>"
//	pubn N SUBJ TEXT       publish N times; reply "ok K busy B" (K accepted, B refused with ErrBusy)
//	sub SUBJ [QUEUE]       subscribe; reply "sub ID" or "ERR <status>"
//	unsub ID               unsubscribe; reply "ok" or "ERR <status>"
//	req SUBJ MS TEXT       request with timeout MS; reply "req ID" or "ERR <status>"
//	tell ID TEXT           (as bus data) in on_event: send TEXT to connection ID
//	timer NAME MS [EVERY]  arm this connection's timer NAME (after MS ms, then every EVERY ms)
//	ptimer NAME MS [EVERY] arm the plugin timer NAME; both reply "ok" or "ERR <status>"
//	cancel NAME            disarm this connection's timer NAME; reply "ok" or "ERR <status>"
//	pcancel NAME           disarm the plugin timer NAME
//	timers N               arm N timers "storm-0".. for this connection (1 hour); reply
//	                       "armed K" and, when one failed, " ERR <status>"
//	attach TEXT            store TEXT as this connection's attachment; reply "ok" or "ERR <status>"
//	attachlen N            store N bytes 'a' as the attachment; reply "ok" or "ERR <status>"
//	attachment             reply "attachment TEXT"
//	size G                 reply "size N", the size of group G, or "ERR <status>"
//	members G              reply "members ID:USER ID:USER..." (sorted by id), or "ERR <status>"
//	kvget KEY              reply "kv VALUE" from the shared store, or "ERR <status>"
//	kvset KEY MS [VALUE]   store VALUE under KEY with a TTL of MS ms (0: none); reply "ok" or "ERR <status>"
//	kvsetlen KEY N         store N bytes 'v' under KEY; reply "ok" or "ERR <status>"
//	kvcas KEY OLD [VALUE]  compare-and-swap (OLD "-": the key must not exist, "=": the empty value)
//	kvdel KEY              delete KEY; reply "ok" or "ERR <status>"
//	kvincr KEY N           add 1 to the decimal value of KEY N times, each a get and CAS loop; reply
//	                       "incr VALUE" (the last value this connection stored) or "ERR <status>"
//	kvfill PREFIX N [SIZE] store N keys PREFIX0.. with SIZE bytes each (default 1); reply "filled K"
//	                       and, when one failed, " ERR <status>"
//	do C1; C2; ...         run the commands C1, C2, ... in this one call; reply their replies joined
//	                       by " | " (so a test can watch what one guest call sees, e.g.
//	                       "do size G; join G; size G")
//
// A connection timer sends "timer NAME" to its connection; a plugin timer reports "ptimer NAME"
// to "observers". A replayed connection with an attachment reports "resumed <id> <attachment>".
//
// Bus events go to the connection that subscribed or requested, as
// "event ID KIND SUBJECT DATA"; an event whose data is "tell ID TEXT" is carried out instead and
// reported as "told ID ok" or "told ID ERR <status>", and one whose data is "run ID COMMAND" runs
// the text command COMMAND above within on_event, for connection ID as if it had sent it, and
// reports its reply as "ran REPLY" (so a test can drive any host function in the event's
// namespace).
//
// Binary messages are echoed.
package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	wasmsock "github.com/wasmsock/wasmsock/sdk/go"
)

func init() {
	wasmsock.OnConnect(func(c wasmsock.Conn, resumed bool) wasmsock.Verdict {
		if resumed {
			if a, _ := c.Attachment(); len(a) > 0 {
				report("resumed " + id(c) + " " + string(a))
			} else {
				report("resumed " + id(c))
			}
			return wasmsock.Accept
		}
		if c.Query("observe") != "" {
			_ = c.Join("observers")
		}
		if n, err := strconv.Atoi(c.Query("reject")); err == nil {
			return wasmsock.RejectHTTP(n)
		}
		if n, err := strconv.Atoi(c.Query("closewith")); err == nil {
			return wasmsock.RejectClose(n)
		}
		report("connected " + id(c) + " " + c.Route())
		return wasmsock.Accept
	})
	wasmsock.OnMessage(func(c wasmsock.Conn, m wasmsock.Message) {
		if m.Kind == wasmsock.Binary {
			_ = c.SendBinary(m.Data)
			return
		}
		if reply := command(c, m.Text()); reply != "" {
			_ = c.SendText(reply)
		}
	})
	wasmsock.OnClose(func(c wasmsock.Conn, code int, reason string) {
		report("closed " + id(c) + " " + strconv.Itoa(code) + " " + reason)
	})
	wasmsock.OnEvent(func(e wasmsock.Event) {
		c, ok := owners[e.ID]
		if !ok {
			return
		}
		if e.Kind != wasmsock.EventMessage {
			delete(owners, e.ID)
		}
		if rest, ok := strings.CutPrefix(string(e.Data), "tell "); ok {
			arg, text, _ := strings.Cut(rest, " ")
			to, _ := strconv.ParseUint(arg, 10, 64)
			_ = c.SendText("told " + arg + " " + status(wasmsock.Conn(to).SendText(text), "ok"))
			return
		}
		if rest, ok := strings.CutPrefix(string(e.Data), "run "); ok {
			arg, cmd, _ := strings.Cut(rest, " ")
			as, _ := strconv.ParseUint(arg, 10, 64)
			_ = c.SendText("ran " + command(wasmsock.Conn(as), cmd))
			return
		}
		_ = c.SendText("event " + strconv.Itoa(int(e.ID)) + " " + e.Kind.String() + " " + e.Subject + " " + string(e.Data))
	})
	wasmsock.OnTimer(func(c wasmsock.Conn, name string) {
		if c.ID() == 0 {
			report("ptimer " + name)
			return
		}
		_ = c.SendText("timer " + name)
	})
}

// arm parses "NAME MS [EVERY]" and arms the timer with after or every.
func arm(rest string, after, every func(time.Duration, string) error) string {
	f := strings.Fields(rest)
	if len(f) < 2 {
		return "ERR usage"
	}
	ms, _ := strconv.Atoi(f[1])
	if len(f) > 2 {
		ev, _ := strconv.Atoi(f[2])
		if ev > 0 {
			// every: first after MS, then every EVERY: arm the first with after when they differ.
			if ev == ms {
				return status(every(time.Duration(ev)*time.Millisecond, f[0]), "ok")
			}
			return "ERR first and every must match"
		}
	}
	return status(after(time.Duration(ms)*time.Millisecond, f[0]), "ok")
}

// owners maps bus subscriptions and requests to the connection that made them.
var owners = map[int32]wasmsock.Conn{}

func command(c wasmsock.Conn, text string) string {
	verb, rest, _ := strings.Cut(text, " ")
	arg, tail, _ := strings.Cut(rest, " ")
	switch verb {
	case "do":
		var replies []string
		for _, cmd := range strings.Split(rest, "; ") {
			replies = append(replies, command(c, cmd))
		}
		return strings.Join(replies, " | ")
	case "echo":
		return rest
	case "id":
		return id(c)
	case "get":
		v, ok := c.Get(rest)
		if !ok {
			return "ERR not found"
		}
		return v
	case "close":
		code, _ := strconv.Atoi(arg)
		return status(c.Close(code, tail), "")
	case "join":
		return status(c.Join(rest), "ok")
	case "leave":
		return status(c.Leave(rest), "ok")
	case "bcast", "bcastall":
		except := c
		if verb == "bcastall" {
			except = wasmsock.Nobody
		}
		n, err := wasmsock.Broadcast(arg, wasmsock.Text, []byte(tail), except)
		return status(err, "sent "+strconv.Itoa(n))
	case "send":
		to, _ := strconv.ParseUint(arg, 10, 64)
		return status(wasmsock.Conn(to).SendText(tail), "ok")
	case "user":
		n, err := wasmsock.SendToUser(arg, wasmsock.Text, []byte(tail), c)
		return status(err, "sent "+strconv.Itoa(n))
	case "flood":
		count, _ := strconv.Atoi(arg)
		group, msg, _ := strings.Cut(tail, " ")
		total := 0
		for i := 0; i < count; i++ {
			n, _ := wasmsock.Broadcast(group, wasmsock.Text, []byte(msg), c)
			total += n
		}
		return "sent " + strconv.Itoa(total)
	case "pub":
		return status(wasmsock.Publish(arg, []byte(tail)), "ok")
	case "pubn":
		count, _ := strconv.Atoi(arg)
		subj, msg, _ := strings.Cut(tail, " ")
		okN, busy := 0, 0
		for i := 0; i < count; i++ {
			switch err := wasmsock.Publish(subj, []byte(msg)); {
			case err == nil:
				okN++
			case errors.Is(err, wasmsock.ErrBusy):
				busy++
			}
		}
		return "ok " + strconv.Itoa(okN) + " busy " + strconv.Itoa(busy)
	case "sub":
		sub, err := wasmsock.QueueSubscribe(arg, tail)
		if err == nil {
			owners[int32(sub)] = c
		}
		return status(err, "sub "+strconv.Itoa(int(sub)))
	case "unsub":
		n, _ := strconv.Atoi(rest)
		err := wasmsock.Subscription(n).Unsubscribe()
		if err == nil {
			delete(owners, int32(n))
		}
		return status(err, "ok")
	case "req":
		msArg, msg, _ := strings.Cut(tail, " ")
		ms, _ := strconv.Atoi(msArg)
		r, err := wasmsock.SendRequest(arg, []byte(msg), time.Duration(ms)*time.Millisecond)
		if err == nil {
			owners[int32(r)] = c
		}
		return status(err, "req "+strconv.Itoa(int(r)))
	case "timer":
		return arm(rest, c.After, c.Every)
	case "ptimer":
		return arm(rest, wasmsock.After, wasmsock.Every)
	case "cancel":
		return status(c.CancelTimer(rest), "ok")
	case "pcancel":
		return status(wasmsock.CancelTimer(rest), "ok")
	case "timers":
		n, _ := strconv.Atoi(arg)
		for i := 0; i < n; i++ {
			if err := c.After(time.Hour, "storm-"+strconv.Itoa(i)); err != nil {
				return "armed " + strconv.Itoa(i) + " " + status(err, "")
			}
		}
		return "armed " + strconv.Itoa(n)
	case "attach":
		return status(c.SetAttachment([]byte(rest)), "ok")
	case "attachlen":
		n, _ := strconv.Atoi(arg)
		return status(c.SetAttachment([]byte(strings.Repeat("a", n))), "ok")
	case "size":
		n, err := wasmsock.GroupSize(rest)
		return status(err, "size "+strconv.Itoa(n))
	case "members":
		ms, err := wasmsock.Members(rest)
		var out strings.Builder
		out.WriteString("members")
		for _, m := range ms {
			out.WriteString(" " + strconv.FormatUint(m.Conn.ID(), 10) + ":" + m.User)
		}
		return status(err, out.String())
	case "attachment":
		a, err := c.Attachment()
		return status(err, "attachment "+string(a))
	case "kvget":
		v, err := wasmsock.KV.Get(rest)
		return status(err, "kv "+string(v))
	case "kvset":
		key, more, _ := strings.Cut(rest, " ")
		ms, value, _ := strings.Cut(more, " ")
		n, _ := strconv.Atoi(ms)
		return status(wasmsock.KV.Set(key, []byte(value), time.Duration(n)*time.Millisecond), "ok")
	case "kvsetlen":
		key, ns, _ := strings.Cut(rest, " ")
		n, _ := strconv.Atoi(ns)
		return status(wasmsock.KV.Set(key, []byte(strings.Repeat("v", n)), 0), "ok")
	case "kvcas":
		key, more, _ := strings.Cut(rest, " ")
		old, value, _ := strings.Cut(more, " ")
		var expect []byte
		switch old {
		case "-":
		case "=":
			expect = []byte{}
		default:
			expect = []byte(old)
		}
		return status(wasmsock.KV.CAS(key, expect, []byte(value), 0), "ok")
	case "kvdel":
		return status(wasmsock.KV.Delete(rest), "ok")
	case "kvincr":
		key, ns, _ := strings.Cut(rest, " ")
		n, _ := strconv.Atoi(ns)
		last := 0
		for i := 0; i < n; i++ {
			for {
				old, err := wasmsock.KV.Get(key)
				cur := 0
				if err == nil {
					cur, _ = strconv.Atoi(string(old))
				} else if errors.Is(err, wasmsock.ErrNotFound) {
					old = nil
				} else {
					return status(err, "")
				}
				err = wasmsock.KV.CAS(key, old, []byte(strconv.Itoa(cur+1)), 0)
				if err == nil {
					last = cur + 1
					break
				}
				if !errors.Is(err, wasmsock.ErrMismatch) && !errors.Is(err, wasmsock.ErrNotFound) {
					return status(err, "")
				}
			}
		}
		return "incr " + strconv.Itoa(last)
	case "kvfill":
		prefix, more, _ := strings.Cut(rest, " ")
		ns, sizes, _ := strings.Cut(more, " ")
		n, _ := strconv.Atoi(ns)
		size, err := strconv.Atoi(sizes)
		if err != nil {
			size = 1
		}
		value := []byte(strings.Repeat("x", size))
		for i := 0; i < n; i++ {
			if err := wasmsock.KV.Set(prefix+strconv.Itoa(i), value, 0); err != nil {
				return "filled " + strconv.Itoa(i) + " " + status(err, "")
			}
		}
		return "filled " + strconv.Itoa(n)
	}
	return "ERR unknown command " + strconv.Quote(verb)
}

func status(err error, ok string) string {
	var e wasmsock.Error
	if errors.As(err, &e) {
		return "ERR " + strconv.Itoa(int(e.Status))
	}
	if err != nil {
		return "ERR " + err.Error()
	}
	return ok
}

func report(s string) {
	_, _ = wasmsock.Broadcast("observers", wasmsock.Text, []byte(s), wasmsock.Nobody)
}

func id(c wasmsock.Conn) string { return strconv.FormatUint(c.ID(), 10) }

func main() {}
