package host

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// writerPool writes connections' queues with a few goroutines shared by the whole process,
// instead of a goroutine started per burst of frames (at 10,000 members a broadcast started
// 10,000 goroutines). A connection with frames queued is put on the pool's list once (c.writing
// stays true until its queue is empty); a worker takes it and writes everything queued with
// non-blocking writev calls, so no worker ever waits on a socket: whatever a full socket does not
// take stays first in the queue and the connection goes to a goroutine of its own (writeLoop,
// which waits for the socket under the write deadline, as every connection did before). A
// connection refilled while it was being written goes to the back of the list, so one busy
// connection does not hold a worker, and its next visit coalesces what piled up meanwhile.
//
// One worker writes while the list is short, and more are woken only for a backlog longer than
// wakeBacklog: every extra worker visits each connection sooner, with fewer frames queued, so
// it costs more writes per frame (a broadcast to 1000 clients on 2 cores, BENCHMARKS.md: 0.034
// writev calls per delivery against 0.041 with both workers always woken, and a fifth more
// deliveries a second), and helps only to drain a burst faster (a broadcast to 10,000 members).
//
// Only connections with a descriptor (c.raw: plain TCP) on platforms with writevNonblock use it;
// TLS connections, and every connection elsewhere, keep a writer goroutine per burst.
type writerPool struct {
	mu      sync.Mutex
	cond    sync.Cond
	ready   []*Conn // connections with frames to write, in order, from ready[head]
	head    int     // how many at the front of ready workers have taken
	waiting int     // workers waiting on cond
	workers int     // workers in all
}

// wakeBacklog is the length of the list beyond which a second (third, ...) worker is woken.
const wakeBacklog = 1024

var (
	writersOnce sync.Once
	theWriters  *writerPool
)

// writers returns the process's writer pool, started on first use (nil where writes cannot be
// non-blocking).
func writers() *writerPool {
	writersOnce.Do(func() {
		if !haveWritev {
			return
		}
		p := &writerPool{workers: max(runtime.GOMAXPROCS(0), 2)}
		p.cond.L = &p.mu
		for range p.workers {
			go p.work()
		}
		theWriters = p
	})
	return theWriters
}

// push adds connections whose c.writing the caller set.
func (p *writerPool) push(cs ...*Conn) {
	p.mu.Lock()
	p.ready = append(p.ready, cs...)
	wake := p.wake(len(p.ready) - p.head)
	p.mu.Unlock()
	if wake {
		p.cond.Signal()
	}
}

// wake reports whether a waiting worker is to be woken for a list of backlog connections: when no
// worker is writing, or when the backlog is long enough for another one to help. p.mu is held.
func (p *writerPool) wake(backlog int) bool {
	return p.waiting > 0 && (p.waiting == p.workers || backlog > wakeBacklog)
}

// batchTake is how many connections a worker takes off the list at once.
const batchTake = 64

// take moves up to batchTake connections from the front of the list to mine, and reports how many
// are left. p.mu is held. Taking is O(batchTake): the list is compacted only when what was taken
// is at least what is left, so a broadcast's 10,000 connections are not shifted for every batch.
func (p *writerPool) take(mine []*Conn) ([]*Conn, int) {
	n := min(len(p.ready)-p.head, batchTake)
	mine = append(mine[:0], p.ready[p.head:p.head+n]...)
	clear(p.ready[p.head : p.head+n])
	p.head += n
	left := len(p.ready) - p.head
	if left == 0 || p.head >= left {
		copy(p.ready, p.ready[p.head:])
		clear(p.ready[left:])
		p.ready, p.head = p.ready[:left], 0
	}
	return mine, left
}

func (p *writerPool) work() {
	var iov []syscall.Iovec
	var mine []*Conn
	for {
		p.mu.Lock()
		for len(p.ready) == p.head {
			p.waiting++
			p.cond.Wait()
			p.waiting--
		}
		var left int
		mine, left = p.take(mine)
		if left > 0 && p.wake(left) {
			p.cond.Signal() // a backlog: another worker helps drain it
		}
		p.mu.Unlock()
		for i, c := range mine {
			iov = c.flushPooled(p, iov)
			mine[i] = nil
		}
	}
}

