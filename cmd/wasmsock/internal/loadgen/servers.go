package loadgen

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Reference servers, for side-by-side runs against the host on the same machine ("wasmsock bench
// -serve"): what a plain Go WebSocket server and a plain TCP echo do with the same load.
const (
	// ServeGobwas is a plain gobwas/ws server: a broadcast on ws://ADDR/fanout (FanoutPath) and an
	// echo on any other path.
	ServeGobwas = "gobwas"
	ServeTCP    = "tcp" // a plain TCP echo: tcp://ADDR
)

// FanoutPath is the path of the reference server's broadcast: every message a client sends goes to
// every other client connected to the path.
const FanoutPath = "/fanout"

// Bounds of the reference broadcast's per-connection queue, as the host's defaults (the route keys
// queue_messages and queue_bytes): a client whose queue is over either is a slow consumer and is
// dropped.
const (
	refQueueMessages = 256
	refQueueBytes    = 4 << 20
)

// Serve accepts connections on ln and serves each with the reference server kind (ServeGobwas or
// ServeTCP) on a goroutine of its own, until ln is closed.
func Serve(ln net.Listener, kind string) error { return serve(ln, kind, nil) }

// serve is Serve; afterUpgrade, if not nil (a test's), runs between a connection's upgrade and
// its serving: a goroutine that is slow to get there.
func serve(ln net.Listener, kind string, afterUpgrade func()) error {
	hub := &refHub{}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			if kind == ServeTCP {
				tcpEcho(nc)
				return
			}
			fanout := false
			var me *refMember
			u := ws.Upgrader{
				OnRequest: func(uri []byte) error {
					path, _, _ := strings.Cut(string(uri), "?")
					fanout = path == FanoutPath
					return nil
				},
				// A broadcast member joins before its 101 is written, so a client that has its
				// answer misses no message sent after it (what is queued meanwhile is written once
				// its writer starts, after the 101).
				OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
					if fanout {
						me = hub.add(nc)
					}
					return ws.HandshakeHeaderString(""), nil
				},
			}
			_ = nc.SetDeadline(time.Now().Add(DefaultTimeout))
			if _, err := u.Upgrade(nc); err != nil {
				if me != nil {
					hub.leave(me)
				}
				return
			}
			_ = nc.SetDeadline(time.Time{})
			if afterUpgrade != nil {
				afterUpgrade()
			}
			if me != nil {
				hub.serve(me)
			} else {
				plainEcho(nc)
			}
		}()
	}
}

