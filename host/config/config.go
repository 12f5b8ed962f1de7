// Package config loads and validates host.toml.
//
// Decoding is strict: an unknown key, a value of the wrong type, a route naming a plugin that does
// not exist or a module file that is missing is an error naming the file, the line (where TOML
// gives one) and the key. Load reports every problem it finds, not only the first.
//
// One rule for zeros: a key left out takes its default; a key given keeps its value. Where 0 (or
// "0s") means "off" the key's documentation says so; anywhere else an explicit 0 or "" that
// makes no sense is a problem, never a silent default. Config.Problem lets the host report what
// it finds wrong later (a module that does not load) at the same file:line:key.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/wasmsock/wasmsock/host/auth"
	"github.com/wasmsock/wasmsock/host/hub"
)

// Defaults. README.md and the commented host.toml document the same values.
const (
	DefaultListen           = ":8080"
	DefaultHandshakeTimeout = "10s"
	DefaultDrainTimeout     = "10s"
	DefaultMaxHeaderBytes   = 8 << 10
	DefaultMaxMessageBytes  = 1 << 20
	DefaultPingInterval     = "30s"
	DefaultPongTimeout      = "10s"
	DefaultCloseTimeout     = "5s"
	DefaultQueueMessages    = 256
	DefaultQueueBytes       = 4 << 20
	DefaultInstances        = 1
	DefaultCallTimeout      = "1s"
	DefaultMemoryLimit      = 128 << 20
	DefaultMailboxBytes     = 16 << 20
	DefaultCrashBackoff     = "1s"
	DefaultCrashBackoffMax  = "1m"
	DefaultLogLineBytes     = 4 << 10
	DefaultLogLinesPerSec   = 100
	DefaultMaxConnections   = 10000
	DefaultMaxConnsPerIP    = 1000
	DefaultConnRatePerIP    = 200
	DefaultMessagesPerSec   = 1000
	DefaultMaxGroupsPerConn = hub.DefaultPerMember
	DefaultMaxGroups        = hub.DefaultTotal
	DefaultMaxCrashes       = 5
	DefaultCrashWindow      = "1m"
)

// Route modes: which side may send data messages.
const (
	ModeTwoWay      = "two-way"
	ModeReceiveOnly = "receive-only"
	ModeSendOnly    = "send-only"
)

// Config is a decoded and validated host.toml.
type Config struct {
	// File is the path the config was read from; Dir is its directory, which relative paths in
	// the config are resolved against.
	File string `toml:"-"`
	Dir  string `toml:"-"`
	// Dev is set by wasmsock dev (not by the file): status page on, and without a key the admin
	// side open to this machine only.
	Dev bool `toml:"-"`

	Listen           string   `toml:"listen"`
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	DrainTimeout     Duration `toml:"drain_timeout"`
	MaxHeaderBytes   ByteSize `toml:"max_header_bytes"`
	// CompilationCache is a directory where compiled modules are kept across restarts (wazero's
	// file cache); "" keeps them in memory only.
	CompilationCache string `toml:"compilation_cache"`
	Log              Log    `toml:"log"`
	// ChatPage serves the built-in chat page at "/" (it talks to the route "/chat").
	ChatPage bool         `toml:"chat_page"`
	Admin    Admin        `toml:"admin"`
	Limits   Limits       `toml:"limits"`
	Auth     *auth.Config `toml:"auth"` // the default authentication of every route
	// Cluster makes this host a node of a cluster on NATS (cluster.go); nil: a single node.
	Cluster *Cluster `toml:"cluster"`

	// TLS serves wss:// and https:// directly, from a certificate and key file (reloaded by
	// SIGHUP); without it the host speaks plain ws:// and http://, as behind a proxy.
	TLS *TLS `toml:"tls"`
	// TrustedProxies lists the addresses (IPs or CIDRs) of reverse proxies and load balancers:
	// only a connection from one of them may say, with X-Forwarded-For, X-Forwarded-Proto,
	// X-Forwarded-Host or Forwarded, who the client is and how it reached the proxy.
	TrustedProxies []string `toml:"trusted_proxies"`

	Plugins map[string]*Plugin `toml:"plugin"`
	Routes  []*Route           `toml:"route"`

	lines map[string]int // see keyLines: where the file defines each key
}

