package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmsock/wasmsock/host/internal/clock"
	"github.com/wasmsock/wasmsock/host/kv"
	"github.com/wasmsock/wasmsock/host/plugin/internal/loopcheck"
)

var randReader = rand.Reader

const (
	levelInfo  = slog.LevelInfo
	levelError = slog.LevelError
)

// Options configure a plugin.
type Options struct {
	Name         string
	Wasm         []byte        // the module's bytes
	Instances    int           // size of the instance pool; default 1
	CallTimeout  time.Duration // longest a guest call (or a guest's WASI sleep) may run; default 1s
	MemoryLimit  int64         // bytes of linear memory per instance; default 128 MiB
	Config       []byte        // handed to on_start (JSON); default "{}"
	MaxCrashes   int           // failures to bring an instance back tolerated within CrashWindow; default 5
	CrashWindow  time.Duration // default 1 minute
	Mailbox      int           // events queued per instance before senders wait; default 1024
	MailboxBytes int64         // payload bytes queued per instance before senders wait; default 16 MiB

	// CrashBackoff is how long a plugin in crash loop waits before booting again; it doubles on
	// each loop that follows within CrashWindow, up to CrashBackoffMax. Defaults 1s and 1m.
	CrashBackoff    time.Duration
	CrashBackoffMax time.Duration
	// MemoryRecycle, when positive, is the linear memory (bytes) past which an instance is
	// replaced by a fresh one between two events, its connections replayed as RESUMED.
	MemoryRecycle int64
	// LogLineBytes cuts longer log lines of the guest (default 4 KiB); LogLinesPerSecond bounds
	// them per plugin, with a burst of as many (default 100). Dropped lines are counted.
	LogLineBytes      int
	LogLinesPerSecond int
	// Bus is the plugin's event bus (ABI.md, "Bus"); nil: the bus functions return
	// abi.ErrUnavailable.
	Bus Bus
	// EventQueue is how many bus messages may wait per instance for on_event; more are dropped
	// and counted in Stats.EventsDropped. Default DefaultEventQueue, at most Mailbox/2.
	EventQueue int

	Host   Host
	Logger *slog.Logger
	// Cache is a compilation cache shared by plugins (so reloading or checking a module compiled
	// before is cheap); nil for none. A cache from OpenCache is checked and repaired.
	Cache wazero.CompilationCache
	// Observe, when set, is told how long every guest call took (for metrics).
	Observe func(event string, d time.Duration)
	// Clock is the time timers are armed and fired by; default time.Now.
	Clock func() time.Time
	// ManualTimers, when set, makes timers fire only when FireTimers is called, never by
	// themselves (for tests that drive time: plugintest).
	ManualTimers bool
	// KV is the plugin's shared store (kv_get, kv_set, kv_cas, kv_delete); nil: a new in-memory
	// store (kv.NewMemory) on Clock. The server passes the same store to every Plugin it loads
	// under one name, so a plugin loaded anew keeps its state.
	KV kv.Store

	noInline  bool // benchmarks: always hand events to the worker goroutine
	unbounded bool // benchmarks: no way to interrupt a call (compiled without termination checks)
}

// Stats are a plugin's counters.
type Stats struct {
	Faults          atomic.Int64 // traps, exits and timeouts
	Timeouts        atomic.Int64 // calls interrupted by CallTimeout
	Restarts        atomic.Int64 // guests replaced after a fault
	Recycles        atomic.Int64 // guests replaced because their memory passed MemoryRecycle
	CrashLoops      atomic.Int64 // times the plugin entered crash-loop backoff
	Reloads         atomic.Int64 // successful reloads
	ReloadFailures  atomic.Int64 // reloads refused (the old module kept serving)
	LogDropped      atomic.Int64 // guest log lines dropped by the rate limit
	PeakQueuedBytes atomic.Int64 // the most payload bytes an instance's mailbox has held
	Events          atomic.Int64 // bus events handed to on_event
	EventsDropped   atomic.Int64 // bus messages dropped: the instance's event queue was full, or the guest that subscribed is gone
}

// Verdict is what on_connect decided.
type Verdict struct {
	Code  int32 // the guest's return value
	Fault error // non-nil when the call failed (the connection must be refused)
}

// Accepted reports whether the connection may complete its handshake: on_connect returned 0, or a
// close code in 4000-4999 (the connection is upgraded, then closed with that code).
func (v Verdict) Accepted() bool {
	return v.Fault == nil && (v.Code == 0 || v.CloseCode() != 0)
}

