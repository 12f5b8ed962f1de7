package host

import (
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/internal/clock"
	"github.com/wasmsock/wasmsock/host/internal/wsproto"
)

// idleAfter is how long a connection's reader goroutine waits for the next frame before it parks
// the connection with the poller and ends. Busy connections keep their goroutine (no epoll call
// and no goroutine start per message); the read deadline this needs is moved once per idleAfter/2.
// WASMSOCK_EPOLL_IDLE (a Go duration) changes it, for tests that park connections between frames.
const idleAfter = time.Second

// pollTokens numbers the connections a poller watches (unique in the process).
var pollTokens atomic.Uint64

// pingFrame is shared by every connection: frames are immutable once built.
var pingFrame = wsproto.Frame(wsproto.OpPing, nil)

// Conn is one WebSocket connection.
//
// Reading happens on one goroutine at a time, the only one that delivers the connection's events to
// the plugin, so they arrive in order: first the one that accepted the connection. On Linux, a
// connection idle for idleAfter (no bytes buffered, no frame in progress), or idle right after a
// heartbeat's ping or pong, gives its goroutine up and is parked with the poller (poll_linux.go),
// which starts a new reading goroutine when bytes arrive; elsewhere, or with WASMSOCK_EPOLL=0, the
// goroutine waits in its read. Frames are written by the reader (a reply after the guest call, a
// pong), by the writer pool (writers.go), or by a goroutine of the connection's own while its
// socket is full.
type Conn struct {
	id    uint64
	srv   *Server
	route *route
	nc    net.Conn
	raw   syscall.RawConn // nc's descriptor, for writes that must not block; nil without one

	// Handshake facts, fixed after the upgrade.
	path        string
	rawQuery    string
	query       url.Values // the parsed query, for the handshake only (nil after it)
	headers     []string   // name (lower case), value, name, value, ...
	subprotocol string
	deflate     bool // permessage-deflate negotiated
	deflateRefs bool // and the client allows back-references (a 32 KiB server window)
	counted     bool // counted against the connection limits (released by finish)
	unsettled   bool // the reader handed the plugin a message since the last settle
	// holdsPlugin: counted as a user of its route's plugin (released by finish), which a config
	// reload that retires the plugin waits for before stopping it.
	holdsPlugin bool
	pollAdded   bool // registered with poll's epoll instance; reader goroutine only
	remoteAddr  string
	ip          string // the client's IP, for per-IP limits
	host        string // the Host header
	user        string
	namespace   string
	ms          hub.Memberships // guarded by the hub

	rejected  string       // why the handshake was refused (a metric label)
	accepted  atomic.Bool  // on_connect accepted: on_close is owed
	finished  atomic.Bool  // finish ran
	msgBucket bucket       // the message rate limit; used by the reader only
	lastRead  atomic.Int64 // clock.Now of the last frame from the peer
	pingSent  atomic.Int64 // clock.Now of the last ping without a frame read since, 0 for none
	hb        *time.Timer
	expires   int64       // unix nanos when the token stops being valid (close_on_expiry); 0: never
	expiry    *time.Timer // closes the connection at expires (guard.go)

	// rd reads the connection's frames; nil while the connection is parked (a parked connection
	// keeps no reader: the goroutine that takes it back makes a new one). Reader goroutine only.
	rd        *wsproto.Reader
	poll      *poller // parks the connection while idle; nil: the reader goroutine waits instead (c.mu)
	pollToken uint64  // the connection's key in poll, fixed before the first read (c.mu)

	mu              sync.Mutex
	deferred        bool     // a reply is queued for the reader to write after the call (writing is set)
	queue           [][]byte // frames waiting for the writer
	spare           [][]byte // the writer's previous batch, reused
	queued          int      // bytes in queue
	upgraded        bool     // the 101 is written: the writer may run
	writing         bool     // a writer goroutine is running
	closeSent       bool     // a close frame is queued: nothing more may be queued
	closeAfterFlush bool     // close the TCP connection once the queue is written
	shutAfterFlush  bool     // half-close (shut down writing) once the close frame is written
	tcpClosed       bool
	closeCode       int // the code we sent, when we started the closing handshake
	closeReason     string
	closeTimer      *time.Timer
	writeDeadline   int64 // the socket's write deadline, unix nanos (0: none); only the one writing touches it
}

// writeMode says who writes a frame that finds nothing queued and no writer running.
type writeMode uint8

