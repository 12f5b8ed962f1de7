package host

import (
	"github.com/wasmsock/wasmsock/abi"
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
	if c := h.s.conns.get(current); c != nil && current != 0 {
		return c.namespace
	}
	return h.ns
}

// lookup finds conn as the plugin may see it.
func (h *pluginHost) lookup(current, conn uint64) *Conn {
	c := h.s.conns.get(conn)
	if c == nil || c.route.cfg.Plugin != h.plugin || (current != conn && c.namespace != h.scope(current)) {
		return nil
	}
	return c
}

// Send implements plugin.Host.
func (h *pluginHost) Send(current, conn uint64, kind int32, data []byte) abi.Status {
	c := h.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	return c.send(kind, data)
}

// send queues one data message to c.
func (c *Conn) send(kind int32, data []byte) abi.Status {
	if st := c.canReceive(len(data)); st != abi.OK {
		return st
	}
	f := frames{op: byte(kind), data: data}
	frame := f.forConn(c)
	st := c.enqueue(frame)
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
		return abi.ErrUnknownConn
	}
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
	h.s.groups.join(c, group)
	return abi.OK
}

// Leave implements plugin.Host.
func (h *pluginHost) Leave(current, conn uint64, group string) abi.Status {
	c := h.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	h.s.groups.leave(c, group)
	return abi.OK
}

// Broadcast implements plugin.Host: the frame is built (and compressed) once and the same bytes are
// queued to every member; a member that cannot take it (receive-only route, message over its
// route's limit, closing, queue full) is skipped and not counted.
func (h *pluginHost) Broadcast(current uint64, group string, kind int32, data []byte, except uint64) (int, abi.Status) {
	ns := h.scope(current)
	if except != 0 {
		if c := h.lookup(current, except); c == nil {
			return 0, abi.ErrUnknownConn
		}
	}
	return h.s.fanOut(h.s.groups.members(ns, group), kind, data, except), abi.OK
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
	for _, m := range members {
		if m.id == except || m.canReceive(len(data)) != abi.OK {
			continue
		}
		if frame := f.forConn(m); m.enqueue(frame) == abi.OK {
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

// Released implements plugin.Host: the plugin has seen on_close, the id is forgotten.
func (h *pluginHost) Released(conn uint64) {
	if c := h.s.conns.get(conn); c != nil {
		h.s.conns.remove(c)
	}
}
