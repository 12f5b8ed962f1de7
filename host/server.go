package host

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsock/wasmsock/host/auth"
	"github.com/wasmsock/wasmsock/host/busapi"
	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/kv"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// Server is a running wasmsock host.
type Server struct {
	log     *slog.Logger
	cur     atomic.Pointer[state] // what the config says to serve; a config reload swaps it whole
	hub     *hub.Hub[*Conn]       // connections and groups
	ids     *hub.IDs
	metrics *metrics
	limits  *ipLimits // WebSocket connections
	// httpLimits counts the connections served by net/http, against the same limits.
	httpLimits *ipLimits
	cluster    *cluster.Node           // nil without a [cluster] table
	broker     *cluster.Broker         // the hub's broker in a cluster
	backendAPI *busapi.Server          // the backend API over NATS; nil without a cluster
	cache      wazero.CompilationCache // every plugin compiles through it, reloads included
	kvMu       sync.Mutex
	kv         map[string]kv.Store // the plugins' shared stores, by plugin name, kept across reloads

	tls     *certificate    // nil: plain ws:// and http://
	proxies *trustedProxies // addresses whose forwarding headers are believed
	devMode bool
	started time.Time

	// reloadMu makes reloads (of the config or of one plugin's module) one at a time; it guards
	// routeMetrics and loadedPlugin.wasm.
	reloadMu         sync.Mutex
	loader           func() (*config.Config, error) // reads the config again for ReloadConfig
	routeMetrics     map[string]*routeMetrics       // by path, kept across reloads
	lastConfigReload atomic.Pointer[ConfigReload]

	http     *http.Server
	httpLn   *chanListener
	mu       sync.Mutex
	ln       net.Listener
	draining atomic.Bool
	handlers sync.WaitGroup // one per accepted TCP connection in the WebSocket path
}

// state is what a config says to serve, built by build and never changed after: the config, the
// routes with their guards, the plugins, the admin key and the HTTP handler. The request path
// loads it once per connection (Server.cur) and uses that one to the end of the handshake, so a
// reload never shows a handshake half of the old config and half of the new. A connection keeps
// its route (and so its route's settings and plugin) for its whole life.
type state struct {
	cfg        *config.Config
	routes     map[string]*route
	plugins    map[string]*loadedPlugin
	adminKey   string
	statusPath string
	handler    http.Handler // everything that is not a WebSocket handshake on a route
}

type route struct {
	cfg    *config.Route
	plugin *loadedPlugin
	guard  *guard
	m      *routeMetrics // shared by every generation of the route with this path
}

