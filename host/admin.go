package host

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/auth"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/internal/wsproto"
	"github.com/wasmsock/wasmsock/host/plugin"
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
	if s.adminKey == "" {
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
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.adminKey)) == 1
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
	if s.adminKey == "" && s.devMode {
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
			writeJSON(w, http.StatusForbidden, apiError{why})
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="wasmsock admin"`)
			writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong admin key"})
			return
		}
		h(w, r)
	}
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly (unknown fields are errors) and at most 1 MiB more than the
// largest message a route accepts.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2*s.maxMessage()+1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"bad JSON body: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) maxMessage() int64 {
	var n int64
	for _, r := range s.routes {
		n = max(n, int64(r.cfg.MaxMessageBytes))
	}
	return n
}

// payload is a message in an API request: text, or binary in base64.
type payload struct {
	Text   *string `json:"text,omitempty"`
	Binary []byte  `json:"binary,omitempty"` // base64 in JSON
}

func (p payload) message() (int32, []byte, error) {
	switch {
	case p.Text != nil && p.Binary != nil:
		return 0, nil, errors.New(`give "text" or "binary", not both`)
	case p.Text != nil:
		if !wsproto.ValidUTF8([]byte(*p.Text)) {
			return 0, nil, errors.New(`"text" is not valid UTF-8`)
		}
		return abi.KindText, []byte(*p.Text), nil
	case p.Binary != nil:
		return abi.KindBinary, p.Binary, nil
	}
	return 0, nil, errors.New(`missing "text" or "binary"`)
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/publish", s.requireKey(s.apiPublish))
	mux.HandleFunc("POST /api/send", s.requireKey(s.apiSend))
	mux.HandleFunc("POST /api/close", s.requireKey(s.apiClose))
	mux.HandleFunc("GET /api/groups", s.requireKey(s.apiGroups))
	mux.HandleFunc("POST /api/reload", s.requireKey(s.apiReload))
	mux.HandleFunc("GET /api/status", s.requireKey(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status())
	}))
	if s.statusPath != "" {
		mux.HandleFunc("GET "+s.statusPath, s.requireKey(s.statusPage))
	}
}

// POST /api/publish {"namespace": "", "group": "room:general", "text": "..."}
func (s *Server) apiPublish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Namespace string `json:"namespace"`
		Group     string `json:"group"`
		payload
	}
	if !s.decode(w, r, &req) {
		return
	}
	kind, data, err := req.message()
	if err == nil && !plugin.ValidGroupName([]byte(req.Group)) {
		err = errors.New(`"group" must be 1-128 bytes of UTF-8 without control characters`)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"delivered": s.publish(req.Namespace, req.Group, kind, data, 0)})
}

// POST /api/send {"namespace": "", "user": "bob", "text": "..."} or {"conn": 42, ...}
func (s *Server) apiSend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Namespace string `json:"namespace"`
		User      string `json:"user"`
		Conn      uint64 `json:"conn"`
		payload
	}
	if !s.decode(w, r, &req) {
		return
	}
	kind, data, err := req.message()
	if err == nil && (req.User == "") == (req.Conn == 0) {
		err = errors.New(`give "user" or "conn"`)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if req.User != "" {
		n := s.publish(req.Namespace, plugin.UserGroupPrefix+req.User, kind, data, 0)
		writeJSON(w, http.StatusOK, map[string]int{"delivered": n})
		return
	}
	c := s.conns.get(req.Conn)
	if c == nil {
		writeJSON(w, http.StatusNotFound, apiError{"no such connection"})
		return
	}
	if st := c.send(kind, data); st != abi.OK {
		writeJSON(w, http.StatusConflict, apiError{"not sent: " + st.String()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"delivered": 1})
}

// POST /api/close {"conn": 42, "code": 4000, "reason": "kicked"}
func (s *Server) apiClose(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Conn   uint64 `json:"conn"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	if req.Code == 0 {
		req.Code = wsproto.CloseNormal
	}
	if !abi.ValidCloseCode(req.Code) {
		writeJSON(w, http.StatusBadRequest, apiError{"invalid close code " + strconv.Itoa(req.Code)})
		return
	}
	c := s.conns.get(req.Conn)
	switch {
	case c == nil:
		writeJSON(w, http.StatusNotFound, apiError{"no such connection"})
	case !c.startClose(req.Code, req.Reason, false):
		writeJSON(w, http.StatusConflict, apiError{"already closing"})
	default:
		writeJSON(w, http.StatusOK, map[string]bool{"closing": true})
	}
}

