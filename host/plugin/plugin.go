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
)

var randReader = rand.Reader

const (
	levelInfo  = slog.LevelInfo
	levelError = slog.LevelError
)

// Options configure a plugin.
type Options struct {
	Name        string
	Wasm        []byte        // the module's bytes
	Instances   int           // size of the instance pool; default 1
	CallTimeout time.Duration // longest a guest call may run; default 1s
	MemoryLimit int64         // bytes of linear memory per instance; default 128 MiB
	Config      []byte        // handed to on_start (JSON); default "{}"
	MaxCrashes  int           // faults tolerated within CrashWindow before disabling; default 5
	CrashWindow time.Duration // default 1 minute
	Mailbox     int           // events queued per instance before senders wait; default 1024
	// Bus is the plugin's event bus (ABI.md, "Bus"); nil: the bus functions return
	// abi.ErrUnavailable.
	Bus Bus
	// EventQueue is how many bus messages may wait per instance for on_event; more are dropped
	// and counted in Stats.EventsDropped. Default DefaultEventQueue, at most Mailbox/2.
	EventQueue int

	Host   Host
	Logger *slog.Logger
	// Cache is a compilation cache shared by plugins (so reloading or checking a module compiled
	// before is cheap); nil for none.
	Cache wazero.CompilationCache
	// Observe, when set, is told how long every guest call took (for metrics).
	Observe func(event string, d time.Duration)
}

// Stats are a plugin's counters.
type Stats struct {
	Faults         atomic.Int64 // traps, exits and timeouts
	Timeouts       atomic.Int64 // calls interrupted by CallTimeout
	Restarts       atomic.Int64 // guests replaced after a fault
	Reloads        atomic.Int64 // successful reloads
	ReloadFailures atomic.Int64 // reloads refused (the old module kept serving)
	Events         atomic.Int64 // bus events handed to on_event
	EventsDropped  atomic.Int64 // bus messages dropped: the instance's event queue was full, or the guest that subscribed is gone
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
	disabled atomic.Bool
	stats    Stats

	crashMu sync.Mutex
	crashes []time.Time

	reloadMu   sync.Mutex // one reload at a time
	lastReload atomic.Pointer[ReloadResult]

	stopWatchdog chan struct{}
	closeOnce    sync.Once
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
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
	m, err := p.compile(ctx, opts.Wasm)
	if err != nil {
		return nil, err
	}
	m.config = opts.Config
	p.module.Store(m)
	// Every instance exists before the first guest boots: a guest's on_start may subscribe, and
	// deliveries go to its instance's mailbox.
	for i := 0; i < opts.Instances; i++ {
		p.pool = append(p.pool, &instance{plugin: p, index: i, mailbox: make(chan event, opts.Mailbox), done: make(chan struct{}), conns: map[uint64]struct{}{}})
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

// compile builds a module in a fresh runtime with the plugin's limits and validates it.
func (p *Plugin) compile(ctx context.Context, wasm []byte) (*module, error) {
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module (no \\0asm magic)")
	}
	pages := uint32((p.opts.MemoryLimit + 65535) / 65536)
	cfg := wazero.NewRuntimeConfig().WithMemoryLimitPages(pages).WithCloseOnContextDone(true)
	if p.opts.Cache != nil {
		cfg = cfg.WithCompilationCache(p.opts.Cache)
	}
	m := &module{rt: wazero.NewRuntimeWithConfig(ctx, cfg), hash: hashOf(wasm), loadedAt: time.Now()}
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
	compiled, err := m.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fail(fmt.Errorf("compile: %w", err))
	}
	if err := validate(compiled); err != nil {
		return fail(err)
	}
	m.compiled = compiled
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
	p.crashMu.Unlock()
	p.disabled.Store(false)
	for i, in := range p.pool {
		done := make(chan struct{})
		in.mailbox <- event{kind: evSwap, guest: guests[i], done: done}
		<-done
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

// Disabled reports whether the plugin was disabled after faulting too often.
func (p *Plugin) Disabled() bool { return p.disabled.Load() }

func (p *Plugin) pick(conn uint64) *instance {
	return p.pool[conn%uint64(len(p.pool))]
}

// Connect calls on_connect for a new connection and waits for the verdict. flags is 0 or
// abi.FlagResumed.
func (p *Plugin) Connect(conn uint64, flags int32) Verdict {
	if p.disabled.Load() {
		return Verdict{Fault: errDisabled}
	}
	reply := make(chan Verdict, 1)
	p.pick(conn).mailbox <- event{kind: evConnect, conn: conn, arg: flags, reply: reply}
	return <-reply
}

// Message delivers a data message to on_message. It waits only when the instance's mailbox is
// full, which slows the reading of the connection (TCP backpressure) instead of growing memory.
func (p *Plugin) Message(conn uint64, kind int32, data []byte) {
	p.pick(conn).mailbox <- event{kind: evMessage, conn: conn, arg: kind, data: data}
}

// AfterEvents calls fn once the instance serving conn has handled every event delivered for conn
// before this call (and whatever the guest did while handling them): the host uses it to write a
// close frame after the replies to the messages that came before it. fn runs on the instance's
// goroutine and must not block. Like Message, it waits only when the mailbox is full.
func (p *Plugin) AfterEvents(conn uint64, fn func()) {
	p.pick(conn).mailbox <- event{kind: evFunc, conn: conn, fn: fn}
}

// Closed delivers on_close for a connection that on_connect accepted; the plugin calls
// Host.Released once it is done with the connection.
func (p *Plugin) Closed(conn uint64, code int, reason string) {
	p.pick(conn).mailbox <- event{kind: evClose, conn: conn, arg: int32(code), data: []byte(reason)}
}

// Close stops the instances after they have handled every queued event.
func (p *Plugin) Close() {
	p.closeOnce.Do(func() {
		close(p.stopWatchdog)
		for _, in := range p.pool {
			in.mailbox <- event{kind: evStop}
		}
		for _, in := range p.pool {
			<-in.done
		}
		p.module.Load().close()
	})
}

// timed calls fn on g and reports the call's duration to Options.Observe.
func (p *Plugin) timed(kind eventKind, g *guest, fn api.Function, conn uint64) error {
	if p.opts.Observe == nil {
		return g.call(fn, conn)
	}
	start := time.Now()
	err := g.call(fn, conn)
	p.opts.Observe(kind.String(), time.Since(start))
	return err
}

// recordCrash notes a fault and reports whether the plugin is still within its crash budget.
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
		case now := <-t.C:
			for _, in := range p.pool {
				if start := in.callStart.Load(); start != 0 && now.UnixNano()-start > limit {
					if c := in.cancel.Load(); c != nil {
						(*c)()
					}
				}
			}
		}
	}
}

// logWriter turns a guest's stdout or stderr into log lines.
type logWriter struct {
	g     *guest
	level slog.Level
	buf   []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.g.log(w.level, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.g.log(w.level, string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
