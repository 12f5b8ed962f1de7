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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// Server is a running wasmsock host.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	routes  map[string]*route
	plugins map[string]*plugin.Plugin
	conns   *registry
	groups  *groupSet
	nextID  atomic.Uint64
	metrics *metrics
	limits  *ipLimits
	cluster *cluster.Node // nil without a [cluster] table

	adminKey   string
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

// New loads every plugin of cfg and returns a server ready to serve. It fails, naming the plugin
// and the reason, when a module cannot be read, compiled, validated or started.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		routes:  map[string]*route{},
		plugins: map[string]*plugin.Plugin{},
		conns:   newRegistry(),
		groups:  newGroupSet(),
	}
	s.metrics = newMetrics(s)
	s.started = time.Now()
	var err error
	if s.adminKey, err = loadAdminKey(cfg.Admin); err != nil {
		return nil, err
	}
	s.statusPath = cfg.Admin.StatusPage
	if cfg.Dev {
		// wasmsock dev: the status page is on, and without a configured key the admin side is
		// open (a developer's machine).
		s.devMode = true
		s.statusPath = cmp.Or(s.statusPath, "/status")
	}
	cache, err := compilationCache(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Cluster != nil {
		if s.cluster, err = cluster.Start(ctx, cfg.Cluster, log); err != nil {
			return nil, err
		}
	}
	for name, pc := range cfg.Plugins {
		p, err := loadPlugin(ctx, pc, &pluginHost{s, name}, cache, log, s.metrics.observer(name))
		if err != nil {
			s.closePlugins()
			return nil, err
		}
		s.plugins[name] = p
		log.Info("plugin loaded", "plugin", name, "module", pc.Module, "sha256", p.Hash()[:12], "instances", pc.Instances)
	}
	l := cfg.Limits
	s.limits = newIPLimits(*l.MaxConnections, *l.MaxConnectionsPerIP, float64(*l.ConnectionsPerSecondPerIP))
	for _, rc := range cfg.Routes {
		g, err := newGuard(cfg, rc)
		if err != nil {
			s.closePlugins()
			return nil, err
		}
		s.routes[rc.Path] = &route{cfg: rc, plugin: s.plugins[rc.Plugin], guard: g, m: s.metrics.forRoute(rc.Path)}
	}
	s.httpLn = newChanListener()
	s.http = &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: cfg.HandshakeTimeout.D,
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.http.Serve(s.httpLn) }()
	return s, nil
}

// Check loads every plugin of cfg as New would (compile, validate, instantiate, on_start) and
// stops it again. It returns one error per plugin that fails, in the order of their names.
func Check(ctx context.Context, cfg *config.Config) []error {
	s := &Server{cfg: cfg, log: slog.New(slog.DiscardHandler), conns: newRegistry(), groups: newGroupSet()}
	cache, err := compilationCache(cfg)
	if err != nil {
		return []error{err}
	}
	var errs []error
	if cfg.Cluster != nil {
		if err := cluster.Check(ctx, cfg.Cluster); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		p, err := loadPlugin(ctx, cfg.Plugins[name], &pluginHost{s, name}, cache, s.log, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Close()
	}
	return errs
}

// compilationCache is the cache every plugin compiles through: in memory, or in the configured
// directory so that a restart does not compile again.
func compilationCache(cfg *config.Config) (wazero.CompilationCache, error) {
	if cfg.CompilationCache == "" {
		return wazero.NewCompilationCache(), nil
	}
	c, err := wazero.NewCompilationCacheWithDir(cfg.CompilationCache)
	if err != nil {
		return nil, fmt.Errorf("compilation_cache: %w", err)
	}
	return c, nil
}

// loadPlugin reads, compiles, validates and starts the plugin pc for host h.
func loadPlugin(ctx context.Context, pc *config.Plugin, h plugin.Host, cache wazero.CompilationCache, log *slog.Logger, observe func(string, time.Duration)) (*plugin.Plugin, error) {
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
	p, err := plugin.Load(ctx, plugin.Options{
		Name:        pc.Name,
		Wasm:        wasm,
		Instances:   pc.Instances,
		CallTimeout: pc.CallTimeout.D,
		MemoryLimit: int64(pc.MemoryLimit),
		Config:      conf,
		Host:        h,
		Logger:      log,
		Cache:       cache,
		Observe:     observe,
		MaxCrashes:  pc.MaxCrashes,
		CrashWindow: pc.CrashWindow.D,
	})
	if err != nil {
		return nil, fmt.Errorf("plugin %s (%s): %w", pc.Name, pc.Module, err)
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
func (s *Server) Serve(ln net.Listener) error {
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
	conns := s.conns.all()
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
		for _, c := range s.conns.all() {
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
func (s *Server) Connections() int { return s.conns.len() }
