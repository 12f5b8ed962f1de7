// Package host is the wasmsock server: it accepts connections, routes WebSocket handshakes to
// plugins, keeps connections healthy and carries out what plugins ask through the ABI.
//
// A Server is built from a validated config (package config) with New, served with Serve or
// ListenAndServe and stopped with Shutdown, which drains: clients get 1001 and plugins on_close.
package host

import (
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsock/wasmsock/host/auth"
	"github.com/wasmsock/wasmsock/host/bus"
	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// Server is a running wasmsock host.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	routes  map[string]*route
	plugins map[string]*plugin.Plugin
	hub     *hub.Hub[*Conn] // connections and groups
	ids     *hub.IDs
	metrics *metrics
	limits  *ipLimits // WebSocket connections
	// httpLimits counts the connections served by net/http, against the same limits.
	httpLimits *ipLimits
	cluster    *cluster.Node       // nil without a [cluster] table
	broker     *cluster.Broker     // the hub's broker in a cluster
	buses      map[string]*bus.Bus // the event bus of each plugin, by name; empty without a cluster

	adminKey   string
	tls        *certificate    // nil: plain ws:// and http://
	proxies    *trustedProxies // addresses whose forwarding headers are believed
	statusPath string
	devMode    bool
	started    time.Time

	http     *http.Server
	httpLn   *chanListener
	mu       sync.Mutex
	ln       net.Listener
	draining atomic.Bool
	handlers sync.WaitGroup // one per accepted TCP connection in the WebSocket path
}