// New builds a server from cfg, ready to serve: it loads every key file and every plugin (compile,
// validate, instantiate, on_start) and builds every route, short of binding the port. It is the
// one construction path: wasmsock serve calls it then listens, wasmsock check calls it then stops
// (Check), so check fails exactly when serve would.
//
// It does not stop at the first problem: the error is a *config.Error with one Problem per thing
// wrong (a plugin that does not load, an admin key or auth key that cannot be read, a path the
// host already serves), each naming the file, line and key it comes from.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:          log,
		routeMetrics: map[string]*routeMetrics{},
		devMode:      cfg.Dev,
	}
	s.metrics = newMetrics(s)
	s.started = time.Now()
	var problems []config.Problem
	bad := func(key string, err error) { problems = append(problems, cfg.Problem(key, err.Error())) }

	// What a reload cannot change (see restartOnly): built here, once.
	if err := config.ValidateListen(cfg.Listen); err != nil {
		bad("listen", err)
	}
	var err error
	if cfg.TLS != nil {
		if s.tls, err = newCertificate(cfg.TLS); err != nil {
			bad(certKey(err), err)
		}
	}
	if s.proxies, err = newTrustedProxies(cfg.TrustedProxies); err != nil {
		bad("trusted_proxies", err)
	}
	if s.cache, err = compilationCache(cfg, log); err != nil {
		bad("compilation_cache", err)
	}
	s.hub, s.ids = hub.New[*Conn](nil, groupLimits(cfg)), hub.NewIDs(0)
	if cfg.Cluster != nil {
		if s.cluster, err = cluster.Start(ctx, cfg.Cluster, log); err != nil {
			// cluster errors read "cluster.KEY: problem".
			key, msg, ok := strings.Cut(err.Error(), ": ")
			if !ok || !strings.HasPrefix(key, "cluster") || strings.ContainsAny(key, " \t") {
				key, msg = "cluster", err.Error()
			}
			bad(key, errors.New(msg))
		} else if err := s.joinCluster(s.cluster, cfg); err != nil {
			bad("cluster", err)
		} else {
			s.metrics.reg.MustRegister(clusterCollector{s})
		}
	}
	l := cfg.Limits
	s.limits = newIPLimits(*l.MaxConnections, *l.MaxConnectionsPerIP, float64(*l.ConnectionsPerSecondPerIP))
	s.limits.exempt = s.proxies.contains
	s.httpLimits = newIPLimits(*l.MaxConnections, *l.MaxConnectionsPerIP, 0)
	s.httpLimits.exempt = s.proxies.contains

	// What a reload rebuilds.
	st, _, more := s.build(ctx, cfg, nil)
	problems = append(problems, more...)
	if len(problems) > 0 {
		if st != nil {
			for _, lp := range st.plugins {
				lp.Close()
			}
		}
		if s.cluster != nil {
			s.cluster.Close()
		}
		slices.SortStableFunc(problems, func(a, b config.Problem) int { return cmp.Compare(a.Line, b.Line) })
		return nil, &config.Error{Problems: problems}
	}
	s.cur.Store(st)
	if err := s.serveBackendAPI(cfg); err != nil {
		s.closePlugins()
		return nil, &config.Error{Problems: []config.Problem{cfg.Problem("cluster", "backend API over NATS: "+err.Error())}}
	}
	s.httpLn = newChanListener()
	s.http = &http.Server{
		// The handler of the state serving now: a reload changes the routes and pages too.
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.cur.Load().handler.ServeHTTP(w, r) }),
		ReadHeaderTimeout: cfg.HandshakeTimeout.D,
		IdleTimeout:       cfg.HandshakeTimeout.D, // a keep-alive connection waiting for its next request
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.http.Serve(s.httpLn) }()
	return s, nil
}

