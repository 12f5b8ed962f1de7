package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/host/config"
)

// lines joins config lines with newlines, so a test can count them.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// tempConfig makes a directory holding a fake module m.wasm (the config package only checks that
// the file exists) and a directory dir.wasm, and returns the path host.toml would have in it.
func tempConfig(t testing.TB) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "host.toml")
}

// load writes src next to a fake module and loads it.
func load(t *testing.T, src string) (*config.Config, error, string) {
	t.Helper()
	dir, path := tempConfig(t)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	return c, err, dir
}

func dur(t testing.TB, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The host.toml at the root of the repository loads, and shows every default.
func TestLoadRepoHostTOML(t *testing.T) {
	const path = "../../host.toml"
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != path || c.Dir != root {
		t.Errorf("File, Dir = %q, %q; want %q, %q", c.File, c.Dir, path, root)
	}
	echo := c.Plugins["echo"]
	if echo == nil {
		t.Fatalf("no plugin echo in %v", c.Plugins)
	}
	var route *config.Route
	for _, r := range c.Routes {
		if r.Path == "/echo" {
			route = r
		}
	}
	if route == nil {
		t.Fatal("no route /echo")
	}
	checkDefaults(t, c, echo, route)
	for _, ck := range []struct {
		name      string
		got, want any
	}{
		{"plugin.echo.name", echo.Name, "echo"},
		{"plugin.echo.module", echo.Module, filepath.Join(root, "plugins", "echo", "echo.wasm")},
		{"route /echo plugin", route.Plugin, "echo"},
	} {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// checkDefaults checks that config c, its plugin p and its route r hold the default of every
// key that has one (c's file gives none of them).
func checkDefaults(t *testing.T, c *config.Config, p *config.Plugin, r *config.Route) {
	t.Helper()
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, config.DefaultListen},
		{"handshake_timeout", c.HandshakeTimeout.D, dur(t, config.DefaultHandshakeTimeout)},
		{"drain_timeout", c.DrainTimeout.D, dur(t, config.DefaultDrainTimeout)},
		{"max_header_bytes", c.MaxHeaderBytes, config.ByteSize(config.DefaultMaxHeaderBytes)},
		{"log.level", c.Log.Level, ""}, // unset: the command decides (serve: info, dev: debug)
		{"log.format", c.Log.Format, ""},
		{"limits.max_connections", *c.Limits.MaxConnections, config.DefaultMaxConnections},
		{"limits.messages_per_second", *c.Limits.MessagesPerSecond, config.DefaultMessagesPerSec},
		{"plugin." + p.Name + ".instances", p.Instances, config.DefaultInstances},
		{"plugin." + p.Name + ".call_timeout", p.CallTimeout.D, dur(t, config.DefaultCallTimeout)},
		{"plugin." + p.Name + ".memory_limit", p.MemoryLimit, config.ByteSize(config.DefaultMemoryLimit)},
		{"route " + r.Path + " max_message_bytes", r.MaxMessageBytes, config.ByteSize(config.DefaultMaxMessageBytes)},
		{"route " + r.Path + " ping_interval", r.PingInterval.D, dur(t, config.DefaultPingInterval)},
		{"route " + r.Path + " pong_timeout", r.PongTimeout.D, dur(t, config.DefaultPongTimeout)},
		{"route " + r.Path + " close_timeout", r.CloseTimeout.D, dur(t, config.DefaultCloseTimeout)},
		{"route " + r.Path + " queue_messages", r.QueueMessages, config.DefaultQueueMessages},
		{"route " + r.Path + " queue_bytes", r.QueueBytes, config.ByteSize(config.DefaultQueueBytes)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want the default %v", ck.name, ck.got, ck.want)
		}
	}
}

// Keys left out take their defaults.
func TestDefaults(t *testing.T) {
	c, err, dir := load(t, lines(
		`[plugin.a]`,
		`module = "m.wasm"`,
		`[[route]]`,
		`path = "/a"`,
		`plugin = "a"`,
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Plugins) != 1 || len(c.Routes) != 1 {
		t.Fatalf("%d plugins, %d routes", len(c.Plugins), len(c.Routes))
	}
	p, r := c.Plugins["a"], c.Routes[0]
	checkDefaults(t, c, p, r)
	checks := []struct {
		name      string
		got, want any
	}{
		{"plugin name", p.Name, "a"},
		{"plugin module", p.Module, filepath.Join(dir, "m.wasm")},
		// A default is not a value the file gave.
		{"handshake_timeout set", c.HandshakeTimeout.Set, false},
		{"ping_interval set", r.PingInterval.Set, false},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// Keys that are given are kept, in every accepted syntax.
func TestExplicitValues(t *testing.T) {
	c, err, dir := load(t, lines(
		`listen = "127.0.0.1:9000"`,
		`handshake_timeout = "2s"`,
		`drain_timeout = "0s"`,
		`max_header_bytes = 4096`,
		`[log]`,
		`level = "debug"`,
		`format = "json"`,
		`[plugin.a]`,
		`module = "m.wasm"`,
		`instances = 4`,
		`call_timeout = "250ms"`,
		`memory_limit = "64KiB"`,
		`[plugin.b-2_x]`,
		`module = "`+"PLACEHOLDER"+`"`,
		`[[route]]`,
		`path = "/a"`,
		`plugin = "a"`,
		`max_message_bytes = "125B"`,
		`ping_interval = "0s"`,
		`pong_timeout = "1m30s"`,
		`close_timeout = "1s"`,
		`queue_messages = 1`,
		`queue_bytes = "139"`,
		`[[route]]`,
		`path = "/b/c"`,
		`plugin = "b-2_x"`,
		`max_message_bytes = "1MB"`,
		`queue_bytes = " 2 MiB "`,
	))
	// An absolute module path is kept as it is: rewrite the placeholder and load again.
	if err == nil || !strings.Contains(err.Error(), "PLACEHOLDER") {
		t.Fatalf("want the placeholder module reported missing, got %v", err)
	}
	abs := filepath.Join(dir, "m.wasm")
	src, _ := os.ReadFile(filepath.Join(dir, "host.toml"))
	src = []byte(strings.Replace(string(src), "PLACEHOLDER", filepath.ToSlash(abs), 1))
	c, err = config.Parse(filepath.Join(dir, "host.toml"), src)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Plugins["a"], c.Plugins["b-2_x"]
	r0, r1 := c.Routes[0], c.Routes[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:9000"},
		{"handshake_timeout", c.HandshakeTimeout.D, 2 * time.Second},
		{"drain_timeout", c.DrainTimeout, config.Duration{D: 0, Set: true}},
		{"max_header_bytes", c.MaxHeaderBytes, config.ByteSize(4096)},
		{"log.level", c.Log.Level, "debug"},
		{"log.format", c.Log.Format, "json"},
		{"a.instances", a.Instances, 4},
		{"a.call_timeout", a.CallTimeout.D, 250 * time.Millisecond},
		{"a.memory_limit", a.MemoryLimit, config.ByteSize(64 << 10)},
		{"b.module", b.Module, abs},
		{"b.name", b.Name, "b-2_x"},
		{"r0.max_message_bytes", r0.MaxMessageBytes, config.ByteSize(125)},
		{"r0.ping_interval (0s turns pings off, it is not replaced by the default)", r0.PingInterval, config.Duration{D: 0, Set: true}},
		{"r0.pong_timeout", r0.PongTimeout.D, 90 * time.Second},
		{"r0.close_timeout", r0.CloseTimeout.D, time.Second},
		{"r0.queue_messages", r0.QueueMessages, 1},
		{"r0.queue_bytes", r0.QueueBytes, config.ByteSize(139)},
		{"r1.path", r1.Path, "/b/c"},
		{"r1.plugin", r1.Plugin, "b-2_x"},
		{"r1.max_message_bytes", r1.MaxMessageBytes, config.ByteSize(1000 * 1000)},
		{"r1.queue_bytes", r1.QueueBytes, config.ByteSize(2 << 20)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// Everything under [plugin.NAME.config] belongs to the plugin: any key, any type, any depth.
func TestPluginConfigIsFreeForm(t *testing.T) {
	c, err, _ := load(t, lines(
		`[plugin.a]`,
		`module = "m.wasm"`,
		`config = { inline = true, n = 3 }`,
		`[plugin.b]`,
		`module = "m.wasm"`,
		`[plugin.b.config]`,
		`listne = "not a typo here"`,
		`module = 42`,
		`instances = "many"`,
		`call_timeout = 5`,
		`list = [1, "two", 3.0]`,
		`when = 1979-05-27T07:32:00Z`,
		`"quoted key" = "v"`,
		`dotted.key = 1`,
		`[plugin.b.config.nested.deeper]`,
		`x = [{ y = 1 }, { z = 2 }]`,
		`[[plugin.b.config.items]]`,
		`name = "first"`,
		`[[plugin.b.config.items]]`,
		`name = "second"`,
		`[[route]]`,
		`path = "/a"`,
		`plugin = "a"`,
	))
	if err != nil {
		t.Fatalf("free-form plugin config refused: %v", err)
	}
	if got := c.Plugins["a"].Config; got["inline"] != true || got["n"] != int64(3) {
		t.Errorf("plugin a config = %v", got)
	}
	b := c.Plugins["b"].Config
	if b["listne"] != "not a typo here" || b["module"] != int64(42) || b["instances"] != "many" {
		t.Errorf("plugin b config = %v", b)
	}
	if items, ok := b["items"].([]map[string]any); !ok || len(items) != 2 || items[1]["name"] != "second" {
		t.Errorf("plugin b config items = %#v", b["items"])
	}
	if n, ok := b["nested"].(map[string]any); !ok || n["deeper"] == nil {
		t.Errorf("plugin b config nested = %#v", b["nested"])
	}
}

// wantProblem is one expected problem. Line and key may be found either in the Problem's fields or,
// for errors the TOML decoder reports in its own words, in the message ("line N", the quoted key).
type wantProblem struct {
	line int    // -N: N or no line (0) are both accepted
	key  string // "a|b": either is accepted
	msg  string // a substring of the message; "$DIR" stands for the config's directory
}

func (w wantProblem) String() string { return fmt.Sprintf("line %d, key %s, %q", w.line, w.key, w.msg) }

func (w wantProblem) matches(p config.Problem, path, dir string) bool {
	if p.File != path {
		return false
	}
	if !strings.Contains(p.Msg, strings.ReplaceAll(w.msg, "$DIR", dir)) {
		return false
	}
	keyOK := false
	for _, k := range strings.Split(w.key, "|") {
		if p.Key == k || (p.Key == "" && strings.Contains(p.Msg, strconv.Quote(k))) {
			keyOK = true
		}
	}
	if !keyOK {
		return false
	}
	if w.line < 0 {
		return p.Line == 0 || p.Line == -w.line
	}
	return p.Line == w.line || (p.Line == 0 && strings.Contains(p.Msg, fmt.Sprintf("line %d ", w.line)))
}

// checkProblems checks that err is a *config.Error with exactly the wanted problems (in any
// order), and that its message has one line per problem, each naming the file.
func checkProblems(t *testing.T, err error, path, dir string, want []wantProblem) bool {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Errorf("error %v (%T), want a *config.Error", err, err)
		return false
	}
	ok := true
	text := strings.Split(ce.Error(), "\n")
	if len(text) != len(ce.Problems) {
		t.Errorf("Error() has %d lines for %d problems:\n%s", len(text), len(ce.Problems), ce.Error())
		ok = false
	}
	for i, l := range text {
		if !strings.HasPrefix(l, path+":") {
			t.Errorf("line %d of Error() does not start with the file name: %q", i+1, l)
			ok = false
		}
		if i < len(ce.Problems) && l != ce.Problems[i].Error() {
			t.Errorf("line %d of Error() is %q, not problem %d's %q", i+1, l, i, ce.Problems[i].Error())
			ok = false
		}
	}
	used := make([]bool, len(ce.Problems))
	for _, w := range want {
		found := false
		for i, p := range ce.Problems {
			if !used[i] && w.matches(p, path, dir) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing problem {%v}", w)
			ok = false
		}
	}
	for i, p := range ce.Problems {
		if !used[i] {
			t.Errorf("unexpected problem %+v", p)
			ok = false
		}
	}
	if !ok {
		t.Logf("all problems:\n%s", ce.Error())
	}
	return ok
}

// Every kind of problem names the file, the line and the key.
func TestProblems(t *testing.T) {
	plugin := []string{`[plugin.a]`, `module = "m.wasm"`} // lines 1-2
	route := func(path string) []string { return []string{`[[route]]`, `path = "` + path + `"`, `plugin = "a"`} }
	src := func(parts ...[]string) string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return lines(all...)
	}
	one := func(ls ...string) []string { return ls }

	tests := []struct {
		name string
		src  string
		want []wantProblem
	}{
		// Unknown keys.
		{name: "unknown top-level key",
			src:  src(one(`listne = ":9000"`), plugin, route("/a")),
			want: []wantProblem{{1, "listne", "unknown key"}}},
		{name: "unknown top-level key after tables",
			src:  src(plugin, route("/a"), one(`[log]`, `levle = "debug"`)),
			want: []wantProblem{{7, "log.levle", "unknown key"}}},
		{name: "unknown key in a plugin",
			src:  src(plugin, one(`instance = 2`), route("/a")),
			want: []wantProblem{{3, "plugin.a.instance", "unknown key"}}},
		{name: "unknown key in the second route",
			src:  src(plugin, route("/a"), route("/b"), one(`ping_intreval = "5s"`)),
			want: []wantProblem{{9, "route[1].ping_intreval|route.ping_intreval", "unknown key"}}},
		{name: "unknown key in the second route, named like a key of another table",
			src:  src(plugin, route("/a"), route("/b"), one(`module = "m.wasm"`)),
			want: []wantProblem{{9, "route[1].module|route.module", "unknown key"}}},
		{name: "same unknown key in both routes",
			src: src(plugin, route("/a"), one(`bogus = 1`), route("/b"), one(`bogus = 2`)),
			want: []wantProblem{
				{6, "route[0].bogus|route.bogus", "unknown key"},
				{10, "route[1].bogus|route.bogus", "unknown key"},
			}},
		{name: "unknown key in plugin with a dotted key",
			src:  src(plugin, one(`extra.deep = 1`), route("/a")),
			want: []wantProblem{{3, "plugin.a.extra.deep|plugin.a.extra", "unknown key"}}},

		// Explicit zeros and empties where they make no sense (issue 13 item 6): an error, never
		// the default.
		{name: "explicit zero instances",
			src:  src(plugin, one(`instances = 0`), route("/a")),
			want: []wantProblem{{3, "plugin.a.instances", "between 1 and 1024"}}},
		{name: "explicit zero memory_limit",
			src:  src(plugin, one(`memory_limit = 0`), route("/a")),
			want: []wantProblem{{3, "plugin.a.memory_limit", "between 64KiB"}}},
		{name: "explicit zero max_crashes and crash_window",
			src: src(plugin, one(`max_crashes = 0`, `crash_window = "0s"`), route("/a")),
			want: []wantProblem{
				{3, "plugin.a.max_crashes", "at least 1"},
				{4, "plugin.a.crash_window", "must be positive"},
			}},
		{name: "explicit zero route sizes",
			src: src(plugin, route("/a"), one(`max_message_bytes = 0`, `queue_messages = 0`, `queue_bytes = "0KiB"`)),
			want: []wantProblem{
				{6, "route[0].max_message_bytes", "between 125 bytes"},
				{7, "route[0].queue_messages", "between 1 and"},
				{8, "route[0].queue_bytes", "at least one message"},
			}},
		{name: "explicit zero bus queues",
			src: src(plugin, one(`[plugin.a.bus]`, `event_queue = 0`, `queue_messages = 0`, `queue_bytes = 0`), route("/a")),
			want: []wantProblem{
				{4, "plugin.a.bus.event_queue", "between 1 and 65536"},
				{5, "plugin.a.bus.queue_messages", "between 1 and"},
				{6, "plugin.a.bus.queue_bytes", "between 1 byte"},
			}},
		{name: "explicit zero max_header_bytes",
			src:  src(one(`max_header_bytes = 0`), plugin, route("/a")),
			want: []wantProblem{{1, "max_header_bytes", "between 1KiB"}}},
		{name: "explicit empty strings",
			src: src(one(`listen = ""`, `[log]`, `level = ""`), plugin, route("/a"), one(`mode = ""`)),
			want: []wantProblem{
				{1, "listen", "empty"},
				{3, "log.level", "empty"},
				{9, "route[0].mode", `"" is not one of`},
			}},

		// Addresses.
		{name: "listen with too many colons",
			src:  src(one(`listen = "nonsense::99999"`), plugin, route("/a")),
			want: []wantProblem{{1, "listen", "too many colons"}}},
		{name: "listen port out of range",
			src:  src(one(`listen = "127.0.0.1:99999"`), plugin, route("/a")),
			want: []wantProblem{{1, "listen", "from 0 to 65535"}}},
		{name: "trusted proxy that is not an address",
			src: src(one(`trusted_proxies = ["10.0.0.0/8", "proxy.local", "10.1.2.3/8"]`), plugin, route("/a")),
			want: []wantProblem{
				{1, "trusted_proxies[1]", "not an IP address or a CIDR"},
				{1, "trusted_proxies[2]", `did you mean "10.0.0.0/8"`},
			}},
		{name: "tls without a key file",
			src:  src(one(`[tls]`, `cert_file = "cert.pem"`), plugin, route("/a")),
			want: []wantProblem{{1, "tls.key_file", "needs cert_file and key_file"}}},

		// Paths the host serves itself.
		{name: "a route on / with the chat page",
			src:  src(one(`chat_page = true`), plugin, route("/")),
			want: []wantProblem{{5, "route[0].path", "chat_page = true"}}},
		{name: "a route on the status page",
			src:  src(one(`[admin]`, `status_page = "/a"`), plugin, route("/a")),
			want: []wantProblem{{6, "route[0].path", "status page"}}},

		// Tenancy (issue 12 item 18): a namespace from the token, and from the request for a
		// client without one, would let an anonymous client choose a tenant's namespace.
		{name: "namespace_claim with namespace_from",
			src: src(plugin, route("/a"), one(`namespace_from = "query:namespace"`, `[route.auth]`, `required = false`,
				`algorithms = ["HS256"]`, `secret = { env = "S" }`, `namespace_claim = "tenant"`)),
			want: []wantProblem{{6, "route[0].namespace_from", "namespace_claim"}}},
		{name: "top-level namespace_claim with a route's namespace_from",
			src: src(one(`[auth]`, `algorithms = ["HS256"]`, `secret = { env = "S" }`, `namespace_claim = "tenant"`),
				plugin, route("/a"), one(`namespace_from = "header:X-Tenant"`)),
			want: []wantProblem{{10, "route[0].namespace_from", "namespace_claim"}}},

		// Wrong types.
		{name: "string for an int",
			src:  src(plugin, one(`instances = "2"`), route("/a")),
			want: []wantProblem{{3, "plugin.a.instances", "string"}}},
		{name: "string for an int in a route",
			src:  src(plugin, route("/a"), one(`queue_messages = "many"`)),
			want: []wantProblem{{6, "route.queue_messages|route[0].queue_messages", "string"}}},
		{name: "int for a duration",
			src:  src(plugin, one(`call_timeout = 30`), route("/a")),
			want: []wantProblem{{3, "plugin.a.call_timeout", "not a duration"}}},
		{name: "int for a top-level duration",
			src:  src(one(`handshake_timeout = 10`), plugin, route("/a")),
			want: []wantProblem{{1, "handshake_timeout", "not a duration"}}},
		{name: "bool for a size",
			src:  src(one(`max_header_bytes = true`), plugin, route("/a")),
			want: []wantProblem{{1, "max_header_bytes", "size"}}},
		{name: "float for a size",
			src:  src(plugin, one(`memory_limit = 1.5`), route("/a")),
			want: []wantProblem{{3, "plugin.a.memory_limit", "size"}}},
		{name: "table for a string",
			src:  src(one(`listen = { port = 1 }`), plugin, route("/a")),
			want: []wantProblem{{1, "listen", "type"}}},
		{name: "route as a table, not an array of tables",
			src:  src(plugin, one(`[route]`, `path = "/a"`, `plugin = "a"`)),
			want: []wantProblem{{3, "route", ""}}},

		// Bad text.
		{name: "bad duration text",
			src:  src(one(`drain_timeout = "10 seconds"`), plugin, route("/a")),
			want: []wantProblem{{1, "drain_timeout", `"10 seconds" is not a duration`}}},
		{name: "bad duration text in the second route",
			src:  src(plugin, route("/a"), route("/b"), one(`ping_interval = "soon"`)),
			want: []wantProblem{{9, "route.ping_interval|route[1].ping_interval", `"soon" is not a duration`}}},
		{name: "bad duration text in the first route when the second sets it too",
			src:  src(plugin, route("/a"), one(`ping_interval = "soon"`), route("/b"), one(`ping_interval = "5s"`)),
			want: []wantProblem{{6, "route.ping_interval|route[0].ping_interval", `"soon" is not a duration`}}},
		{name: "bad size text",
			src:  src(plugin, one(`memory_limit = "lots"`), route("/a")),
			want: []wantProblem{{3, "plugin.a.memory_limit", `"lots" is not a size`}}},
		{name: "bad size unit",
			src:  src(plugin, route("/a"), one(`max_message_bytes = "1 meg"`)),
			want: []wantProblem{{6, "route.max_message_bytes|route[0].max_message_bytes", `"1 meg" is not a size`}}},
		{name: "negative size",
			src:  src(plugin, route("/a"), one(`queue_bytes = -5`)),
			want: []wantProblem{{6, "route.queue_bytes|route[0].queue_bytes", "negative"}}},
		{name: "negative size text",
			src:  src(plugin, route("/a"), one(`queue_bytes = "-5KiB"`)),
			want: []wantProblem{{6, "route.queue_bytes|route[0].queue_bytes", "not a size"}}},
		{name: "TOML syntax error",
			src:  src(plugin, one(`instances = `), route("/a")),
			want: []wantProblem{{3, "plugin.a.instances|instances", ""}}},

		// References and files.
		{name: "route names a missing plugin",
			src:  src(plugin, one(`[[route]]`, `path = "/a"`, `plugin = "ehco"`)),
			want: []wantProblem{{5, "route[0].plugin", `no plugin named "ehco"`}}},
		{name: "route without a plugin",
			src:  src(plugin, one(`[[route]]`, `path = "/a"`)),
			want: []wantProblem{{3, "route[0].plugin", "missing"}}},
		{name: "module does not exist",
			src:  src(one(`[plugin.a]`, `module = "missing.wasm"`), route("/a")),
			want: []wantProblem{{2, "plugin.a.module", "$DIR" + string(filepath.Separator) + "missing.wasm"}}},
		{name: "module path relative to the config, not the working directory",
			src:  src(one(`[plugin.a]`, `module = "config_test.go"`), route("/a")),
			want: []wantProblem{{2, "plugin.a.module", "$DIR" + string(filepath.Separator) + "config_test.go"}}},
		{name: "module of the second plugin does not exist",
			src:  src(plugin, one(`[plugin.b]`, `module = "missing.wasm"`), route("/a")),
			want: []wantProblem{{4, "plugin.b.module", "$DIR" + string(filepath.Separator) + "missing.wasm"}}},
		{name: "module is a directory",
			src:  src(one(`[plugin.a]`, `module = "dir.wasm"`), route("/a")),
			want: []wantProblem{{2, "plugin.a.module", "is a directory"}}},
		{name: "module missing",
			src:  src(one(`[plugin.a]`, `instances = 1`), route("/a")),
			want: []wantProblem{{-1, "plugin.a.module", "missing"}}},
		{name: "module missing in the second plugin",
			src:  src(plugin, one(`[plugin.b]`, `instances = 1`), route("/a")),
			want: []wantProblem{{-3, "plugin.b.module", "missing"}}},

		// Routes.
		{name: "no route",
			src:  src(plugin),
			want: []wantProblem{{0, "route", "no [[route]]"}}},
		{name: "missing route path",
			src:  src(plugin, route("/a"), one(`[[route]]`, `plugin = "a"`)),
			want: []wantProblem{{6, "route[1].path", "missing"}}},
		{name: "duplicate route path",
			src:  src(plugin, route("/a"), route("/b"), route("/a")),
			want: []wantProblem{{10, "route[2].path", `"/a" is served by an earlier route already`}}},
		{name: "path without a leading slash",
			src:  src(plugin, route("echo")),
			want: []wantProblem{{4, "route[0].path", `"echo" must start with '/'`}}},
		{name: "path without a leading slash in the second route",
			src:  src(plugin, route("/a"), route("b")),
			want: []wantProblem{{7, "route[1].path", `"b" must start with '/'`}}},
		{name: "path with a query",
			src:  src(plugin, route("/a?x=1")),
			want: []wantProblem{{4, "route[0].path", "plain path"}}},
		{name: "second route header followed by a comment",
			src:  src(plugin, route("/a"), one(`[[route]]  # the second route`, `path = "b"`, `plugin = "a"`)),
			want: []wantProblem{{7, "route[1].path", `"b" must start with '/'`}}},

		// Ranges.
		{name: "log level",
			src:  src(plugin, route("/a"), one(`[log]`, `level = "loud"`)),
			want: []wantProblem{{7, "log.level", `"loud" is not one of debug, info, warn, error`}}},
		{name: "log format",
			src:  src(plugin, route("/a"), one(`[log]`, `format = "xml"`)),
			want: []wantProblem{{7, "log.format", `"xml"`}}},
		{name: "handshake timeout zero",
			src:  src(one(`handshake_timeout = "0s"`), plugin, route("/a")),
			want: []wantProblem{{1, "handshake_timeout", "positive"}}},
		{name: "negative drain timeout",
			src:  src(one(`drain_timeout = "-1s"`), plugin, route("/a")),
			want: []wantProblem{{1, "drain_timeout", "negative"}}},
		{name: "max header bytes too small",
			src:  src(one(`max_header_bytes = 512`), plugin, route("/a")),
			want: []wantProblem{{1, "max_header_bytes", "between"}}},
		{name: "plugin out of range",
			src: src(plugin, one(`instances = 2000`, `call_timeout = "-1s"`, `memory_limit = "1KiB"`), route("/a")),
			want: []wantProblem{
				{3, "plugin.a.instances", "between"},
				{4, "plugin.a.call_timeout", "positive"},
				{5, "plugin.a.memory_limit", "between"},
			}},
		{name: "bad plugin name",
			src:  src(one(`[plugin."a b"]`, `module = "m.wasm"`), one(`[[route]]`, `path = "/a"`, `plugin = "a b"`)),
			want: []wantProblem{{1, `plugin.a b|plugin."a b"`, "plugin name"}}},
		{name: "route out of range",
			src: src(plugin, route("/a"), one(`max_message_bytes = 100`, `ping_interval = "-1s"`, `pong_timeout = "0s"`, `close_timeout = "-5s"`, `queue_messages = 2000000`)),
			want: []wantProblem{
				{6, "route[0].max_message_bytes", "between"},
				{7, "route[0].ping_interval", "negative"},
				{8, "route[0].pong_timeout", "positive"},
				{9, "route[0].close_timeout", "positive"},
				{10, "route[0].queue_messages", "between"},
			}},
		{name: "queue smaller than a message",
			src:  src(plugin, route("/a"), one(`max_message_bytes = "1MiB"`, `queue_bytes = "1MiB"`)),
			want: []wantProblem{{7, "route[0].queue_bytes", "at least one message"}}},

		// Several problems at once: all reported, one line each.
		{name: "several problems",
			src: lines(
				`listne = ":9000"`,   // 1
				`[log]`,              // 2
				`level = "loud"`,     // 3
				`[plugin.b]`,         // 4
				`module = "no.wasm"`, // 5
				`[plugin.a]`,         // 6
				`module = "m.wasm"`,  // 7
				`instance = 2`,       // 8
				`[[route]]`,          // 9
				`path = "/a"`,        // 10
				`plugin = "ehco"`,    // 11
				`[[route]]`,          // 12
				`path = "/a"`,        // 13
				`plugin = "a"`,       // 14
				`[[route]]`,          // 15
				`path = "c"`,         // 16
				`plugin = "b"`,       // 17
			),
			want: []wantProblem{
				{1, "listne", "unknown key"},
				{8, "plugin.a.instance", "unknown key"},
				{3, "log.level", `"loud"`},
				{5, "plugin.b.module", "no.wasm"},
				{11, "route[0].plugin", `no plugin named "ehco"`},
				{13, "route[1].path", "earlier route"},
				{16, "route[2].path", "must start with '/'"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, path := tempConfig(t)
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(path)
			if err == nil {
				t.Fatalf("loaded without error: %+v", c)
			}
			if c != nil {
				t.Errorf("Load returned a config with its error")
			}
			checkProblems(t, err, path, dir, tt.want)

			// Parse of the same bytes says the same as Load.
			_, perr := config.Parse(path, []byte(tt.src))
			if perr == nil || perr.Error() != err.Error() {
				t.Errorf("Parse: %v\nLoad: %v", perr, err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := config.Load(path)
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].File != path || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want config.ByteSize
		ok   bool
	}{
		{"0", 0, true},
		{"4096", 4096, true},
		{"125B", 125, true},
		{"64KiB", 64 << 10, true},
		{"1MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"1KB", 1000, true},
		{"1MB", 1000000, true},
		{"3GB", 3000000000, true},
		{" 2 MiB ", 2 << 20, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"-1", 0, false},
		{"1 meg", 0, false},
		{"1kib", 0, false},
		{"1TiB", 0, false},
		{"9223372036854775807", 0, false}, // over 1<<62
		{"4611686018427387904", 1 << 62, true},
		{"4294967296GiB", 1 << 62, true},
		{"4294967297GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := config.ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// The example configs in testdata/configs at the root of the repository: each good_*.toml loads;
// each bad_*.toml fails, and its first lines ("# want: TEXT", one or more) give text its error
// must contain. The table adds the problems each must report.
func TestExampleConfigs(t *testing.T) {
	const dir = "../../testdata/configs"
	tests := map[string][]wantProblem{
		"good_minimal.toml":               nil,
		"good_full.toml":                  nil,
		"bad_typo_key.toml":               {{2, "listne", "unknown key"}},
		"bad_plugin_key.toml":             {{5, "plugin.echo.instance", "unknown key"}},
		"bad_route_key.toml":              {{14, "route.ping_intreval|route[1].ping_intreval", "unknown key"}},
		"bad_missing_plugin.toml":         {{7, "route[0].plugin", `no plugin named "ehco" (defined: echo)`}},
		"bad_types.toml":                  {{5, "plugin.echo.instances", "string"}},
		"bad_duration_type.toml":          {{5, "plugin.echo.call_timeout", `"30" is not a duration`}},
		"bad_duration.toml":               {{9, "route.ping_interval|route[0].ping_interval", `"30 seconds" is not a duration`}},
		"bad_size.toml":                   {{9, "route.max_message_bytes|route[0].max_message_bytes", `"1 meg" is not a size`}},
		"bad_module_missing.toml":         {{4, "plugin.echo.module", "no such file or directory"}},
		"bad_missing_path.toml":           {{10, "route[1].path", "missing"}},
		"bad_duplicate_path.toml":         {{12, "route[1].path", `"/echo" is served by an earlier route already`}},
		"bad_path_no_slash.toml":          {{7, "route[0].path", `"echo" must start with '/'`}},
		"bad_log_level.toml":              {{3, "log.level", `"verbose" is not one of debug, info, warn, error`}},
		"bad_syntax.toml":                 {{5, "plugin.echo.module|module", ""}},
		"bad_many.toml":                   {{2, "listne", "unknown key"}, {4, "log.level", `"loud"`}, {11, "route[0].plugin", `no plugin named "ehco"`}, {13, "route[1].path", "missing"}, {17, "route[2].path", "must start with '/'"}},
		"bad_queue_smaller_than_max.toml": {{10, "route[0].queue_bytes", "at least one message"}},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs in %s: %v", dir, err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := tests[name]
			if !ok {
				t.Fatalf("%s is not in the table of this test", name)
			}
			c, err := config.Load(path)
			if strings.HasPrefix(name, "good_") {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(c.Routes) == 0 || len(c.Plugins) == 0 {
					t.Errorf("loaded %d routes, %d plugins", len(c.Routes), len(c.Plugins))
				}
				return
			}
			if !strings.HasPrefix(name, "bad_") {
				t.Fatalf("%s: a config here is named good_* or bad_*", name)
			}
			if err == nil {
				t.Fatal("loaded without error")
			}
			src, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			var wants []string
			for _, l := range strings.Split(string(src), "\n") {
				if !strings.HasPrefix(l, "# want: ") {
					break
				}
				wants = append(wants, strings.TrimPrefix(l, "# want: "))
			}
			if len(wants) == 0 {
				t.Fatalf("%s: the first line must be a comment \"# want: TEXT\" saying what error it must produce", name)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q (from its first lines):\n%v", w, err)
				}
			}
			configDir, _ := filepath.Abs(dir)
			checkProblems(t, err, path, configDir, want)
		})
	}
	for name := range tests {
		if !seen[name] {
			t.Errorf("%s is in the table but not in %s", name, dir)
		}
	}
}

// Error() has one line per problem, even when a name or path in a problem holds a newline.
func TestErrorOneLinePerProblem(t *testing.T) {
	for _, src := range []string{
		lines(`[plugin."a\nb"]`, `module = "m.wasm"`, `[[route]]`, `path = "/a"`, `plugin = "a\nb"`),
		lines(`[plugin.a]`, `module = "m\nx.wasm"`, `[[route]]`, `path = "/a"`, `plugin = "a"`),
		lines(`"x\ny" = 1`, `[plugin.a]`, `module = "m.wasm"`, `[[route]]`, `path = "/a\nb"`, `plugin = "a"`),
	} {
		_, err, _ := load(t, src)
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%q: error %v", src, err)
		}
		if n := len(strings.Split(ce.Error(), "\n")); n != len(ce.Problems) {
			t.Errorf("%q: Error() has %d lines for %d problems:\n%s", src, n, len(ce.Problems), ce.Error())
		}
	}
}

// fuzzSeeds start FuzzParse (with the files in testdata/fuzz/FuzzParse). A module "m.wasm" and a
// directory "dir.wasm" exist next to the config.
var fuzzSeeds = []string{
	lines(`[plugin.a]`, `module = "m.wasm"`, `[[route]]`, `path = "/a"`, `plugin = "a"`),
	lines(
		`listen = ":1"`, `handshake_timeout = "1s"`, `drain_timeout = "0s"`, `max_header_bytes = "1KiB"`,
		`[log]`, `level = "warn"`, `format = "json"`,
		`[plugin.a]`, `module = "m.wasm"`, `instances = 2`, `call_timeout = "1ms"`, `memory_limit = 65536`,
		`[plugin.a.config]`, `x = { y = [1, 2] }`,
		`[[route]]`, `path = "/a"`, `plugin = "a"`, `max_message_bytes = "125B"`, `ping_interval = "0s"`,
		`pong_timeout = "1s"`, `close_timeout = "1s"`, `queue_messages = 1`, `queue_bytes = 139`,
		`[[route]]`, `path = "/b"`, `plugin = "a"`,
	),
	`route = [{ path = "/a", plugin = "a" }]` + "\n" + `plugin = { a = { module = "m.wasm" } }` + "\n",
	lines(`listne = 1`, `[plugin.a]`, `module = "dir.wasm"`, `[[route]]`, `path = "a"`, `plugin = "b"`, `[[route]]`),
	lines(`[plugin.a]`, `module = "m.wasm"`, `call_timeout = 5`, `[[route]]`, `path = "/a"`, `plugin = "a"`, `queue_bytes = "1 meg"`),
	"[[route]]\n",
	"",
}

// FuzzParse: Parse never panics; an error is a *config.Error of problems naming the file, one line
// of Error() each; a config it accepts satisfies every rule validate enforces.
func FuzzParse(f *testing.F) {
	dir, path := tempConfig(f)
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(path, data)
		if err != nil {
			if c != nil {
				t.Fatal("a config returned with an error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a *config.Error with problems", err, err)
			}
			if n := len(strings.Split(ce.Error(), "\n")); n != len(ce.Problems) {
				t.Fatalf("Error() has %d lines for %d problems:\n%s", n, len(ce.Problems), ce.Error())
			}
			for _, p := range ce.Problems {
				if p.File != path || p.Msg == "" || p.Line < 0 || !strings.HasPrefix(p.Error(), path) {
					t.Fatalf("problem %+v", p)
				}
			}
			return
		}
		checkValid(t, c, path, dir)

		// Parsing is deterministic.
		c2, err := config.Parse(path, data)
		if err != nil || len(c2.Routes) != len(c.Routes) || len(c2.Plugins) != len(c.Plugins) {
			t.Fatalf("second Parse: %v", err)
		}
	})
}

// checkValid checks what a config that Parse accepted must satisfy.
func checkValid(t *testing.T, c *config.Config, path, dir string) {
	t.Helper()
	fail := func(format string, args ...any) { t.Helper(); t.Fatalf("accepted config: "+format, args...) }
	if c.File != path || c.Dir != dir {
		fail("File, Dir = %q, %q", c.File, c.Dir)
	}
	if c.Listen == "" {
		fail("empty listen")
	}
	if c.HandshakeTimeout.D <= 0 || c.DrainTimeout.D < 0 {
		fail("handshake_timeout %v, drain_timeout %v", c.HandshakeTimeout.D, c.DrainTimeout.D)
	}
	if c.MaxHeaderBytes < 1<<10 || c.MaxHeaderBytes > 1<<20 {
		fail("max_header_bytes %d", c.MaxHeaderBytes)
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error": // "": the command decides
	default:
		fail("log.level %q", c.Log.Level)
	}
	if c.Log.Format != "" && c.Log.Format != "text" && c.Log.Format != "json" {
		fail("log.format %q", c.Log.Format)
	}
	for name, p := range c.Plugins {
		if p == nil {
			fail("plugin %q is nil", name)
		}
		if p.Name != name || name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			fail("plugin name %q (Name %q)", name, p.Name)
		}
		if !filepath.IsAbs(p.Module) {
			fail("plugin %q module %q is not absolute", name, p.Module)
		}
		if st, err := os.Stat(p.Module); err != nil || st.IsDir() {
			fail("plugin %q module %q: %v", name, p.Module, err)
		}
		if p.Instances < 1 || p.Instances > 1024 || p.CallTimeout.D <= 0 || p.MemoryLimit < 64<<10 || p.MemoryLimit > 4<<30 {
			fail("plugin %q: instances %d, call_timeout %v, memory_limit %d", name, p.Instances, p.CallTimeout.D, p.MemoryLimit)
		}
	}
	if len(c.Routes) == 0 {
		fail("no routes")
	}
	paths := map[string]bool{}
	for i, r := range c.Routes {
		if r == nil {
			fail("route %d is nil", i)
		}
		if !strings.HasPrefix(r.Path, "/") || strings.ContainsAny(r.Path, "?# \t") || paths[r.Path] {
			fail("route %d path %q", i, r.Path)
		}
		paths[r.Path] = true
		if c.Plugins[r.Plugin] == nil {
			fail("route %d names plugin %q, which does not exist", i, r.Plugin)
		}
		if r.MaxMessageBytes < 125 || r.MaxMessageBytes > 1<<30 {
			fail("route %d max_message_bytes %d", i, r.MaxMessageBytes)
		}
		if r.PingInterval.D < 0 || r.PongTimeout.D <= 0 || r.CloseTimeout.D <= 0 {
			fail("route %d ping_interval %v, pong_timeout %v, close_timeout %v", i, r.PingInterval.D, r.PongTimeout.D, r.CloseTimeout.D)
		}
		if r.QueueMessages < 1 || r.QueueMessages > 1<<20 || r.QueueBytes < r.MaxMessageBytes+14 {
			fail("route %d queue_messages %d, queue_bytes %d, max_message_bytes %d", i, r.QueueMessages, r.QueueBytes, r.MaxMessageBytes)
		}
		switch r.Mode {
		case config.ModeTwoWay, config.ModeReceiveOnly, config.ModeSendOnly:
		default:
			fail("route %d mode %q", i, r.Mode)
		}
		if r.RequireSubprotocol && len(r.Subprotocols) == 0 {
			fail("route %d requires a subprotocol but lists none", i)
		}
		for _, s := range []config.Source{r.Namespace, r.User} {
			if (s.Kind != "" && s.Kind != "query" && s.Kind != "header") || (s.Kind != "") != (s.Name != "") {
				fail("route %d source %+v", i, s)
			}
		}
	}
}

// The first three fuzz seeds are valid configs (so the fuzzer starts from configs that pass and can
// check the invariants), the others are not.
func TestFuzzSeeds(t *testing.T) {
	dir, path := tempConfig(t)
	for i, s := range fuzzSeeds {
		c, err := config.Parse(path, []byte(s))
		if (err == nil) != (i < 3) {
			t.Errorf("seed %d: error %v", i, err)
		}
		if err == nil {
			checkValid(t, c, path, dir)
		}
	}

	// So are the corpus files named valid_*; those named bad_* are not.
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		header, lit, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		lit = strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")")
		data, err := strconv.Unquote(lit)
		if header != "go test fuzz v1" || err != nil {
			t.Fatalf("%s: not a go test fuzz v1 file of one []byte: %v", file, err)
		}
		c, err := config.Parse(path, []byte(data))
		switch name := filepath.Base(file); {
		case strings.HasPrefix(name, "valid_"):
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else {
				checkValid(t, c, path, dir)
			}
		case strings.HasPrefix(name, "bad_"):
			if err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	}
}

// TestZeroMeansOff: where 0 means "off" (the limits, pings, the drain), an explicit 0 is kept
// as off, never replaced by the default; the same keys left out get their defaults.
func TestZeroMeansOff(t *testing.T) {
	c, err, _ := load(t, lines(`drain_timeout = "0s"`, `[limits]`, `max_connections = 0`, `max_connections_per_ip = 0`,
		`connections_per_second_per_ip = 0`, `messages_per_second = 0`, `[plugin.a]`, `module = "m.wasm"`,
		`[[route]]`, `path = "/a"`, `plugin = "a"`, `ping_interval = "0s"`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	for name, n := range map[string]int{"max_connections": *l.MaxConnections, "max_connections_per_ip": *l.MaxConnectionsPerIP,
		"connections_per_second_per_ip": *l.ConnectionsPerSecondPerIP, "messages_per_second": *l.MessagesPerSecond} {
		if n != 0 {
			t.Errorf("limits.%s = %d, want 0 (off)", name, n)
		}
	}
	if c.DrainTimeout.D != 0 || c.Routes[0].PingInterval.D != 0 {
		t.Errorf("drain_timeout %v, ping_interval %v: want 0", c.DrainTimeout.D, c.Routes[0].PingInterval.D)
	}

	c, err, _ = load(t, lines(`[plugin.a]`, `module = "m.wasm"`, `[[route]]`, `path = "/a"`, `plugin = "a"`))
	if err != nil {
		t.Fatal(err)
	}
	p, r := c.Plugins["a"], c.Routes[0]
	if p.Instances != config.DefaultInstances || p.MaxCrashes != config.DefaultMaxCrashes || p.CrashWindow.D != time.Minute ||
		r.MaxMessageBytes != config.DefaultMaxMessageBytes || r.QueueMessages != config.DefaultQueueMessages ||
		r.QueueBytes != config.DefaultQueueBytes || *c.Limits.MessagesPerSecond != config.DefaultMessagesPerSec {
		t.Errorf("defaults not applied: plugin %+v route %+v", p, r)
	}
}
