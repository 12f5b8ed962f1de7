package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsock/wasmsock/abi"
)

type eventKind uint8

const (
	evConnect eventKind = iota
	evMessage
	evClose
	evBus   // a bus message or a request's answer: on_event
	evTimer // a timer is due: data is its name
	evSwap  // a reload: switch to a new guest
	evRetry // the crash-loop backoff is over: boot a guest again
	evStop
	evFunc // AfterEvents: call fn in mailbox order
)

// event is one thing for an instance to do, in mailbox order.
type event struct {
	kind  eventKind
	conn  uint64
	arg   int32 // connect: flags; message: kind; close: code
	data  []byte
	reply chan<- Verdict  // connect only
	guest *guest          // swap only
	done  chan<- struct{} // swap: closed when done; timer: closed once handled, if set
	bus   *busEvent       // bus only
	fn    func()          // evFunc only
	// caller (MessageFrom) is conn's reader, kept only while the event runs on its goroutine.
	caller Caller
}

// instance is a slot of the pool: it owns one guest at a time and hands it events in mailbox
// order. Whoever holds the mailbox's busy flag (the instance's worker goroutine, or a caller
// running an event inline) is the only one touching g and conns.
type instance struct {
	plugin *Plugin
	index  int
	mb     *mailbox
	done   chan struct{} // closed when the worker has stopped

	callStart atomic.Int64                       // of the running call, for the watchdog
	cancel    atomic.Pointer[context.CancelFunc] // interrupts the current guest
	busQueued atomic.Int64                       // bus messages in the mailbox (bounded by Options.EventQueue)

	g     *guest              // nil while the plugin is in crash-loop backoff
	conns map[uint64]struct{} // connections this instance accepted and has not yet seen close
}

var (
	// errDisabled is the fault a plugin in crash-loop backoff answers with.
	errDisabled = errors.New("plugin unavailable: crash-loop backoff")
	// errStopped is the fault a stopped plugin answers with.
	errStopped = errors.New("plugin stopped")
)

func newInstance(p *Plugin, index int) *instance {
	return &instance{plugin: p, index: index, mb: newMailbox(p.opts.Mailbox, int(p.opts.MailboxBytes), &p.stats.PeakQueuedBytes), done: make(chan struct{}), conns: map[uint64]struct{}{}}
}

// use makes g the instance's guest.
func (in *instance) use(g *guest) {
	in.g = g
	in.cancel.Store(&g.cancel)
}

// deliver hands ev to the instance. When the guest is idle and nothing is queued, ev runs at once
// on the caller's goroutine (no hand-off to the worker: the common case of an instance keeping
// up); else it is queued, and the caller waits while the mailbox is full (backpressure: a reader
// stops reading its connection).
func (in *instance) deliver(ev event) {
	mb := in.mb
	mb.mu.Lock()
	for {
		switch {
		case mb.closed:
			mb.mu.Unlock()
			in.drop(ev)
			return
		case !mb.busy && mb.len() == 0 && !in.plugin.opts.noInline:
			mb.busy = true
			mb.mu.Unlock()
			in.do(ev)
			in.release()
			return
		case mb.fits(len(ev.data)):
			ev.caller = nil // the worker runs it: its replies are sends like any other
			mb.push(ev)
			mb.mu.Unlock()
			return
		}
		w := make(chan struct{})
		mb.waiters = append(mb.waiters, w)
		mb.mu.Unlock()
		<-w
		mb.mu.Lock()
	}
}

// offer queues ev without blocking and reports true, or reports false when the mailbox is full;
// then ready, if not nil, is called once when space frees. An event offered to a stopped instance
// is dropped (and true returned: there is nothing to wait for).
func (in *instance) offer(ev event, ready func()) bool {
	mb := in.mb
	mb.mu.Lock()
	if mb.closed {
		mb.mu.Unlock()
		in.drop(ev)
		return true
	}
	if !mb.fits(len(ev.data)) {
		if ready != nil {
			mb.ready = append(mb.ready, ready)
		}
		mb.mu.Unlock()
		return false
	}
	mb.push(ev)
	mb.mu.Unlock()
	return true
}

// control queues a control event (swap, retry, stop) whatever the mailbox's bounds; it reports
// false when the instance has stopped.
func (in *instance) control(ev event) bool {
	mb := in.mb
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.closed {
		return false
	}
	mb.push(ev)
	return true
}

