package host

import (
	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// The server is the plugin.Host of every plugin it runs.
var _ plugin.Host = (*Server)(nil)

// scope returns the namespace a plugin acts in while handling an event of current (0: the
// default namespace "").
func (s *Server) scope(current uint64) string {
	if current == 0 {
		return ""
	}
	if c := s.conns.get(current); c != nil {
		return c.namespace
	}
	return ""
}

// lookup finds conn within current's namespace: a connection of another namespace is, to the
// plugin, no connection at all.
func (s *Server) lookup(current, conn uint64) *Conn {
	c := s.conns.get(conn)
	if c == nil || (current != conn && c.namespace != s.scope(current)) {
		return nil
	}
	return c
}

// Send implements plugin.Host.
func (s *Server) Send(current, conn uint64, kind int32, data []byte) abi.Status {
	c := s.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
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
func (s *Server) Close(current, conn uint64, code int, reason string) abi.Status {
	c := s.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	if !c.startClose(code, reason, false) {
		return abi.ErrClosed
	}
	return abi.OK
}

// ConnGet implements plugin.Host.
func (s *Server) ConnGet(current, conn uint64, key string) (string, abi.Status) {
	c := s.lookup(current, conn)
	if c == nil {
		return "", abi.ErrUnknownConn
	}
	return c.get(key)
}

// Join implements plugin.Host.
func (s *Server) Join(current, conn uint64, group string) abi.Status {
	c := s.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	if c.isClosing() {
		return abi.ErrClosed
	}
	s.groups.join(c, group)
	return abi.OK
}

// Leave implements plugin.Host.
func (s *Server) Leave(current, conn uint64, group string) abi.Status {
	c := s.lookup(current, conn)
	if c == nil {
		return abi.ErrUnknownConn
	}
	s.groups.leave(c, group)
	return abi.OK
}

// Broadcast implements plugin.Host: the frame is built (and compressed) once and the same bytes are
// queued to every member; a member that cannot take it (receive-only route, message over its
// route's limit, closing, queue full) is skipped and not counted.
func (s *Server) Broadcast(current uint64, group string, kind int32, data []byte, except uint64) (int, abi.Status) {
	ns := s.scope(current)
	if except != 0 {
		if c := s.conns.get(except); c == nil || c.namespace != ns {
			return 0, abi.ErrUnknownConn
		}
	}
	return s.fanOut(s.groups.members(ns, group), kind, data, except), abi.OK
}

// fanOut queues one message to members (except the connection except) and returns how many took
// it.
func (s *Server) fanOut(members []*Conn, kind int32, data []byte, except uint64) int {
	f := frames{op: byte(kind), data: data}
	n := 0
	for _, m := range members {
		if m.id == except || m.canReceive(len(data)) != abi.OK {
			continue
		}
		if frame := f.forConn(m); m.enqueue(frame) == abi.OK {
			m.route.m.messagesOut.Inc()
			m.route.m.bytesOut.Add(float64(len(frame)))
			n++
		}
	}
	s.metrics.fanout.Observe(float64(n))
	return n
}

// Released implements plugin.Host: the plugin has seen on_close, the id is forgotten.
func (s *Server) Released(conn uint64) {
	if c := s.conns.get(conn); c != nil {
		s.conns.remove(c)
	}
}
