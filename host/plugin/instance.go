package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsock/wasmsock/abi"
)

type eventKind uint8

const (
	evConnect eventKind = iota
	evMessage
	evClose
	evStop
)

// event is one thing for an instance to do, in mailbox order.
type event struct {
	kind  eventKind
	conn  uint64
	arg   int32 // connect: flags; message: kind; close: code
	data  []byte
	reply chan<- Verdict // connect only
}

// instance is one module instance and the goroutine that owns it. Only that goroutine touches the
// fields below mailbox; the host functions run on it too (they are called from inside the guest).
type instance struct {
	plugin  *Plugin
	index   int
	mailbox chan event
	done    chan struct{}

	// callStart is when the current guest call started (unix nanos), 0 between calls; read by the
	// watchdog.
	callStart atomic.Int64
	cancel    atomic.Pointer[context.CancelFunc]

	rt      wazero.Runtime
	mod     api.Module
	ctx     context.Context
	fns     guestFuncs
	stack   [4]uint64
	conns   map[uint64]struct{} // connections this instance has accepted and not yet seen close
	current uint64              // the connection whose event is being handled, 0 for none

	payload    []byte // bytes msg_read serves during the current event
	cursor     int
	hasPayload bool
}

type guestFuncs struct {
	onConnect, onMessage, onClose, onStart api.Function
}

// errDisabled is the fault a disabled plugin answers with.
var errDisabled = errors.New("plugin disabled after repeated faults")

// start creates the wasm instance and runs _initialize and on_start.
func (in *instance) start() error {
	p := in.plugin
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), instanceKey{}, in))
	in.ctx = ctx
	in.cancel.Store(&cancel)
	out := &logWriter{in: in, level: slog.LevelInfo}
	errOut := &logWriter{in: in, level: slog.LevelWarn}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out).WithStderr(errOut).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(randReader)
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	in.mod = mod
	in.fns = guestFuncs{
		onConnect: mod.ExportedFunction(abi.ExportOnConnect),
		onMessage: mod.ExportedFunction(abi.ExportOnMessage),
		onClose:   mod.ExportedFunction(abi.ExportOnClose),
		onStart:   mod.ExportedFunction(abi.ExportOnStart),
	}
	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if err := in.call(init, 0); err != nil {
			return fmt.Errorf("_initialize: %w", err)
		}
	}
	if in.fns.onStart != nil {
		in.setPayload(p.opts.Config)
		in.stack[0] = uint64(len(p.opts.Config))
		err := in.call(in.fns.onStart, 0)
		in.clearPayload()
		if err != nil {
			return fmt.Errorf("on_start: %w", err)
		}
		if rc := int32(in.stack[0]); rc != 0 {
			return fmt.Errorf("on_start returned %d: the plugin refused its config", rc)
		}
	}
	return nil
}

// call runs fn with in.stack as its parameters and results, timing it for the watchdog.
func (in *instance) call(fn api.Function, conn uint64) error {
	in.current = conn
	in.callStart.Store(time.Now().UnixNano())
	err := fn.CallWithStack(in.ctx, in.stack[:])
	in.callStart.Store(0)
	in.current = 0
	return err
}

func (in *instance) setPayload(b []byte) {
	in.payload, in.cursor, in.hasPayload = b, 0, true
}

func (in *instance) clearPayload() {
	in.payload, in.cursor, in.hasPayload = nil, 0, false
}

// run is the instance's goroutine: it handles events in mailbox order until evStop.
func (in *instance) run() {
	defer close(in.done)
	for ev := range in.mailbox {
		if ev.kind == evStop {
			in.closeModule()
			return
		}
		in.handle(ev)
	}
}