// release gives up the busy flag after an inline event and wakes the worker for what was queued
// meanwhile.
func (in *instance) release() {
	mb := in.mb
	mb.mu.Lock()
	mb.busy = false
	if mb.len() > 0 || mb.closed {
		mb.signal()
	}
	mb.mu.Unlock()
}

// run is the instance's worker goroutine: it handles queued events in order until evStop, or
// until the instance is aborted.
func (in *instance) run() {
	defer close(in.done)
	mb := in.mb
	for range mb.wake {
		for {
			mb.mu.Lock()
			if mb.busy || (mb.len() == 0 && !mb.closed) {
				mb.mu.Unlock()
				break
			}
			if mb.closed { // aborted: what was queued is already answered
				mb.busy = true
				mb.mu.Unlock()
				in.g.close()
				in.g = nil
				return
			}
			ev, waiters, ready := mb.pop()
			mb.busy = true
			mb.mu.Unlock()
			notify(waiters, ready)
			if ev.kind == evStop {
				in.stop()
				return
			}
			in.do(ev)
			mb.mu.Lock()
			mb.busy = false
			mb.mu.Unlock()
		}
	}
}

// stop closes the guest; events delivered from now on are answered as dropped.
func (in *instance) stop() {
	in.g.close()
	in.g = nil
	in.abort()
}

// abort stops the instance at once: queued events are answered as dropped (a connect is refused,
// a close released), senders waiting for space are let go, and a running call is interrupted. It
// returns the number of events dropped and whether a call was running.
func (in *instance) abort() (dropped int, interrupted bool) {
	mb := in.mb
	mb.mu.Lock()
	evs := mb.drain()
	waiters, ready := mb.takeWaiters()
	mb.closed = true
	interrupted = mb.busy && in.callStart.Load() != 0
	mb.signal()
	mb.mu.Unlock()
	notify(waiters, ready)
	if interrupted {
		if c := in.cancel.Load(); c != nil {
			(*c)()
		}
	}
	for _, ev := range evs {
		if ev.kind == evConnect || ev.kind == evMessage || ev.kind == evClose {
			dropped++
		}
		in.drop(ev)
	}
	return dropped, interrupted
}

// drop answers an event that will never run.
func (in *instance) drop(ev event) {
	switch ev.kind {
	case evConnect:
		ev.reply <- Verdict{Fault: errStopped}
	case evClose:
		in.plugin.host.Released(ev.conn)
	case evSwap:
		ev.guest.close()
		close(ev.done)
	case evFunc:
		ev.fn()
	case evTimer:
		if ev.done != nil {
			close(ev.done)
		}
	case evBus:
		if !ev.bus.done {
			in.busQueued.Add(-1)
		}
		in.plugin.stats.EventsDropped.Add(1)
	}
}

// do runs one event on the guest (the caller holds busy).
func (in *instance) do(ev event) {
	switch ev.kind {
	case evSwap:
		in.swap(ev.guest)
		close(ev.done)
	case evRetry:
		in.retry()
	case evFunc:
		ev.fn()
	default:
		in.handle(ev)
		in.maybeRecycle()
	}
}

