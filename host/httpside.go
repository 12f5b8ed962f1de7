package host

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/config"
)

// httpHandler serves every request of st that is not a WebSocket handshake on a route. It
// reports, as config problems, a route on a path the host serves already (a health or admin
// endpoint, the status or chat page) and a path net/http cannot take as a pattern, instead of
// net/http's panic.
func (s *Server) httpHandler(st *state) (http.Handler, []config.Problem) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.adminRoutes(mux, st)
	var problems []config.Problem
	if st.statusPath != "" {
		if err := register(mux, http.MethodGet, st.statusPath, s.requireKey(s.statusPage)); err != nil {
			problems = append(problems, st.cfg.Problem("admin.status_page", err.Error()))
		}
	}
	if st.cfg.ChatPage {
		if err := register(mux, "", "/", chatPage()); err != nil {
			problems = append(problems, st.cfg.Problem("chat_page", err.Error()))
		}
	}
	for i, rc := range st.cfg.Routes {
		if err := register(mux, "", rc.Path, s.routeFallback(st.routes[rc.Path])); err != nil {
			problems = append(problems, st.cfg.Problem(config.RouteKey(i)+".path", err.Error()))
		}
	}
	return mux, problems
}

// register adds a handler for the exact path (or, ending in '/', the subtree) to mux, for method
// ("" for any), or says why
// it cannot: the host serves the path already (for some method), or net/http refuses the path as
// a pattern (it would panic).
func register(mux *http.ServeMux, method, path string, h http.Handler) (err error) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req := &http.Request{Method: method, URL: &url.URL{Path: path}, Host: "localhost"}
		if _, pat := mux.Handler(req); pat != "" {
			if _, p, _ := strings.Cut(pat, " "); p == path || pat == path {
				return fmt.Errorf("%q is served by the host already (%s)", path, servedBy(pat))
			}
		}
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%q cannot be served: %v", path, v)
		}
	}()
	if method != "" {
		mux.Handle(method+" "+path, h)
	} else {
		mux.Handle(path, h)
	}
	return nil
}

// servedBy names what the host serves at a pattern, for an error message.
func servedBy(pattern string) string {
	switch {
	case pattern == "/":
		return "the chat page, chat_page = true"
	case strings.Contains(pattern, "/api/"):
		return "the admin API, " + pattern
	}
	return pattern
}

// routeFallback answers a request to a WebSocket route that reached net/http: a plain request gets
// 426 Upgrade Required; a handshake that came on a kept-alive HTTP connection is taken over and
// upgraded like any other.
func (s *Server) routeFallback(r *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && headerHasToken(req.Header, "Upgrade", "websocket") {
			hj, ok := w.(http.Hijacker)
			if ok {
				nc, rw, err := hj.Hijack()
				if err == nil {
					// The connection leaves the HTTP side: it is counted as a WebSocket from
					// now on. What net/http read past the request goes to the frame reader.
					var head bytes.Buffer
					_ = req.Write(&head)
					raw, pre := nc, []byte(nil)
					if hc, ok := nc.(*httpConn); ok {
						raw, pre = hc.detach()
					}
					rest := func() []byte {
						var b []byte
						if n := rw.Reader.Buffered(); n > 0 {
							p, _ := rw.Reader.Peek(n)
							b = bytes.Clone(p)
						}
						return append(b, pre...)
					}
					_ = raw.SetDeadline(time.Now().Add(s.cur.Load().cfg.HandshakeTimeout.D))
					// Served on a goroutine of its own, so that net/http's state for the
					// connection (its buffers, the request) is not kept alive with it.
					s.handlers.Add(1)
					go func() {
						defer s.handlers.Done()
						s.upgrade(raw, head.Bytes(), rest, r)
					}()
					return
				}
			}
		}
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		http.Error(w, "426 Upgrade Required: "+req.URL.Path+" is a WebSocket endpoint", http.StatusUpgradeRequired)
	})
}

// readyz answers 200 when every plugin is loaded and enabled and the server is not draining: a
// load balancer may send connections.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var problems []string
	if s.draining.Load() {
		problems = append(problems, "draining")
	}
	for name, p := range s.cur.Load().plugins {
		if until := p.BackoffUntil(); !until.IsZero() {
			problems = append(problems, "plugin "+name+" in crash-loop backoff, retrying at "+until.UTC().Format(time.RFC3339Nano))
		}
	}
	if s.cluster != nil && s.cluster.State() != cluster.Connected {
		// Cut off from the other nodes, this node's clients would see part of every group:
		// better that new clients go to a node that is not.
		problems = append(problems, "cluster: NATS "+s.cluster.State().String())
	}
	if len(problems) > 0 {
		http.Error(w, "not ready: "+strings.Join(problems, "; "), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range bytes.Split([]byte(v), []byte(",")) {
			if bytes.EqualFold(bytes.TrimSpace(t), []byte(token)) {
				return true
			}
		}
	}
	return false
}

// serveHTTP hands a connection to net/http. HTTP connections are counted apart from WebSockets
// against the same limits (max_connections, max_connections_per_ip): idle keep-alive connections
// cannot take the file descriptors that WebSockets and health checks need, and WebSockets cannot
// starve /healthz. pre is what was read from the connection already (the request head and after).
func (s *Server) serveHTTP(nc net.Conn, pre []byte) {
	ip := ipOf(nc.RemoteAddr())
	if s.httpLimits.exempt != nil && s.httpLimits.exempt(ip) {
		ip = "" // a trusted proxy: counted in the total only
	}
	if ok, perIP := s.httpLimits.acquire(ip); !ok {
		status, label := "503 Service Unavailable", "http_limit_total"
		if perIP {
			status, label = "429 Too Many Requests", "http_limit_per_ip"
		}
		s.metrics.reject(label)
		_, _ = io.WriteString(nc, "HTTP/1.1 "+status+"\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
		_ = nc.Close()
		return
	}
	// From here net/http sets the deadlines: ReadHeaderTimeout for each request head, IdleTimeout
	// between requests (both handshake_timeout).
	_ = nc.SetDeadline(time.Time{})
	s.httpLn.deliver(&httpConn{Conn: nc, pre: pre, release: func() { s.httpLimits.release(ip) }})
}

// httpConn is a connection on the HTTP side: its first bytes were already read into pre, and it
// holds a slot of the HTTP connection limits until it is closed or hijacked.
type httpConn struct {
	net.Conn
	pre     []byte
	once    sync.Once
	release func()
}

func (c *httpConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		if c.pre = c.pre[n:]; len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *httpConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// detach releases the connection's HTTP slot and returns the raw connection and the bytes of pre
// net/http has not read (a hijacked connection becomes a WebSocket).
func (c *httpConn) detach() (net.Conn, []byte) {
	c.once.Do(c.release)
	pre := c.pre
	c.pre = nil
	return c.Conn, pre
}

// chanListener hands connections accepted elsewhere to an http.Server.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }
