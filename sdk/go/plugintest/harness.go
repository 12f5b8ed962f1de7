package plugintest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/kv"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// Options configure a [Harness]. The zero value is the server's defaults (one instance, 128 MiB
// of memory, the config "{}"), except for the call timeout.
type Options struct {
	// Config is the plugin's configuration, a JSON object, handed to on_start (in the server it
	// is the plugin's config table from host.toml). nil means "{}".
	Config []byte
	// Instances is the size of the instance pool (default 1). Connections are pinned to an
	// instance by id, as in the server, so with more than one a test sees how the plugin copes
	// with state split between instances.
	Instances int
	// CallTimeout is the longest one call into the plugin may run; a longer call is a fault. It
	// also bounds each instance's start-up (instantiation, _initialize, on_start). The default
	// is DefaultCallTimeout, longer than the server's 1s: a test binary built with -race, on a
	// busy machine, can take most of a second just to start a Go plugin. To test that the
	// plugin is fast enough, set it to the call_timeout of your host.toml.
	CallTimeout time.Duration
	// MemoryLimit is the most linear memory an instance may have, in bytes (default 128 MiB).
	MemoryLimit int64
	// Logger, when set, also receives the plugin's log lines (its log calls, stdout and stderr,
	// and the runtime's reports of faults). [Harness.Logs] has them either way.
	Logger *slog.Logger
}

// Harness is a loaded plugin and the fake host it runs against. Its methods may be called from
// several goroutines; the events they deliver are handled one at a time, in call order.
type Harness struct {
	p    *plugin.Plugin
	logs *logStore

	// ops serializes the operations that drive the plugin (Connect, Send, Close, Reload...):
	// each waits until the plugin has handled its events before the next starts.
	ops sync.Mutex

	// mu guards everything below. The plugin's instances call the host methods (host.go) from
	// their own goroutines, so the host state is locked; no lock is held while calling the
	// plugin.
	mu          sync.Mutex
	closed      bool
	conns       map[uint64]*Conn         // open for the plugin: fresh on_connect to Released
	groups      *hub.Hub[*member]        // the server's groups (host/hub), as the server runs them
	pending     []*Conn                  // closing; their on_close is still to be delivered
	barriers    map[uint64]chan struct{} // barrier ids not yet released (see barrier)
	waitLimit   time.Duration            // the longest a barrier waits (see barrier)
	nextID      uint64                   // the last connection id given out
	nextBarrier uint64                   // where the next barrier ids start
	broadcasts  []Broadcast
	clock       time.Time // the plugin's clock (see Advance)

	kv *kv.Memory // the plugin's shared store, on the harness's clock (see KV)
}

// Broadcast is a successful broadcast call by the plugin, as the host saw it.
type Broadcast struct {
	Namespace string // the namespace the group was looked up in
	Group     string
	Message   Message
	Except    uint64 // the connection left out, 0 for none
	Count     int    // how many connections the message was queued to
}

// ErrHarnessClosed is returned by the methods of a Harness after Close.
var ErrHarnessClosed = errors.New("plugintest: harness is closed")

// CacheEnv names the environment variable that gives harnesses a directory to keep compiled
// modules in across test runs, so that a module is compiled once, not in every run: a Go plugin
// takes seconds to compile, tens of seconds under -race. Unset (or "off"), compiled code is kept
// in memory, for the test process only. Entries are keyed by the module's bytes and wazero's
// version and checked against a checksum when read (as the host's compilation_cache is), but a
// test binary does not know wazero's version (wazero then says "dev"): empty the directory when
// you upgrade wazero.
const CacheEnv = "WASMSOCK_PLUGINTEST_CACHE"

// cache is the compilation cache shared by every harness of the process, so that loading the
// same module again (in each test, or to reload it) does not compile it again.
var (
	cacheOnce sync.Once
	cache     wazero.CompilationCache
)

func sharedCache() wazero.CompilationCache {
	cacheOnce.Do(func() {
		if dir := os.Getenv(CacheEnv); dir != "" && dir != "off" {
			if c, err := plugin.OpenCache(dir, nil); err == nil {
				cache = c
				return
			}
		}
		cache = wazero.NewCompilationCache()
	})
	return cache
}

// DefaultCallTimeout is the call timeout of a harness whose Options do not set one.
const DefaultCallTimeout = 10 * time.Second

// Load compiles the plugin module wasm, checks it against the ABI and starts its instances (each
// runs _initialize and on_start with opts.Config). The error names every ABI violation, or says
// why the plugin did not start (for example, on_start refused its config).
func Load(wasm []byte, opts Options) (*Harness, error) {
	h := &Harness{
		logs:        &logStore{},
		conns:       map[uint64]*Conn{},
		groups:      hub.New[*member](nil, hub.Limits{PerMember: hub.DefaultPerMember, Total: hub.DefaultTotal}),
		barriers:    map[uint64]chan struct{}{},
		nextBarrier: 1 << 63,
		clock:       Epoch,
	}
	h.kv = kv.NewMemory(h.now, kv.Limits{})
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	// Calls into the plugin are cut off after CallTimeout, so only a bug in the harness or the
	// runtime makes a barrier wait anywhere near this long.
	h.waitLimit = max(time.Minute, 10*opts.CallTimeout)
	var next slog.Handler
	if opts.Logger != nil {
		next = opts.Logger.Handler()
	}
	p, err := plugin.Load(context.Background(), plugin.Options{
		Name:        "plugintest",
		Wasm:        wasm,
		Instances:   opts.Instances,
		CallTimeout: opts.CallTimeout,
		MemoryLimit: opts.MemoryLimit,
		Config:      opts.Config,
		Host:        (*fakeHost)(h),
		Logger:      slog.New(&logHandler{store: h.logs, next: next}),
		Cache:       sharedCache(),
		// Timers fire only when Advance says so, by the harness's clock.
		Clock:        h.now,
		ManualTimers: true,
		KV:           h.kv,
	})
	if err != nil {
		if lines := h.logs.text(); lines != "" {
			err = fmt.Errorf("%w\nplugin log:\n%s", err, lines)
		}
		return nil, err
	}
	h.p = p
	return h, nil
}

