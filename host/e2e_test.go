package host_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// echoModules are the same echo plugin in two languages: the ABI is language-neutral.
var echoModules = map[string]string{
	"go":  "../plugins/echo/echo.wasm",
	"wat": "../testdata/wasm/echo.wasm",
}

// startServer serves a config whose single plugin "p" is module, on route /ws, with extra TOML
// lines added to the plugin table and the route table. It returns the ws:// URL of the route.
func startServer(t testing.TB, module, pluginExtra, routeExtra string) (*host.Server, string) {
	t.Helper()
	srv, base := startConfig(t, module, pluginExtra+"\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\n"+routeExtra)
	return srv, base + "/ws"
}

// startConfig serves a config whose plugin "p" is module, followed by rest (more plugin keys,
// then routes). It returns the server and its ws:// base URL.
func startConfig(t testing.TB, module, rest string) (*host.Server, string) {
	t.Helper()
	return startConfigTop(t, "", module, rest)
}

// startConfigTop is startConfig with extra top-level keys.
func startConfigTop(t testing.TB, top, module, rest string) (*host.Server, string) {
	t.Helper()
	abs, err := filepath.Abs(module)
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("listen = \"127.0.0.1:0\"\ncompilation_cache = %q\n%s\n[log]\nlevel = \"error\"\n[plugin.p]\nmodule = %q\n%s\n", testCache, top, abs, rest)
	file := filepath.Join(t.TempDir(), "host.toml") // written, so that a config reload reads it
	if err := os.WriteFile(file, []byte(generousStart(src)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return hosttest.Serve(t, cfg, testLogger())
}

func TestEcho(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for lang, module := range echoModules {
		t.Run(lang, func(t *testing.T) {
			_, url := startServer(t, module, "", "")
			c := wstest.Dial(t, url, nil)
			tests := []struct {
				name string
				op   ws.OpCode
				data []byte
			}{
				{"text", ws.OpText, []byte("hello, wasm")},
				{"utf8", ws.OpText, []byte("κόσμε 😀")},
				{"binary", ws.OpBinary, []byte{0, 1, 2, 0xff, 0xfe}},
				{"empty text", ws.OpText, nil},
				{"empty binary", ws.OpBinary, nil},
				{"1 MiB", ws.OpBinary, big},
			}
			for _, tc := range tests {
				c.Send(tc.op, tc.data)
				op, got := c.Read()
				if op != tc.op || !bytes.Equal(got, tc.data) {
					t.Errorf("%s: got op %v len %d, want op %v len %d", tc.name, op, len(got), tc.op, len(tc.data))
				}
			}
			// Fragmented input, with a ping between fragments (RFC 6455 §5.4).
			c.WriteFrame(false, 0, ws.OpText, []byte("frag"))
			c.WriteFrame(false, 0, ws.OpContinuation, []byte("men"))
			c.WriteFrame(true, 0, ws.OpPing, []byte("between"))
			c.WriteFrame(true, 0, ws.OpContinuation, []byte("ted"))
			f, err := c.ReadFrame(5 * time.Second)
			if err != nil || f.Op != ws.OpPong || string(f.Payload) != "between" {
				t.Fatalf("pong: %+v %v", f, err)
			}
			if op, got := c.Read(); op != ws.OpText || string(got) != "fragmented" {
				t.Errorf("fragmented: got %v %q", op, got)
			}
			// The close handshake: the server echoes our code and closes TCP.
			c.Close(4001, "bye")
			if code, _ := c.ExpectClose(5 * time.Second); code != 4001 {
				t.Errorf("close code echoed = %d, want 4001", code)
			}
			if err := c.ExpectEOF(5 * time.Second); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestManyConcurrentConnections(t *testing.T) {
	_, url := startServer(t, echoModules["go"], "", "")
	const conns, msgs = 200, 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := wstest.TryDial(t, url, nil)
			if err != nil {
				errs <- err
				return
			}
			for j := 0; j < msgs; j++ {
				want := fmt.Sprintf("conn %d msg %d", i, j)
				if err := ws.WriteFrame(c.Conn, ws.MaskFrameInPlace(ws.NewTextFrame([]byte(want)))); err != nil {
					errs <- err
					return
				}
				f, err := c.ReadFrame(10 * time.Second)
				if err != nil || string(f.Payload) != want {
					errs <- fmt.Errorf("conn %d: got %q, %v; want %q", i, f.Payload, err, want)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestServerClosesOnProtocolErrors(t *testing.T) {
	_, url := startServer(t, echoModules["wat"], "", "max_message_bytes = 1000")
	tests := []struct {
		name  string
		write func(c *wstest.Client)
		code  int
	}{
		{"unmasked frame", func(c *wstest.Client) { c.WriteRaw([]byte{0x81, 0x02, 'h', 'i'}) }, 1002},
		{"reserved bit", func(c *wstest.Client) { c.WriteFrame(true, 0x4, ws.OpText, []byte("x")) }, 1002},
		{"unknown opcode", func(c *wstest.Client) { c.WriteFrame(true, 0, ws.OpCode(3), nil) }, 1002},
		{"fragmented ping", func(c *wstest.Client) { c.WriteFrame(false, 0, ws.OpPing, nil) }, 1002},
		{"continuation without start", func(c *wstest.Client) { c.WriteFrame(true, 0, ws.OpContinuation, []byte("x")) }, 1002},
		{"invalid utf-8", func(c *wstest.Client) { c.Send(ws.OpText, []byte{0xff}) }, 1007},
		{"too big", func(c *wstest.Client) { c.Send(ws.OpBinary, make([]byte, 1001)) }, 1009},
		{"1-byte close", func(c *wstest.Client) { c.WriteFrame(true, 0, ws.OpClose, []byte{3}) }, 1002},
		{"invalid close code", func(c *wstest.Client) { c.Close(1005, "") }, 1002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := wstest.Dial(t, url, nil)
			tc.write(c)
			if code, _ := c.ExpectClose(5 * time.Second); code != tc.code {
				t.Errorf("close code = %d, want %d", code, tc.code)
			}
			if err := c.ExpectEOF(5 * time.Second); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestGarbageHandshake(t *testing.T) {
	srv, url := startServer(t, echoModules["wat"], "", "")
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte("\x16\x03\x01garbage that is not HTTP\r\n\r\n"))
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 128)
	n, _ := nc.Read(buf)
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 400")) {
		t.Errorf("garbage handshake answered %q, want a 400", buf[:n])
	}
	// Nothing else is affected.
	c := wstest.Dial(t, url, nil)
	c.Send(ws.OpText, []byte("still here"))
	if _, got := c.Read(); string(got) != "still here" {
		t.Errorf("echo after garbage: %q", got)
	}
	if srv.Connections() != 1 {
		t.Errorf("connections = %d, want 1", srv.Connections())
	}
}

func TestHTTPAnswers(t *testing.T) {
	_, url := startServer(t, echoModules["wat"], "", "")
	base := "http://" + strings.TrimPrefix(strings.TrimSuffix(url, "/ws"), "ws://")
	tests := []struct {
		path string
		want int
	}{
		{"/ws", http.StatusUpgradeRequired},
		{"/nope", http.StatusNotFound},
		{"/healthz", http.StatusOK},
	}
	for _, tc := range tests {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestPluginTrapClosesOnlyThatConnection(t *testing.T) {
	srv, url := startServer(t, "../testdata/wasm/trap.wasm", "", "")
	bystander := wstest.Dial(t, url, nil)
	victim := wstest.Dial(t, url, nil)
	bystander.Send(ws.OpText, []byte("before"))
	if _, got := bystander.Read(); string(got) != "before" {
		t.Fatalf("echo before trap: %q", got)
	}
	victim.Send(ws.OpText, []byte("trap now"))
	if code, _ := victim.ExpectClose(5 * time.Second); code != 1011 {
		t.Errorf("trapping connection closed with %d, want 1011", code)
	}
	// The bystander was replayed to a fresh instance and keeps working.
	bystander.Send(ws.OpText, []byte("after"))
	if _, got := bystander.Read(); string(got) != "after" {
		t.Errorf("echo after trap: %q", got)
	}
	p := srv.Plugins()["p"]
	if f := p.Stats().Faults.Load(); f != 1 {
		t.Errorf("faults = %d, want 1", f)
	}
	if r := p.Stats().Restarts.Load(); r != 1 {
		t.Errorf("restarts = %d, want 1", r)
	}
}

// A handler that spins past call_timeout, by looping forever (loop.wat) or by recursion that
// makes 2^60 calls without a loop (recurse.wat), is interrupted: its connection gets 1011, and
// the replacement instance serves the next one.
func TestCallTimeout(t *testing.T) {
	for _, module := range []string{"loop", "recurse"} {
		t.Run(module, func(t *testing.T) {
			srv, url := startServer(t, "../testdata/wasm/"+module+".wasm", "call_timeout = \"100ms\"", "")
			c := wstest.Dial(t, url, nil)
			c.Send(ws.OpText, []byte("spin"))
			if code, _ := c.ExpectClose(5 * time.Second); code != 1011 {
				t.Errorf("spinning handler: close %d, want 1011", code)
			}
			if n := srv.Plugins()["p"].Stats().Timeouts.Load(); n != 1 {
				t.Errorf("timeouts = %d, want 1", n)
			}
			// A new connection is served by the replacement instance.
			c2 := wstest.Dial(t, url, nil)
			c2.Close(1000, "")
			if code, _ := c2.ExpectClose(5 * time.Second); code != 1000 {
				t.Errorf("after timeout: close %d", code)
			}
		})
	}
}

func TestOnConnectGuard(t *testing.T) {
	_, url := startServer(t, "../testdata/wasm/reject.wasm", "", "")
	_, err := wstest.TryDial(t, url, nil)
	var se ws.StatusError
	if !errorsAs(err, &se) || int(se) != http.StatusForbidden {
		t.Fatalf("dial without token: %v, want HTTP 403", err)
	}
	c := wstest.Dial(t, url+"?token=letmein", nil)
	c.Send(ws.OpText, []byte("in"))
	if _, got := c.Read(); string(got) != "in" {
		t.Errorf("echo: %q", got)
	}
}

func TestBadModulesRefuseToStart(t *testing.T) {
	tests := []struct {
		module string
		want   string
	}{
		{"no_marker", `missing export "wasmsock_abi_v1"`},
		{"missing_export", `missing export "on_message"`},
		{"wrong_signature", `export "on_message" has signature (i32, i32, i32) -> ()`},
		{"bad_import", `from module "env"`},
		{"timer_no_on_timer", `imports wasmsock.timer_set but does not export "on_timer"`},
		{"not_wasm", "not a WebAssembly module"},
	}
	for _, tc := range tests {
		t.Run(tc.module, func(t *testing.T) {
			abs, _ := filepath.Abs("../testdata/wasm/" + tc.module + ".wasm")
			src := fmt.Sprintf("[plugin.p]\nmodule = %q\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\n", abs)
			cfg, err := config.Parse("host.toml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = host.New(context.Background(), cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "plugin p") {
				t.Errorf("error does not name the plugin: %v", err)
			}
		})
	}
}

// testLogger logs to stderr at the level in $WASMSOCK_TEST_LOG (debug, info, ...), or not at all.
func testLogger() *slog.Logger {
	var level slog.Level
	if l := os.Getenv("WASMSOCK_TEST_LOG"); l != "" && level.UnmarshalText([]byte(l)) == nil {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	return nil
}

// testCache is a compilation cache shared by every server of this test process: compiling the
// Go plugins once instead of once per test (much slower under -race). The environment variable
// testCacheEnv names a directory that keeps it across test runs instead (.ci/run keeps one for
// the plain run and the -race run: the code wazero compiles is the same).
var testCache string

const testCacheEnv = "WASMSOCK_TEST_CACHE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(testCacheEnv); dir != "" {
		testCache = dir
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "wasmsock-test-cache-")
	if err != nil {
		panic(err)
	}
	testCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