// CloseCode is the close code on_connect asked for (4000-4999), or 0.
func (v Verdict) CloseCode() int {
	if v.Code >= 4000 && v.Code <= 4999 {
		return int(v.Code)
	}
	return 0
}

// Plugin is a loaded module with its pool of instances.
type Plugin struct {
	opts     Options
	host     Host
	log      *slog.Logger // tagged with the plugin name
	module   atomic.Pointer[module]
	pool     []*instance
	down     atomic.Bool // in crash-loop backoff
	stopping atomic.Bool // Close or Shutdown started: no more restarts
	stats    Stats
	logs     logLimiter

	crashMu      sync.Mutex
	crashes      []time.Time
	backoffUntil time.Time   // while down: when the next boot is tried
	streak       int         // crash loops in a row (each within CrashWindow of the last recovery)
	recoveredAt  time.Time   // when the plugin last came back from backoff
	retryTimer   *time.Timer // while down

	reloadMu   sync.Mutex // one reload at a time
	lastReload atomic.Pointer[ReloadResult]

	timers *timers     // armed timers (timers.go)
	attach attachments // the connections' attachments (attach.go)
	kv     kv.Store    // the shared store (Options.KV)

	stopWatchdog chan struct{}
	closeOnce    sync.Once
	// stopCtx is the parent of every guest's context: cancelling it (stopAll) interrupts every
	// call and boot at once, when a shutdown runs out of time.
	stopCtx context.Context
	stopAll context.CancelFunc
}

// ReloadResult is the outcome of the last reload.
type ReloadResult struct {
	At       time.Time
	OldHash  string
	NewHash  string
	Err      error // nil: the new module serves
	Duration time.Duration
}

