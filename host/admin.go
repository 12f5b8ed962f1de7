package host

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wasmsock/wasmsock/host/auth"
	"github.com/wasmsock/wasmsock/host/config"
)

// The backend API: what a service does to reach its clients through a WebSocket gateway ("send"
// to a user or a connection, "publish" to a group), as HTTP with JSON in and out, protected by the
// admin key. README.md documents it with curl examples.

// minAdminKey is the shortest admin key accepted.
const minAdminKey = 16

// keyError is a problem with the config key key.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }

func loadAdminKey(a config.Admin) (string, error) {
	var key, from string
	switch {
	case a.KeyEnv != "":
		from = "admin.key_env"
		key = os.Getenv(a.KeyEnv)
		if key == "" {
			return "", &keyError{from, fmt.Errorf("environment variable %s is not set (or empty)", a.KeyEnv)}
		}
	case a.KeyFile != "":
		from = "admin.key_file"
		b, err := os.ReadFile(a.KeyFile)
		if err != nil {
			return "", &keyError{from, err}
		}
		key = strings.TrimSpace(string(b))
	default:
		return "", nil
	}
	if len(key) < minAdminKey {
		return "", &keyError{from, fmt.Errorf("the admin key is %d bytes: use at least %d (e.g. openssl rand -hex 32)", len(key), minAdminKey)}
	}
	return key, nil
}