const (
	// viaWriters: the writer pool (a goroutine of the connection's own for TLS and elsewhere),
	// which coalesces the frames of many messages into one writev: broadcasts, and every send
	// made by a goroutine holding the instance for another reason than the reader's own message
	// (its worker, on_connect, a timer), which must not wait on a socket.
	viaWriters writeMode = iota
	// byReaderNow: the reader at once, with one non-blocking write (a pong); only what the socket
	// does not take goes to a writer. It saves a hand-off.
	byReaderNow
	// byReaderAfterCall: the reader, once the guest call running its message has returned
	// (flushDeferred): a plugin's reply (Reply, during a call on the reader's goroutine), written
	// without holding the instance for a syscall.
	byReaderAfterCall
)

// enqueue adds a frame to the outbound queue and starts the writer if needed (see writeMode). It
// never blocks: a connection whose queue is full is a slow consumer and is closed with 1008.
func (c *Conn) enqueue(frame []byte, how writeMode) abi.Status {
	st, start := c.queueFrame(frame, how)
	if start {
		c.startWriter()
	}
	return st
}

// queueFrame is enqueue without starting the writer: it reports whether the caller must start it
// (c.writing is set for it), which fanOut does for many connections at once.
func (c *Conn) queueFrame(frame []byte, how writeMode) (abi.Status, bool) {
	c.mu.Lock()
	if c.closeSent {
		c.mu.Unlock()
		return abi.ErrClosed, false
	}
	r := c.route
	if len(c.queue) >= r.cfg.QueueMessages || c.queued+len(frame) > int(r.cfg.QueueBytes) {
		c.mu.Unlock()
		c.route.m.slowConsumers.Inc()
		c.logger().Warn("slow consumer: outbound queue full, closing", "queued_messages", len(c.queue), "queued_bytes", c.queued)
		c.startClose(wsproto.ClosePolicyViolation, "slow consumer: outbound queue full", true)
		return abi.ErrClosed, false
	}
	if how != viaWriters && c.upgraded && c.raw != nil && !c.writing && !c.tcpClosed {
		c.writing = true // others queue behind this write
		if how == byReaderAfterCall {
			c.deferred = true
			c.queue = append(c.queue, frame)
			c.queued += len(frame)
			c.mu.Unlock()
			return abi.OK, false
		}
		c.mu.Unlock()
		c.writeNow(frame)
		return abi.OK, false
	}
	start := c.pushLocked(frame)
	c.mu.Unlock()
	return abi.OK, start
}