// build makes the state cfg describes: the one construction path of New (so of wasmsock serve and
// check) and of a config reload. It collects every problem, each naming file:line:key.
//
// With prev (a reload), a plugin whose module bytes, config and instance settings are all
// unchanged is prev's own, kept as it is; one whose instance settings are unchanged but whose
// module bytes or config changed is kept too, and returned in reloads for the caller to reload
// in place (plugin.ReloadWith) once everything else is built; any other plugin is loaded anew.
// On problems nothing of prev was touched and what build loaded is closed again (the returned
// state, if any, holds only prev's plugins then).
func (s *Server) build(ctx context.Context, cfg *config.Config, prev *state) (*state, []pendingReload, []config.Problem) {
	st := &state{cfg: cfg, routes: map[string]*route{}, plugins: map[string]*loadedPlugin{}, statusPath: cfg.Admin.StatusPage}
	var reloads []pendingReload
	var problems []config.Problem
	bad := func(key string, err error) { problems = append(problems, cfg.Problem(key, err.Error())) }

	if key, err := loadAdminKey(cfg.Admin); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			bad(ke.key, ke.err)
		} else {
			bad("admin", err)
		}
	} else {
		st.adminKey = key
	}
	if cfg.Dev {
		// wasmsock dev: the status page is on, and without a configured key the admin side is
		// open to this machine only (see authorized).
		st.statusPath = cmp.Or(st.statusPath, "/status")
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		pc := cfg.Plugins[name]
		if prev != nil && prev.plugins[name] != nil && sameInstances(prev.cfg.Plugins[name], pc) {
			old := prev.plugins[name]
			wasm, conf, err := readPlugin(pc)
			if err != nil {
				bad(config.PluginKey(name)+".module", err)
				continue
			}
			st.plugins[name] = old
			if plugin.HashOf(wasm) != old.Hash() || !bytes.Equal(conf, old.Config()) || old.Disabled() {
				reloads = append(reloads, pendingReload{name: name, lp: old, wasm: wasm, conf: conf})
			}
			continue
		}
		b, err := s.newBus(cfg, pc)
		if err != nil {
			bad(config.PluginKey(name)+".bus", err)
			continue
		}
		var pb plugin.Bus
		if b != nil {
			pb = b
		}
		store := s.kvStore(name)
		if js, ok := store.(*cluster.KV); ok {
			// The plugin's bucket, made now so that check and serve report a NATS account that
			// may not make it (at start: a problem; on a reload, a warning: the store makes it
			// on first use once it can).
			ectx, cancel := context.WithTimeout(ctx, cfg.Cluster.ConnectTimeout.D)
			err := js.Ensure(ectx)
			cancel()
			if err != nil && prev == nil {
				if b != nil {
					b.Close()
				}
				bad("cluster.kv", fmt.Errorf("the shared store of plugin %s (JetStream stream KV_%s): %v", name, js.Bucket(), err))
				continue
			} else if err != nil {
				s.log.Warn("shared store: JetStream bucket not made yet", "plugin", name, "error", err)
			}
		}
		lp, err := loadPlugin(ctx, pc, &pluginHost{s: s, plugin: name}, pb, store, s.cache, s.log, s.metrics.observer(name))
		if err != nil {
			if b != nil {
				b.Close()
			}
			key := config.PluginKey(name) + ".module"
			if _, ok := err.(configRefused); ok && pc.Config != nil {
				key = config.PluginKey(name) + ".config" // on_start refused its config table
			}
			bad(key, err)
			continue
		}
		lp.bus = b
		st.plugins[name] = lp
		s.log.Info("plugin loaded", "plugin", name, "module", pc.Module, "sha256", lp.Hash()[:12], "instances", pc.Instances)
	}
	var shared *auth.Authenticator // the top-level [auth], built once for every route using it
	if cfg.Auth != nil {
		var err error
		if shared, err = auth.New(*cfg.Auth, cfg.Dir); err != nil {
			problems = append(problems, authProblems(cfg, "auth", err)...)
		}
	}
	for i, rc := range cfg.Routes {
		g, err := newGuard(cfg, rc, shared)
		if err != nil {
			problems = append(problems, authProblems(cfg, config.RouteKey(i), err)...)
			continue
		}
		st.routes[rc.Path] = &route{cfg: rc, plugin: st.plugins[rc.Plugin], guard: g, m: s.routeMetricsFor(rc.Path)}
	}
	// Paths are checked even when something above failed, so that check lists every problem.
	var conflicts []config.Problem
	st.handler, conflicts = s.httpHandler(st)
	problems = append(problems, conflicts...)
	if len(problems) > 0 {
		for name, lp := range st.plugins {
			if prev == nil || prev.plugins[name] != lp {
				lp.Close()
				delete(st.plugins, name)
			}
		}
		return nil, nil, problems
	}
	return st, reloads, nil
}

// routeMetricsFor returns the metrics of the route at path, the same for every generation of it.
// Only New and reloads (one at a time) call it.
func (s *Server) routeMetricsFor(path string) *routeMetrics {
	m := s.routeMetrics[path]
	if m == nil {
		m = s.metrics.forRoute(path)
		s.routeMetrics[path] = m
	}
	return m
}

// sameInstances reports whether a and b run their instances alike: everything of a plugin's
// config but the module, its config and the dev-mode build and watch (the bus grants included:
// the plugin's bus is started with the plugin).
func sameInstances(a, b *config.Plugin) bool {
	norm := func(p config.Plugin) config.Plugin {
		p.Name, p.Module, p.Config, p.Build, p.Watch = "", "", nil, "", nil
		for _, d := range []*config.Duration{&p.CallTimeout, &p.CrashWindow, &p.CrashBackoff, &p.CrashBackoffMax} {
			d.Set = false // the value counts, not whether the file spelled it out
		}
		return p
	}
	return reflect.DeepEqual(norm(*a), norm(*b))
}

// authProblems turns the errors of auth.New (*auth.ConfigError values, joined) into problems
// under the table key prefix.
func authProblems(cfg *config.Config, prefix string, err error) []config.Problem {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var ps []config.Problem
	for _, e := range errs {
		var ce *auth.ConfigError
		if errors.As(e, &ce) {
			ps = append(ps, cfg.Problem(prefix+"."+ce.Key, ce.Msg))
		} else {
			ps = append(ps, cfg.Problem(prefix, e.Error()))
		}
	}
	return ps
}