// GET /api/groups: every group and its size; ?namespace=&group= lists one group's members.
func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("group") {
		writeJSON(w, http.StatusOK, map[string]any{"groups": s.groups.list()})
		return
	}
	type member struct {
		Conn       uint64 `json:"conn"`
		User       string `json:"user,omitempty"`
		Route      string `json:"route"`
		RemoteAddr string `json:"remote_addr"`
	}
	members := []member{}
	for _, c := range s.groups.members(q.Get("namespace"), q.Get("group")) {
		members = append(members, member{c.id, c.user, c.route.cfg.Path, c.remoteAddr})
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespace": q.Get("namespace"), "group": q.Get("group"), "members": members})
}

// POST /api/reload: reload every plugin whose module changed; ?plugin=NAME for one.
func (s *Server) apiReload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	var reports []ReloadReport
	if name := r.URL.Query().Get("plugin"); name != "" {
		reports = []ReloadReport{s.ReloadPlugin(ctx, name)}
	} else {
		reports = s.Reload(ctx)
	}
	status := http.StatusOK
	for _, rep := range reports {
		if rep.Error != "" {
			status = http.StatusUnprocessableEntity
		}
	}
	writeJSON(w, status, map[string]any{"reloads": reports})
}

// publish sends a message to a group of a namespace from outside any plugin event.
func (s *Server) publish(ns, group string, kind int32, data []byte, except uint64) int {
	return s.fanOut(s.groups.members(ns, group), kind, data, except)
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
	Name       string    `json:"name"`
	Module     string    `json:"module"`
	SHA256     string    `json:"sha256"`
	LoadedAt   time.Time `json:"loaded_at"`
	Instances  int       `json:"instances"`
	Disabled   bool      `json:"disabled"`
	Faults     int64     `json:"faults"`
	Timeouts   int64     `json:"timeouts"`
	Restarts   int64     `json:"restarts"`
	Reloads    int64     `json:"reloads"`
	LastReload string    `json:"last_reload,omitempty"`
	Bus        BusStatus `json:"bus"`
}

// Version is reported in Status; the command sets it.
var Version = "devel"

// Status returns a snapshot of routes, plugins, connections and the largest groups.
func (s *Server) Status() Status {
	st := Status{Version: Version, Started: s.started, Draining: s.draining.Load(), Connections: s.conns.len()}
	for _, path := range slices.Sorted(maps.Keys(s.routes)) {
		r := s.routes[path]
		st.Routes = append(st.Routes, RouteStatus{path, r.cfg.Plugin, r.cfg.Mode, r.open.Load()})
	}
	for _, name := range slices.Sorted(maps.Keys(s.plugins)) {
		p := s.plugins[name]
		ps := PluginStatus{
			Name: name, Module: s.cfg.Plugins[name].Module, SHA256: p.Hash(), LoadedAt: p.LoadedAt(),
			Instances: p.Instances(), Disabled: p.Disabled(),
			Faults: p.Stats().Faults.Load(), Timeouts: p.Stats().Timeouts.Load(),
			Restarts: p.Stats().Restarts.Load(), Reloads: p.Stats().Reloads.Load(),
			Bus: s.busStatus(name),
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
	groups := s.groups.list()
	slices.SortFunc(groups, func(a, b Group) int { return b.Size - a.Size })
	st.Groups = groups[:min(len(groups), 100)]
	return st
}