// writerStarts collects connections whose writer a caller must start (queueFrame said so) and
// hands them to the writer pool in batches: a broadcast takes the pool's lock once per batch
// instead of once per member, which the pool's workers take too. The batches grow from one
// connection to batchTake (1, 2, 4, ...), so that a worker gets its first connection at once and
// the next ones before it is done with it, rather than waiting for a batch of 64 to fill (which
// cost 8% of the broadcast rate at 1000 clients, BENCHMARKS.md).
// A connection the pool does not serve is started at once. flush hands over what is left; call
// it before returning.
type writerStarts struct {
	batch [batchTake]*Conn
	n     int
	size  int // the current batch's size: 0 (that is, 1) for the first
}

func (w *writerStarts) add(c *Conn) {
	if c.raw == nil || writers() == nil {
		c.startWriter()
		return
	}
	w.batch[w.n] = c
	w.n++
	if w.n >= w.size {
		w.flush()
		w.size = min(max(2*w.size, 2), batchTake)
	}
}

func (w *writerStarts) flush() {
	if w.n > 0 {
		writers().push(w.batch[:w.n]...)
		clear(w.batch[:w.n])
		w.n = 0
	}
}

// flushPooled writes c's queue without blocking (c.writing is true and c is the pool's). iov is
// the worker's scratch, returned for reuse.
func (c *Conn) flushPooled(p *writerPool, iov []syscall.Iovec) []syscall.Iovec {
	c.mu.Lock()
	if len(c.queue) == 0 || c.tcpClosed {
		c.endWriterLocked()
		return iov
	}
	batch := c.queue
	c.queue, c.spare = c.spare[:0], nil
	c.queued = 0
	c.mu.Unlock()

	rest, iov, err := writevNonblock(c.raw, batch, iov)
	if err != nil {
		clear(batch)
		c.writeFailed()
		c.mu.Lock()
		c.spare = batch[:0]
		c.endWriterLocked()
		return iov
	}
	c.mu.Lock()
	if len(rest) > 0 {
		// The socket is full: what it did not take goes first in the queue, and a goroutine of
		// the connection's own waits for the socket (under the write deadline).
		q := make([][]byte, 0, len(rest)+len(c.queue))
		q = append(q, rest...)
		for _, b := range rest {
			c.queued += len(b)
		}
		c.queue = append(q, c.queue...)
		c.mu.Unlock()
		clear(batch)
		go c.writeLoop()
		return iov
	}
	clear(batch)
	if c.spare == nil {
		c.spare = batch[:0]
	}
	if len(c.queue) > 0 && !c.tcpClosed {
		c.mu.Unlock()
		p.push(c) // refilled meanwhile: to the back of the list, and coalesced at the next visit
		return iov
	}
	c.endWriterLocked()
	return iov
}

// endWriterLocked ends a writer whose queue is empty (or whose socket is closed): c.mu is held and
// is released. A close the queue was waiting for happens now.
func (c *Conn) endWriterLocked() {
	c.writing = false
	closeNow := c.closeAfterFlush
	shut := c.shutAfterFlush && c.closeSent && !c.tcpClosed
	c.mu.Unlock()
	if closeNow {
		c.closeTCP()
	} else if shut {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
}

// startWriter hands c, whose c.writing the caller just set, to a writer: the pool when c's
// socket can be written without blocking, else a goroutine of its own.
func (c *Conn) startWriter() {
	if c.raw != nil {
		if p := writers(); p != nil {
			p.push(c)
			return
		}
	}
	go c.writeLoop()
}

// writerGoroutines counts writer goroutines started (writeLoop), for tests: with the pool, a
// broadcast to members whose sockets take it starts none.
var writerGoroutines atomic.Int64