// Check builds everything New builds from cfg (every plugin loaded and started, every key read,
// every route and path checked), without listening, then stops it again. It returns New's error:
// nil exactly when wasmsock serve would start.
func Check(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	s.Close()
	return nil
}

// Close stops a server that never served (or stops one at once, without draining): plugins are
// stopped without on_close.
func (s *Server) Close() {
	s.draining.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.mu.Unlock()
	_ = s.http.Close()
	_ = s.httpLn.Close()
	s.closePlugins()
}

// compilationCache is the cache every plugin compiles through: in memory, or in the configured
// directory so that a restart does not compile again (entries that fail their checksum are
// removed and compiled again, with a warning).
func compilationCache(cfg *config.Config, log *slog.Logger) (wazero.CompilationCache, error) {
	if cfg.CompilationCache == "" {
		return wazero.NewCompilationCache(), nil
	}
	c, err := plugin.OpenCache(cfg.CompilationCache, log)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// readPlugin reads a plugin's module and encodes its config for on_start.
func readPlugin(pc *config.Plugin) (wasm, conf []byte, err error) {
	if wasm, err = os.ReadFile(pc.Module); err != nil {
		return nil, nil, fmt.Errorf("plugin %s: %w", pc.Name, err)
	}
	if pc.Config != nil {
		if conf, err = json.Marshal(pc.Config); err != nil {
			return nil, nil, fmt.Errorf("plugin %s: config: %w", pc.Name, err)
		}
	}
	return wasm, conf, nil
}

// loadPlugin reads, compiles, validates and starts the plugin pc for host h. When that fails,
// the error says what the plugin itself logged while starting (on_start's reason for refusing
// its config, typically).
func loadPlugin(ctx context.Context, pc *config.Plugin, h plugin.Host, b plugin.Bus, store kv.Store, cache wazero.CompilationCache, log *slog.Logger, observe func(string, time.Duration)) (*loadedPlugin, error) {
	wasm, conf, err := readPlugin(pc)
	if err != nil {
		return nil, err
	}
	startLog := newCaptureHandler(log.Handler())
	p, err := plugin.Load(ctx, plugin.Options{
		Name:        pc.Name,
		Wasm:        wasm,
		Instances:   pc.Instances,
		CallTimeout: pc.CallTimeout.D,
		MemoryLimit: int64(pc.MemoryLimit),
		Config:      conf,
		Host:        h,
		Logger:      slog.New(startLog),
		Cache:       cache,
		Observe:     observe,
		MaxCrashes:  pc.MaxCrashes,
		CrashWindow: pc.CrashWindow.D,
		Bus:         b,
		EventQueue:  eventQueue(pc),
		KV:          store,

		CrashBackoff:      pc.CrashBackoff.D,
		CrashBackoffMax:   pc.CrashBackoffMax.D,
		MailboxBytes:      int64(pc.MailboxBytes),
		MemoryRecycle:     int64(pc.MemoryRecycle),
		LogLineBytes:      int(pc.LogLineBytes),
		LogLinesPerSecond: pc.LogLinesPerSecond,
	})
	startLog.stop()
	if err != nil {
		msg := withPluginLog(fmt.Sprintf("plugin %s (%s): %v", pc.Name, pc.Module, err), startLog)
		if errors.Is(err, plugin.ErrConfigRefused) {
			return nil, configRefused{msg}
		}
		return nil, errors.New(msg)
	}
	return &loadedPlugin{Plugin: p, wasm: wasm, startLog: startLog}, nil
}

// withPluginLog adds to msg what the plugin logged while starting, if anything.
func withPluginLog(msg string, startLog *captureHandler) string {
	if lines := startLog.lines(); len(lines) > 0 {
		msg += "; the plugin logged: " + strings.Join(lines, " | ")
	}
	return msg
}

// ListenAndServe listens on the configured address and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cur.Load().cfg.Listen)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Shutdown. It returns nil after Shutdown.
// With [tls] in the config, ln is wrapped in TLS: clients speak wss:// and https://.
func (s *Server) Serve(ln net.Listener) error {
	ln = s.tlsListener(ln)
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.log.Info("listening", "addr", ln.Addr().String())
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.draining.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// Out of file descriptors or a transient error: back off instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, backing off", "error", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.handlers.Add(1)
		go s.handleConn(nc)
	}
}