func (in *instance) handle(ev event) {
	p := in.plugin
	if p.disabled.Load() {
		switch ev.kind {
		case evConnect:
			ev.reply <- Verdict{Fault: errDisabled}
		case evMessage:
			p.host.Close(ev.conn, ev.conn, 1011, "plugin disabled")
		case evClose:
			p.host.Released(ev.conn)
		}
		return
	}
	var err error
	switch ev.kind {
	case evConnect:
		in.stack[0], in.stack[1] = ev.conn, uint64(uint32(ev.arg))
		err = in.call(in.fns.onConnect, ev.conn)
		v := Verdict{}
		if err != nil {
			v.Fault = err
		} else {
			v.Code = int32(in.stack[0])
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
		in.setPayload(ev.data)
		in.stack[0], in.stack[1], in.stack[2] = ev.conn, uint64(uint32(ev.arg)), uint64(len(ev.data))
		err = in.call(in.fns.onMessage, ev.conn)
		in.clearPayload()
	case evClose:
		defer p.host.Released(ev.conn)
		if _, ok := in.conns[ev.conn]; !ok {
			return // closed by a fault: this instance never saw it
		}
		delete(in.conns, ev.conn)
		in.setPayload(ev.data)
		in.stack[0], in.stack[1], in.stack[2] = ev.conn, uint64(uint32(ev.arg)), uint64(len(ev.data))
		err = in.call(in.fns.onClose, ev.conn)
		in.clearPayload()
	}
	if err != nil {
		in.fault(ev, err)
	}
}

// fault handles a guest call that failed: it closes the connection being handled, replaces the
// module instance and replays the others to it, or disables the plugin when it faults too often.
func (in *instance) fault(ev event, err error) {
	p := in.plugin
	reason := describeFault(err)
	p.stats.Faults.Add(1)
	if isTimeout(err) {
		p.stats.Timeouts.Add(1)
	}
	p.log.Error("plugin fault", "instance", in.index, "conn", ev.conn, "event", ev.kind.String(), "error", reason)
	if ev.kind != evClose && ev.conn != 0 {
		delete(in.conns, ev.conn)
		if ev.kind != evConnect || ev.arg&abi.FlagResumed != 0 {
			p.host.Close(ev.conn, ev.conn, 1011, "plugin error")
		}
	}
	in.replace()
}

// replace discards the module instance and starts a fresh one, replaying every live connection
// as on_connect(RESUMED). Faults during the replay close that connection and start over, within
// the plugin's crash budget.
func (in *instance) replace() {
	p := in.plugin
	for {
		if !p.recordCrash() {
			in.disable()
			return
		}
		in.closeModule()
		if err := in.start(); err != nil {
			p.log.Error("plugin restart failed", "instance", in.index, "error", err)
			continue
		}
		p.stats.Restarts.Add(1)
		ok := true
		for conn := range in.conns {
			in.stack[0], in.stack[1] = conn, abi.FlagResumed
			if err := in.call(in.fns.onConnect, conn); err != nil {
				p.log.Error("plugin fault during replay", "instance", in.index, "conn", conn, "error", describeFault(err))
				p.stats.Faults.Add(1)
				delete(in.conns, conn)
				p.host.Close(conn, conn, 1011, "plugin error")
				ok = false
				break
			}
		}
		if ok {
			p.log.Info("plugin instance replaced", "instance", in.index, "replayed", len(in.conns))
			return
		}
	}
}

// disable gives up on the plugin: every connection of this instance is closed and the plugin
// refuses new ones.
func (in *instance) disable() {
	p := in.plugin
	if p.disabled.CompareAndSwap(false, true) {
		p.log.Error("plugin disabled: it faulted too often", "max_crashes", p.opts.MaxCrashes, "window", p.opts.CrashWindow.String())
	}
	for conn := range in.conns {
		p.host.Close(conn, conn, 1011, "plugin disabled")
	}
	clear(in.conns)
	in.closeModule()
}

func (in *instance) closeModule() {
	if c := in.cancel.Load(); c != nil {
		(*c)()
	}
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
		in.mod = nil
	}
}

func (in *instance) log(level slog.Level, msg string) {
	attrs := []any{"instance", in.index}
	if in.current != 0 {
		attrs = append(attrs, "conn", in.current)
	}
	in.plugin.log.Log(context.Background(), level, msg, attrs...)
}

func (k eventKind) String() string {
	switch k {
	case evConnect:
		return "on_connect"
	case evMessage:
		return "on_message"
	case evClose:
		return "on_close"
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