// LoadFile is [Load] with the module read from a file.
func LoadFile(path string, opts Options) (*Harness, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := Load(wasm, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// New loads the plugin module at path for the test t: it fails the test at once if the module
// does not load, and closes the harness when the test ends. Unless opts.Logger is set, the
// plugin's log lines go to t.Log (shown for failed tests and with go test -v).
func New(t testing.TB, path string, opts Options) *Harness {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == "plugin" || a.Key == "module") {
					return slog.Attr{}
				}
				return a
			},
		}))
	}
	h, err := LoadFile(path, opts)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// testWriter writes log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// Close stops the plugin's instances. Open connections get no on_close, as when a server is
// killed. Close may be called more than once.
func (h *Harness) Close() {
	h.ops.Lock()
	defer h.ops.Unlock()
	h.mu.Lock()
	done := h.closed
	h.closed = true
	h.mu.Unlock()
	if !done {
		h.p.Close()
	}
}

// Reload replaces the plugin's module with wasm, as the server's hot reload does: the new module
// is started (on_start with the same config), then takes over every open connection with
// on_connect(RESUMED), without a message lost or reordered. Reloading the same bytes still
// replaces the instances. If the new module does not load, the old one keeps running and Reload
// returns why.
func (h *Harness) Reload(wasm []byte) error {
	h.ops.Lock()
	defer h.ops.Unlock()
	if err := h.checkOpen(); err != nil {
		return err
	}
	if res := h.p.Reload(context.Background(), wasm); res.Err != nil {
		return fmt.Errorf("plugintest: reload: %w", res.Err)
	}
	return h.settle()
}

// ReloadFile is [Harness.Reload] with the module read from a file.
func (h *Harness) ReloadFile(path string) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return h.Reload(wasm)
}

// Hash is the hex SHA-256 of the module running now.
func (h *Harness) Hash() string { return h.p.Hash() }

// Faults is how many times the plugin faulted: traps, exits and calls over CallTimeout.
func (h *Harness) Faults() int64 { return h.p.Stats().Faults.Load() }

// Disabled reports whether the plugin was disabled after faulting too often (5 times within a
// minute); new connections then get HTTP 503.
func (h *Harness) Disabled() bool { return h.p.Disabled() }

// Logs returns the plugin's log lines so far, oldest first.
func (h *Harness) Logs() []LogLine { return h.logs.lines() }

// Broadcasts returns the plugin's successful broadcast calls so far, oldest first.
func (h *Harness) Broadcasts() []Broadcast {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Broadcast(nil), h.broadcasts...)
}

func (h *Harness) checkOpen() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrHarnessClosed
	}
	return nil
}

// settle waits until the plugin has handled every event delivered so far, then delivers on_close
// for each connection whose closing handshake started meanwhile (the harness plays a client that
// answers a close frame at once), and so on until nothing is left to do. Called with h.ops held.
func (h *Harness) settle() error {
	for {
		if err := h.barrier(); err != nil {
			return err
		}
		h.mu.Lock()
		pending := h.pending
		h.pending = nil
		h.mu.Unlock()
		if len(pending) == 0 {
			return nil
		}
		for _, c := range pending {
			// As in the server: the connection has finished closing, it leaves its groups
			// (from now on it can join none), and then the plugin sees on_close.
			h.groups.LeaveAll(c.m)
			h.p.Closed(c.id, c.closeCode, c.closeReason)
		}
	}
}

// barrier waits until every instance has handled the events queued before it.
//
// The plugin runtime has no "flush" call, and the harness may not add one to it. But each
// instance takes its events from a FIFO mailbox, one at a time, and for an on_close of an id the
// instance never accepted it calls no guest code and only tells the host Released(id) (that is
// how it treats the on_close of a connection it closed after a fault). So the barrier delivers,
// to each instance, on_close for a fresh id that was never a connection (pinned to the instance
// as every id is, by id modulo the pool size) and waits for its Released: by then every earlier
// event of that instance, with all it caused, is done. The plugin never sees these ids. They are
// taken from the top half of the id space, so connection ids stay 1, 2, 3... whatever the
// harness does in between, and runs are reproducible.
func (h *Harness) barrier() error {
	n := uint64(h.p.Instances())
	h.mu.Lock()
	base := (h.nextBarrier + n - 1) / n * n // base%n == 0, so id base+i goes to instance i
	h.nextBarrier = base + n
	chans := make([]chan struct{}, n)
	for i := range chans {
		chans[i] = make(chan struct{})
		h.barriers[base+uint64(i)] = chans[i]
	}
	h.mu.Unlock()
	for i := range chans {
		h.p.Closed(base+uint64(i), 1000, "")
	}
	timeout := time.NewTimer(h.waitLimit)
	defer timeout.Stop()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-timeout.C:
			return fmt.Errorf("plugintest: the plugin did not handle its events within %s", h.waitLimit)
		}
	}
	return nil
}