// TLS is the certificate the host serves wss:// with.
type TLS struct {
	CertFile string `toml:"cert_file"` // PEM certificate chain, leaf first (relative to the config)
	KeyFile  string `toml:"key_file"`  // PEM private key of the leaf certificate
}

// Log configures the host's structured log.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Admin configures the operator's side: the backend HTTP API (/api/...) and the status page, both
// protected by an API key. Without a key both are off. /metrics, /healthz and /readyz need no key.
type Admin struct {
	KeyEnv     string `toml:"key_env"`     // environment variable holding the API key
	KeyFile    string `toml:"key_file"`    // or a file holding it (relative to the config)
	StatusPage string `toml:"status_page"` // path of the status page, e.g. "/status"; "" for none
}

// Limits protect the server from clients: each has a safe default, and 0 turns it off.
type Limits struct {
	MaxConnections            *int `toml:"max_connections"`               // WebSocket connections in all; over: 503
	MaxConnectionsPerIP       *int `toml:"max_connections_per_ip"`        // from one client IP; over: 429
	ConnectionsPerSecondPerIP *int `toml:"connections_per_second_per_ip"` // new TCP connections (burst 2x); over: 429
	MessagesPerSecond         *int `toml:"messages_per_second"`           // per connection (burst 2x); over: close 1008
	MaxGroupsPerConnection    *int `toml:"max_groups_per_connection"`     // groups one connection may join; over: join fails with ErrLimit
	MaxGroups                 *int `toml:"max_groups"`                    // distinct groups on this host; over: a join that makes a new one fails with ErrLimit
}

// Plugin is one WebAssembly module and how to run it.
type Plugin struct {
	Name        string         `toml:"-"`
	Module      string         `toml:"module"` // resolved to an absolute path by Load
	Instances   int            `toml:"instances"`
	CallTimeout Duration       `toml:"call_timeout"`
	MemoryLimit ByteSize       `toml:"memory_limit"`
	Config      map[string]any `toml:"config"`       // handed to the plugin's on_start as JSON
	MaxCrashes  int            `toml:"max_crashes"`  // faults tolerated within crash_window; default 5
	CrashWindow Duration       `toml:"crash_window"` // default 1m
	// Crash-loop backoff: first wait, doubled per loop up to the max (the plugin retries by itself).
	CrashBackoff    Duration `toml:"crash_backoff"`
	CrashBackoffMax Duration `toml:"crash_backoff_max"`
	MailboxBytes    ByteSize `toml:"mailbox_bytes"`  // inbound event bytes queued per instance before readers wait
	MemoryRecycle   ByteSize `toml:"memory_recycle"` // recycle an instance past this much linear memory; 0: never
	// Guest log lines are cut at LogLineBytes and limited to LogLinesPerSecond per plugin.
	LogLineBytes      ByteSize `toml:"log_line_bytes"`
	LogLinesPerSecond int      `toml:"log_lines_per_second"`
	// Build is a shell command (run in the config's directory) that rebuilds Module; Watch are
	// globs of its sources. wasmsock dev runs Build when a source changes, then reloads.
	Build string   `toml:"build"`
	Watch []string `toml:"watch"`
	// Bus is what the operator grants the plugin on the event bus (bus.go); nil: the defaults.
	Bus *PluginBus `toml:"bus"`
}

