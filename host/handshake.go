package host

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/internal/clock"
	"github.com/wasmsock/wasmsock/host/internal/wsproto"
	"github.com/wasmsock/wasmsock/host/plugin"
)

var errHeadTooLarge = errors.New("request head too large")

var headReaders sync.Pool

// handleConn reads the request head of a new TCP connection and sends it down the WebSocket path
// (a route's handshake) or the HTTP path (net/http: pages, health, 426 and 404 answers). The
// WebSocket path upgrades on the raw connection, so a WebSocket keeps no net/http state; the head
// buffer goes back to its pool as soon as the handshake is over, whichever path it took.
func (s *Server) handleConn(nc net.Conn) {
	defer s.handlers.Done()
	st := s.cur.Load() // the config this connection is served by, to the end of its handshake
	_ = nc.SetDeadline(time.Now().Add(st.cfg.HandshakeTimeout.D))
	if !s.limits.allowNew(ipOf(nc.RemoteAddr()), clock.Now()) {
		s.metrics.reject("rate_per_ip")
		_, _ = io.WriteString(nc, "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
		_ = nc.Close()
		return
	}
	size := int(st.cfg.MaxHeaderBytes)
	br, _ := headReaders.Get().(*bufio.Reader)
	if br == nil || br.Size() != size {
		br = bufio.NewReaderSize(nc, size)
	} else {
		br.Reset(nc)
	}
	// rest returns (a copy of) what arrived after the head, and gives the buffer back.
	rest := func(head int) []byte {
		_, _ = br.Discard(head)
		var b []byte
		if n := br.Buffered(); n > 0 {
			p, _ := br.Peek(n)
			b = bytes.Clone(p)
		}
		br.Reset(nil)
		headReaders.Put(br)
		br = nil
		return b
	}
	head, err := peekHead(br, size)
	if err != nil {
		if errors.Is(err, errHeadTooLarge) {
			_, _ = io.WriteString(nc, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		}
		s.metrics.reject("bad_request_head")
		rest(0)
		_ = nc.Close()
		return
	}
	r, upgrade := st.classify(head)
	if r == nil || !upgrade {
		// Not ours: net/http reads the request from the buffered bytes onwards.
		s.serveHTTP(nc, rest(0))
		return
	}
	s.upgrade(nc, head, func() []byte { return rest(len(head)) }, r)
}

// peekHead waits until the buffer holds a whole request head (through the blank line) and returns
// it without consuming it.
func peekHead(br *bufio.Reader, max int) ([]byte, error) {
	n := 1
	for {
		_, err := br.Peek(n) // waits for at least n bytes
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return b[:i+4], nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) >= max {
			return nil, errHeadTooLarge
		}
		n = len(b) + 1
	}
}

// classify finds the route a request head targets and whether it asks for a WebSocket upgrade.
func (st *state) classify(head []byte) (*route, bool) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	parts := bytes.Fields(line)
	if len(parts) != 3 {
		return nil, false
	}
	target := string(parts[1])
	path, _, _ := strings.Cut(target, "?")
	r := st.routes[path]
	if r == nil {
		return nil, false
	}
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Upgrade")) && bytes.EqualFold(bytes.TrimSpace(v), []byte("websocket")) {
			return r, true
		}
	}
	return r, false
}

// upgrade performs the WebSocket handshake with gobwas/ws on the request head, asking the plugin's
// on_connect before the 101 is sent, then serves the connection. rest is called once the
// handshake is over: it releases whatever buffered the head and returns the bytes that arrived
// after it (the client's first frames, if it did not wait for the 101), which the frame reader
// parses first.
func (s *Server) upgrade(nc net.Conn, head []byte, rest func() []byte, r *route) {
	// release calls rest once and drops it: nothing may keep the head buffer reachable for the
	// life of the connection (it would be pinned even after going back to its pool).
	var pre []byte
	release := func() {
		if rest != nil {
			pre, rest = rest(), nil
		}
	}
	defer release()
	if s.draining.Load() {
		_, _ = io.WriteString(nc, "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		_ = nc.Close()
		return
	}
	c := &Conn{
		id:         s.ids.Next(),
		srv:        s,
		route:      r,
		nc:         nc,
		remoteAddr: nc.RemoteAddr().String(),
		ip:         ipOf(nc.RemoteAddr()),
	}
	defer func() {
		// A bug while serving one connection must not take the host down: drop that connection
		// (the plugin still gets its on_close) and say so loudly.
		if v := recover(); v != nil {
			s.log.Error("panic serving a connection: dropped it (this is a wasmsock bug)", "conn", c.id, "panic", v, "stack", string(debug.Stack()))
			c.closeTCP()
			if c.accepted.Load() {
				c.finish(wsproto.CloseInternalError, "internal error")
			}
		}
	}()
	var deflate wsproto.Negotiate
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			u, err := url.ParseRequestURI(string(uri))
			if err != nil {
				return c.refuse(http.StatusBadRequest, "bad_request_head", "bad request URI")
			}
			c.path, c.rawQuery = u.Path, u.RawQuery
			c.query, _ = url.ParseQuery(u.RawQuery)
			return nil
		},
		OnHost: func(h []byte) error {
			c.host = string(h)
			return nil
		},
		OnHeader: func(k, v []byte) error {
			if len(c.headers) >= 2*maxHeaders {
				return c.refuse(http.StatusRequestHeaderFieldsTooLarge, "bad_request_head", "too many header fields")
			}
			c.headers = append(c.headers, strings.ToLower(string(k)), string(v))
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			// Extensions are negotiated by now; the connection may join groups in on_connect,
			// where broadcasts read how to frame for it.
			c.deflate, c.deflateRefs = deflate.Accepted, !deflate.NoBackRefs
			return s.admit(c)
		},
	}
	if len(r.cfg.Subprotocols) > 0 {
		// Called for each protocol the client offers, in its order; the first one the route
		// lists is selected.
		u.Protocol = func(p []byte) bool {
			if slices.Contains(r.cfg.Subprotocols, string(p)) {
				c.subprotocol = string(p)
				return true
			}
			return false
		}
	}
	if r.cfg.Compression {
		u.Negotiate = deflate.Offer
	}
	// The upgrader reads the head only: it buffers what it reads and drops that buffer after.
	_, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), nc})
	head = nil
	release()
	if err != nil {
		if c.accepted.Load() {
			// on_connect accepted but the 101 could not be written: on_close is still owed.
			c.finish(wsproto.CloseAbnormal, "")
		} else {
			s.metrics.reject(cmp.Or(c.rejected, "bad_handshake"))
			c.logger().Debug("handshake refused", "error", err)
		}
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	if tc, ok := nc.(*net.TCPConn); ok {
		c.raw, _ = tc.SyscallConn() // inline writes (TLS connections go through the writer)
	}
	r.m.connections.Inc()
	r.m.open.Add(1)
	c.query = nil // conn_get parses rawQuery: an open connection keeps no map of its query
	c.mu.Lock()
	c.upgraded = true
	start := len(c.queue) > 0 && !c.writing
	if start {
		c.writing = true
	}
	c.mu.Unlock()
	if start {
		c.startWriter() // what on_connect sent, and the close it may have asked for
	}
	rd := c.newReader()
	rd.SetPrefix(pre)
	c.serve(rd)
}