// writeNow writes frame with one non-blocking write, the caller holding the writer's role
// (c.writing set by it, c.mu not held): what the socket does not take goes first in the queue, to
// a writer goroutine, which also runs when frames were queued meanwhile or a close is pending.
func (c *Conn) writeNow(frame []byte) {
	n, err := tryWrite(c.raw, frame)
	c.mu.Lock()
	if err != nil {
		c.writing = false
		c.mu.Unlock()
		c.writeFailed() // as a queued frame whose write fails: the reader ends the connection
		return
	}
	if n < len(frame) {
		// The socket is full: the rest goes first in the queue, to the writer.
		c.queue = append(c.queue, nil)
		copy(c.queue[1:], c.queue)
		c.queue[0] = frame[n:]
		c.queued += len(frame) - n
	}
	start := len(c.queue) > 0 || c.closeAfterFlush || c.shutAfterFlush
	if !start {
		c.writing = false
	}
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// flushDeferred writes what replies the plugin sent during a call on the reader's goroutine
// (enqueue left them queued, holding the writer's role for the reader). Reader goroutine only,
// after the call.
func (c *Conn) flushDeferred() {
	c.mu.Lock()
	if !c.deferred {
		c.mu.Unlock()
		return
	}
	c.deferred = false
	if len(c.queue) == 1 && !c.tcpClosed {
		frame := c.queue[0]
		c.queue[0] = nil
		c.queue, c.queued = c.queue[:0], 0
		c.mu.Unlock()
		c.writeNow(frame)
		return
	}
	c.mu.Unlock()
	c.startWriter() // several frames (one writev), or a closed socket: the writer's job
}

// pushLocked appends frame to the queue (c.mu held) and reports whether the caller must start the
// writer once it has unlocked.
func (c *Conn) pushLocked(frame []byte) bool {
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	if c.upgraded && !c.writing {
		c.writing = true
		return true
	}
	return false
}

// startClose queues a close frame and starts the closing handshake: the peer has close_timeout to
// answer before the TCP connection is dropped. With dropQueue, frames still queued are discarded
// (a slow consumer would never read them). It does nothing and returns false if a close frame
// was already queued.
func (c *Conn) startClose(code int, reason string, dropQueue bool) bool {
	return c.queueClose(code, reason, dropQueue, false)
}

// queueClose is startClose; with shut, the writer half-closes the connection (shuts down writing)
// once the close frame is written, for a reader that will only drain what the peer still sends.
func (c *Conn) queueClose(code int, reason string, dropQueue, shut bool) bool {
	c.mu.Lock()
	if c.closeSent {
		c.mu.Unlock()
		return false
	}
	c.closeSent = true
	c.shutAfterFlush = shut
	c.closeCode, c.closeReason = code, wsproto.TruncateReason(reason)
	if dropQueue {
		clear(c.queue)
		c.queue, c.queued = c.queue[:0], 0
	}
	c.closeTimer = time.AfterFunc(c.route.cfg.CloseTimeout.D, c.closeTCP)
	start := c.pushLocked(wsproto.CloseFrame(code, reason))
	c.mu.Unlock()
	if start {
		c.startWriter()
	}
	return true
}

// settle waits until the plugin has handled every message this reader handed it, so that what
// it sends in answer is queued before whatever the reader queues next (a close frame): a reply is
// never lost to, or written after, a close that followed its message. Reader goroutine only.
func (c *Conn) settle() {
	if !c.unsettled {
		return
	}
	c.unsettled = false
	done := make(chan struct{})
	c.route.plugin.AfterEvents(c.id, func() { close(done) })
	<-done
}

// failClose answers a peer that broke the protocol (or sent a message over the limit): after the
// replies to its earlier messages, a close frame with code, then a half-close, and the reader
// discards what the peer still sends until it closes its side or close_timeout passes (RFC 6455
// §7.1.1). Closing at once with unread bytes would make the kernel send a reset, which can
// destroy the close frame before the peer reads it.
func (c *Conn) failClose(code int, reason string) {
	c.settle()
	c.queueClose(code, reason, false, true)
	_ = c.nc.SetReadDeadline(time.Time{}) // the close timer bounds the wait
	var buf [2048]byte
	for {
		if _, err := c.nc.Read(buf[:]); err != nil {
			break
		}
	}
	c.closeTCP()
}

// isClosing reports whether a close frame has been queued.
func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeSent
}

// answerClose replies to the peer's close frame (echoing its code, RFC 6455 §5.5.1) and closes the
// TCP connection once the reply is written. It reports the close code of the connection.
func (c *Conn) answerClose(payload []byte) (int, string) {
	code, reason := wsproto.ParseClose(payload)
	c.mu.Lock()
	if c.closeSent {
		// The peer answered our close: the handshake is complete.
		code, reason = c.closeCode, c.closeReason
		c.mu.Unlock()
		c.closeTCP()
		return code, reason
	}
	c.closeSent = true
	c.closeCode, c.closeReason = code, reason
	c.closeAfterFlush = true
	c.closeTimer = time.AfterFunc(c.route.cfg.CloseTimeout.D, c.closeTCP)
	start := c.pushLocked(wsproto.CloseFrame(code, ""))
	c.mu.Unlock()
	if start {
		c.startWriter() // else the running writer sends it, then closes the connection
	}
	return code, reason
}

func (c *Conn) closeTCP() {
	c.mu.Lock()
	done := c.tcpClosed
	c.tcpClosed = true
	if c.closeTimer != nil {
		c.closeTimer.Stop()
	}
	poll, token := c.poll, c.pollToken
	c.mu.Unlock()
	if !done {
		_ = c.nc.Close()
		// A parked connection gets no event for its closed descriptor: its read loop runs now,
		// sees the closed socket and finishes the connection.
		poll.wake(token)
	}
}

func (c *Conn) isTCPClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tcpClosed
}