func (o *Options) setDefaults() {
	if o.Instances <= 0 {
		o.Instances = 1
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = time.Second
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = 128 << 20
	}
	if o.MaxCrashes <= 0 {
		o.MaxCrashes = 5
	}
	if o.CrashWindow <= 0 {
		o.CrashWindow = time.Minute
	}
	if o.Mailbox <= 0 {
		o.Mailbox = 1024
	}
	if o.EventQueue <= 0 {
		o.EventQueue = DefaultEventQueue
	}
	o.EventQueue = max(1, min(o.EventQueue, o.Mailbox/2))
	if o.MailboxBytes <= 0 {
		o.MailboxBytes = 16 << 20
	}
	if o.CrashBackoff <= 0 {
		o.CrashBackoff = time.Second
	}
	if o.CrashBackoffMax < o.CrashBackoff {
		o.CrashBackoffMax = max(time.Minute, o.CrashBackoff)
	}
	if o.LogLineBytes <= 0 {
		o.LogLineBytes = 4 << 10
	}
	if o.LogLinesPerSecond <= 0 {
		o.LogLinesPerSecond = 100
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Load compiles and validates a module, then starts its instances. The error names every ABI
// violation, or the step that failed.
func Load(ctx context.Context, opts Options) (*Plugin, error) {
	opts.setDefaults()
	p := &Plugin{
		opts:         opts,
		host:         opts.Host,
		log:          opts.Logger.With("plugin", opts.Name),
		stopWatchdog: make(chan struct{}),
	}
	p.logs.init(opts.LogLinesPerSecond)
	p.stopCtx, p.stopAll = context.WithCancel(context.Background())
	m, err := p.compile(ctx, opts.Wasm)
	if err != nil {
		return nil, err
	}
	m.config = opts.Config
	p.module.Store(m)
	p.timers = newTimers(p, opts.Clock, opts.ManualTimers)
	if p.kv = opts.KV; p.kv == nil {
		p.kv = kv.NewMemory(opts.Clock, kv.Limits{})
	}
	// Every instance exists before the first guest boots: a guest's on_start may subscribe, and
	// deliveries go to its instance's mailbox.
	for i := 0; i < opts.Instances; i++ {
		p.pool = append(p.pool, newInstance(p, i))
	}
	for i, in := range p.pool {
		g, err := newGuest(p, m, i, &in.callStart)
		if err != nil {
			for _, in := range p.pool[:i] {
				in.g.close()
			}
			for _, in := range p.pool {
				close(in.done)
			}
			p.timers.close()
			m.close()
			return nil, err
		}
		in.use(g)
	}
	for _, in := range p.pool {
		go in.run()
	}
	go p.watchdog()
	return p, nil
}

// Check compiles and validates a module without running it.
func Check(ctx context.Context, wasm []byte, cache wazero.CompilationCache) error {
	p := &Plugin{opts: Options{Wasm: wasm, Cache: cache}}
	p.opts.setDefaults()
	p.log = p.opts.Logger
	m, err := p.compile(ctx, wasm)
	if err != nil {
		return err
	}
	m.close()
	return nil
}

// compile builds a module in a fresh runtime with the plugin's limits and validates it. A compile
// that fails on a bad compilation-cache entry is not the module's fault: the cache is checked (bad
// entries removed) and the module compiled again, or else compiled without the cache.
func (p *Plugin) compile(ctx context.Context, wasm []byte) (*module, error) {
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module (no \\0asm magic)")
	}
	cache := p.opts.Cache
	dc := diskCacheOf(cache)
	m, err := p.compileWith(ctx, wasm, cache)
	if err != nil && dc != nil && errors.Is(err, errCompile) {
		dc.verify()
		if m, err = p.compileWith(ctx, wasm, cache); err != nil && errors.Is(err, errCompile) {
			p.log.Warn("compilation cache unusable for this module: compiling without it", "error", err)
			m, err = p.compileWith(ctx, wasm, nil)
		}
	}
	if err == nil && dc != nil {
		dc.seal()
	}
	return m, err
}

// errCompile marks a failure of wazero's CompileModule.
var errCompile = errors.New("compile")

func (p *Plugin) compileWith(ctx context.Context, wasm []byte, cache wazero.CompilationCache) (*module, error) {
	// A call is interrupted through the stop flag the instrumentation adds (loopcheck); a module
	// it cannot instrument falls back to wazero's own mechanism, which costs a goroutine per call
	// and an exit to Go per loop iteration.
	if p.opts.unbounded {
		return p.compileCode(ctx, wasm, wasm, false, cache)
	}
	code, err := loopcheck.Instrument(wasm)
	if err == nil {
		m, err := p.compileCode(ctx, wasm, code, true, cache)
		if err == nil || !errors.Is(err, errCompile) {
			return m, err
		}
	}
	p.log.Warn("module not instrumented for call timeouts: using the runtime's slower interruption", "module", hashOf(wasm)[:12], "why", err)
	return p.compileCode(ctx, wasm, wasm, false, cache)
}

// compileCode compiles code, which is wasm instrumented with loopcheck when checked (else the
// runtime's termination checks are compiled in, unless the plugin is unbounded).
func (p *Plugin) compileCode(ctx context.Context, wasm, code []byte, checked bool, cache wazero.CompilationCache) (*module, error) {
	pages := uint32((p.opts.MemoryLimit + 65535) / 65536)
	hash := hashOf(wasm)
	cfg := wazero.NewRuntimeConfig().WithMemoryLimitPages(pages).WithCloseOnContextDone(!p.opts.unbounded && !checked)
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	m := &module{rt: wazero.NewRuntimeWithConfig(ctx, cfg), hash: hash, loadedAt: time.Now(), checked: checked}
	m.log = p.log.With("module", m.hash[:12])
	fail := func(err error) (*module, error) {
		m.close()
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
		return fail(fmt.Errorf("wasi: %w", err))
	}
	if err := instantiateHostModule(ctx, m.rt); err != nil {
		return fail(fmt.Errorf("host module: %w", err))
	}
	compiled, err := m.rt.CompileModule(ctx, code)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", errCompile, err))
	}
	m.compiled = compiled
	if err := validate(compiled); err != nil {
		return fail(err)
	}
	return m, nil
}

// Reload replaces the plugin's module with wasm, without dropping a connection. The new module is
// compiled, validated and started (every instance, with on_start) off the hot path; if any of that
// fails the old module keeps serving and Reload returns why. Otherwise each instance switches to
// the new module between two events and replays its connections to it as on_connect(RESUMED): no
// event is lost, duplicated or reordered. A disabled plugin is enabled again by a good reload.
func (p *Plugin) Reload(ctx context.Context, wasm []byte) (res ReloadResult) {
	return p.ReloadWith(ctx, wasm, p.Config())
}

