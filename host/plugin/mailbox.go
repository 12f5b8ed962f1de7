package plugin

import (
	"sync"
	"sync/atomic"
)

// mailbox is an instance's queue of events: FIFO, bounded in events and in bytes of payload (a
// message's data, a close reason), so a stalled guest holds at most Options.Mailbox events and
// Options.MailboxBytes bytes however fast its clients send. One event is always admitted into an
// empty mailbox, whatever its size (else a message larger than the byte bound would never pass).
//
// It also decides who calls the guest: busy is held by whoever does (the instance's worker
// goroutine, or a caller running an event inline, see instance.deliver), so calls into one guest
// are never concurrent, and an event runs inline only when the mailbox is empty and the guest
// idle, so events still run in the order they were delivered.
type mailbox struct {
	mu        sync.Mutex
	q         []event
	head      int // q[head:] are queued
	bytes     int // payload bytes queued
	maxEvents int
	maxBytes  int
	busy      bool // the guest is being called
	closed    bool // the instance stopped: events are answered as dropped, nobody waits

	wake    chan struct{}   // capacity 1: there may be work for the worker
	waiters []chan struct{} // blocked senders, told when space frees
	ready   []func()        // non-blocking senders, told once when space frees

	peak *atomic.Int64 // the plugin's high-water mark of queued bytes (Stats.PeakQueuedBytes)
}

func newMailbox(maxEvents, maxBytes int, peak *atomic.Int64) *mailbox {
	return &mailbox{maxEvents: maxEvents, maxBytes: maxBytes, wake: make(chan struct{}, 1), peak: peak}
}

func (mb *mailbox) len() int { return len(mb.q) - mb.head }

// fits reports whether an event of n payload bytes may be queued now (mu held).
func (mb *mailbox) fits(n int) bool {
	l := mb.len()
	return l == 0 || (l < mb.maxEvents && mb.bytes+n <= mb.maxBytes)
}

// push queues ev (mu held) and wakes the worker.
func (mb *mailbox) push(ev event) {
	mb.q = append(mb.q, ev)
	mb.bytes += len(ev.data)
	for n := int64(mb.bytes); ; {
		old := mb.peak.Load()
		if n <= old || mb.peak.CompareAndSwap(old, n) {
			break
		}
	}
	mb.signal()
}

func (mb *mailbox) signal() {
	select {
	case mb.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest event (mu held) and returns the senders to tell that space freed, to be
// told once mu is released.
func (mb *mailbox) pop() (event, []chan struct{}, []func()) {
	ev := mb.q[mb.head]
	mb.q[mb.head] = event{}
	mb.head++
	mb.bytes -= len(ev.data)
	if mb.head == len(mb.q) {
		mb.q, mb.head = mb.q[:0], 0
	} else if mb.head > 64 && mb.head > len(mb.q)/2 {
		n := copy(mb.q, mb.q[mb.head:])
		clear(mb.q[n:])
		mb.q, mb.head = mb.q[:n], 0
	}
	waiters, ready := mb.takeWaiters()
	return ev, waiters, ready
}

// takeWaiters detaches every waiting sender (mu held).
func (mb *mailbox) takeWaiters() ([]chan struct{}, []func()) {
	if len(mb.waiters) == 0 && len(mb.ready) == 0 {
		return nil, nil
	}
	w, r := mb.waiters, mb.ready
	mb.waiters, mb.ready = nil, nil
	return w, r
}

// drain removes every queued event (mu held).
func (mb *mailbox) drain() []event {
	evs := append([]event(nil), mb.q[mb.head:]...)
	clear(mb.q)
	mb.q, mb.head, mb.bytes = mb.q[:0], 0, 0
	return evs
}

func notify(waiters []chan struct{}, ready []func()) {
	for _, w := range waiters {
		close(w)
	}
	for _, f := range ready {
		f()
	}
}