// authorized checks the admin key: "Authorization: Bearer KEY", HTTP Basic auth with KEY as the
// password (so a browser can open the status page), or "X-API-Key: KEY".
func (s *Server) authorized(r *http.Request) bool {
	key := s.cur.Load().adminKey // a reload may change it
	if key == "" {
		return s.devMode // dev with no key configured: open to this machine only (see refuse)
	}
	got := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if k, ok := strings.CutPrefix(auth, "Bearer "); ok {
			got = k
		} else if _, pw, ok := r.BasicAuth(); ok {
			got = pw
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1
}

// refuse says why an admin request is refused before its key is looked at, or "".
//
// A request a browser sends on behalf of another site is refused: a page of any site can make a
// browser POST to a host it can reach (a form, or fetch in no-cors mode), with the Basic
// credentials the browser remembers for the status page. Browsers say where a request comes
// from (Origin, Sec-Fetch-Site); tools such as curl send neither and are not affected.
//
// wasmsock dev without a key (the admin side open, for a developer's machine) also refuses every
// request that does not come from this machine: the client must be on a loopback address, and
// the Host it asked for a loopback name or address (a DNS-rebinding page reaches the host under
// its own name).
func (s *Server) refuse(r *http.Request) string {
	peer := ipOf(remoteAddr(r.RemoteAddr))
	host, secure := r.Host, s.tls != nil
	if f, ok := s.proxies.resolve(peer, r.Header.Values); ok {
		peer = f.ip
		if f.host != "" {
			host = f.host
		}
		switch f.proto {
		case "https":
			secure = true
		case "http":
			secure = false
		}
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "cross-site request refused (Sec-Fetch-Site: " + site + ")"
	}
	if origin := r.Header.Get("Origin"); origin != "" && !auth.SameOrigin(origin, host, secure) {
		return "cross-site request refused (Origin " + origin + ")"
	}
	if s.cur.Load().adminKey == "" && s.devMode {
		if a, err := netip.ParseAddr(peer); err != nil || !a.Unmap().IsLoopback() {
			return "wasmsock dev without an admin key answers this machine only (loopback); set [admin] key_env or key_file to open it to others"
		}
		if !loopbackHost(host) {
			return "wasmsock dev without an admin key answers requests for localhost or a loopback address only (Host " + host + ")"
		}
	}
	return ""
}

// remoteAddr is a net.Addr for an http.Request's RemoteAddr.
type remoteAddr string

func (a remoteAddr) Network() string { return "tcp" }
func (a remoteAddr) String() string  { return string(a) }

// loopbackHost reports whether a Host header names this machine: localhost, a name under
// .localhost, or a loopback address.
func loopbackHost(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.ToLower(strings.Trim(h, "[]"))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

func (s *Server) requireKey(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if why := s.refuse(r); why != "" {
			writeJSON(w, http.StatusForbidden, APIError{why})
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="wasmsock admin"`)
			writeJSON(w, http.StatusUnauthorized, APIError{"missing or wrong admin key"})
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) maxMessage() int64 {
	var n int64
	for _, r := range s.cur.Load().routes {
		n = max(n, int64(r.cfg.MaxMessageBytes))
	}
	return n
}

func (s *Server) adminRoutes(mux *http.ServeMux, st *state) {
	for _, name := range []string{"publish", "send", "close", "broadcast"} {
		mux.HandleFunc("POST /api/"+name, s.requireKey(s.apiCommand(name)))
	}
	mux.HandleFunc("GET /api/groups", s.requireKey(s.apiGroups))
	mux.HandleFunc("POST /api/reload", s.requireKey(s.apiReload))
	mux.HandleFunc("GET /api/status", s.requireKey(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status())
	}))
	// The status page is registered by httpHandler, which reports a path the host serves already.
}

// POST /api/reload: reload the config (ReloadConfig: routes, plugins and their modules, limits,
// auth); 422 when it is refused. ?plugin=NAME reloads that plugin's module only.
func (s *Server) apiReload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	if name := r.URL.Query().Get("plugin"); name != "" {
		rep := s.ReloadPlugin(ctx, name)
		status := http.StatusOK
		if rep.Error != "" {
			status = http.StatusUnprocessableEntity
		}
		writeJSON(w, status, map[string]any{"reloads": []ReloadReport{rep}})
		return
	}
	rep := s.ReloadConfig(ctx)
	status := http.StatusOK
	if !rep.Applied {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, rep)
}

// Status is a snapshot of the server for the status page and /api/status.
type Status struct {
	Version     string         `json:"version"`
	Started     time.Time      `json:"started"`
	Draining    bool           `json:"draining"`
	Connections int            `json:"connections"`
	Routes      []RouteStatus  `json:"routes"`
	Plugins     []PluginStatus `json:"plugins"`
	Groups      []Group        `json:"groups"`
	// Cluster is this node's view of its cluster; nil for a host that is alone.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
	// LastConfigReload is the outcome of the last config reload, if there was one.
	LastConfigReload *ConfigReload `json:"last_config_reload,omitempty"`
}

// RouteStatus is one route in a Status.
type RouteStatus struct {
	Path        string `json:"path"`
	Plugin      string `json:"plugin"`
	Mode        string `json:"mode"`
	Connections int64  `json:"connections"`
}

// PluginStatus is one plugin in a Status.
type PluginStatus struct {
	Name      string    `json:"name"`
	Module    string    `json:"module"`
	SHA256    string    `json:"sha256"`
	LoadedAt  time.Time `json:"loaded_at"`
	Instances int       `json:"instances"`
	Disabled  bool      `json:"disabled"`
	// CrashLoopUntil is set while the plugin is in crash-loop backoff: when it boots again.
	CrashLoopUntil *time.Time `json:"crash_loop_until,omitempty"`
	Recycles       int64      `json:"recycles"`
	LogDropped     int64      `json:"log_lines_dropped"`
	Faults         int64      `json:"faults"`
	Timeouts       int64      `json:"timeouts"`
	Restarts       int64      `json:"restarts"`
	Reloads        int64      `json:"reloads"`
	LastReload     string     `json:"last_reload,omitempty"`
	Bus            BusStatus  `json:"bus"`
}

// Version is reported in Status; the command sets it.
var Version = "devel"

// Status returns a snapshot of routes, plugins, connections and the largest groups.
func (s *Server) Status() Status {
	cur := s.cur.Load()
	st := Status{Version: Version, Started: s.started, Draining: s.draining.Load(), Connections: s.hub.Len(),
		LastConfigReload: s.lastConfigReload.Load()}
	for _, path := range slices.Sorted(maps.Keys(cur.routes)) {
		r := cur.routes[path]
		st.Routes = append(st.Routes, RouteStatus{path, r.cfg.Plugin, r.cfg.Mode, r.m.open.Load()})
	}
	for _, name := range slices.Sorted(maps.Keys(cur.plugins)) {
		p := cur.plugins[name]
		ps := PluginStatus{
			Name: name, Module: cur.cfg.Plugins[name].Module, SHA256: p.Hash(), LoadedAt: p.LoadedAt(),
			Instances: p.Instances(), Disabled: p.Disabled(),
			Faults: p.Stats().Faults.Load(), Timeouts: p.Stats().Timeouts.Load(),
			Restarts: p.Stats().Restarts.Load(), Reloads: p.Stats().Reloads.Load(),
			Bus:      s.busStatus(name),
			Recycles: p.Stats().Recycles.Load(), LogDropped: p.Stats().LogDropped.Load(),
		}
		if until := p.BackoffUntil(); !until.IsZero() {
			ps.CrashLoopUntil = &until
		}
		if lr := p.LastReload(); lr != nil {
			if lr.Err != nil {
				ps.LastReload = fmt.Sprintf("%s: failed, %s kept serving: %v", lr.At.Format(time.RFC3339), short(lr.OldHash), lr.Err)
			} else {
				ps.LastReload = fmt.Sprintf("%s: %s -> %s", lr.At.Format(time.RFC3339), short(lr.OldHash), short(lr.NewHash))
			}
		}
		st.Plugins = append(st.Plugins, ps)
	}
	st.Cluster = s.clusterStatus()
	groups := s.hub.Groups()
	slices.SortFunc(groups, func(a, b Group) int { return b.Size - a.Size })
	st.Groups = groups[:min(len(groups), 100)]
	return st
}
