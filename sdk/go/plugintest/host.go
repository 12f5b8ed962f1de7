package plugintest

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// fakeHost is the plugin.Host of a harness: the server's connection and group semantics (see
// host/hostapi.go, and host/hub for groups, the very code the server runs) over the harness's in-memory state. The plugin runtime has
// already checked every argument it can check alone (kinds, close codes, pointers, UTF-8, group
// names, and that join and leave do not name a "user:" group); what is left is what depends on
// the connections. The plugin's instances call these methods from their goroutines.
type fakeHost Harness

var _ plugin.Host = (*fakeHost)(nil)

// scope returns the namespace of current, the connection whose event the plugin is handling (0
// in on_start: the default namespace). Called with mu held.
func (f *fakeHost) scope(current uint64) string {
	if c := f.conns[current]; c != nil {
		return c.info.Namespace
	}
	return ""
}

// lookup finds conn within current's namespace: a connection of another namespace is, to the
// plugin, no connection at all. Called with mu held.
func (f *fakeHost) lookup(current, conn uint64) *Conn {
	c := f.conns[conn]
	if c == nil || (current != conn && c.info.Namespace != f.scope(current)) {
		return nil
	}
	return c
}

// open is lookup for an operation on a connection that must not be closing: ErrUnknownConn for
// no connection, ErrClosed for one that is closing. Called with mu held.
func (f *fakeHost) open(current, conn uint64) (*Conn, abi.Status) {
	c := f.lookup(current, conn)
	switch {
	case c == nil:
		return nil, abi.ErrUnknownConn
	case c.closing:
		return nil, abi.ErrClosed
	}
	return c, abi.OK
}

// Send implements plugin.Host.
func (f *fakeHost) Send(current, conn uint64, kind int32, data []byte) abi.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, st := f.open(current, conn)
	if st != abi.OK {
		return st
	}
	c.received = append(c.received, Message{Kind: Kind(kind), Data: bytes.Clone(data)})
	return abi.OK
}

// Close implements plugin.Host.
func (f *fakeHost) Close(current, conn uint64, code int, reason string) abi.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, st := f.open(current, conn)
	if st != abi.OK {
		return st
	}
	(*Harness)(f).startClose(c, code, reason)
	return abi.OK
}

// ConnGet implements plugin.Host, for every key but "id", which the runtime answers itself.
func (f *fakeHost) ConnGet(current, conn uint64, key string) (string, abi.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookup(current, conn)
	if c == nil {
		return "", abi.ErrUnknownConn
	}
	info := c.info
	found := func(v string) (string, abi.Status) { return v, abi.OK }
	switch key {
	case "route":
		return found(info.Route)
	case "path":
		return found(info.Path)
	case "query":
		return found(info.Query)
	case "remote_addr":
		return found(info.RemoteAddr)
	case "namespace":
		return found(info.Namespace)
	case "user":
		if info.User != "" {
			return found(info.User)
		}
	case "subprotocol":
		if info.Subprotocol != "" {
			return found(info.Subprotocol)
		}
	}
	if name, ok := strings.CutPrefix(key, "query."); ok && name != "" {
		q, _ := url.ParseQuery(info.Query) // like the server: what parses is kept
		if vs := q[name]; len(vs) > 0 {
			return found(vs[0])
		}
	}
	if name, ok := strings.CutPrefix(key, "header."); ok && name != "" {
		// The first value of the name; if the map spells it more than one way, the first
		// spelling in sorted order wins (a real request has one list of headers).
		for _, k := range slices.Sorted(maps.Keys(info.Header)) {
			if vs := info.Header[k]; strings.EqualFold(k, name) && len(vs) > 0 {
				return found(vs[0])
			}
		}
	}
	return "", abi.ErrNotFound
}

// Join implements plugin.Host.
func (f *fakeHost) Join(current, conn uint64, group string) abi.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, st := f.open(current, conn)
	if st != abi.OK {
		return st
	}
	switch err := f.groups.Join(c.m, group, false); err {
	case nil:
		return abi.OK
	case hub.ErrMemberLimit, hub.ErrTotalLimit:
		return abi.ErrLimit
	default: // hub.ErrGone: the connection finished closing
		return abi.ErrClosed
	}
}

// Leave implements plugin.Host. Leaving a group one is not in, or leaving while closing, is not
// an error.
func (f *fakeHost) Leave(current, conn uint64, group string) abi.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	f.groups.Leave(c.m, group, false)
	return abi.OK
}

// Broadcast implements plugin.Host: the group is looked up in current's namespace, except must be
// 0 or a connection of that namespace, and members that are closing are skipped.
func (f *fakeHost) Broadcast(current uint64, group string, kind int32, data []byte, except uint64) (int, abi.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns := f.scope(current)
	if except != 0 {
		if c := f.conns[except]; c == nil || c.info.Namespace != ns {
			return 0, abi.ErrUnknownConn
		}
	}
	m := Message{Kind: Kind(kind), Data: bytes.Clone(data)}
	n := 0
	for _, member := range f.groups.Members(ns, group) {
		c := member.c
		if c.id == except || c.closing {
			continue
		}
		c.received = append(c.received, m)
		n++
	}
	f.broadcasts = append(f.broadcasts, Broadcast{Namespace: ns, Group: group, Message: m, Except: except, Count: n})
	return n, abi.OK
}

// Presence implements plugin.Host.
func (f *fakeHost) Presence(_ context.Context, current uint64, group string, members bool) (int, []plugin.Member, abi.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.groups.Members(f.scope(current), group)
	if !members {
		return len(list), nil, abi.OK
	}
	out := make([]plugin.Member, 0, len(list))
	for _, m := range list {
		out = append(out, plugin.Member{Conn: m.c.id, User: m.c.info.User})
	}
	slices.SortFunc(out, func(a, b plugin.Member) int { return cmp.Compare(a.Conn, b.Conn) })
	return len(list), out, abi.OK
}

// Released implements plugin.Host: the plugin has handled on_close, and the id is forgotten.
// Barrier ids (see Harness.barrier) come back here too.
func (f *fakeHost) Released(conn uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.barriers[conn]; ok {
		delete(f.barriers, conn)
		close(ch)
		return
	}
	if c := f.conns[conn]; c != nil {
		c.released = true
		delete(f.conns, conn)
	}
}

// startClose starts c's closing handshake with a code and reason (the server sends the close
// frame), with mu held. Its on_close is owed: settle delivers it, playing a client that answers
// the close frame at once, after taking c out of its groups as the server does when a
// connection has finished closing. Meanwhile c is still a member but receives no broadcast.
// The caller has checked that c is not closing yet.
func (h *Harness) startClose(c *Conn, code int, reason string) {
	c.closing, c.closeCode, c.closeReason = true, code, reason
	h.pending = append(h.pending, c)
}
