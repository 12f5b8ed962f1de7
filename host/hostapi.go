package host

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// pluginHost is the plugin.Host of one plugin: the server as that plugin sees it. Connection ids
// are private to a plugin and to a namespace: a connection served by another plugin, or in
// another namespace than the one whose event is being handled, is no connection at all. Groups
// are shared by the plugins of a namespace (so user:<id> reaches a user on every route).
type pluginHost struct {
	s      *Server
	plugin string
	ns     string // the namespace current 0 stands for: "" except during on_event
}

var _ plugin.Host = (*pluginHost)(nil)

// scope returns the namespace the plugin acts in while handling an event of current (0: the
// default namespace "").
func (h *pluginHost) scope(current uint64) string {
	if c := h.s.conn(current); c != nil && current != 0 {
		return c.namespace
	}
	return h.ns
}

// lookup finds conn as the plugin may see it.
func (h *pluginHost) lookup(current, conn uint64) *Conn {
	c := h.s.conn(conn)
	if c == nil || c.route.cfg.Plugin != h.plugin || (current != conn && c.namespace != h.scope(current)) {
		return nil
	}
	return c
}

// Send implements plugin.Host.
func (h *pluginHost) Send(current, conn uint64, kind int32, data []byte) abi.Status {
	c := h.lookup(current, conn)
	if c == nil {
		if st, ok := h.remote(current, conn, clusterReq{Op: "pluginNamesend", Kind: kind, Data: data}); ok {
			return st
		}
		return abi.ErrUnknownConn
	}
	return c.send(kind, data, viaWriters)
}

// Reply implements plugin.Caller: a send to c from the guest call running c's message on c's
// reader goroutine, left for the reader to write once the call has returned (see writeMode).
func (c *Conn) Reply(kind int32, data []byte) abi.Status {
	return c.send(kind, data, byReaderAfterCall)
}

// send queues one data message to c.
func (c *Conn) send(kind int32, data []byte, how writeMode) abi.Status {
	if st := c.canReceive(len(data)); st != abi.OK {
		return st
	}
	f := frames{op: byte(kind), data: data}
	frame := f.forConn(c)
	st := c.enqueue(frame, how)
	if st == abi.OK {
		c.route.m.messagesOut.Inc()
		c.route.m.bytesOut.Add(float64(len(frame)))
	}
	return st
}

// Close implements plugin.Host.
func (h *pluginHost) Close(current, conn uint64, code int, reason string) abi.Status {
	c := h.lookup(current, conn)
	if c == nil {
		if st, ok := h.remote(current, conn, clusterReq{Op: "pluginNameclose", Code: code, Reason: reason}); ok {
			return st
		}
		return abi.ErrUnknownConn
	}
	return h.closeConn(c, code, reason)
}

func (h *pluginHost) closeConn(c *Conn, code int, reason string) abi.Status {
	if !c.startClose(code, reason, false) {
		return abi.ErrClosed
	}
	return abi.OK
}

// ConnGet implements plugin.Host.
func (h *pluginHost) ConnGet(current, conn uint64, key string) (string, abi.Status) {
	c := h.lookup(current, conn)
	if c == nil {
		return "", abi.ErrUnknownConn
	}
	return c.get(key)
}

// Join implements plugin.Host.
func (h *pluginHost) Join(current, conn uint64, group string) abi.Status {
	c := h.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	if c.isClosing() {
		return abi.ErrClosed
	}
	switch err := h.s.hub.Join(c, group, false); err {
	case nil:
		return abi.OK
	case hub.ErrGone:
		return abi.ErrClosed // the close won the race: the connection joins nothing any more
	case hub.ErrMemberLimit, hub.ErrTotalLimit:
		return h.s.groupLimit(c, group, err)
	default:
		c.logger().Warn("join failed", "group", group, "error", err)
		return abi.ErrClosed
	}
}

// Leave implements plugin.Host.
func (h *pluginHost) Leave(current, conn uint64, group string) abi.Status {
	c := h.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	h.s.hub.Leave(c, group, false)
	return abi.OK
}