func (in *instance) handle(ev event) {
	p := in.plugin
	if p.down.Load() && in.g != nil {
		in.idle("plugin unavailable") // another instance is in crash-loop backoff: this one stops too
	}
	if in.g == nil { // crash-loop backoff
		switch ev.kind {
		case evConnect:
			ev.reply <- Verdict{Fault: errDisabled}
		case evMessage:
			p.host.Close(ev.conn, ev.conn, 1011, "plugin unavailable")
		case evClose:
			p.release(ev.conn)
		case evBus:
			_ = in.handleBus(ev.bus)
		case evTimer:
			if ev.done != nil {
				close(ev.done)
			}
		}
		return
	}
	g := in.g
	var err error
	switch ev.kind {
	case evConnect:
		resumed := ev.arg&abi.FlagResumed != 0
		if resumed {
			g.setPayload(p.attach.get(ev.conn)) // a replayed connection's attachment
		}
		g.stack[0], g.stack[1] = ev.conn, uint64(uint32(ev.arg))
		err = p.timed(evConnect, g, g.fns.onConnect, ev.conn)
		g.clearPayload()
		v := Verdict{Fault: err}
		if err == nil {
			v.Code = int32(g.stack[0])
		}
		if resumed || v.Accepted() {
			in.conns[ev.conn] = struct{}{}
		} else {
			p.forget(ev.conn) // refused: what on_connect attached or armed ends with it
		}
		if ev.reply != nil {
			ev.reply <- v
		}
	case evMessage:
		if _, ok := in.conns[ev.conn]; !ok {
			return // a connection this instance no longer knows (closed after a fault)
		}
		g.setPayload(ev.data)
		g.caller = ev.caller
		g.stack[0], g.stack[1], g.stack[2] = ev.conn, uint64(uint32(ev.arg)), uint64(len(ev.data))
		err = p.timed(evMessage, g, g.fns.onMessage, ev.conn)
		g.caller = nil
		g.clearPayload()
	case evTimer:
		if ev.done != nil {
			defer close(ev.done)
		}
		if _, ok := in.conns[ev.conn]; (!ok && ev.conn != 0) || g.fns.onTimer == nil {
			return // its connection has ended, or the module serving now has no on_timer
		}
		g.setPayload(ev.data)
		g.stack[0], g.stack[1] = ev.conn, uint64(len(ev.data))
		err = p.timed(evTimer, g, g.fns.onTimer, ev.conn)
		g.clearPayload()
	case evClose:
		defer p.release(ev.conn)
		if _, ok := in.conns[ev.conn]; !ok {
			return // closed by a fault: this instance never saw it
		}
		delete(in.conns, ev.conn)
		g.setPayload(ev.data)
		g.stack[0], g.stack[1], g.stack[2] = ev.conn, uint64(uint32(ev.arg)), uint64(len(ev.data))
		err = p.timed(evClose, g, g.fns.onClose, ev.conn)
		g.clearPayload()
	case evBus:
		err = in.handleBus(ev.bus)
	}
	if err != nil {
		in.fault(ev, err)
	}
}

// fault handles a guest call that failed. The fault is the connection's whose event was running:
// that connection is closed with 1011 and the guest is replaced (the other connections are
// replayed to a fresh one). Such a fault does not count against the crash budget, so one client
// cannot take the plugin down for everyone; failing to bring a guest back does (see restart).
func (in *instance) fault(ev event, err error) {
	p := in.plugin
	if p.stopping.Load() {
		in.g.close() // interrupted by a shutdown
		in.g = nil
		return
	}
	p.stats.Faults.Add(1)
	if isTimeout(err) {
		p.stats.Timeouts.Add(1)
	}
	in.g.log(levelError, fmt.Sprintf("plugin fault in %s of conn %d: %s", ev.kind, ev.conn, describeFault(err)))
	if ev.kind != evClose && ev.conn != 0 {
		delete(in.conns, ev.conn)
		if ev.kind != evConnect || ev.arg&abi.FlagResumed != 0 {
			p.host.Close(ev.conn, ev.conn, 1011, "plugin error")
		}
	}
	in.restart(false)
}

// restart discards the guest and starts a fresh one from the current module, replaying every live
// connection to it as on_connect(RESUMED). counted says whether the failure that led here counts
// against the crash budget; every failure to boot or to replay does. When the budget is spent the
// plugin enters crash-loop backoff.
func (in *instance) restart(counted bool) {
	p := in.plugin
	for {
		in.g.close()
		in.g = nil
		if p.stopping.Load() {
			return
		}
		if counted && !p.recordCrash() {
			in.giveUp()
			return
		}
		counted = true
		g, err := newGuest(p, p.module.Load(), in.index, &in.callStart)
		if err != nil {
			p.stats.Faults.Add(1)
			p.module.Load().log.Error("plugin restart failed", "instance", in.index, "error", err)
			continue
		}
		in.use(g)
		p.stats.Restarts.Add(1)
		if in.replay() {
			g.log(levelInfo, fmt.Sprintf("instance replaced after a fault; %d connections resumed", len(in.conns)))
			return
		}
		if in.g == nil {
			return // gave up
		}
	}
}