// Addr is the address the server listens on, once Serve has started.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown drains the server: it stops accepting, sends 1001 to every client, lets plugins see
// on_close for each, and waits for the connections to end and the plugins to handle what they
// queued. ctx bounds all of it, whatever plugins do (an on_close that loops or sleeps): when it
// is done, the connections left are dropped, the plugins' queued events discarded and their
// running calls interrupted, a warning says what was cut short, and Shutdown returns ctx's error
// without waiting further.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.mu.Unlock()
	_ = s.http.Shutdown(ctx)
	conns := s.hub.All()
	s.log.Info("draining", "connections", len(conns))
	for _, c := range conns {
		c.startClose(1001, "server shutting down", false)
	}
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	var err error
	var cut []any
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		left := s.hub.All()
		for _, c := range left {
			c.closeTCP()
		}
		cut = append(cut, "connections_dropped", len(left))
	}
	// The plugins handle what is queued (the drained connections' on_close) within what is left
	// of ctx, then stop; past it they stop at once.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, lp := range s.cur.Load().plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep := lp.Plugin.Shutdown(ctx)
			if lp.bus != nil {
				lp.bus.Close()
			}
			if rep.Dropped > 0 || rep.Interrupted > 0 {
				mu.Lock()
				cut = append(cut, slog.Group("plugin_"+name, "events_dropped", rep.Dropped, "calls_interrupted", rep.Interrupted))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if s.cluster != nil {
		s.cluster.Close() // after the plugins: on_close handlers may still broadcast to other nodes
	}
	if err == nil && ctx.Err() != nil && len(cut) > 0 {
		err = ctx.Err()
	}
	if err != nil {
		s.log.Warn("drain cut short by drain_timeout: connections dropped and plugin events discarded", cut...)
	}
	return err
}

// closePlugins stops the plugins (and their buses) and then leaves the cluster (on_close handlers may still
// broadcast to other nodes).
func (s *Server) closePlugins() {
	for _, p := range s.cur.Load().plugins {
		p.Close()
	}
	if s.backendAPI != nil {
		s.backendAPI.Stop()
	}
	if s.cluster != nil {
		s.cluster.Close()
	}
}

// Cluster is this node's membership in its cluster (its NATS connection: Cluster().Conn()), or
// nil when the config has no [cluster] table.
func (s *Server) Cluster() *cluster.Node { return s.cluster }

// Plugins returns the plugins serving now, by name.
func (s *Server) Plugins() map[string]*plugin.Plugin {
	out := map[string]*plugin.Plugin{}
	for name, lp := range s.cur.Load().plugins {
		out[name] = lp.Plugin
	}
	return out
}

// Config is the config serving now.
func (s *Server) Config() *config.Config { return s.cur.Load().cfg }

// Connections is the number of open WebSocket connections.
func (s *Server) Connections() int { return s.hub.Len() }

// conn returns the open connection with that id on this node, or nil.
func (s *Server) conn(id uint64) *Conn {
	c, _ := s.hub.Get(id)
	return c
}

// configRefused is the error of a plugin whose on_start refused its config: the problem is in
// the plugin's config table, not its module.
type configRefused struct{ msg string }

func (e configRefused) Error() string { return e.msg }

// kvStore returns the shared store of the plugin called name (abi/ABI.md, "Shared state"): one
// per name for the life of the process, so a plugin loaded anew by a config reload keeps its
// state. It is in this process's memory, or, in a cluster with kv = "jetstream", the plugin's
// JetStream key-value bucket, which every node shares (and which outlives the process).
func (s *Server) kvStore(name string) kv.Store {
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	if s.kv == nil {
		s.kv = map[string]kv.Store{}
	}
	st := s.kv[name]
	if st == nil {
		if s.cluster != nil && s.cluster.JetStream() != nil {
			st = cluster.NewKV(s.cluster.JetStream(), cluster.KVBucket(s.cluster.Name(), name), kv.Limits{}, s.cluster.RequestTimeout(), s.log.With("plugin", name))
		} else {
			st = kv.NewMemory(nil, kv.Limits{})
		}
		s.kv[name] = st
	}
	return st
}