// Route maps a URL path to a plugin and holds the per-connection protocol settings.
type Route struct {
	Path            string   `toml:"path"`
	Plugin          string   `toml:"plugin"`
	MaxMessageBytes ByteSize `toml:"max_message_bytes"`
	PingInterval    Duration `toml:"ping_interval"`
	PongTimeout     Duration `toml:"pong_timeout"`
	CloseTimeout    Duration `toml:"close_timeout"`
	QueueMessages   int      `toml:"queue_messages"`
	QueueBytes      ByteSize `toml:"queue_bytes"`

	// Mode is "two-way" (default), "receive-only" (the server never sends data messages to the
	// client) or "send-only" (the client may not send data messages: 1003).
	Mode string `toml:"mode"`
	// Subprotocols the route speaks, in the server's order; the first one the client offers that
	// is on the list is selected. RequireSubprotocol refuses (400) a client that offers none.
	Subprotocols       []string `toml:"subprotocols"`
	RequireSubprotocol bool     `toml:"require_subprotocol"`
	// Compression negotiates permessage-deflate (RFC 7692) when the client offers it.
	Compression bool `toml:"compression"`

	// NamespaceFrom and UserFrom say where a connection's namespace and user id come from:
	// "query:NAME" or "header:NAME". Empty: the default namespace "" and no user. Taken from the
	// request as it is, the values are NOT authenticated.
	// Auth authenticates the route's handshakes, replacing the top-level [auth] for this route.
	Auth *auth.Config `toml:"auth"`
	// AllowedOrigins and AllowMissingOrigin check the Origin of handshakes (host/auth).
	// Default: same origin only, and clients that send no Origin (non-browsers) allowed.
	AllowedOrigins     []string `toml:"allowed_origins"`
	AllowMissingOrigin *bool    `toml:"allow_missing_origin"`

	NamespaceFrom string `toml:"namespace_from"`
	UserFrom      string `toml:"user_from"`

	Namespace Source `toml:"-"` // parsed NamespaceFrom
	User      Source `toml:"-"` // parsed UserFrom
}

// Source is where a value is read from in the handshake request.
type Source struct {
	Kind string // "" (none), "query" or "header"
	Name string
}

func parseSource(s string) (Source, error) {
	if s == "" {
		return Source{}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" || (kind != "query" && kind != "header") {
		return Source{}, fmt.Errorf("%q: want \"query:NAME\" or \"header:NAME\"", s)
	}
	return Source{Kind: kind, Name: name}, nil
}

// ParseProxy parses an entry of trusted_proxies: an IP address ("10.0.0.7", "::1") or a CIDR
// prefix ("10.0.0.0/8", "fd00::/8").
func ParseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or a CIDR prefix such as \"10.0.0.0/8\"", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has bits set past the prefix length (did you mean %q?)", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or a CIDR prefix such as \"10.0.0.0/8\"", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Problem returns a problem with key, at the line of the file that defines it (or the closest
// table that holds it). The host reports what it finds wrong while building a server from the
// config (a module that does not load, a key file that is missing) this way, so that every
// problem names file:line:key.
func (c *Config) Problem(key, msg string) Problem {
	v := validator{lines: c.lines}
	return Problem{File: c.File, Line: v.lineOf(key), Key: key, Msg: oneLine(msg)}
}

// PluginKey and RouteKey are the keys of a plugin's and a route's table, as Problem wants them.
func PluginKey(name string) string { return childKey("plugin", name) }

// RouteKey is the key of the i-th [[route]] table.
func RouteKey(i int) string { return indexKey("route", i) }

// Problem is one thing wrong with a config file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted TOML key, "" when the problem is with the whole file
	Msg  string
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Key != "" {
		fmt.Fprintf(&b, ": %s", p.Key)
	}
	fmt.Fprintf(&b, ": %s", p.Msg)
	return b.String()
}

// Error lists every problem Load found. Its message has one line per problem.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads, decodes and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{[]Problem{{File: path, Msg: errMsg(err)}}}
	}
	return Parse(path, data)
}

// Parse decodes and validates data as if read from the file at path (which names the file in
// errors and anchors relative module paths).
//
// A TOML syntax error is reported alone: nothing after it can be read. Otherwise every unknown key
// and every value of the wrong type is reported, and the values that did decode are validated.
func Parse(path string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	c := &Config{File: path, Dir: filepath.Dir(abs)}
	v := &validator{file: path, failed: map[string]bool{}, set: map[string]bool{}}

	// Decoding into a map of anything fails only on a syntax error.
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		p := Problem{File: path, Msg: oneLine(err.Error())}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line, p.Key, p.Msg = pe.Position.Line, oneLine(pe.LastKey), oneLine(pe.Message)
		}
		return nil, &Error{[]Problem{p}}
	}
	v.lines = keyLines(string(data))
	v.decode("", raw, reflect.ValueOf(c).Elem())
	c.lines = v.lines
	c.applyDefaults(v)
	c.validate(v)
	if len(v.problems) > 0 {
		slices.SortStableFunc(v.problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
		return nil, &Error{v.problems}
	}
	return c, nil
}

