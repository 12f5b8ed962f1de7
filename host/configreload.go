package host

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wasmsock/wasmsock/host/bus"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/internal/wsproto"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// A config reload, from start to end. wasmsock dev runs one when the config file is saved, serve
// on SIGHUP, and either on POST /api/reload; ReloadConfig (which reads the file again) and
// Reconfigure (given a config) are the entry points, one reload at a time.
//
//  1. Read and validate. config.Load decodes the file as at start; a problem is reported with
//     its file:line:key and the reload is refused. Keys that cannot change while serving (see
//     restartOnly: listen, compilation_cache, log, handshake_timeout, max_header_bytes, tls,
//     trusted_proxies, cluster, limits.max_groups*) keep their running values; the report lists
//     them as waiting for a restart. (SIGHUP also reloads the TLS certificate and key files: Server.ReloadTLS.)
//  2. Build. build makes the new state with the construction code New uses: admin key, plugins,
//     guards (auth keys are read again, so a rotated key file takes effect) and the HTTP
//     handler. A plugin whose module bytes, config and instance settings are unchanged is the
//     running one, untouched. One whose module bytes or config changed, with the same instance
//     settings, is the running one too, reloaded in step 3. One that is new, or whose
//     instances, call_timeout, memory_limit or any other instance setting (crash limits and
//     backoff, mailbox_bytes, memory_recycle, log limits, bus grants) changed, is loaded anew. If anything fails, what was loaded is closed and the reload is refused: the old
//     state keeps serving, untouched.
//  3. Reload in place. Each kept plugin whose module or config changed gets plugin.ReloadWith:
//     new instances start (on_start with the new config), then every connection is replayed
//     to them (on_connect with RESUMED) between two of its events, so no connection drops and
//     each sees the new module and config from its next event on. If one fails (a module that
//     does not compile, an on_start that refuses the config), those already reloaded are
//     reloaded back, and the reload is refused.
//  4. Swap. The new state replaces the old in one atomic store, with the new limits. Every
//     handshake from then on is routed, checked and limited by the new state; a handshake
//     already past routing finishes on the old one (if its route or plugin is gone by the time
//     it registers, it is refused with 503 and may retry).
//  5. Retire. A connection keeps the route it was accepted on, with that route's settings
//     (max_message_bytes, ping_interval, pong_timeout, close_timeout, queue limits, mode) and
//     plugin, for its whole life: a changed route's settings apply to new connections. A
//     connection whose route path is gone, or whose plugin is gone, gets close code 1001 with
//     the reason "route removed" or "plugin removed". A plugin loaded anew over an old one of
//     the same name (new instance settings) takes the new connections; the old one serves the
//     connections it has until they close, then stops. limits.messages_per_second applies to
//     every connection at once; the connection limits to new connections (a lower maximum
//     closes nothing).
//  6. Report. One log line says what changed (routes and plugins added, removed, changed with
//     the keys that changed, other keys changed, connections closed) or why the new config was
//     refused. ConfigReload is the same as a value (the admin API returns it as JSON).

// loadedPlugin is a plugin as the server runs it: the plugin, the module bytes it serves (to
// reload them back if a reload fails half-way) and the count of connections that use it, so that
// a plugin a reload retires stops once its last connection has closed.
type loadedPlugin struct {
	*plugin.Plugin
	bus      *bus.Bus        // the plugin's event bus; nil without [cluster]
	wasm     []byte          // guarded by Server.reloadMu
	startLog *captureHandler // the plugin's log: what it says while starting is kept for errors

	mu      sync.Mutex
	users   int  // connections admitted and not finished
	retired bool // no longer in the serving state: no new users; stopped at 0 users
	removed bool // retired because the config no longer has a plugin of that name
	stopped bool
}

// Close stops the plugin, then its bus.
func (lp *loadedPlugin) Close() {
	lp.Plugin.Close()
	if lp.bus != nil {
		lp.bus.Close()
	}
}

// acquire counts a new connection as a user; false when the plugin is retired.
func (lp *loadedPlugin) acquire() bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.retired {
		return false
	}
	lp.users++
	return true
}

// release uncounts a user, stopping a retired plugin when it was the last.
func (lp *loadedPlugin) release() {
	lp.mu.Lock()
	lp.users--
	stop := lp.retired && lp.users == 0 && !lp.stopped
	lp.stopped = lp.stopped || stop
	lp.mu.Unlock()
	if stop {
		lp.Close() // after every queued event, the on_close of the last user included
	}
}

