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
	evBus  // a bus message or a request's answer: on_event
	evSwap // a reload: switch to a new guest
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
	done  chan<- struct{} // swap only
	bus   *busEvent       // bus only
	fn    func()          // evFunc only
}

// instance is a slot of the pool: a goroutine that owns one guest at a time and hands it events
// in mailbox order. Only that goroutine touches g and conns.
type instance struct {
	plugin  *Plugin
	index   int
	mailbox chan event
	done    chan struct{}

	callStart atomic.Int64                       // of the running call, for the watchdog
	cancel    atomic.Pointer[context.CancelFunc] // interrupts the current guest
	busQueued atomic.Int64                       // bus messages in the mailbox (bounded by Options.EventQueue)

	g     *guest              // nil while the plugin is disabled
	conns map[uint64]struct{} // connections this instance accepted and has not yet seen close
}

// errDisabled is the fault a disabled plugin answers with.
var errDisabled = errors.New("plugin disabled after repeated faults")

// use makes g the instance's guest.
func (in *instance) use(g *guest) {
	in.g = g
	in.cancel.Store(&g.cancel)
}

// run is the instance's goroutine: it handles events in mailbox order until evStop.
func (in *instance) run() {
	defer close(in.done)
	for ev := range in.mailbox {
		switch ev.kind {
		case evStop:
			in.g.close()
			return
		case evSwap:
			in.swap(ev.guest)
			close(ev.done)
		case evFunc:
			ev.fn()
		default:
			in.handle(ev)
		}
	}
}

func (in *instance) handle(ev event) {
	p := in.plugin
	if p.disabled.Load() && in.g != nil {
		in.disable() // another instance disabled the plugin: this one stops too
	}
	if in.g == nil { // disabled
		switch ev.kind {
		case evConnect:
			ev.reply <- Verdict{Fault: errDisabled}
		case evMessage:
			p.host.Close(ev.conn, ev.conn, 1011, "plugin disabled")
		case evClose:
			p.host.Released(ev.conn)
		case evBus:
			_ = in.handleBus(ev.bus)
		}
		return
	}
	g := in.g
	var err error
	switch ev.kind {
	case evConnect:
		g.stack[0], g.stack[1] = ev.conn, uint64(uint32(ev.arg))
		err = p.timed(evConnect, g, g.fns.onConnect, ev.conn)
		v := Verdict{Fault: err}
		if err == nil {
			v.Code = int32(g.stack[0])
		}
		if ev.arg&abi.FlagResumed != 0 || v.Accepted() {
			in.conns[ev.conn] = struct{}{}
		}
		if ev.reply != nil {
			ev.reply <- v
		}
	case evMessage:
		if _, ok := in.conns[ev.conn]; !ok {
			return // a connection this instance no longer knows (closed after a fault)
		}
		g.setPayload(ev.data)
		g.stack[0], g.stack[1], g.stack[2] = ev.conn, uint64(uint32(ev.arg)), uint64(len(ev.data))
		err = p.timed(evMessage, g, g.fns.onMessage, ev.conn)
		g.clearPayload()
	case evClose:
		defer p.host.Released(ev.conn)
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

// fault handles a guest call that failed: it closes the connection being handled, replaces the
// guest and replays the other connections to it, or disables the plugin when it faults too often.
func (in *instance) fault(ev event, err error) {
	p := in.plugin
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
	in.restart()
}

// restart discards the guest and starts a fresh one from the current module, replaying every live
// connection to it as on_connect(RESUMED), within the plugin's crash budget.
func (in *instance) restart() {
	p := in.plugin
	for {
		in.g.close()
		if !p.recordCrash() {
			in.disable()
			return
		}
		g, err := newGuest(p, p.module.Load(), in.index, &in.callStart)
		if err != nil {
			p.module.Load().log.Error("plugin restart failed", "instance", in.index, "error", err)
			continue
		}
		in.use(g)
		p.stats.Restarts.Add(1)
		if in.replay() {
			g.log(levelInfo, fmt.Sprintf("instance replaced after a fault; %d connections resumed", len(in.conns)))
			return
		}
	}
}

// replay calls on_connect(RESUMED) on the current guest for every live connection. A connection
// whose replay faults is closed with 1011; replay reports false when that ended the guest.
func (in *instance) replay() bool {
	p, g := in.plugin, in.g
	for conn := range in.conns {
		g.stack[0], g.stack[1] = conn, abi.FlagResumed
		if err := p.timed(evConnect, g, g.fns.onConnect, conn); err != nil {
			p.stats.Faults.Add(1)
			g.log(levelError, fmt.Sprintf("plugin fault replaying conn %d: %s", conn, describeFault(err)))
			delete(in.conns, conn)
			p.host.Close(conn, conn, 1011, "plugin error")
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
	if !in.replay() {
		in.restart() // the new module faulted on replay; restart budget applies
	}
	old.close()
}

// disable gives up on the plugin: every connection of this instance is closed and the plugin
// refuses new ones until a reload brings a module that works.
func (in *instance) disable() {
	p := in.plugin
	if p.disabled.CompareAndSwap(false, true) {
		p.module.Load().log.Error("plugin disabled: it faulted too often; fix it and reload",
			"max_crashes", p.opts.MaxCrashes, "window", p.opts.CrashWindow.String())
	}
	for conn := range in.conns {
		p.host.Close(conn, conn, 1011, "plugin disabled")
	}
	clear(in.conns)
	in.g = nil
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
	case evSwap:
		return "swap"
	case evFunc:
		return "after-events"
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