// writeLoop writes queued frames until the queue is empty, each batch with one writev, waiting
// for the socket when it is full. It runs on a goroutine of its own: for a connection the writer
// pool cannot take (TLS, or no non-blocking writev on the platform), and for one whose socket
// was full.
func (c *Conn) writeLoop() {
	writerGoroutines.Add(1)
	timeout := c.route.cfg.CloseTimeout.D
	// With the writer pool, the deadline is lifted when this writer ends: the pool's
	// non-blocking writes would otherwise stop at it once it has passed.
	pooled := c.raw != nil && writers() != nil
	var written [][]byte // the batch just written: its array becomes the next queue
	for {
		c.mu.Lock()
		if written != nil {
			c.spare, written = written[:0], nil
		}
		if len(c.queue) == 0 || c.tcpClosed {
			if pooled && c.writeDeadline != 0 && !c.tcpClosed {
				c.writeDeadline = 0
				_ = c.nc.SetWriteDeadline(time.Time{})
			}
			c.endWriterLocked()
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.queued = 0
		c.mu.Unlock()

		// The deadline bounds how long a peer that stops reading holds the writer; it is moved
		// when half of it has passed rather than for every batch (a timer update each time).
		// Without the writer pool it outlives the writer goroutine: the next burst's writer
		// finds it set.
		if now := time.Now(); time.Duration(c.writeDeadline-now.UnixNano()) < timeout/2 {
			d := now.Add(timeout)
			c.writeDeadline = d.UnixNano()
			_ = c.nc.SetWriteDeadline(d)
		}
		bufs := net.Buffers(batch)
		_, err := bufs.WriteTo(c.nc)
		clear(batch)
		written = batch
		if err != nil {
			c.writeFailed()
		}
	}
}

// writeFailed ends a connection whose socket refused a write: nothing more is queued, and the
// reader sees the closed socket and finishes the connection.
func (c *Conn) writeFailed() {
	c.mu.Lock()
	c.closeSent = true
	clear(c.queue)
	c.queue, c.queued = c.queue[:0], 0
	c.mu.Unlock()
	c.closeTCP()
}

// logger is the connection's logger: the server's, with the connection's id and route. It is
// made when something is logged rather than kept (a JSON handler with attributes costs about
// 200 bytes, which an idle connection would hold for nothing).
func (c *Conn) logger() *slog.Logger {
	return c.srv.log.With("conn", c.id, "route", c.route.cfg.Path)
}

// idleReaders keeps the readers of parked connections for the next connection that wakes up, so
// that the heartbeat's ping and pong, which wake every idle connection once per ping_interval,
// leave no garbage behind (a reader is about 450 bytes; at 19,000 idle connections and the default
// interval, 280 KB a second that would keep the heap growing towards its next collection).
var idleReaders = sync.Pool{New: func() any { return new(wsproto.Reader) }}

// newReader returns a reader of the connection's frames, set up for its route.
func (c *Conn) newReader() *wsproto.Reader {
	r := c.route
	rd := idleReaders.Get().(*wsproto.Reader)
	rd.Reset(c.nc, int64(r.cfg.MaxMessageBytes))
	rd.SetDeflate(c.deflate)
	rd.SetFrameTimeout(r.cfg.PongTimeout.D)
	rd.SetProgress(c.alive)
	if c.poll != nil {
		rd.SetIdleTimeout(c.poll.idle)
	}
	return rd
}

// serve runs the read loop until the connection ends, then delivers on_close. With a poller, the
// calling goroutine returns once the connection is idle and parked, and others read it later.
func (c *Conn) serve(rd *wsproto.Reader) {
	c.rd = rd
	if c.raw != nil {
		if p := netpoll(); p != nil {
			c.mu.Lock() // closeTCP, on any goroutine, reads them
			c.poll, c.pollToken = p, pollTokens.Add(1)
			c.mu.Unlock()
			rd.SetIdleTimeout(p.idle)
		}
	}
	c.lastRead.Store(clock.Now())
	c.srv.handlers.Add(1) // the connection counts for Shutdown until it is finished, parked or not
	c.startHeartbeat()
	c.startExpiry()
	c.run()
}

// run reads the connection until it ends (then delivers on_close) or is parked idle with the
// poller. One goroutine at a time runs it.
func (c *Conn) run() {
	for {
		if c.rd == nil {
			c.rd = c.newReader()
		}
		code, reason, idle := c.readLoop(c.rd)
		if idle {
			// A parked connection keeps no reader (about 450 bytes: the reader is idle, with no
			// bytes buffered and no frame in progress, so nothing is lost); the goroutine that
			// takes the connection back takes one from idleReaders.
			rd := c.rd
			c.rd = nil
			if c.poll.park(c) {
				rd.Reset(nil, 0)
				idleReaders.Put(rd)
				return
			}
			c.rd = rd
			continue
		}
		c.finish(code, reason)
		c.srv.handlers.Done()
		return
	}
}

// readLoop reads and delivers frames until the connection ends (returning its close code) or, with
// a poller, until the reader has waited idleAfter for a frame (idle true).
func (c *Conn) readLoop(rd *wsproto.Reader) (code int, reason string, idle bool) {
	for {
		m, err := rd.Next()
		if err != nil {
			if err == wsproto.ErrIdle {
				return 0, "", true
			}
			var ce *wsproto.CloseError
			if errors.As(err, &ce) {
				c.srv.metrics.protocolError(ce.Code)
				c.logger().Debug("protocol error", "code", ce.Code, "reason", ce.Reason)
				c.failClose(ce.Code, ce.Reason)
				return ce.Code, ce.Reason, false
			}
			c.mu.Lock()
			sent, code, reason := c.closeSent, c.closeCode, c.closeReason
			c.mu.Unlock()
			c.closeTCP()
			if sent && code != 0 {
				return code, reason, false // we closed; the peer or our close timer dropped TCP
			}
			return wsproto.CloseAbnormal, "", false
		}
		now := clock.Now()
		c.lastRead.Store(now)
		c.pingSent.Store(0)
		switch m.Op {
		case wsproto.OpText, wsproto.OpBinary:
			c.route.m.messagesIn.Inc()
			c.route.m.bytesIn.Add(float64(len(m.Payload)))
			if c.route.cfg.Mode == config.ModeSendOnly {
				c.settle()
				c.startClose(wsproto.CloseUnsupportedData, "this endpoint does not accept messages", false)
				continue
			}
			if c.isClosing() {
				continue // data after our close frame is discarded (RFC 6455 §1.4)
			}
			if !c.allowMessage(now) {
				// Start the closing handshake and keep reading (discarding data) until the peer
				// answers or close_timeout passes, so the close frame is not lost to a reset.
				c.srv.metrics.rateLimited.Inc()
				c.logger().Info("message rate limit exceeded: closing")
				c.settle()
				c.startClose(wsproto.ClosePolicyViolation, "message rate limit exceeded", false)
				continue
			}
			c.unsettled = true
			c.route.plugin.MessageFrom(c.id, int32(m.Op), m.Payload, c)
			c.flushDeferred()
		case wsproto.OpPing, wsproto.OpPong:
			// Heartbeat bookkeeping is done above for every frame.
			if m.Op == wsproto.OpPing {
				c.enqueue(wsproto.Frame(wsproto.OpPong, m.Payload), byReaderNow)
			}
			// A heartbeat is no sign of traffic (our ping woke an idle connection, or the peer
			// keeps it alive): park at once rather than keep a goroutine and a reader waiting
			// idleAfter for data that is not coming.
			if c.poll != nil && rd.Idle() {
				return 0, "", true
			}
		case wsproto.OpClose:
			c.settle() // the payload stays valid: nothing is read meanwhile
			code, reason := c.answerClose(m.Payload)
			return code, reason, false
		}
	}
}

// alive records that bytes came from the peer: the heartbeat counts them as an answer, so a
// message streaming in for longer than ping_interval + pong_timeout is not taken for a dead peer.
func (c *Conn) alive() {
	c.lastRead.Store(clock.Now())
	c.pingSent.Store(0)
}

// startHeartbeat pings an idle peer every ping_interval and drops it when nothing comes back within
// pong_timeout.
func (c *Conn) startHeartbeat() {
	interval := c.route.cfg.PingInterval.D
	if interval <= 0 {
		return
	}
	c.mu.Lock()
	c.hb = time.AfterFunc(interval, c.heartbeat)
	c.mu.Unlock()
}

func (c *Conn) heartbeat() {
	cfg := c.route.cfg
	now := clock.Now()
	next := cfg.PingInterval.D
	if sent := c.pingSent.Load(); sent != 0 {
		if time.Duration(now-sent) >= cfg.PongTimeout.D {
			c.srv.metrics.pingTimeouts.Inc()
			c.logger().Debug("no pong within pong_timeout, dropping connection")
			c.closeTCP()
			return
		}
		next = cfg.PongTimeout.D - time.Duration(now-sent)
	} else if idle := time.Duration(now - c.lastRead.Load()); idle >= cfg.PingInterval.D {
		c.pingSent.Store(now)
		if c.enqueue(pingFrame, viaWriters) != abi.OK {
			return
		}
		next = cfg.PongTimeout.D
	} else {
		next = cfg.PingInterval.D - idle
	}
	c.mu.Lock()
	if !c.tcpClosed {
		c.hb.Reset(next)
	}
	c.mu.Unlock()
}

// finish ends the connection exactly once: it leaves its groups and the plugin gets on_close;
// the id stays known (for sends, which fail with ErrClosed) until on_close has returned.
func (c *Conn) finish(code int, reason string) {
	if !c.finished.CompareAndSwap(false, true) {
		return
	}
	c.settle() // replies to earlier messages may still go out (a peer that only shut down writing)
	c.mu.Lock()
	if c.hb != nil {
		c.hb.Stop()
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.closeSent = true // from now on sends and joins fail with ErrClosed, whoever closed
	c.mu.Unlock()
	c.srv.hub.LeaveAll(c)
	if c.counted {
		c.srv.limits.release(c.ip)
	}
	c.mu.Lock()
	upgraded := c.upgraded
	c.mu.Unlock()
	if upgraded {
		c.route.m.connections.Dec()
		c.route.m.open.Add(-1)
	}
	if c.accepted.Load() {
		c.route.plugin.Closed(c.id, code, reason)
	} else {
		c.srv.hub.Remove(c)
	}
	if c.holdsPlugin {
		c.route.plugin.release() // after on_close is queued: a retired plugin stops after it
	}
	c.logger().Debug("connection closed", "code", code, "reason", reason)
}

// ID, Namespace and Memberships make a Conn a hub.Member.
func (c *Conn) ID() uint64                    { return c.id }
func (c *Conn) Namespace() string             { return c.namespace }
func (c *Conn) Memberships() *hub.Memberships { return &c.ms }

// get answers conn_get.
func (c *Conn) get(key string) (string, abi.Status) {
	switch key {
	case "route":
		return c.route.cfg.Path, abi.OK
	case "path":
		return c.path, abi.OK
	case "query":
		return c.rawQuery, abi.OK
	case "remote_addr":
		return c.remoteAddr, abi.OK
	case "subprotocol":
		if c.subprotocol == "" {
			return "", abi.ErrNotFound
		}
		return c.subprotocol, abi.OK
	case "namespace":
		return c.namespace, abi.OK
	case "user":
		if c.user == "" {
			return "", abi.ErrNotFound
		}
		return c.user, abi.OK
	}
	if name, ok := strings.CutPrefix(key, "query."); ok {
		// Parsed again for each lookup: a connection keeps only the raw query (the map made
		// for the handshake is dropped after it), since plugins ask rarely.
		q, _ := url.ParseQuery(c.rawQuery)
		if vs, ok := q[name]; ok && len(vs) > 0 {
			return vs[0], abi.OK
		}
		return "", abi.ErrNotFound
	}
	if name, ok := strings.CutPrefix(key, "header."); ok {
		if v, ok := c.header(name); ok {
			return v, abi.OK
		}
		return "", abi.ErrNotFound
	}
	return "", abi.ErrNotFound
}

func (c *Conn) header(name string) (string, bool) {
	for i := 0; i+1 < len(c.headers); i += 2 {
		if strings.EqualFold(c.headers[i], name) {
			return c.headers[i+1], true
		}
	}
	return "", false
}

// frames builds a data message's frames once for any number of connections: plain, and
// compressed for connections that negotiated permessage-deflate (compressed only when first asked
// for, and only for payloads worth it), with or without back-references as the connection's
// window allows.
type frames struct {
	op                 byte
	data               []byte
	plain, def, noRefs []byte
}

func (f *frames) forConn(c *Conn) []byte {
	if c.deflate && len(f.data) >= wsproto.CompressMinBytes {
		if !c.deflateRefs {
			if f.noRefs == nil {
				f.noRefs = wsproto.CompressedFrameNoRefs(f.op, f.data)
			}
			return f.noRefs
		}
		if f.def == nil {
			f.def = wsproto.CompressedFrame(f.op, f.data)
		}
		return f.def
	}
	if f.plain == nil {
		f.plain = wsproto.Frame(f.op, f.data)
	}
	return f.plain
}

// canReceive reports whether a data message of n bytes may be sent to c, or why not.
func (c *Conn) canReceive(n int) abi.Status {
	switch {
	case c.route.cfg.Mode == config.ModeReceiveOnly:
		return abi.ErrForbidden
	case int64(n) > int64(c.route.cfg.MaxMessageBytes):
		return abi.ErrTooLarge
	}
	return abi.OK
}
