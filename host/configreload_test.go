package host_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// liveServer is a server whose config file a test rewrites and reloads.
type liveServer struct {
	t    *testing.T
	srv  *host.Server
	file string
	base string // ws://127.0.0.1:PORT
	logs *logBuffer
}

// liveHeader is the top of every config of these tests: the plugins p (probe), e (echo) and c
// (chat) are defined by the body.
func liveConfig(body string) string {
	return generousStart(fmt.Sprintf("listen = \"127.0.0.1:0\"\ncompilation_cache = %q\n%s\n", testCache, body))
}

func modulePath(t *testing.T, rel string) string {
	abs, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func startLive(t *testing.T, body string) *liveServer {
	t.Helper()
	ls := &liveServer{t: t, file: filepath.Join(t.TempDir(), "host.toml"), logs: &logBuffer{}}
	ls.write(body)
	cfg, err := config.Load(ls.file)
	if err != nil {
		t.Fatal(err)
	}
	ls.srv, ls.base = hosttest.Serve(t, cfg, slog.New(slog.NewTextHandler(ls.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return ls
}

// write replaces the config file (write then rename, as editors do).
func (ls *liveServer) write(body string) {
	ls.t.Helper()
	tmp := ls.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(liveConfig(body)), 0o644); err != nil {
		ls.t.Fatal(err)
	}
	if err := os.Rename(tmp, ls.file); err != nil {
		ls.t.Fatal(err)
	}
}

// reload rewrites the config and reloads it.
func (ls *liveServer) reload(body string) *host.ConfigReload {
	ls.t.Helper()
	ls.write(body)
	return ls.srv.ReloadConfig(context.Background())
}

func (ls *liveServer) mustReload(body string) *host.ConfigReload {
	ls.t.Helper()
	rep := ls.reload(body)
	if !rep.Applied {
		ls.t.Fatalf("reload refused: %s\nlog:\n%s", rep.Error, ls.logs.String())
	}
	return rep
}

func (ls *liveServer) status(path string) int {
	ls.t.Helper()
	return dialStatus(ls.t, ls.base+path, nil)
}

// alive checks that c still gets answers from the probe plugin.
func alive(t *testing.T, c *wstest.Client, what string) {
	t.Helper()
	if got := command(t, c, "echo still here"); got != "still here" {
		t.Fatalf("%s: echo answered %q", what, got)
	}
}

var (
	probeModule = "../testdata/plugins/probe/probe.wasm"
	echoModule  = "../testdata/wasm/echo.wasm"
	chatModule  = "../plugins/chat/chat.wasm"
)

func plugins(t *testing.T) string {
	return fmt.Sprintf("[plugin.p]\nmodule = %q\n[plugin.e]\nmodule = %q\n", modulePath(t, probeModule), modulePath(t, echoModule))
}

// TestReloadRoutes adds, changes and removes routes live: a new route answers 101 at once, a
// removed route's clients get 1001 "route removed" while the other routes' clients go on, and a
// changed route's settings apply to the connections made after the reload.
func TestReloadRoutes(t *testing.T) {
	routeA := "[[route]]\npath = \"/a\"\nplugin = \"p\"\n"
	routeB := "[[route]]\npath = \"/b\"\nplugin = \"e\"\n"
	ls := startLive(t, plugins(t)+routeA)
	a := wstest.Dial(t, ls.base+"/a", nil)
	if got := ls.status("/b"); got != 404 {
		t.Fatalf("/b before the reload: %d, want 404", got)
	}

	rep := ls.mustReload(plugins(t) + routeA + routeB)
	if got := ls.status("/b"); got != 101 {
		t.Fatalf("/b after the reload: %d, want 101\n%s", got, ls.logs.String())
	}
	if fmt.Sprint(rep.Routes.Added) != "[/b]" || len(rep.Routes.Removed)+len(rep.Routes.Changed) != 0 {
		t.Errorf("report: %+v", rep.Routes)
	}
	if !strings.Contains(ls.logs.String(), "config reloaded from "+ls.file+": routes +/b") {
		t.Errorf("no log line saying what changed:\n%s", ls.logs.String())
	}
	alive(t, a, "/a after adding /b")
	b := wstest.Dial(t, ls.base+"/b", nil)
	b.Send(ws.OpText, []byte("hi"))
	if _, got := b.Read(); string(got) != "hi" {
		t.Fatalf("/b echo: %q", got)
	}

	// Change /b: a smaller max_message_bytes for the connections made from now on.
	rep = ls.mustReload(plugins(t) + routeA + routeB + "max_message_bytes = 200\n")
	if keys := rep.Routes.Changed["/b"]; fmt.Sprint(keys) != "[max_message_bytes]" {
		t.Errorf("changed keys of /b: %v", rep.Routes.Changed)
	}
	big := bytes.Repeat([]byte("x"), 1000)
	b.Send(ws.OpText, big) // the connection keeps the settings it was accepted with
	if _, got := b.Read(); len(got) != len(big) {
		t.Fatalf("old connection on the changed route: echo of %d bytes", len(got))
	}
	b2 := wstest.Dial(t, ls.base+"/b", nil)
	b2.Send(ws.OpText, big)
	if code, _ := b2.ExpectClose(5 * time.Second); code != 1009 {
		t.Errorf("new connection on the changed route: close %d for 1000 bytes, want 1009", code)
	}

	// Remove /a: its client gets 1001 with the reason; /b's goes on.
	rep = ls.mustReload(plugins(t) + routeB + "max_message_bytes = 200\n")
	if code, reason := a.ExpectClose(5 * time.Second); code != 1001 || reason != "route removed" {
		t.Errorf("/a's client: close %d %q, want 1001 \"route removed\"", code, reason)
	}
	if rep.Closed != 1 || fmt.Sprint(rep.Routes.Removed) != "[/a]" {
		t.Errorf("report: closed %d, routes %+v", rep.Closed, rep.Routes)
	}
	b.Send(ws.OpText, []byte("still"))
	if _, got := b.Read(); string(got) != "still" {
		t.Fatalf("/b after removing /a: %q", got)
	}
	if got := ls.status("/a"); got != 404 {
		t.Errorf("/a after removing it: %d, want 404", got)
	}
}

// TestReloadPlugins changes plugins live: a new config reaches the connections already open (they
// are replayed to instances started with it), a removed plugin's clients get 1001, and new
// instance settings take the new connections while the old ones keep theirs.
func TestReloadPlugins(t *testing.T) {
	chat := func(extra string) string {
		return fmt.Sprintf("[plugin.c]\nmodule = %q\n%s\n[[route]]\npath = \"/chat\"\nplugin = \"c\"\n", modulePath(t, chatModule), extra)
	}
	probeRoute := fmt.Sprintf("[plugin.p]\nmodule = %q\n[[route]]\npath = \"/p\"\nplugin = \"p\"\n", modulePath(t, probeModule))
	ls := startLive(t, chat("config = { max_text = 5 }")+probeRoute)
	// c speaks in room r, w listens there.
	joinChat := func() *wstest.Client {
		cl := wstest.Dial(t, ls.base+"/chat", nil)
		if _, welcome := cl.Read(); !strings.Contains(string(welcome), "welcome") {
			t.Fatalf("chat: %s", welcome)
		}
		cl.Send(ws.OpText, []byte(`{"action":"join","room":"r"}`))
		if _, joined := cl.Read(); !strings.Contains(string(joined), "joined") {
			t.Fatalf("join: %s", joined)
		}
		return cl
	}
	c := joinChat()
	w := joinChat()
	if _, ev := c.Read(); !strings.Contains(string(ev), "user_joined") {
		t.Fatalf("c: %s", ev)
	}
	say := func() {
		c.Send(ws.OpText, []byte(`{"action":"send_message","room":"r","text":"longer than five"}`))
	}
	heard := func(cl *wstest.Client, what string) {
		t.Helper()
		if _, got := cl.Read(); !strings.Contains(string(got), `"text":"longer than five"`) {
			t.Fatalf("%s: got %s\n%s", what, got, ls.logs.String())
		}
	}
	say()
	if _, got := c.Read(); !strings.Contains(string(got), "longer than 5 bytes") {
		t.Fatalf("with max_text = 5: %s", got)
	}
	p := wstest.Dial(t, ls.base+"/p", nil)

	// A new config: the connections already open see it.
	rep := ls.mustReload(chat("config = { max_text = 100 }") + probeRoute)
	if keys := rep.Plugins.Changed["c"]; fmt.Sprint(keys) != "[config]" {
		t.Errorf("changed keys of c: %v", rep.Plugins.Changed)
	}
	say()
	heard(w, "with max_text = 100, the listener")
	alive(t, p, "the probe's client after the chat's reload")

	// New instance settings: a new plugin takes new connections, the old one keeps c and w.
	rep = ls.mustReload(chat("config = { max_text = 100 }\ninstances = 2") + probeRoute)
	if keys := rep.Plugins.Changed["c"]; fmt.Sprint(keys) != "[instances]" {
		t.Errorf("changed keys of c: %v", rep.Plugins.Changed)
	}
	if n := ls.srv.Plugins()["c"].Instances(); n != 2 {
		t.Errorf("instances serving now: %d", n)
	}
	c2 := joinChat()
	for _, cl := range []*wstest.Client{c, w} {
		if _, ev := cl.Read(); !strings.Contains(string(ev), "user_joined") {
			t.Fatalf("old connection after the instances change: %s", ev)
		}
	}
	say()
	heard(w, "the old listener after the instances change")
	heard(c2, "a new listener after the instances change")

	// Remove the chat plugin and its route: both clients get 1001; the probe's goes on.
	rep = ls.mustReload(probeRoute)
	for _, cl := range []*wstest.Client{c, w, c2} {
		if code, reason := cl.ExpectClose(5 * time.Second); code != 1001 || reason != "route removed" {
			t.Errorf("chat client: close %d %q", code, reason)
		}
	}
	if rep.Closed != 3 || fmt.Sprint(rep.Plugins.Removed) != "[c]" {
		t.Errorf("report: closed %d, plugins %+v", rep.Closed, rep.Plugins)
	}
	alive(t, p, "the probe's client after removing the chat")

	// A route that stays but whose plugin is removed: "plugin removed".
	rep = ls.mustReload(fmt.Sprintf("[plugin.e]\nmodule = %q\n[[route]]\npath = \"/p\"\nplugin = \"e\"\n", modulePath(t, echoModule)))
	if code, reason := p.ExpectClose(5 * time.Second); code != 1001 || reason != "plugin removed" {
		t.Errorf("probe client: close %d %q, want 1001 \"plugin removed\"", code, reason)
	}
	if keys := rep.Routes.Changed["/p"]; fmt.Sprint(keys) != "[plugin]" {
		t.Errorf("changed keys of /p: %v", rep.Routes.Changed)
	}
}

// TestReloadRefused gives reloads configs that cannot serve: each is refused with its reason
// (file:line:key for the file's own problems), the log says so, and the running config keeps
// serving, its connections untouched.
func TestReloadRefused(t *testing.T) {
	good := plugins(t) + "[[route]]\npath = \"/a\"\nplugin = \"p\"\n"
	broken := filepath.Join(t.TempDir(), "broken.wasm")
	if err := os.WriteFile(broken, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	chat := fmt.Sprintf("[plugin.c]\nmodule = %q\n", modulePath(t, chatModule))
	ls := startLive(t, good+chat+"[[route]]\npath = \"/chat\"\nplugin = \"c\"\n")
	a := wstest.Dial(t, ls.base+"/a", nil)
	for _, tc := range []struct {
		name, body string
		want       []string // in the error
	}{
		{"unknown key", good + "[[route]]\npath = \"/b\"\nplugin = \"p\"\ncolour = 1\n", []string{fmt.Sprintf("%s:%d: route[1].colour", ls.file, lineOf(good+"[[route]]\npath = \"/b\"\nplugin = \"p\"\ncolour = 1\n", "colour"))}},
		{"syntax error", good + "[[route\n", []string{ls.file + ":"}},
		{"unknown plugin", good + "[[route]]\npath = \"/b\"\nplugin = \"nope\"\n", []string{"route[1].plugin", `no plugin named "nope"`}},
		{"broken new module", good + fmt.Sprintf("[plugin.x]\nmodule = %q\n[[route]]\npath = \"/b\"\nplugin = \"x\"\n", broken), []string{"plugin x"}},
		{"config the plugin refuses", good + chat + "config = { max_text = 0 }\n[[route]]\npath = \"/chat\"\nplugin = \"c\"\n", []string{
			fmt.Sprintf("%s:%d: plugin.c.config: plugin c", ls.file, lineOf(good+chat+"config = { max_text = 0 }\n", "config")),
			"on_start", "max_text must be at least 1"}},
		{"missing auth key", good + "[[route]]\npath = \"/b\"\nplugin = \"p\"\n[route.auth]\nalgorithms = [\"HS256\"]\nsecret = { env = \"WASMSOCK_TEST_UNSET_SECRET\" }\n", []string{"WASMSOCK_TEST_UNSET_SECRET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := ls.reload(tc.body)
			if rep.Applied {
				t.Fatalf("applied: %+v", rep)
			}
			for _, w := range tc.want {
				if !strings.Contains(rep.Error, w) {
					t.Errorf("error lacks %q:\n%s", w, rep.Error)
				}
			}
			if !strings.Contains(ls.logs.String(), "config reload refused, the running config keeps serving") {
				t.Errorf("no refusal in the log:\n%s", ls.logs.String())
			}
			alive(t, a, "after a refused reload")
			if got := ls.status("/b"); got != 404 {
				t.Errorf("/b after a refused reload: %d", got)
			}
			if got := ls.status("/chat"); got != 101 {
				t.Errorf("/chat after a refused reload: %d", got)
			}
		})
	}
}

// TestReloadLimitsAndAuth changes [limits] and a route's auth live: the new limits and checks
// apply to new handshakes, the connections already open stay.
func TestReloadLimitsAndAuth(t *testing.T) {
	t.Setenv("WASMSOCK_TEST_JWT_SECRET", testSecret)
	route := plugins(t) + "[[route]]\npath = \"/a\"\nplugin = \"p\"\n"
	ls := startLive(t, route)
	a := wstest.Dial(t, ls.base+"/a", nil)
	b := wstest.Dial(t, ls.base+"/a", nil)

	rep := ls.mustReload("handshake_timeout = \"3s\"\n[limits]\nmax_connections = 2\nmax_groups = 7\n" + route)
	if fmt.Sprint(rep.Settings) != "[limits.max_connections]" {
		t.Errorf("settings changed: %v", rep.Settings)
	}
	if fmt.Sprint(rep.Restart) != "[handshake_timeout limits.max_groups]" || ls.srv.Config().HandshakeTimeout.D != 10*time.Second {
		t.Errorf("restart-only keys: %v, handshake_timeout serving: %s", rep.Restart, ls.srv.Config().HandshakeTimeout.D)
	}
	if got := ls.status("/a"); got != 503 {
		t.Errorf("a third connection over max_connections = 2: %d, want 503", got)
	}
	alive(t, a, "under the lowered limit")

	rep = ls.mustReload(route + "[route.auth]\nrequired = true\nalgorithms = [\"HS256\"]\nsecret = { env = \"WASMSOCK_TEST_JWT_SECRET\" }\n")
	if fmt.Sprint(rep.Routes.Changed["/a"]) != "[auth]" {
		t.Errorf("route changes: %v", rep.Routes.Changed)
	}
	if got := ls.status("/a"); got != 401 {
		t.Errorf("no token after auth was turned on: %d, want 401", got)
	}
	tok := token(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	if got := dialStatus(t, ls.base+"/a", http.Header{"Authorization": {"Bearer " + tok}}); got != 101 {
		t.Errorf("with a token: %d, want 101", got)
	}
	alive(t, a, "after auth was turned on")
	alive(t, b, "after auth was turned on")
}

// TestReloadAPI reloads through POST /api/reload: 200 with the changes, 422 with the reason.
func TestReloadAPI(t *testing.T) {
	key := "test-admin-key-0123456789abcdef"
	t.Setenv("WASMSOCK_TEST_ADMIN_KEY", key)
	top := "[admin]\nkey_env = \"WASMSOCK_TEST_ADMIN_KEY\"\n" + plugins(t) + "[[route]]\npath = \"/a\"\nplugin = \"p\"\n"
	ls := startLive(t, top)
	ls.write(top + "[[route]]\npath = \"/b\"\nplugin = \"e\"\n")
	code, out := api(t, ls.base, key, "POST", "/api/reload", nil)
	if routes, _ := out["routes"].(map[string]any); code != 200 || out["applied"] != true || fmt.Sprint(routes["added"]) != "[/b]" {
		t.Fatalf("reload: %d %v", code, out)
	}
	if got := ls.status("/b"); got != 101 {
		t.Errorf("/b: %d", got)
	}
	ls.write(top + "[[route]]\npath = \"/b\"\nplugin = \"nope\"\n")
	code, out = api(t, ls.base, key, "POST", "/api/reload", nil)
	if code != 422 || out["applied"] != false || !strings.Contains(fmt.Sprint(out["error"]), "route[1].plugin") {
		t.Fatalf("refused reload: %d %v", code, out)
	}
	if got := ls.status("/b"); got != 101 {
		t.Errorf("/b after a refused reload: %d", got)
	}
	code, out = api(t, ls.base, key, "GET", "/api/status", nil)
	if last, _ := out["last_config_reload"].(map[string]any); code != 200 || last["applied"] != false {
		t.Errorf("status: %d %v", code, out)
	}
	fams := scrape(t, ls.base)
	got := map[string]float64{}
	for _, m := range fams["wasmsock_config_reloads_total"].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	if got["applied"] != 1 || got["refused"] != 1 {
		t.Errorf("wasmsock_config_reloads_total: %v", got)
	}
}

// TestDevWatchConfig is wasmsock dev's loop: saving the config file reloads it (a new route
// answers), and saving a broken one is refused with the old config serving.
func TestDevWatchConfig(t *testing.T) {
	ls := startLive(t, plugins(t)+"[[route]]\npath = \"/a\"\nplugin = \"p\"\n")
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() { watched <- ls.srv.Watch(ctx) }()
	defer func() {
		cancel()
		<-watched
	}()
	waitLog(t, ls.logs, "watching")
	a := wstest.Dial(t, ls.base+"/a", nil)

	ls.write(plugins(t) + "[[route]]\npath = \"/a\"\nplugin = \"p\"\n[[route]]\npath = \"/b\"\nplugin = \"e\"\n")
	waitLog(t, ls.logs, "routes +/b")
	if got := ls.status("/b"); got != 101 {
		t.Fatalf("/b after saving the config: %d\n%s", got, ls.logs.String())
	}
	alive(t, a, "after the save")

	bogus := plugins(t) + "[[route]]\npath = \"/a\"\nplugin = \"p\"\nbogus = true\n"
	ls.write(bogus)
	waitLog(t, ls.logs, "config reload refused")
	if !strings.Contains(ls.logs.String(), fmt.Sprintf("%s:%d: route[0].bogus", ls.file, lineOf(bogus, "bogus"))) {
		t.Errorf("the refusal does not name file:line:key:\n%s", ls.logs.String())
	}
	if got := ls.status("/b"); got != 101 {
		t.Errorf("/b after a refused save: %d", got)
	}
	alive(t, a, "after the refused save")
}

// lineOf is the line (from 1) of the config file written for body on which key is set.
func lineOf(body, key string) int {
	for i, l := range strings.Split(liveConfig(body), "\n") {
		if strings.HasPrefix(l, key+" ") {
			return i + 1
		}
	}
	return 0
}

// waitLog waits until the log holds want.
func waitLog(t *testing.T, logs *logBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