// applyDefaults fills in every key the file leaves out. A key the file gives keeps its value, 0
// and "" included: where 0 means "off" (the [limits], ping_interval, drain_timeout) it is taken as
// such, and elsewhere validate refuses it. There is no value that silently means "the default".
func (c *Config) applyDefaults(v *validator) {
	def := func(key string, apply func()) {
		if !v.set[key] {
			apply()
		}
	}
	def("listen", func() { c.Listen = DefaultListen })
	def("handshake_timeout", func() { setDur(&c.HandshakeTimeout, DefaultHandshakeTimeout) })
	def("drain_timeout", func() { setDur(&c.DrainTimeout, DefaultDrainTimeout) })
	def("max_header_bytes", func() { c.MaxHeaderBytes = DefaultMaxHeaderBytes })
	// Log level and format are left empty when not set: the command picks (JSON at info for
	// serve, text at debug for dev).
	setLimit(&c.Limits.MaxConnections, DefaultMaxConnections)
	setLimit(&c.Limits.MaxConnectionsPerIP, DefaultMaxConnsPerIP)
	setLimit(&c.Limits.ConnectionsPerSecondPerIP, DefaultConnRatePerIP)
	setLimit(&c.Limits.MessagesPerSecond, DefaultMessagesPerSec)
	setLimit(&c.Limits.MaxGroupsPerConnection, DefaultMaxGroupsPerConn)
	setLimit(&c.Limits.MaxGroups, DefaultMaxGroups)
	for name, p := range c.Plugins {
		p.Name = name
		key := childKey("plugin", name)
		def(key+".instances", func() { p.Instances = DefaultInstances })
		def(key+".call_timeout", func() { setDur(&p.CallTimeout, DefaultCallTimeout) })
		def(key+".memory_limit", func() { p.MemoryLimit = DefaultMemoryLimit })
		def(key+".max_crashes", func() { p.MaxCrashes = DefaultMaxCrashes })
		def(key+".crash_window", func() { setDur(&p.CrashWindow, DefaultCrashWindow) })
		def(key+".crash_backoff", func() { setDur(&p.CrashBackoff, DefaultCrashBackoff) })
		def(key+".crash_backoff_max", func() { setDur(&p.CrashBackoffMax, DefaultCrashBackoffMax) })
		def(key+".mailbox_bytes", func() { p.MailboxBytes = DefaultMailboxBytes })
		def(key+".log_line_bytes", func() { p.LogLineBytes = DefaultLogLineBytes })
		def(key+".log_lines_per_second", func() { p.LogLinesPerSecond = DefaultLogLinesPerSec })
	}
	for i, r := range c.Routes {
		key := indexKey("route", i)
		def(key+".max_message_bytes", func() { r.MaxMessageBytes = DefaultMaxMessageBytes })
		def(key+".ping_interval", func() { setDur(&r.PingInterval, DefaultPingInterval) })
		def(key+".pong_timeout", func() { setDur(&r.PongTimeout, DefaultPongTimeout) })
		def(key+".close_timeout", func() { setDur(&r.CloseTimeout, DefaultCloseTimeout) })
		def(key+".queue_messages", func() { r.QueueMessages = DefaultQueueMessages })
		def(key+".queue_bytes", func() { r.QueueBytes = DefaultQueueBytes })
		def(key+".mode", func() { r.Mode = ModeTwoWay })
	}
}