// retire takes the plugin out of service: it stops now if nobody uses it, else when its last
// user finishes.
func (lp *loadedPlugin) retire(removed bool) {
	lp.mu.Lock()
	lp.retired, lp.removed = true, removed
	stop := lp.users == 0 && !lp.stopped
	lp.stopped = lp.stopped || stop
	lp.mu.Unlock()
	if stop {
		lp.Close()
	}
}

func (lp *loadedPlugin) isRemoved() bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.removed
}

// pendingReload is a kept plugin to reload in place with new module bytes or config.
type pendingReload struct {
	name       string
	lp         *loadedPlugin
	wasm, conf []byte
}

// restartOnly are the top-level keys a running server cannot change: a reload keeps their running
// values and reports them.
var restartOnly = []string{"listen", "compilation_cache", "log", "handshake_timeout", "max_header_bytes",
	"tls", "trusted_proxies", "cluster", "limits.max_groups_per_connection", "limits.max_groups"}

// ConfigReload says what a config reload did, or why it refused the new config.
type ConfigReload struct {
	At       time.Time `json:"at"`
	File     string    `json:"file"`
	Applied  bool      `json:"applied"`
	Error    string    `json:"error,omitempty"` // why it was refused: one line per problem
	Routes   Diff      `json:"routes"`
	Plugins  Diff      `json:"plugins"`
	Settings []string  `json:"settings,omitempty"` // other keys that changed, applied
	// Restart lists keys changed in the file that apply only at the next start.
	Restart []string `json:"restart_needed,omitempty"`
	// Closed is how many connections got 1001 because their route or plugin was removed.
	Closed   int            `json:"closed"`
	Reloads  []ReloadReport `json:"reloads"` // one per plugin kept, reloaded in place or not
	Duration time.Duration  `json:"duration_ns"`
}

// Diff is what changed in a set of named things (routes by path, plugins by name).
type Diff struct {
	Added   []string            `json:"added,omitempty"`
	Removed []string            `json:"removed,omitempty"`
	Changed map[string][]string `json:"changed,omitempty"` // name -> the keys that changed
}

func (d Diff) empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

func (d Diff) String() string {
	var parts []string
	for _, a := range d.Added {
		parts = append(parts, "+"+a)
	}
	for _, r := range d.Removed {
		parts = append(parts, "-"+r)
	}
	for _, c := range slices.Sorted(maps.Keys(d.Changed)) {
		parts = append(parts, "~"+c+"("+strings.Join(d.Changed[c], ",")+")")
	}
	return strings.Join(parts, " ")
}

// String is the reload's log line.
func (r *ConfigReload) String() string {
	if !r.Applied {
		return "config reload refused, the running config keeps serving: " + strings.ReplaceAll(r.Error, "\n", "; ")
	}
	var parts []string
	if !r.Routes.empty() {
		parts = append(parts, "routes "+r.Routes.String())
	}
	if !r.Plugins.empty() {
		parts = append(parts, "plugins "+r.Plugins.String())
	}
	if len(r.Settings) > 0 {
		parts = append(parts, "settings "+strings.Join(r.Settings, ","))
	}
	if r.Closed > 0 {
		parts = append(parts, fmt.Sprintf("%d connections closed (1001)", r.Closed))
	}
	if len(r.Restart) > 0 {
		parts = append(parts, "changed but applied only at restart: "+strings.Join(r.Restart, ","))
	}
	if len(parts) == 0 {
		return "config reloaded from " + r.File + ": no change"
	}
	return "config reloaded from " + r.File + ": " + strings.Join(parts, "; ")
}

// SetConfigLoader sets how ReloadConfig reads the config again: wasmsock serve and dev give the
// loader that applies their flags (such as -listen) as at start. Without one, ReloadConfig reads
// the running config's file. Call it before serving.
func (s *Server) SetConfigLoader(load func() (*config.Config, error)) { s.loader = load }

// ReloadConfig reads the config again and applies it (see Reconfigure). The report is logged.
func (s *Server) ReloadConfig(ctx context.Context) *ConfigReload {
	load := s.loader
	if load == nil {
		file := s.cur.Load().cfg.File
		load = func() (*config.Config, error) { return config.Load(file) }
	}
	cfg, err := load()
	if err != nil {
		rep := &ConfigReload{File: s.cur.Load().cfg.File, Error: err.Error()}
		s.reloaded(rep)
		return rep
	}
	return s.Reconfigure(ctx, cfg)
}