// replay calls on_connect(RESUMED) on the current guest for every live connection. A connection
// whose replay faults is closed with 1011 and the fault counts against the crash budget; replay
// reports false when a fault ended the guest or spent the budget (then in.g is nil).
func (in *instance) replay() bool {
	p, g := in.plugin, in.g
	for conn := range in.conns {
		g.setPayload(p.attach.get(conn)) // the connection's attachment
		g.stack[0], g.stack[1] = conn, abi.FlagResumed
		err := p.timed(evConnect, g, g.fns.onConnect, conn)
		g.clearPayload()
		if err != nil {
			if p.stopping.Load() {
				return false
			}
			p.stats.Faults.Add(1)
			if isTimeout(err) {
				p.stats.Timeouts.Add(1)
			}
			g.log(levelError, fmt.Sprintf("plugin fault replaying conn %d: %s", conn, describeFault(err)))
			delete(in.conns, conn)
			p.host.Close(conn, conn, 1011, "plugin error")
			if !p.recordCrash() {
				in.giveUp()
				return false
			}
			if g.mod.IsClosed() {
				return false
			}
		}
	}
	return true
}

// swap switches to a guest of a newly loaded module (a reload): every live connection is
// replayed to it, then the old guest is closed. Events queued before the swap went to the old
// guest, events after it go to the new one: none is lost or reordered.
func (in *instance) swap(g *guest) {
	old := in.g
	g.callStart = &in.callStart
	in.use(g)
	if !in.replay() && in.g != nil {
		in.restart(true) // the new module faulted on replay; the crash budget applies
	}
	old.close()
}

// maybeRecycle replaces the guest with a fresh one, between two events, when its linear memory
// has grown past Options.MemoryRecycle (wasm memory never shrinks): the connections are replayed
// to the new guest as on_connect(RESUMED), as a reload does.
func (in *instance) maybeRecycle() {
	p := in.plugin
	limit := p.opts.MemoryRecycle
	if limit <= 0 || in.g == nil || in.g.mod.IsClosed() || p.stopping.Load() {
		return
	}
	mem := in.g.mod.Memory()
	if mem == nil || int64(mem.Size()) <= limit {
		return
	}
	size := mem.Size()
	g, err := newGuest(p, p.module.Load(), in.index, &in.callStart)
	if err != nil {
		in.g.log(levelError, fmt.Sprintf("memory recycle failed, keeping the instance: %v", err))
		return
	}
	old := in.g
	in.use(g)
	p.stats.Recycles.Add(1)
	if !in.replay() && in.g != nil {
		in.restart(true)
	}
	old.close()
	if in.g != nil {
		in.g.log(levelInfo, fmt.Sprintf("instance recycled: linear memory %d bytes > memory_recycle %d; %d connections resumed", size, limit, len(in.conns)))
	}
}

// giveUp puts the plugin in crash-loop backoff: every connection of this instance is closed with
// 1011 and the guest dropped; the plugin refuses new connections until the backoff has passed
// and a guest boots again (or a reload brings a module that works).
func (in *instance) giveUp() {
	in.plugin.trip()
	in.idle("plugin unavailable: crash loop")
}

// idle drops the guest and closes the instance's connections.
func (in *instance) idle(reason string) {
	p := in.plugin
	for conn := range in.conns {
		p.host.Close(conn, conn, 1011, reason)
	}
	clear(in.conns)
	in.g.close()
	in.g = nil
}

// retry boots a guest after the crash-loop backoff.
func (in *instance) retry() {
	p := in.plugin
	if in.g != nil || p.stopping.Load() {
		return
	}
	g, err := newGuest(p, p.module.Load(), in.index, &in.callStart)
	if err != nil {
		p.stats.Faults.Add(1)
		p.module.Load().log.Error("plugin still failing after crash-loop backoff", "instance", in.index, "error", err)
		p.trip()
		return
	}
	in.use(g)
	p.recovered()
}

func (k eventKind) String() string {
	switch k {
	case evConnect:
		return "on_connect"
	case evMessage:
		return "on_message"
	case evClose:
		return "on_close"
	case evBus:
		return "on_event"
	case evTimer:
		return "on_timer"
	case evSwap:
		return "swap"
	case evRetry:
		return "retry"
	}
	return "stop"
}

func isTimeout(err error) bool {
	var exit *sys.ExitError
	return errors.As(err, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled)
}

// describeFault says in one line why a guest call failed.
func describeFault(err error) string {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return "call timeout exceeded"
		}
		return fmt.Sprintf("module exited with code %d", exit.ExitCode())
	}
	return err.Error()
}