// ReloadWith is Reload with a new config for on_start (JSON; nil for "{}"): the new module's
// instances start with it, and the connections are replayed to them, so every connection sees
// the new config from its next event on. A config that on_start refuses fails the reload like a
// broken module: the old module and config keep serving.
func (p *Plugin) ReloadWith(ctx context.Context, wasm, config []byte) (res ReloadResult) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	start := time.Now()
	res = ReloadResult{At: start, OldHash: p.Hash(), NewHash: hashOf(wasm)}
	defer func() {
		res.Duration = time.Since(start)
		if res.Err != nil {
			p.stats.ReloadFailures.Add(1)
		} else {
			p.stats.Reloads.Add(1)
		}
		p.lastReload.Store(&res)
	}()
	m, err := p.compile(ctx, wasm)
	if err != nil {
		res.Err = err
		return res
	}
	m.config = config
	guests := make([]*guest, len(p.pool))
	for i := range p.pool {
		// Booted with a clock of its own: the instance's belongs to the guest still serving.
		if guests[i], err = newGuest(p, m, i, new(atomic.Int64)); err != nil {
			for _, g := range guests[:i] {
				g.close()
			}
			m.close()
			res.Err = err
			return res
		}
	}
	old := p.module.Swap(m)
	p.crashMu.Lock()
	p.crashes = nil
	if p.retryTimer != nil {
		p.retryTimer.Stop()
	}
	p.down.Store(false)
	p.crashMu.Unlock()
	for i, in := range p.pool {
		done := make(chan struct{})
		if in.control(event{kind: evSwap, guest: guests[i], done: done}) {
			<-done
		} else {
			guests[i].close()
		}
	}
	old.close()
	return res
}

// HashOf is the hash Hash reports for a module's bytes: hex SHA-256.
func HashOf(wasm []byte) string { return hashOf(wasm) }

// Name is the plugin's name from the config.
func (p *Plugin) Name() string { return p.opts.Name }

// Hash is the hex SHA-256 of the module serving now.
func (p *Plugin) Hash() string { return p.module.Load().hash }

// Config is the config the serving module's instances started with.
func (p *Plugin) Config() []byte { return p.module.Load().config }

// LoadedAt is when the module serving now was loaded.
func (p *Plugin) LoadedAt() time.Time { return p.module.Load().loadedAt }

// LastReload is the outcome of the last reload, nil if there was none.
func (p *Plugin) LastReload() *ReloadResult { return p.lastReload.Load() }

// Instances is the size of the instance pool.
func (p *Plugin) Instances() int { return len(p.pool) }

// Stats returns the plugin's counters.
func (p *Plugin) Stats() *Stats { return &p.stats }

// Disabled reports whether the plugin is in crash-loop backoff: it refuses connections until a
// guest boots again (see BackoffUntil) or a reload brings a module that works.
func (p *Plugin) Disabled() bool { return p.down.Load() }

// BackoffUntil is when a plugin in crash-loop backoff tries to boot again; zero when it serves.
func (p *Plugin) BackoffUntil() time.Time {
	p.crashMu.Lock()
	defer p.crashMu.Unlock()
	if !p.down.Load() {
		return time.Time{}
	}
	return p.backoffUntil
}

// Queued returns the events and payload bytes waiting in the instances' mailboxes.
func (p *Plugin) Queued() (events, bytes int) {
	for _, in := range p.pool {
		in.mb.mu.Lock()
		events += in.mb.len()
		bytes += in.mb.bytes
		in.mb.mu.Unlock()
	}
	return events, bytes
}

func (p *Plugin) pick(conn uint64) *instance {
	return p.pool[conn%uint64(len(p.pool))]
}

// Connect calls on_connect for a new connection and waits for the verdict. flags is 0 or
// abi.FlagResumed.
func (p *Plugin) Connect(conn uint64, flags int32) Verdict {
	if p.down.Load() {
		return Verdict{Fault: errDisabled}
	}
	reply := make(chan Verdict, 1)
	p.pick(conn).deliver(event{kind: evConnect, conn: conn, arg: flags, reply: reply})
	return <-reply
}

// Message delivers a data message to on_message. It may run the guest on the caller's goroutine
// (when the instance is idle), and it waits while the instance's mailbox is full (in events or
// bytes), which slows the reading of the connection (TCP backpressure) instead of growing memory.
// data must not be modified afterwards.
func (p *Plugin) Message(conn uint64, kind int32, data []byte) {
	p.pick(conn).deliver(event{kind: evMessage, conn: conn, arg: kind, data: data})
}