// Broadcast implements plugin.Host: the frame is built (and compressed) once and the same bytes are
// queued to every member; a member that cannot take it (receive-only route, message over its
// route's limit, closing, queue full) is skipped and not counted.
func (h *pluginHost) Broadcast(current uint64, group string, kind int32, data []byte, except uint64) (int, abi.Status) {
	ns := h.scope(current)
	if except != 0 && h.lookup(current, except) == nil {
		// A connection of another node of the cluster may be excepted: ids are unique in the
		// cluster, and that node leaves it out.
		if node := hub.Node(except); h.s.cluster == nil || node == 0 || node == h.s.cluster.ID() {
			return 0, abi.ErrUnknownConn
		}
	}
	// In a cluster the message goes to the other nodes first: one that NATS cannot carry goes
	// nowhere, rather than to this node's members only.
	if err := h.s.hub.Publish(hub.Key{Namespace: ns, Name: group}, hub.Message{Kind: kind, Data: data, Except: except}); errors.Is(err, cluster.ErrTooLarge) {
		return 0, abi.ErrTooLarge
	}
	return h.s.fanOut(h.s.hub.Members(ns, group), kind, data, except), abi.OK
}

// fanOut queues one message to members (except the connection except) and returns how many took
// it.
func (s *Server) fanOut(members []*Conn, kind int32, data []byte, except uint64) int {
	f := frames{op: byte(kind), data: data}
	n := 0
	// Counters are added once per run of members on the same route (usually the whole group),
	// not once per delivery.
	var r *route
	var msgs, bytes int
	flush := func() {
		if msgs > 0 {
			r.m.messagesOut.Add(float64(msgs))
			r.m.bytesOut.Add(float64(bytes))
		}
		msgs, bytes = 0, 0
	}
	// Writers are started in batches: one lock of the writer pool per batch, not per member.
	var starts writerStarts
	defer starts.flush()
	for _, m := range members {
		if m.id == except || m.canReceive(len(data)) != abi.OK {
			continue
		}
		frame := f.forConn(m)
		if st, start := m.queueFrame(frame, viaWriters); st == abi.OK {
			if start {
				starts.add(m)
			}
			if m.route != r {
				flush()
				r = m.route
			}
			msgs++
			bytes += len(frame)
			n++
		}
	}
	flush()
	s.metrics.fanout.Observe(float64(n))
	return n
}

// Presence implements plugin.Host: the group of that name in current's namespace, on every node
// of the cluster (abi/ABI.md, "Presence"). A member served by another plugin of the namespace
// counts, with connection id 0 (ids are private to the plugin that serves the connection).
func (h *pluginHost) Presence(ctx context.Context, current uint64, group string, members bool) (int, []plugin.Member, abi.Status) {
	ns := h.scope(current)
	size, out := h.s.localPresence(h.plugin, ns, group, members)
	if h.s.cluster != nil {
		st := h.s.clusterPresence(ctx, h.plugin, ns, group, members, &size, &out)
		if st != abi.OK {
			return 0, nil, st
		}
	}
	if members {
		slices.SortFunc(out, func(a, b plugin.Member) int {
			if a.Conn != b.Conn {
				return cmp.Compare(a.Conn, b.Conn)
			}
			return strings.Compare(a.User, b.User)
		})
	}
	return size, out, abi.OK
}

// localPresence is the size of a group on this node and, when members is set, its members as
// plugin sees them.
func (s *Server) localPresence(pluginName, ns, group string, members bool) (int, []plugin.Member) {
	list := s.hub.Members(ns, group)
	if !members {
		return len(list), nil
	}
	out := make([]plugin.Member, len(list))
	for i, c := range list {
		out[i].User = c.user
		if c.route.cfg.Plugin == pluginName {
			out[i].Conn = c.id
		}
	}
	return len(list), out
}

// Released implements plugin.Host: the plugin has seen on_close, the id is forgotten.
func (h *pluginHost) Released(conn uint64) {
	if c := h.s.conn(conn); c != nil {
		h.s.hub.Remove(c)
	}
}
