package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

var randReader = rand.Reader

// Options configure a plugin.
type Options struct {
	Name        string
	Wasm        []byte        // the module's bytes
	Instances   int           // size of the instance pool; default 1
	CallTimeout time.Duration // longest a guest call may run; default 1s
	MemoryLimit int64         // bytes of linear memory per instance; default 128 MiB
	Config      []byte        // handed to on_start (JSON); nil for none
	MaxCrashes  int           // faults tolerated within CrashWindow before disabling; default 5
	CrashWindow time.Duration // default 1 minute
	Mailbox     int           // events queued per instance before senders wait; default 1024

	Host   Host
	Logger *slog.Logger
	// Cache is a compilation cache shared by plugins (so reloading or checking a module compiled
	// before is cheap); nil for none.
	Cache wazero.CompilationCache
}

// Stats are a plugin's counters.
type Stats struct {
	Faults   atomic.Int64 // traps, exits and timeouts
	Timeouts atomic.Int64 // calls interrupted by CallTimeout
	Restarts atomic.Int64 // instances replaced after a fault
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
	Hash     string // hex SHA-256 of the module bytes
	host     Host
	log      *slog.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	pool     []*instance
	disabled atomic.Bool
	stats    Stats

	crashMu sync.Mutex
	crashes []time.Time

	stopWatchdog chan struct{}
	closeOnce    sync.Once
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
	sum := sha256.Sum256(opts.Wasm)
	p.Hash = hex.EncodeToString(sum[:])
	p.log = p.log.With("module", p.Hash[:12])

	if err := p.compile(ctx); err != nil {
		return nil, err
	}
	for i := 0; i < opts.Instances; i++ {
		in := &instance{plugin: p, index: i, mailbox: make(chan event, opts.Mailbox), done: make(chan struct{}), conns: map[uint64]struct{}{}}
		if err := in.start(); err != nil {
			p.Close()
			return nil, fmt.Errorf("plugin %s: %w", opts.Name, err)
		}
		p.pool = append(p.pool, in)
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
	if err := p.compile(ctx); err != nil {
		return err
	}
	return p.rt.Close(ctx)
}

func (p *Plugin) compile(ctx context.Context) error {
	if !bytes.HasPrefix(p.opts.Wasm, []byte("\x00asm")) {
		return errors.New("not a WebAssembly module (no \\0asm magic)")
	}
	pages := uint32((p.opts.MemoryLimit + 65535) / 65536)
	cfg := wazero.NewRuntimeConfig().WithMemoryLimitPages(pages).WithCloseOnContextDone(true)
	if p.opts.Cache != nil {
		cfg = cfg.WithCompilationCache(p.opts.Cache)
	}
	p.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	fail := func(err error) error {
		_ = p.rt.Close(ctx)
		return err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fail(fmt.Errorf("wasi: %w", err))
	}
	if err := instantiateHostModule(ctx, p.rt); err != nil {
		return fail(fmt.Errorf("host module: %w", err))
	}
	compiled, err := p.rt.CompileModule(ctx, p.opts.Wasm)
	if err != nil {
		return fail(fmt.Errorf("compile: %w", err))
	}
	if err := validate(compiled); err != nil {
		return fail(err)
	}
	p.compiled = compiled
	return nil
}

// Name is the plugin's name from the config.
func (p *Plugin) Name() string { return p.opts.Name }

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

// Closed delivers on_close for a connection that on_connect accepted.
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
		if p.rt != nil {
			_ = p.rt.Close(context.Background())
		}
	})
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
// with a timer (see RATIONALE.md).
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
	in    *instance
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
		w.in.log(w.level, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.in.log(w.level, string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