// MessageFrom is Message for the goroutine that reads conn, caller: when the event runs on that
// goroutine (the instance was idle and nothing was queued), the guest's sends to conn go to
// caller.Reply, before MessageFrom returns, so the reader can write them once the call is over
// and the instance free for the other connections' events; when it runs on the instance's
// worker, they go to Host.Send like every other send.
func (p *Plugin) MessageFrom(conn uint64, kind int32, data []byte, caller Caller) {
	p.pick(conn).deliver(event{kind: evMessage, conn: conn, arg: kind, data: data, caller: caller})
}

// Offer is Message for a caller that must never block, such as a readiness-notification (epoll)
// worker serving many connections: it queues the message and returns true, or, when the
// instance's mailbox is full, returns false without queueing it. Then ready is called once, on
// another goroutine, when space has freed; the caller should stop reading the connection until
// then and offer the message again. ready must not block. A message is never run on the
// caller's goroutine. For one connection, deliver its messages and its Closed in order: do not
// call Closed while a refused message waits to be offered again.
func (p *Plugin) Offer(conn uint64, kind int32, data []byte, ready func()) bool {
	return p.pick(conn).offer(event{kind: evMessage, conn: conn, arg: kind, data: data}, ready)
}

// AfterEvents calls fn once the instance serving conn has handled every event delivered for conn
// before this call (and whatever the guest did while handling them): the host uses it to write a
// close frame after the replies to the messages that came before it. fn runs in the instance's
// turn (on its worker, or at once on the caller's goroutine when the instance is idle; also when
// the plugin is stopped) and must not block. Like Message, it waits only when the mailbox is full.
func (p *Plugin) AfterEvents(conn uint64, fn func()) {
	p.pick(conn).deliver(event{kind: evFunc, conn: conn, fn: fn})
}

// Closed delivers on_close for a connection that on_connect accepted; the plugin calls
// Host.Released once it is done with the connection.
func (p *Plugin) Closed(conn uint64, code int, reason string) {
	p.pick(conn).deliver(event{kind: evClose, conn: conn, arg: int32(code), data: []byte(reason)})
}

// Close stops the instances after they have handled every queued event (each call still bounded
// by CallTimeout).
func (p *Plugin) Close() { _ = p.Shutdown(context.Background()) }

// ShutdownReport says what a Shutdown cut short.
type ShutdownReport struct {
	Dropped     int // queued events that never ran
	Interrupted int // guest calls interrupted
}

// Shutdown stops the instances after they have handled every queued event, or, when ctx is done
// first, at once: queued events are dropped (connects refused, closes released) and running calls
// interrupted. It returns what was cut short; it returns when every instance has stopped, which
// after ctx is done takes no longer than an interrupted call needs to unwind.
func (p *Plugin) Shutdown(ctx context.Context) (rep ShutdownReport) {
	p.closeOnce.Do(func() {
		p.timers.close() // no timer is delivered to a stopping instance
		p.crashMu.Lock()
		if p.retryTimer != nil {
			p.retryTimer.Stop()
		}
		p.crashMu.Unlock()
		for _, in := range p.pool {
			in.control(event{kind: evStop})
		}
		for _, in := range p.pool {
			select {
			case <-in.done:
				continue
			case <-ctx.Done():
			}
			p.stopping.Store(true)
			for _, in := range p.pool {
				d, i := in.abort()
				rep.Dropped += d
				if i {
					rep.Interrupted++
				}
			}
			p.stopAll() // and any guest booting

			for _, in := range p.pool {
				<-in.done
			}
			break
		}
		p.stopping.Store(true)
		close(p.stopWatchdog) // only now: a call of the drain may still need interrupting
		p.stopAll()
		p.module.Load().close()
	})
	return rep
}

// timed calls fn on g and reports the call's duration to Options.Observe.
func (p *Plugin) timed(kind eventKind, g *guest, fn api.Function, conn uint64) error {
	err := g.call(fn, conn)
	if p.opts.Observe != nil {
		p.opts.Observe(kind.String(), time.Duration(clock.Now()-g.started))
	}
	return err
}