var pluginName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *Config) validate(v *validator) {
	if err := ValidateListen(c.Listen); err != nil {
		v.add("listen", err.Error())
	}
	if c.HandshakeTimeout.D <= 0 {
		v.add("handshake_timeout", "must be positive")
	}
	if c.DrainTimeout.D < 0 {
		v.add("drain_timeout", "must not be negative")
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20 {
		v.add("max_header_bytes", "must be between 1KiB and 1MiB")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	case "":
		if v.set["log.level"] {
			v.add("log.level", "empty: leave the key out for the command's default, or give one of debug, info, warn, error")
		}
	default:
		v.add("log.level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	case "":
		if v.set["log.format"] {
			v.add("log.format", "empty: leave the key out for the command's default, or give text or json")
		}
	default:
		v.add("log.format", fmt.Sprintf("%q is not one of text, json", c.Log.Format))
	}

	for _, l := range []struct {
		key string
		n   int
	}{
		{"limits.max_connections", *c.Limits.MaxConnections},
		{"limits.max_connections_per_ip", *c.Limits.MaxConnectionsPerIP},
		{"limits.connections_per_second_per_ip", *c.Limits.ConnectionsPerSecondPerIP},
		{"limits.messages_per_second", *c.Limits.MessagesPerSecond},
		{"limits.max_groups_per_connection", *c.Limits.MaxGroupsPerConnection},
		{"limits.max_groups", *c.Limits.MaxGroups},
	} {
		if l.n < 0 {
			v.add(l.key, "must not be negative (0 turns the limit off)")
		}
	}
	if c.Auth != nil {
		v.addAuth("auth", c.Auth.Validate())
	}
	c.validateCluster(v)
	if c.CompilationCache != "" && !filepath.IsAbs(c.CompilationCache) {
		c.CompilationCache = filepath.Join(c.Dir, c.CompilationCache)
	}
	if c.Admin.KeyEnv != "" && c.Admin.KeyFile != "" {
		v.add("admin.key_file", "set key_env or key_file, not both")
	}
	if c.Admin.KeyFile != "" && !filepath.IsAbs(c.Admin.KeyFile) {
		c.Admin.KeyFile = filepath.Join(c.Dir, c.Admin.KeyFile)
	}
	if sp := c.Admin.StatusPage; sp != "" && (!strings.HasPrefix(sp, "/") || sp == "/") {
		v.add("admin.status_page", fmt.Sprintf("%q must be a path such as \"/status\"", sp))
	}
	if c.TLS != nil {
		for _, f := range []struct {
			key  string
			path *string
		}{{"tls.cert_file", &c.TLS.CertFile}, {"tls.key_file", &c.TLS.KeyFile}} {
			switch {
			case *f.path == "":
				v.add(f.key, "missing: [tls] needs cert_file and key_file (PEM files)")
			case !filepath.IsAbs(*f.path):
				*f.path = filepath.Join(c.Dir, *f.path)
			}
		}
	}
	for i, tp := range c.TrustedProxies {
		if _, err := ParseProxy(tp); err != nil {
			v.add(indexKey("trusted_proxies", i), err.Error())
		}
	}

	names := make([]string, 0, len(c.Plugins))
	for name := range c.Plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := c.Plugins[name]
		key := childKey("plugin", name)
		if !pluginName.MatchString(name) {
			v.add(key, "a plugin name is 1-64 letters, digits, '-' or '_'")
		}
		if p.Module == "" {
			v.add(key+".module", "missing: the path of the plugin's .wasm file")
		} else {
			if !filepath.IsAbs(p.Module) {
				p.Module = filepath.Join(c.Dir, p.Module)
			}
			if st, err := os.Stat(p.Module); err != nil {
				v.add(key+".module", errMsg(err))
			} else if st.IsDir() {
				v.add(key+".module", fmt.Sprintf("%q is a directory, not a .wasm file", p.Module))
			}
		}
		if p.Instances < 1 || p.Instances > 1024 {
			v.add(key+".instances", "must be between 1 and 1024")
		}
		if p.MaxCrashes < 1 {
			v.add(key+".max_crashes", "must be at least 1")
		}
		if p.CrashWindow.D <= 0 {
			v.add(key+".crash_window", "must be positive")
		}
		if p.CallTimeout.D <= 0 {
			v.add(key+".call_timeout", "must be positive")
		}
		if p.MemoryLimit < 64<<10 || p.MemoryLimit > 4<<30 {
			v.add(key+".memory_limit", "must be between 64KiB (one wasm page) and 4GiB")
		}
		c.validatePluginBus(v, key, p.Bus)
		if p.CrashBackoff.D <= 0 || p.CrashBackoffMax.D < p.CrashBackoff.D {
			v.add(key+".crash_backoff", "must be positive and at most crash_backoff_max")
		}
		if p.MailboxBytes < 1 {
			v.add(key+".mailbox_bytes", "must be positive")
		}
		if p.MemoryRecycle != 0 && (p.MemoryRecycle < 64<<10 || p.MemoryRecycle > p.MemoryLimit) {
			v.add(key+".memory_recycle", "must be 0 (off) or between 64KiB and memory_limit")
		}
		if p.LogLineBytes < 64 || p.LogLinesPerSecond < 1 {
			v.add(key+".log_line_bytes", "log_line_bytes must be at least 64 and log_lines_per_second at least 1")
		}
	}

	quoted := make([]string, len(names))
	for i, name := range names {
		quoted[i] = childKey("", name)
	}
	defined := strings.Join(quoted, ", ")

	if len(c.Routes) == 0 {
		v.add("route", "no [[route]]: the host would serve nothing")
	}
	paths := map[string]bool{}
	for i, r := range c.Routes {
		key := fmt.Sprintf("route[%d]", i)
		switch {
		case r.Path == "":
			v.add(key+".path", "missing: the URL path, such as \"/echo\"")
		case !strings.HasPrefix(r.Path, "/"):
			v.add(key+".path", fmt.Sprintf("%q must start with '/'", r.Path))
		case strings.ContainsAny(r.Path, "?# \t"):
			v.add(key+".path", fmt.Sprintf("%q must be a plain path, without query, fragment or spaces", r.Path))
		case paths[r.Path]:
			v.add(key+".path", fmt.Sprintf("%q is served by an earlier route already", r.Path))
		case r.Path == "/" && c.ChatPage:
			v.add(key+".path", `"/" is where chat_page = true serves the chat page: move the route, or set chat_page = false`)
		case r.Path == c.Admin.StatusPage:
			v.add(key+".path", fmt.Sprintf("%q is the status page (admin.status_page)", r.Path))
		}
		paths[r.Path] = true
		if r.Plugin == "" {
			v.add(key+".plugin", "missing: the name of a [plugin.NAME] table")
		} else if _, ok := c.Plugins[r.Plugin]; !ok && !v.hasFailed(childKey("plugin", r.Plugin)) {
			v.add(key+".plugin", fmt.Sprintf("no plugin named %q (defined: %s)", r.Plugin, defined))
		}
		if r.MaxMessageBytes < 125 || r.MaxMessageBytes > 1<<30 {
			v.add(key+".max_message_bytes", "must be between 125 bytes and 1GiB")
		}
		if r.PingInterval.D < 0 {
			v.add(key+".ping_interval", "must not be negative (0 turns pings off)")
		}
		if r.PongTimeout.D <= 0 {
			v.add(key+".pong_timeout", "must be positive")
		}
		if r.CloseTimeout.D <= 0 {
			v.add(key+".close_timeout", "must be positive")
		}
		if r.QueueMessages < 1 || r.QueueMessages > 1<<20 {
			v.add(key+".queue_messages", "must be between 1 and 1048576")
		}
		switch r.Mode {
		case ModeTwoWay, ModeReceiveOnly, ModeSendOnly:
		default:
			v.add(key+".mode", fmt.Sprintf("%q is not one of two-way, receive-only, send-only", r.Mode))
		}
		for _, sp := range r.Subprotocols {
			if !validToken(sp) {
				v.add(key+".subprotocols", fmt.Sprintf("%q is not a valid subprotocol token (RFC 6455 §4.1)", sp))
			}
		}
		if r.Auth != nil {
			v.addAuth(key+".auth", r.Auth.Validate())
		}
		if a := r.AuthConfig(c); a != nil && a.NamespaceClaim != "" && r.NamespaceFrom != "" {
			// The namespace comes from the token; namespace_from could only ever apply to a
			// connection without one, letting an anonymous client pick any tenant's namespace.
			v.add(key+".namespace_from", "the route's auth sets namespace_claim: the namespace comes from the token; remove namespace_from (a client without a token would choose its namespace)")
		}
		if r.UserFrom != "" && r.AuthConfig(c) != nil {
			v.add(key+".user_from", "the route authenticates: the user comes from the token, not from user_from")
		}
		if err := r.OriginPolicy().Validate(); err != nil {
			v.addAuth(key, err)
		}
		if r.RequireSubprotocol && len(r.Subprotocols) == 0 {
			v.add(key+".require_subprotocol", "set, but the route lists no subprotocols")
		}
		var err error
		if r.Namespace, err = parseSource(r.NamespaceFrom); err != nil {
			v.add(key+".namespace_from", err.Error())
		}
		if r.User, err = parseSource(r.UserFrom); err != nil {
			v.add(key+".user_from", err.Error())
		}
		if r.QueueBytes < r.MaxMessageBytes+14 && !v.hasFailed(key+".max_message_bytes") {
			v.add(key+".queue_bytes", "must hold at least one message of max_message_bytes (plus its frame header)")
		}
	}
}

// validator collects problems and finds the line a key is on.
type validator struct {
	file     string
	lines    map[string]int  // see keyLines
	failed   map[string]bool // keys whose value did not decode
	set      map[string]bool // keys the file gives a value (that decoded or not)
	problems []Problem
}

// report records a problem with a key.
func (v *validator) report(key, msg string) {
	v.problems = append(v.problems, Problem{File: v.file, Line: v.lineOf(key), Key: key, Msg: msg})
}

// fail reports a value that did not decode: its field keeps its zero value.
func (v *validator) fail(key, msg string) {
	v.failed[key] = true
	v.report(key, msg)
}

// add reports a value that decoded but is not valid. It says nothing about a value that did not
// decode, or that holds or is held by one that did not (a table, an array): what the field holds is
// not what the file says, and the problem is reported already.
func (v *validator) add(key, msg string) {
	if !v.hasFailed(key) && !v.failedUnder(key) {
		v.report(key, msg)
	}
}

// hasFailed reports whether key, or a key that holds it, did not decode.
func (v *validator) hasFailed(key string) bool {
	if v.failed[key] {
		return true
	}
	for _, k := range enclosingKeys(key) {
		if v.failed[k] {
			return true
		}
	}
	return false
}

// failedUnder reports whether a key held by key did not decode.
func (v *validator) failedUnder(key string) bool {
	for k := range v.failed {
		if strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
			return true
		}
	}
	return false
}