type route struct {
	cfg    *config.Route
	plugin *plugin.Plugin
	guard  *guard
	m      *routeMetrics
	open   atomic.Int64 // connections open on the route
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
		cfg:     cfg,
		log:     log,
		routes:  map[string]*route{},
		plugins: map[string]*plugin.Plugin{},
		buses:   map[string]*bus.Bus{},
	}
	s.metrics = newMetrics(s)
	s.started = time.Now()
	var problems []config.Problem
	bad := func(key string, err error) { problems = append(problems, cfg.Problem(key, err.Error())) }

	if err := config.ValidateListen(cfg.Listen); err != nil {
		bad("listen", err)
	}
	var err error
	if key, err := loadAdminKey(cfg.Admin); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			bad(ke.key, ke.err)
		} else {
			bad("admin", err)
		}
	} else {
		s.adminKey = key
	}
	s.statusPath = cfg.Admin.StatusPage
	if cfg.Dev {
		// wasmsock dev: the status page is on, and without a configured key the admin side is
		// open to this machine only (see authorized).
		s.devMode = true
		s.statusPath = cmp.Or(s.statusPath, "/status")
	}
	if cfg.TLS != nil {
		if s.tls, err = newCertificate(cfg.TLS); err != nil {
			bad(certKey(err), err)
		}
	}
	if s.proxies, err = newTrustedProxies(cfg.TrustedProxies); err != nil {
		bad("trusted_proxies", err)
	}
	cache, err := compilationCache(cfg)
	if err != nil {
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
		} else if err := s.joinCluster(s.cluster); err != nil {
			bad("cluster", err)
		} else {
			s.metrics.reg.MustRegister(clusterCollector{s})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		pc := cfg.Plugins[name]
		b, err := s.newBus(pc)
		if err != nil {
			bad(config.PluginKey(name)+".bus", err)
			continue
		}
		var pb plugin.Bus
		if b != nil {
			s.buses[name] = b
			pb = b
		}
		p, err := loadPlugin(ctx, pc, &pluginHost{s: s, plugin: name}, pb, cache, log, s.metrics.observer(name))
		if err != nil {
			bad(config.PluginKey(name)+".module", err)
			continue
		}
		s.plugins[name] = p
		log.Info("plugin loaded", "plugin", name, "module", pc.Module, "sha256", p.Hash()[:12], "instances", pc.Instances)
	}
	l := cfg.Limits
	s.limits = newIPLimits(*l.MaxConnections, *l.MaxConnectionsPerIP, float64(*l.ConnectionsPerSecondPerIP))
	s.limits.exempt = s.proxies.contains
	s.httpLimits = newIPLimits(*l.MaxConnections, *l.MaxConnectionsPerIP, 0)
	s.httpLimits.exempt = s.proxies.contains
	var shared *auth.Authenticator // the top-level [auth], built once for every route using it
	if cfg.Auth != nil {
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
		s.routes[rc.Path] = &route{cfg: rc, plugin: s.plugins[rc.Plugin], guard: g, m: s.metrics.forRoute(rc.Path)}
	}
	// Paths are checked even when something above failed, so that check lists every problem.
	handler, conflicts := s.httpHandler()
	problems = append(problems, conflicts...)
	if len(problems) > 0 {
		s.closePlugins()
		slices.SortStableFunc(problems, func(a, b config.Problem) int { return cmp.Compare(a.Line, b.Line) })
		return nil, &config.Error{Problems: problems}
	}
	s.httpLn = newChanListener()
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.HandshakeTimeout.D,
		IdleTimeout:       cfg.HandshakeTimeout.D, // a keep-alive connection waiting for its next request
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.http.Serve(s.httpLn) }()
	return s, nil
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
// directory so that a restart does not compile again.
func compilationCache(cfg *config.Config) (wazero.CompilationCache, error) {
	if cfg.CompilationCache == "" {
		return wazero.NewCompilationCache(), nil
	}
	c, err := wazero.NewCompilationCacheWithDir(cfg.CompilationCache)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// loadPlugin reads, compiles, validates and starts the plugin pc for host h. When that fails,
// the error says what the plugin itself logged while starting (on_start's reason for refusing
// its config, typically).
func loadPlugin(ctx context.Context, pc *config.Plugin, h plugin.Host, b plugin.Bus, cache wazero.CompilationCache, log *slog.Logger, observe func(string, time.Duration)) (*plugin.Plugin, error) {
	wasm, err := os.ReadFile(pc.Module)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", pc.Name, err)
	}
	var conf []byte
	if pc.Config != nil {
		if conf, err = json.Marshal(pc.Config); err != nil {
			return nil, fmt.Errorf("plugin %s: config: %w", pc.Name, err)
		}
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
	})
	startLog.stop()
	if err != nil {
		msg := fmt.Sprintf("plugin %s (%s): %v", pc.Name, pc.Module, err)
		if lines := startLog.lines(); len(lines) > 0 {
			msg += "; the plugin logged: " + strings.Join(lines, " | ")
		}
		return nil, errors.New(msg)
	}
	return p, nil
}

// ListenAndServe listens on the configured address and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
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
// on_close for each, and waits for the connections to end until ctx is done; then it drops what
// is left and stops the plugins.
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
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range s.hub.All() {
			c.closeTCP()
		}
		<-done
	}
	s.closePlugins()
	return err
}

// closePlugins stops the plugins and then leaves the cluster (on_close handlers may still
// broadcast to other nodes).
func (s *Server) closePlugins() {
	for _, p := range s.plugins {
		p.Close()
	}
	s.closeBuses()
	if s.cluster != nil {
		s.cluster.Close()
	}
}

// Cluster is this node's membership in its cluster (its NATS connection: Cluster().Conn()), or
// nil when the config has no [cluster] table.
func (s *Server) Cluster() *cluster.Node { return s.cluster }

// Plugins returns the loaded plugins by name.
func (s *Server) Plugins() map[string]*plugin.Plugin { return s.plugins }

// Connections is the number of open WebSocket connections.
func (s *Server) Connections() int { return s.hub.Len() }

// conn returns the open connection with that id on this node, or nil.
func (s *Server) conn(id uint64) *Conn {
	c, _ := s.hub.Get(id)
	return c
}