// recordCrash notes a failure to bring an instance back and reports whether the plugin is still
// within its crash budget.
func (p *Plugin) recordCrash() bool {
	p.crashMu.Lock()
	defer p.crashMu.Unlock()
	now := time.Now()
	keep := p.crashes[:0]
	for _, t := range p.crashes {
		if now.Sub(t) < p.opts.CrashWindow {
			keep = append(keep, t)
		}
	}
	p.crashes = append(keep, now)
	return len(p.crashes) <= p.opts.MaxCrashes
}

// trip puts the plugin in crash-loop backoff (or, when a retry failed, in a longer one) and
// schedules the next boot. It does nothing while a backoff is pending.
func (p *Plugin) trip() {
	p.crashMu.Lock()
	defer p.crashMu.Unlock()
	now := time.Now()
	if p.stopping.Load() || (p.down.Load() && now.Before(p.backoffUntil)) {
		return
	}
	if p.down.Load() || (!p.recoveredAt.IsZero() && now.Sub(p.recoveredAt) < p.opts.CrashWindow) {
		p.streak++
	} else {
		p.streak = 0
	}
	d := p.opts.CrashBackoff << min(p.streak, 20)
	if d <= 0 || d > p.opts.CrashBackoffMax {
		d = p.opts.CrashBackoffMax
	}
	p.backoffUntil = now.Add(d)
	p.down.Store(true)
	p.stats.CrashLoops.Add(1)
	p.retryTimer = time.AfterFunc(d, p.retry)
	p.module.Load().log.Error("plugin in crash loop: connections closed, new ones refused (503) until it boots again",
		"max_crashes", p.opts.MaxCrashes, "crash_window", p.opts.CrashWindow.String(),
		"retry_in", d.String(), "attempt", p.streak+1)
}

// retry ends a backoff: every instance without a guest boots one.
func (p *Plugin) retry() {
	p.crashMu.Lock()
	p.crashes = nil
	p.crashMu.Unlock()
	for _, in := range p.pool {
		in.control(event{kind: evRetry})
	}
}

// recovered ends the crash-loop state once a guest booted after a backoff.
func (p *Plugin) recovered() {
	p.crashMu.Lock()
	defer p.crashMu.Unlock()
	if p.down.CompareAndSwap(true, false) {
		p.recoveredAt = time.Now()
		p.module.Load().log.Info("plugin recovered from crash-loop backoff: serving again")
	}
}

// watchdog interrupts guest calls that run longer than CallTimeout. One goroutine per plugin
// polls the instances' call start times, so a call costs two atomic stores instead of a context
// with a timer of its own (see RATIONALE.md).
func (p *Plugin) watchdog() {
	tick := min(max(p.opts.CallTimeout/4, time.Millisecond), 100*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	limit := p.opts.CallTimeout.Nanoseconds()
	for {
		select {
		case <-p.stopWatchdog:
			return
		case <-t.C:
			now := clock.Now()
			for _, in := range p.pool {
				if start := in.callStart.Load(); start != 0 && now-start > limit {
					if c := in.cancel.Load(); c != nil {
						(*c)()
					}
				}
			}
		}
	}
}

// logWriter turns a guest's stdout or stderr into log lines, cut at Options.LogLineBytes (a line
// is never held whole: a guest writing 50 MB without a newline costs the host one cut line).
type logWriter struct {
	g     *guest
	level slog.Level
	buf   []byte
	cut   int // bytes of the current line beyond the limit
}

func (w *logWriter) Write(b []byte) (int, error) {
	n := len(b)
	limit := w.g.plugin.opts.LogLineBytes
	for len(b) > 0 {
		line, rest, eol := bytes.Cut(b, []byte{'\n'})
		room := max(limit-len(w.buf), 0)
		take := min(room, len(line))
		w.buf = append(w.buf, line[:take]...)
		w.cut += len(line) - take
		if !eol {
			break
		}
		w.g.guestLog(w.level, w.buf, w.cut)
		w.buf, w.cut = w.buf[:0], 0
		b = rest
	}
	return n, nil
}

// logLimiter is a token bucket of log lines shared by a plugin's instances.
type logLimiter struct {
	mu      sync.Mutex
	rate    float64
	tokens  float64
	last    time.Time
	dropped int64 // since the last report
}

func (l *logLimiter) init(perSecond int) {
	l.rate, l.tokens = float64(perSecond), float64(perSecond)
}

// allow takes a token; it returns whether the line may be logged and, if so, how many lines were
// dropped since the last line logged.
func (l *logLimiter) allow(now time.Time) (bool, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	d := l.dropped
	l.dropped = 0
	return true, d
}