// Reconfigure replaces the running config with cfg without dropping a connection the change does
// not concern; the lifecycle is described at the top of this file. On any problem cfg is refused
// and the running config keeps serving. The report is logged.
func (s *Server) Reconfigure(ctx context.Context, cfg *config.Config) *ConfigReload {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	start := time.Now()
	old := s.cur.Load()
	rep := &ConfigReload{File: cfg.File}
	refuse := func(err error) *ConfigReload {
		rep.Error = err.Error()
		rep.Duration = time.Since(start)
		s.reloaded(rep)
		return rep
	}
	cfg.Dev = old.cfg.Dev
	for _, key := range restartOnly {
		if !reflect.DeepEqual(comparable(tomlField(old.cfg, key)), comparable(tomlField(cfg, key))) {
			rep.Restart = append(rep.Restart, key)
			tomlField(cfg, key).Set(tomlField(old.cfg, key))
		}
	}
	st, reloads, problems := s.build(ctx, cfg, old)
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b config.Problem) int { return cmp.Compare(a.Line, b.Line) })
		return refuse(&config.Error{Problems: problems})
	}
	newPlugins := func() {
		for name, lp := range st.plugins {
			if old.plugins[name] != lp {
				lp.Close()
			}
		}
	}
	// In place: every reload or none.
	var undo []pendingReload // what the reloads done so far replaced
	moduleChanged := map[string]bool{}
	for _, r := range reloads {
		prevConf := r.lp.Config()
		r.lp.startLog.resume()
		res := r.lp.ReloadWith(ctx, r.wasm, r.conf)
		r.lp.startLog.stop()
		if res.Err != nil {
			s.metrics.reloadFailures.WithLabelValues(r.name).Inc()
			for _, u := range undo {
				if back := u.lp.ReloadWith(ctx, u.wasm, u.conf); back.Err != nil {
					s.log.Error("config reload: could not reload a plugin back to its previous module and config; the new ones serve", "plugin", u.name, "error", back.Err)
					continue
				}
				u.lp.wasm = u.wasm
			}
			newPlugins()
			key := config.PluginKey(r.name) + ".module"
			if plugin.HashOf(r.wasm) == r.lp.Hash() {
				key = config.PluginKey(r.name) + ".config" // the same module: its config failed
			}
			msg := withPluginLog(fmt.Sprintf("plugin %s (%s): %v", r.name, cfg.Plugins[r.name].Module, res.Err), r.lp.startLog)
			return refuse(&config.Error{Problems: []config.Problem{cfg.Problem(key, msg)}})
		}
		undo = append(undo, pendingReload{name: r.name, lp: r.lp, wasm: r.lp.wasm, conf: prevConf})
		s.metrics.reloads.WithLabelValues(r.name).Inc()
		r.lp.wasm = r.wasm
		moduleChanged[r.name] = res.OldHash != res.NewHash
		rep.Reloads = append(rep.Reloads, ReloadReport{Plugin: r.name, Module: cfg.Plugins[r.name].Module,
			OldHash: res.OldHash, NewHash: res.NewHash, Changed: true, Duration: res.Duration})
	}
	for name, lp := range st.plugins {
		if old.plugins[name] == lp && !slices.ContainsFunc(reloads, func(r pendingReload) bool { return r.name == name }) {
			rep.Reloads = append(rep.Reloads, ReloadReport{Plugin: name, Module: cfg.Plugins[name].Module, OldHash: lp.Hash(), NewHash: lp.Hash()})
		}
	}
	slices.SortFunc(rep.Reloads, func(a, b ReloadReport) int { return strings.Compare(a.Plugin, b.Plugin) })

	l := cfg.Limits
	s.limits.set(*l.MaxConnections, *l.MaxConnectionsPerIP, float64(*l.ConnectionsPerSecondPerIP))
	s.httpLimits.set(*l.MaxConnections, *l.MaxConnectionsPerIP, 0)
	s.cur.Store(st)

	for name, lp := range old.plugins {
		if st.plugins[name] != lp {
			lp.retire(st.plugins[name] == nil)
		}
	}
	for _, c := range s.hub.All() {
		reason := ""
		switch {
		case st.routes[c.route.cfg.Path] == nil:
			reason = "route removed"
		case c.route.plugin.isRemoved():
			reason = "plugin removed"
		default:
			continue
		}
		if c.startClose(wsproto.CloseGoingAway, reason, false) {
			rep.Closed++
		}
	}

	rep.Applied = true
	rep.Routes, rep.Plugins, rep.Settings = diffConfigs(old, st, moduleChanged)
	rep.Duration = time.Since(start)
	s.reloaded(rep)
	return rep
}

