package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsock/wasmsock/host/plugin/internal/loopcheck"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/internal/clock"
)

// module is one compiled version of a plugin's code, in its own runtime (which carries the
// plugin's memory limit).
type module struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	hash     string // hex SHA-256 of the bytes
	loadedAt time.Time
	log      *slog.Logger // the plugin's logger, tagged with this module's hash
	checked  bool         // instrumented by loopcheck: guests stop through their stop flag
	config   []byte       // handed to on_start of every guest of this module (nil: "{}")
}

// close releases the module: its runtime, and its compiled code, which a shared compilation cache
// would otherwise keep for the life of the process (the cache counts users: code another plugin
// still runs stays).
func (m *module) close() {
	if m == nil {
		return
	}
	if m.rt != nil {
		_ = m.rt.Close(context.Background())
	}
	if m.compiled != nil {
		_ = m.compiled.Close(context.Background())
	}
}

// guest is one instantiation of a module, and the state its host functions see while it runs.
// An instance owns one guest at a time and replaces it after a fault or a reload.
type guest struct {
	plugin *Plugin
	m      *module
	index  int // of the instance that owns it
	mod    api.Module
	fns    guestFuncs
	ctx    context.Context // carries the guest to its host functions; cancelled to interrupt it
	cancel context.CancelFunc
	stack  [4]uint64

	// stop is the loopcheck flag of an instrumented module (nil otherwise): set when ctx is
	// cancelled, it makes the guest trap at its next loop iteration. stopMu orders setting it
	// with closing the module.
	stop    api.MutableGlobal
	stopMu  sync.Mutex
	stopped bool // the flag is set, or the module closed: nothing more to set

	// callStart is when the running call started (clock.Now), 0 between calls: the watchdog's
	// view. It is the owning instance's, so the watchdog needs no lock to follow guest changes.
	callStart *atomic.Int64
	started   int64 // when the last call started (clock.Now), for timing it

	current    uint64 // the connection whose event is being handled, 0 for none
	caller     Caller // current's reader, during a message event run on its goroutine (else nil)
	payload    []byte // what msg_read serves during the current event
	cursor     int
	hasPayload bool

	// During on_event: the host as seen from the event's namespace, and that namespace.
	scoped   Host
	scopedNS string
	bus      busState

	lastPresence presenceAnswer // of the running call (hostfuncs.go)
}

type guestFuncs struct {
	onConnect, onMessage, onClose, onStart, onEvent, onTimer api.Function
}

type guestKey struct{}

// guestContext is a guest's context: cancelled with the guest (the watchdog, an abort, a
// shutdown), and carrying the guest to the host functions, which find it with a type assertion
// (guestOf) rather than a lookup through the context chain on every call.
type guestContext struct {
	context.Context
	g *guest
}

func (c *guestContext) Value(key any) any {
	if key == (guestKey{}) {
		return c.g
	}
	return c.Context.Value(key)
}

// guestOf returns the guest whose call a host function serves (nil outside a guest's call).
func guestOf(ctx context.Context) *guest {
	if c, ok := ctx.(*guestContext); ok {
		return c.g
	}
	g, _ := ctx.Value(guestKey{}).(*guest)
	return g
}

// ErrConfigRefused is wrapped by the error of a plugin whose on_start returned non-zero.
var ErrConfigRefused = errors.New("the plugin refused its config")

// newGuest instantiates m and runs _initialize and on_start, all within the plugin's call
// timeout.
func newGuest(p *Plugin, m *module, index int, callStart *atomic.Int64) (*guest, error) {
	g := &guest{plugin: p, m: m, index: index, callStart: callStart}
	parent := p.stopCtx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	g.ctx, g.cancel = &guestContext{Context: ctx, g: g}, cancel
	timer := time.AfterFunc(p.opts.CallTimeout, g.cancel)
	err := g.boot(m)
	if !timer.Stop() && err == nil {
		err = fmt.Errorf("start-up exceeded call_timeout (%s)", p.opts.CallTimeout)
	}
	if err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

func (g *guest) boot(m *module) error {
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&logWriter{g: g, level: slog.LevelInfo}).
		WithStderr(&logWriter{g: g, level: slog.LevelWarn}).
		WithSysWalltime().WithSysNanotime().WithNanosleep(g.sleep).
		WithRandSource(randReader)
	mod, err := m.rt.InstantiateModule(g.ctx, m.compiled, cfg)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	g.mod = mod
	if m.checked {
		stop, ok := mod.ExportedGlobal(loopcheck.Export).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("instantiate: the stop flag %q is missing", loopcheck.Export)
		}
		g.stopMu.Lock()
		g.stop = stop
		g.stopMu.Unlock()
		// Cancelling ctx (the watchdog, the start-up timer, an abort, a shutdown) sets the flag:
		// one registration per guest, no goroutine per call.
		context.AfterFunc(g.ctx, g.halt)
	}
	g.fns = guestFuncs{
		onConnect: mod.ExportedFunction(abi.ExportOnConnect),
		onMessage: mod.ExportedFunction(abi.ExportOnMessage),
		onClose:   mod.ExportedFunction(abi.ExportOnClose),
		onStart:   mod.ExportedFunction(abi.ExportOnStart),
		onEvent:   mod.ExportedFunction(abi.ExportOnEvent),
		onTimer:   mod.ExportedFunction(abi.ExportOnTimer),
	}
	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if err := g.call(init, 0); err != nil {
			return fmt.Errorf("_initialize: %s", describeFault(err))
		}
	}
	if g.fns.onStart != nil {
		conf := m.config
		if conf == nil {
			conf = []byte("{}")
		}
		g.setPayload(conf)
		g.stack[0] = uint64(len(conf))
		err := g.call(g.fns.onStart, 0)
		g.clearPayload()
		if err != nil {
			return fmt.Errorf("on_start: %s", describeFault(err))
		}
		if rc := int32(g.stack[0]); rc != 0 {
			return fmt.Errorf("on_start returned %d: %w", rc, ErrConfigRefused)
		}
	}
	return nil
}