// plainEcho is a plain Go echo server's connection loop, with no plugin: gobwas/ws's wsutil
// read and write helpers, one goroutine per connection. Messages are written through a
// bufio.Writer flushed after each: wsutil.WriteServerMessage writes the header and the payload
// separately, which is two syscalls on a bare net.Conn.
func plainEcho(nc net.Conn) {
	bw := bufio.NewWriter(nc)
	rw := struct {
		io.Reader
		io.Writer // ReadClientData answers pings and close frames here
	}{bufio.NewReader(nc), nc}
	for {
		data, op, err := wsutil.ReadClientData(rw)
		if err != nil {
			return
		}
		if err := wsutil.WriteServerMessage(bw, op, data); err != nil {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// group is the member list of a broadcast, copy on write: a broadcast reads a snapshot while
// members join and leave.
type group[M comparable] struct {
	mu      sync.Mutex
	members []M
}

func (g *group[M]) join(m M) {
	g.mu.Lock()
	g.members = append(g.members[:len(g.members):len(g.members)], m)
	g.mu.Unlock()
}

func (g *group[M]) leave(m M) {
	g.mu.Lock()
	out := make([]M, 0, len(g.members))
	for _, o := range g.members {
		if o != m {
			out = append(out, o)
		}
	}
	g.members = out
	g.mu.Unlock()
}

func (g *group[M]) snapshot() []M {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.members
}

// readFrames reads a client's messages from r until the connection ends (or the client closes
// it), with gobwas/ws's wsutil, answering pings and close frames on w, and gives each message to
// send framed once as a server frame.
func readFrames(r io.Reader, w io.Writer, send func(frame []byte)) {
	rw := struct {
		io.Reader
		io.Writer
	}{r, w}
	for {
		data, op, err := wsutil.ReadClientData(rw)
		if err != nil {
			return
		}
		frame, err := ws.CompileFrame(ws.NewFrame(op, true, data))
		if err != nil {
			return
		}
		send(frame)
	}
}

// refHub is the reference broadcast server, the queue-and-coalesce design of a plain gobwas/ws
// server: each message is framed once and appended to every other member's bounded queue, and
// each member has a writer goroutine that writes whatever its queue holds with one writev.
type refHub struct {
	group[*refMember]
}

type refMember struct {
	nc     net.Conn
	wake   chan struct{} // one token: the queue is not empty, or the member is closing
	mu     sync.Mutex
	queue  [][]byte
	queued int
	closed bool // dropped: nothing more is written
	drain  bool // the reader ended: write what is queued (the answer to a close frame), then close
}

// add makes nc a member: from now on it is sent every broadcast.
func (h *refHub) add(nc net.Conn) *refMember {
	me := &refMember{nc: nc, wake: make(chan struct{}, 1)}
	h.join(me)
	return me
}

// serve runs the member me (added, and its 101 written) until its connection ends.
func (h *refHub) serve(me *refMember) {
	nc := me.nc
	done := make(chan struct{})
	go func() { me.writeLoop(); close(done) }()
	defer func() {
		h.leave(me)
		me.mu.Lock()
		me.drain = true
		me.mu.Unlock()
		me.signal()
		<-done
	}()
	// Pongs and close frames go through lockedWriter, serialised with writeLoop by me.mu.
	readFrames(bufio.NewReader(nc), lockedWriter{me}, func(frame []byte) {
		for _, m := range h.snapshot() {
			if m != me {
				m.push(frame)
			}
		}
	})
}

// lockedWriter writes control frames (pong, close) through the member's queue, so they never
// interleave with a writev in progress.
type lockedWriter struct{ m *refMember }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.m.push(append([]byte(nil), p...))
	return len(p), nil
}

// push queues a frame; a member over its queue bounds is dropped.
func (m *refMember) push(frame []byte) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	if len(m.queue) >= refQueueMessages || m.queued+len(frame) > refQueueBytes {
		m.mu.Unlock()
		m.close()
		return
	}
	m.queue = append(m.queue, frame)
	m.queued += len(frame)
	m.mu.Unlock()
	m.signal()
}

func (m *refMember) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *refMember) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	_ = m.nc.Close()
	m.signal()
}

// writeLoop writes the queue, each batch with one writev (net.Buffers), until the member closes.
// The write deadline is moved when half of it has passed, not per batch.
func (m *refMember) writeLoop() {
	var spare [][]byte
	var deadline time.Time
	for range m.wake {
		for {
			m.mu.Lock()
			if m.closed {
				m.mu.Unlock()
				return
			}
			batch := m.queue
			if len(batch) == 0 {
				drain := m.drain
				m.mu.Unlock()
				if drain {
					m.close()
					return
				}
				break
			}
			m.queue, m.queued, spare = spare[:0], 0, nil
			m.mu.Unlock()
			if now := time.Now(); deadline.Sub(now) < DefaultTimeout/2 {
				deadline = now.Add(DefaultTimeout)
				_ = m.nc.SetWriteDeadline(deadline)
			}
			bufs := net.Buffers(batch)
			if _, err := bufs.WriteTo(m.nc); err != nil {
				m.close()
				return
			}
			clear(batch)
			spare = batch[:0]
		}
	}
}

// tcpEcho writes back whatever it reads: the floor under any WebSocket server.
func tcpEcho(nc net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			if _, werr := nc.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