// reloaded logs a config reload's outcome, counts it and keeps it for the status.
func (s *Server) reloaded(rep *ConfigReload) {
	rep.At = time.Now()
	s.lastConfigReload.Store(rep)
	if rep.Applied {
		s.metrics.configReloads.WithLabelValues("applied").Inc()
		s.log.Info(rep.String(), "file", rep.File, "duration", rep.Duration)
		return
	}
	s.metrics.configReloads.WithLabelValues("refused").Inc()
	s.log.Error(rep.String(), "file", rep.File, "error", rep.Error)
}

// diffConfigs compares the old state's config with the new one's; moduleChanged names the plugins
// reloaded in place with other module bytes (at the same path or not).
func diffConfigs(old, st *state, moduleChanged map[string]bool) (routes, plugins Diff, settings []string) {
	oldRoutes := map[string]*config.Route{}
	for _, r := range old.cfg.Routes {
		oldRoutes[r.Path] = r
	}
	for _, r := range st.cfg.Routes {
		o := oldRoutes[r.Path]
		if o == nil {
			routes.Added = append(routes.Added, r.Path)
			continue
		}
		if keys := changedKeys(reflect.ValueOf(*o), reflect.ValueOf(*r), ""); len(keys) > 0 {
			routes.change(r.Path, keys)
		}
	}
	for _, r := range old.cfg.Routes {
		if st.routes[r.Path] == nil {
			routes.Removed = append(routes.Removed, r.Path)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(st.cfg.Plugins)) {
		pc, o := st.cfg.Plugins[name], old.cfg.Plugins[name]
		if o == nil {
			plugins.Added = append(plugins.Added, name)
			continue
		}
		keys := changedKeys(reflect.ValueOf(*o), reflect.ValueOf(*pc), "")
		if moduleChanged[name] && !slices.Contains(keys, "module") {
			keys = append(keys, "module") // the same path, other bytes
		}
		if len(keys) > 0 {
			plugins.change(name, keys)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.cfg.Plugins)) {
		if st.cfg.Plugins[name] == nil {
			plugins.Removed = append(plugins.Removed, name)
		}
	}
	settings = changedKeys(reflect.ValueOf(*old.cfg), reflect.ValueOf(*st.cfg), "")
	return routes, plugins, settings
}

func (d *Diff) change(name string, keys []string) {
	if d.Changed == nil {
		d.Changed = map[string][]string{}
	}
	d.Changed[name] = keys
}

var (
	durationType = reflect.TypeFor[config.Duration]()
	configType   = reflect.TypeFor[config.Config]()
)

// changedKeys lists the TOML keys whose values differ between a and b (structs of one type),
// recursing into tables; fields that are not TOML keys are skipped, and so are the [plugin] and
// [[route]] tables of a whole config (compared one by one by diffConfigs).
func changedKeys(a, b reflect.Value, prefix string) []string {
	var keys []string
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" || (t == configType && (name == "plugin" || name == "route")) {
			continue
		}
		av, bv := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			keys = append(keys, changedKeys(av, bv, prefix+name+".")...)
			continue
		}
		if !reflect.DeepEqual(comparable(av), comparable(bv)) {
			keys = append(keys, prefix+name)
		}
	}
	return keys
}

// comparable is v's value for comparing two configs: a duration by its length only (not by
// whether the file gave it).
func comparable(v reflect.Value) any {
	if v.Type() == durationType {
		return v.Interface().(config.Duration).D
	}
	return v.Interface()
}

// tomlField is the field of c with the dotted TOML key (through tables, not arrays of them).
func tomlField(c *config.Config, key string) reflect.Value {
	v := reflect.ValueOf(c).Elem()
next:
	for _, name := range strings.Split(key, ".") {
		for i := range v.NumField() {
			if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ","); tag == name {
				v = v.Field(i)
				continue next
			}
		}
		panic("host: no config key " + key) // restartOnly names a key that does not exist
	}
	return v
}