// errInterrupted is what a call of an instrumented guest interrupted by its context returns, as
// wazero's own interruption does.
var errInterrupted = sys.NewExitError(sys.ExitCodeContextCanceled)

// call runs fn with g.stack as its parameters and results.
func (g *guest) call(fn api.Function, conn uint64) error {
	g.current = conn
	g.started = clock.Now()
	g.callStart.Store(g.started)
	err := fn.CallWithStack(g.ctx, g.stack[:])
	g.callStart.Store(0)
	g.current = 0
	if g.lastPresence.call != 0 {
		g.lastPresence = presenceAnswer{} // a member list is not kept past its call
	}
	if g.stop != nil && g.ctx.Err() != nil {
		// Interrupted (the trap of the loop check), or about to be: a guest whose flag is set
		// traps at its next loop, so even a call that returned in time is the one that ran out
		// of time, and the guest is done.
		return errInterrupted
	}
	return err
}

// halt sets the stop flag of an instrumented guest.
func (g *guest) halt() {
	g.stopMu.Lock()
	defer g.stopMu.Unlock()
	if g.stop != nil && !g.stopped {
		g.stopped = true
		g.stop.Set(1)
	}
}

// sleep is the guest's WASI sleep (poll_oneoff on a clock): it ends early when the guest is
// interrupted, so a sleeping call is bounded by CallTimeout like a running one.
func (g *guest) sleep(ns int64) {
	if ns <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ns))
	select {
	case <-t.C:
	case <-g.ctx.Done():
		t.Stop()
	}
}

func (g *guest) setPayload(b []byte) { g.payload, g.cursor, g.hasPayload = b, 0, true }

func (g *guest) clearPayload() { g.payload, g.cursor, g.hasPayload = nil, 0, false }

func (g *guest) close() {
	if g == nil {
		return
	}
	g.cancel()
	g.closeBus()
	g.stopMu.Lock()
	g.stopped = true // the flag of a closed module is not touched
	g.stopMu.Unlock()
	if g.mod != nil {
		_ = g.mod.Close(context.Background())
	}
}

// log writes a line of the host's about this guest.
func (g *guest) log(level slog.Level, msg string) {
	g.m.log.Log(context.Background(), level, msg, g.attrs()...)
}

func (g *guest) attrs() []any {
	attrs := []any{"instance", g.index}
	if g.current != 0 {
		attrs = append(attrs, "conn", g.current)
	}
	return attrs
}

// guestLog writes a line the guest logged (the log host function, stdout, stderr): cut to
// Options.LogLineBytes and rate-limited per plugin to Options.LogLinesPerSecond, the dropped lines
// counted (Stats.LogDropped) and reported with the next line that passes. cut is the number of
// bytes already cut off msg.
func (g *guest) guestLog(level slog.Level, msg []byte, cut int) {
	p := g.plugin
	if !g.m.log.Enabled(context.Background(), level) {
		return
	}
	ok, dropped := p.logs.allow(time.Now())
	if !ok {
		p.stats.LogDropped.Add(1)
		return
	}
	if dropped > 0 {
		g.m.log.Warn("plugin log lines dropped: more than log_lines_per_second", "dropped", dropped)
	}
	if limit := p.opts.LogLineBytes; len(msg) > limit {
		cut += len(msg) - limit
		msg = msg[:limit]
	}
	attrs := g.attrs()
	if cut > 0 {
		attrs = append(attrs, "cut_bytes", cut)
	}
	g.m.log.Log(context.Background(), level, strings.ToValidUTF8(string(msg), "\uFFFD"), attrs...)
}

func hashOf(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}