const maxHeaders = 100

// admit registers the connection and asks the plugin whether to accept it.
func (s *Server) admit(c *Conn) (ws.HandshakeHeader, error) {
	p := c.route.plugin
	if p.Disabled() {
		return nil, c.refuse(http.StatusServiceUnavailable, "plugin_disabled", "plugin disabled")
	}
	if c.route.cfg.RequireSubprotocol && c.subprotocol == "" {
		return nil, c.refuse(http.StatusBadRequest, "no_subprotocol", "no supported subprotocol offered (supported: "+strings.Join(c.route.cfg.Subprotocols, ", ")+")")
	}
	if err := s.check(c); err != nil {
		return nil, err
	}
	if err := s.admitLimits(c); err != nil {
		return nil, err
	}
	s.hub.Add(c)
	// A config reload may have retired the plugin or removed the route since this handshake
	// began; the reload closes what is registered by the time it swapped the config, and this
	// check, after registering, catches the rest.
	if ok := p.acquire(); !ok || s.cur.Load().routes[c.route.cfg.Path] == nil {
		if ok {
			p.release()
		}
		s.hub.Remove(c)
		s.limits.release(c.ip)
		c.counted = false
		return nil, c.refuse(http.StatusServiceUnavailable, "reloading", "the configuration changed: try again")
	}
	c.holdsPlugin = true
	v := p.Connect(c.id, 0)
	if !v.Accepted() {
		// Refused: forget it, and any group on_connect joined it to before deciding.
		s.hub.Remove(c)
		s.hub.LeaveAll(c)
		s.limits.release(c.ip)
		c.counted = false
		c.holdsPlugin = false
		p.release()
	}
	switch {
	case v.Fault != nil:
		if p.Disabled() {
			return nil, c.refuse(http.StatusServiceUnavailable, "plugin_disabled", "plugin disabled")
		}
		return nil, c.refuse(http.StatusInternalServerError, "plugin_error", "plugin error")
	case v.Accepted():
		c.accepted.Store(true)
		if c.user != "" {
			_ = s.hub.Join(c, plugin.UserGroupPrefix+c.user, true) // managed: no limit; c is not gone yet
		}
		if code := v.CloseCode(); code != 0 {
			c.startClose(code, "", false)
		}
		return ws.HandshakeHeaderString(""), nil
	case v.Code >= 400 && v.Code <= 599:
		return nil, c.refuse(int(v.Code), "plugin_refused", "refused by plugin")
	default:
		c.logger().Warn("on_connect returned an invalid verdict: refusing with 500", "verdict", v.Code)
		return nil, c.refuse(http.StatusInternalServerError, "plugin_error", fmt.Sprintf("plugin returned invalid verdict %d", v.Code))
	}
}

// refuse makes the error that rejects the handshake with an HTTP status and reason; label names
// the reason in the handshake_rejections_total metric.
func (c *Conn) refuse(status int, label, reason string) error {
	c.rejected = label
	return ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(reason))
}

// source reads a namespace or user id from the handshake request. A value must be usable in a
// group name ("user:" + id included); ok is false for one that is not.
func (c *Conn) source(src config.Source) (string, bool) {
	var v string
	switch src.Kind {
	case "query":
		v = c.query.Get(src.Name)
	case "header":
		v, _ = c.header(src.Name)
	default:
		return "", true
	}
	if v == "" {
		return "", true
	}
	return v, len(v) <= maxIdentity && plugin.ValidGroupName([]byte(v))
}

// maxIdentity is the longest namespace or user id: "user:" plus the id fits in a group name.
const maxIdentity = abi.MaxGroupName - len(plugin.UserGroupPrefix)