// lineOf returns the line that defines key or, if the file does not (a missing key, a key in an
// inline table), the closest table or key that holds it; 0 if none.
func (v *validator) lineOf(key string) int {
	if line, ok := v.lines[key]; ok {
		return line
	}
	for _, k := range enclosingKeys(key) {
		if line, ok := v.lines[k]; ok {
			return line
		}
	}
	return 0
}

// oneLine escapes the newlines in s, so that a problem takes one line of Error.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", `\r`), "\n", `\n`)
}

func errMsg(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%q: %v", pe.Path, pe.Err)
	}
	return err.Error()
}

// setStr gives s the default def when it is empty.
func setStr(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setDur(d *Duration, def string) {
	if !d.Set {
		_ = d.UnmarshalText([]byte(def))
		d.Set = false
	}
}

func setLimit(n **int, def int) {
	if *n == nil {
		*n = &def
	}
}

// ValidateListen checks a listen address: "host:port", ":port" or "[ipv6]:port", with a port
// from 0 to 65535 (0: any free port). A host name is not looked up here.
func ValidateListen(addr string) error {
	if addr == "" {
		return errors.New(`empty: want "host:port" or ":port", such as ":8080"`)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		msg := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			msg = ae.Err
		}
		return fmt.Errorf("%q is not \"host:port\" or \":port\": %s", addr, msg)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /\t") {
		return fmt.Errorf("%q: %q is not a host name or an IP address", addr, host)
	}
	return nil
}

// validToken reports whether s is an HTTP token (RFC 7230 §3.2.6), as a subprotocol must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// AuthConfig is the authentication that applies to the route: its own [route.auth], else the
// top-level [auth], else nil (none).
func (r *Route) AuthConfig(c *Config) *auth.Config {
	if r.Auth != nil {
		return r.Auth
	}
	return c.Auth
}

// OriginPolicy is the route's origin check.
func (r *Route) OriginPolicy() auth.OriginPolicy {
	allowMissing := r.AllowMissingOrigin == nil || *r.AllowMissingOrigin
	return auth.OriginPolicy{Allowed: r.AllowedOrigins, AllowMissing: allowMissing}
}

// addAuth reports the problems of an auth configuration (a join of *auth.ConfigError) under the
// table key prefix.
func (v *validator) addAuth(prefix string, err error) {
	if err == nil {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var ce *auth.ConfigError
		if errors.As(e, &ce) {
			v.add(prefix+"."+ce.Key, ce.Msg)
		} else {
			v.add(prefix, e.Error())
		}
	}
}
