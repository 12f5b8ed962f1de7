//go:build linux

package host

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller watches idle connections with one epoll instance for the whole process, so that an idle
// WebSocket connection holds no goroutine: its reader returns, the connection's descriptor is
// registered here (one-shot), and when bytes arrive (or the peer hangs up) a new goroutine runs
// the connection's read loop again until it is idle once more.
//
// The descriptor stays owned by Go's netpoller (reads, writes and deadlines go through the
// net.Conn as before); this epoll instance only watches it. The poller goroutine never runs
// connection code: it starts a goroutine per ready connection, so a plugin mailbox that is full
// (the read loop waits on it) never blocks the dispatch of other connections.
type poller struct {
	idle  time.Duration // how long a reader waits before parking its connection
	epfd  int
	mu    sync.Mutex
	conns map[uint64]*Conn // parked connections by token
}

var (
	pollOnce  sync.Once
	thePoller *poller
)

// netpoll returns the process's poller, started on first use; nil when epoll is not available or
// WASMSOCK_EPOLL=0 asks for a parked goroutine per connection instead. Both variables are read once.
func netpoll() *poller {
	pollOnce.Do(func() {
		if os.Getenv("WASMSOCK_EPOLL") == "0" {
			return
		}
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			slog.Warn("epoll unavailable: idle connections keep a goroutine each", "error", err)
			return
		}
		idle := idleAfter
		if v := os.Getenv("WASMSOCK_EPOLL_IDLE"); v != "" {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				idle = d
			} else {
				slog.Warn("WASMSOCK_EPOLL_IDLE is not a positive duration; using the default", "value", v, "default", idle)
			}
		}
		thePoller = &poller{idle: idle, epfd: fd, conns: map[uint64]*Conn{}}
		go thePoller.loop()
	})
	return thePoller
}

func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			// Not expected with a valid epoll descriptor; parked connections still end through
			// closeTCP (heartbeat, close timer, shutdown), which takes them back.
			slog.Error("epoll_wait failed: idle connections are no longer woken by their peers", "error", err)
			return
		}
		for _, ev := range events[:n] {
			if c := p.take(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32); c != nil {
				go c.run()
			}
		}
	}
}

// take removes a parked connection and returns it, or nil if it is not parked (anymore). Whoever
// takes a connection runs its read loop: exactly one of the epoll event, closeTCP and a failed
// park does.
func (p *poller) take(token uint64) *Conn {
	p.mu.Lock()
	c := p.conns[token]
	delete(p.conns, token)
	p.mu.Unlock()
	return c
}

// park registers c (idle: its reader holds no bytes and no frame in progress) for one readiness
// event. It reports false when c could not be parked and the caller must go on reading it.
// Called by the goroutine reading c, which must not touch the reader after a true return.
func (p *poller) park(c *Conn) bool {
	if p == nil || c.raw == nil || c.pollToken == 0 {
		return false
	}
	op := syscall.EPOLL_CTL_MOD
	if !c.pollAdded {
		op, c.pollAdded = syscall.EPOLL_CTL_ADD, true
	}
	tok := c.pollToken
	p.mu.Lock()
	p.conns[tok] = c
	p.mu.Unlock()
	// From here on c belongs to whoever takes it: no field of c is written below.
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(tok)),
		Pad:    int32(uint32(tok >> 32)),
	}
	var cerr error
	err := c.raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		switch {
		case op == syscall.EPOLL_CTL_MOD && errors.Is(cerr, syscall.ENOENT):
			cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		case op == syscall.EPOLL_CTL_ADD && errors.Is(cerr, syscall.EEXIST):
			cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		}
	})
	if err == nil && cerr == nil && !c.isTCPClosed() {
		return true
	}
	// Not registered (the socket is closed or epoll refused it), or closed meanwhile (its closer
	// may have looked for it before it was registered): read on here, unless another already took
	// it.
	return p.take(tok) == nil
}

// wake takes the connection of token back if it is parked and runs its read loop, which sees the closed socket and
// finishes the connection. closeTCP calls it: closing a descriptor removes it from epoll without
// an event.
func (p *poller) wake(token uint64) {
	if p == nil || token == 0 {
		return
	}
	if c := p.take(token); c != nil {
		go c.run()
	}
}
