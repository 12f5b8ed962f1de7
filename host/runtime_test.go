package host_test

// Regression tests for the runtime items of the hardening issue: what a hostile plugin (or a
// client driving one) can do to the host's shutdown, call bounds, memory and log. Each goes
// through the real path: a .wasm built from testdata/wat or plugins/, real sockets.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
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

// logBuffer collects a server's log for a test to search (the server writes, the test reads).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log lines that contain s.
func (b *logBuffer) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// serveLogged starts a server for the config src (module paths absolute) with a log of its own
// and no Shutdown at cleanup unless the test did not call it. It returns the server, its ws://
// base URL and its log.
func serveLogged(t *testing.T, src string) (*host.Server, string, *logBuffer) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "host.toml"), []byte(generousStart(src)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &logBuffer{}
	srv, base := hosttest.Serve(t, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	return srv, base, logs
}

func absModule(t *testing.T, module string) string {
	t.Helper()
	abs, err := filepath.Abs(module)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// pluginConfig is a config serving module as plugin "p" on /ws, with extra plugin keys.
func pluginConfig(t *testing.T, cache, module, pluginKeys string) string {
	return fmt.Sprintf("listen = \"127.0.0.1:0\"\ncompilation_cache = %q\n[plugin.p]\nmodule = %q\n%s\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\n",
		cache, absModule(t, module), pluginKeys)
}

// Item 7: SIGTERM with a plugin whose on_close loops. The drain must end by drain_timeout, with a
// line saying what was cut short; before, the watchdog was stopped before the plugin's queue was
// drained and the process never stopped.
func TestDrainTimeoutBoundsShutdown(t *testing.T) {
	// call_timeout is far longer than the test's patience: only the drain bound can end this.
	srv, base, logs := serveLogged(t, pluginConfig(t, testCache, "../testdata/wasm/closeloop.wasm", "call_timeout = \"10m\""))
	var clients []*wstest.Client
	for i := 0; i < 5; i++ {
		c := wstest.Dial(t, base+"/ws", nil)
		c.Send(ws.OpText, []byte("hi"))
		if _, got := c.Read(); string(got) != "ok" {
			t.Fatalf("reply %q", got)
		}
		clients = append(clients, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	// The clients answer the server's 1001 at once: their connections end and on_close, which
	// loops, is what the drain waits for.
	for _, c := range clients {
		go func() {
			if f, err := c.ReadFrame(10 * time.Second); err == nil && f.Op == ws.OpClose {
				_ = ws.WriteFrame(c.Conn, ws.MaskFrameInPlace(ws.NewCloseFrame(f.Payload)))
			}
		}()
	}
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Shutdown returned nil: the drain was cut short and must say so")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown still running 30s after a 1s drain_timeout: on_close loops hold the process")
	}
	if len(logs.lines("drain cut short")) != 1 {
		t.Errorf("no log line saying what the drain cut short:\n%s", logs)
	}
}

// Item 8: a handler that sleeps (WASI poll_oneoff) for 20 s with call_timeout = 1s is interrupted
// like a loop: its connection gets 1011 well before the sleep would end, and the plugin serves
// others meanwhile and after.
func TestSleepBoundedByCallTimeout(t *testing.T) {
	_, url := startServer(t, "../testdata/wasm/sleep.wasm", "call_timeout = \"1s\"", "")
	short := wstest.Dial(t, url, nil)
	short.Send(ws.OpText, []byte("1"))
	if _, got := short.Read(); string(got) != "slept" {
		t.Fatalf("a 1 ms sleep: %q", got)
	}
	sleeper := wstest.Dial(t, url, nil)
	sleeper.Send(ws.OpText, []byte("20000"))
	// The sleep would end after 20 s; the call timeout must end it first.
	if code, _ := sleeper.ExpectClose(15 * time.Second); code != 1011 {
		t.Fatalf("sleeping handler: close %d, want 1011", code)
	}
	short.Send(ws.OpText, []byte("1"))
	if _, got := short.Read(); string(got) != "slept" {
		t.Fatalf("after the interrupted sleep: %q", got)
	}
	fresh := wstest.Dial(t, url, nil)
	fresh.Send(ws.OpText, []byte("0"))
	if _, got := fresh.Read(); string(got) != "slept" {
		t.Fatalf("new connection after the interrupted sleep: %q", got)
	}
}

// Item 9: with the plugin slower than its clients, the inbound queue is bounded in bytes: readers
// stop reading (TCP backpressure) instead of the host buffering every message.
func TestInboundQueueBoundedInBytes(t *testing.T) {
	const clients, msgs, size = 3, 20, 512 << 10
	const limit = 2 << 20
	srv, url := startServer(t, "../testdata/wasm/sleep.wasm", "call_timeout = \"5s\"\nmailbox_bytes = \"2MiB\"", "")
	payload := bytes.Repeat([]byte("x"), size)
	copy(payload, "20") // each message sleeps 20 ms in the plugin
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		c := wstest.Dial(t, url, nil)
		wg.Add(2)
		go func() { // writer: 10 MiB as fast as the host takes them
			defer wg.Done()
			for j := 0; j < msgs; j++ {
				f := ws.MaskFrameInPlace(ws.NewBinaryFrame(append([]byte(nil), payload...)))
				if err := ws.WriteFrame(c.Conn, f); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // reader: one "slept" per message
			defer wg.Done()
			for j := 0; j < msgs; j++ {
				f, err := c.ReadFrame(30 * time.Second)
				if err != nil || string(f.Payload) != "slept" {
					errs <- fmt.Errorf("reply %d: %q %v", j, f.Payload, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	peak := srv.Plugins()["p"].Stats().PeakQueuedBytes.Load()
	if peak > limit {
		t.Errorf("inbound queue peaked at %d bytes, over mailbox_bytes = %d", peak, limit)
	}
	if peak < size {
		t.Errorf("inbound queue peaked at %d bytes: the plugin was never behind, the test proves nothing", peak)
	}
}

// Item 13: a corrupt compilation-cache entry (truncated, bit-flipped anywhere, empty) makes the
// host recompile with a warning, never fail to start.
func TestCorruptCompilationCache(t *testing.T) {
	module := echoModules["wat"]
	corruptions := []struct {
		name string
		hurt func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"bit flipped in the header", func(b []byte) []byte { b[2] ^= 0x10; return b }},
		{"bit flipped in a function offset", func(b []byte) []byte { b[len(b)/8] ^= 0x01; return b }},
		{"bit flipped in the code", func(b []byte) []byte { b[len(b)/2] ^= 0x80; return b }},
		{"bit flipped at the end", func(b []byte) []byte { b[len(b)-1] ^= 0x04; return b }},
	}
	for _, tc := range corruptions {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			src := pluginConfig(t, cache, module, "")
			first, _, _ := serveLogged(t, src) // fills the cache
			shutdownNow(t, first)
			entries := cacheEntries(t, cache)
			if len(entries) == 0 {
				t.Fatal("the cache has no entry after a compile")
			}
			for _, e := range entries {
				b, err := os.ReadFile(e)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(e, tc.hurt(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, base, logs := serveLogged(t, src)
			if len(logs.lines("compilation cache")) == 0 {
				t.Errorf("no warning about the bad cache entry:\n%s", logs)
			}
			c := wstest.Dial(t, base+"/ws", nil)
			c.Send(ws.OpText, []byte("still echoes"))
			if _, got := c.Read(); string(got) != "still echoes" {
				t.Fatalf("echo after recompiling: %q", got)
			}
			// The entry is whole again: a third start uses it without a warning.
			second, _, _ := serveLogged(t, src)
			shutdownNow(t, second)
			_, _, logs3 := serveLogged(t, src)
			if got := logs3.lines("compilation cache"); len(got) != 0 {
				t.Errorf("the repaired cache still warns: %v", got)
			}
		})
	}
}

func shutdownNow(t *testing.T, srv *host.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func cacheEntries(t *testing.T, dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.Contains(filepath.Base(path), ".") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// Item 14: reloading a module version after version does not keep the compiled code of every
// version: what no instance runs any more is released. 10 reloads of the Rust echo plugin (each
// a distinct version: a custom section makes the bytes differ) must not grow the compiled code the
// process maps by more than two versions' worth (kept, each adds ~250 KB; the Go echo's ~24 MB,
// but compiling it 13 times took minutes under -race). Measured on the executable mappings, not
// the resident memory, which under -race moves by more than that with the race detector's shadow
// memory: the test failed there.
func TestReloadReleasesCompiledCode(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/maps")
	}
	wasm, err := os.ReadFile("../sdk/rust/examples/echo/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(t.TempDir(), "echo.wasm")
	version := func(i int) {
		// A custom section (id 0) named "v" holding i: a new version, the same code.
		name := []byte("v")
		body := append([]byte{byte(len(name))}, name...)
		body = append(body, []byte(strconv.Itoa(i))...)
		b := append(append([]byte(nil), wasm...), 0, byte(len(body)))
		b = append(b, body...)
		if err := os.WriteFile(module+".tmp", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(module+".tmp", module); err != nil {
			t.Fatal(err)
		}
	}
	version(0)
	empty := codeBytes(t)
	// A cache of its own, in memory: compiled code lives only as long as the host keeps it.
	srv, base, _ := serveLogged(t, fmt.Sprintf("listen = \"127.0.0.1:0\"\n[plugin.p]\nmodule = %q\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\n", module))
	c := wstest.Dial(t, base+"/ws", nil)
	reload := func(i int) {
		version(i)
		if rep := srv.ReloadPlugin(context.Background(), "p"); rep.Error != "" || !rep.Changed {
			t.Fatalf("reload %d: %+v", i, rep)
		}
		c.Send(ws.OpText, []byte("v"+strconv.Itoa(i)))
		if _, got := c.Read(); string(got) != "v"+strconv.Itoa(i) {
			t.Fatalf("echo after reload %d: %q", i, got)
		}
	}
	reload(1)
	reload(2)
	before := codeBytes(t)
	// One version's code, at least: what serving the module added (the host's other code too).
	perVersion := max(before-empty, 256<<10)
	for i := 3; i < 13; i++ {
		reload(i)
	}
	// Old versions' code is unmapped by finalizers, which run after a collection: wait for it.
	var after int64
	deadline := time.Now().Add(30 * time.Second)
	for after = codeBytes(t); after-before > 2*perVersion && time.Now().Before(deadline); after = codeBytes(t) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("compiled code: %d KB without the plugin, %d KB serving it, %d KB after 10 more reloads", empty>>10, before>>10, after>>10)
	if grown := after - before; grown > 2*perVersion {
		t.Errorf("10 reloads grew the compiled code by %d KB (one version: %d KB): old versions' compiled code is kept", grown>>10, perVersion>>10)
	}
}

// codeBytes is the size of the process's anonymous executable mappings, after the garbage
// collector has run: the machine code wazero compiled (unmapped by finalizers). Unlike the
// resident memory, it does not move with the Go heap or the race detector's shadow memory.
func codeBytes(t *testing.T) int64 {
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, l := range strings.Split(string(b), "\n") {
		// start-end perms offset dev inode [path]
		f := strings.Fields(l)
		if len(f) != 5 || !strings.Contains(f[1], "x") || f[4] != "0" {
			continue
		}
		from, to, _ := strings.Cut(f[0], "-")
		lo, err1 := strconv.ParseUint(from, 16, 64)
		hi, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/self/maps: %q", l)
		}
		n += int64(hi - lo)
	}
	return n
}

// Item 15: one client cannot disable a route for everyone. Faults it causes cost its own
// connections (1011); the plugin keeps serving the others and new ones.
func TestFaultCostsOnlyItsConnection(t *testing.T) {
	_, base := startConfig(t, "../testdata/wasm/trap.wasm", "max_crashes = 2\ncrash_window = \"1m\"\n[[route]]\npath = \"/ws\"\nplugin = \"p\"")
	bystander := wstest.Dial(t, base+"/ws", nil)
	for i := 0; i < 8; i++ {
		c := wstest.Dial(t, base+"/ws", nil)
		c.Send(ws.OpText, []byte("trap"))
		if code, _ := c.ExpectClose(5 * time.Second); code != 1011 {
			t.Fatalf("trap %d: close %d, want 1011", i, code)
		}
	}
	bystander.Send(ws.OpText, []byte("still here"))
	if _, got := bystander.Read(); string(got) != "still here" {
		t.Fatalf("bystander: %q", got)
	}
	if got := dialStatus(t, base+"/ws", nil); got != 101 {
		t.Errorf("after one client's faults: handshake %d, want 101", got)
	}
	fams := scrape(t, base)
	if v := metric(fams, "wasmsock_plugin_disabled", "plugin", "p"); v != 0 {
		t.Errorf("wasmsock_plugin_disabled = %v", v)
	}
	if v := metric(fams, "wasmsock_plugin_faults_total", "plugin", "p"); v != 8 {
		t.Errorf("wasmsock_plugin_faults_total = %v, want 8", v)
	}
}

// Item 15: a plugin that cannot bring its instance back (every replay faults) enters crash-loop
// backoff, says so (log, metric, /readyz, status), and recovers by itself when the backoff ends.
func TestCrashLoopBacksOffAndRecovers(t *testing.T) {
	srv, base, logs := serveLogged(t, pluginConfig(t, testCache, "../testdata/wasm/resume_trap.wasm",
		"max_crashes = 1\ncrash_window = \"1m\"\ncrash_backoff = \"500ms\""))
	a := wstest.Dial(t, base+"/ws", nil)
	b := wstest.Dial(t, base+"/ws", nil)
	c := wstest.Dial(t, base+"/ws", nil)
	a.Send(ws.OpText, []byte("trap"))
	for i, cl := range []*wstest.Client{a, b, c} {
		if code, _ := cl.ExpectClose(5 * time.Second); code != 1011 {
			t.Fatalf("client %d: close %d, want 1011", i, code)
		}
	}
	// In backoff: refused, not ready, reported.
	if got := dialStatus(t, base+"/ws", nil); got != 503 {
		t.Errorf("in crash-loop backoff: handshake %d, want 503", got)
	}
	resp, err := http.Get(httpBase(base) + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(body.String(), "crash-loop") {
		t.Errorf("/readyz in backoff: %d %q", resp.StatusCode, body.String())
	}
	if v := metric(scrape(t, base), "wasmsock_plugin_disabled", "plugin", "p"); v != 1 {
		t.Errorf("wasmsock_plugin_disabled = %v in backoff", v)
	}
	if len(logs.lines("crash loop")) == 0 {
		t.Errorf("no log line about the crash loop:\n%s", logs)
	}
	if st := srv.Status(); len(st.Plugins) != 1 || st.Plugins[0].CrashLoopUntil == nil {
		t.Errorf("status does not show the backoff: %+v", st.Plugins)
	}
	// Recovers without a reload.
	deadline := time.Now().Add(20 * time.Second)
	for dialStatus(t, base+"/ws", nil) != 101 {
		if time.Now().After(deadline) {
			t.Fatal("the plugin did not recover from crash-loop backoff by itself")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := wstest.Dial(t, base+"/ws", nil)
	d.Send(ws.OpText, []byte("hello"))
	if _, got := d.Read(); string(got) != "ok" {
		t.Fatalf("after recovery: %q", got)
	}
	if v := metric(scrape(t, base), "wasmsock_plugin_disabled", "plugin", "p"); v != 0 {
		t.Errorf("wasmsock_plugin_disabled = %v after recovery", v)
	}
	if len(logs.lines("recovered")) == 0 {
		t.Errorf("no log line about the recovery")
	}
}

// Item 16: an instance whose linear memory passed memory_recycle is replaced between two events,
// its connections resumed: a burst of large messages does not pin memory for the process's life.
func TestMemoryRecycle(t *testing.T) {
	srv, url := startServer(t, echoModules["go"], "memory_recycle = \"8MiB\"", "max_message_bytes = \"16MiB\"\nqueue_bytes = \"64MiB\"")
	c := wstest.Dial(t, url, nil)
	other := wstest.Dial(t, url, nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: the Go plugin grows to about 19 MiB
	c.Send(ws.OpBinary, big)
	if _, got := c.Read(); !bytes.Equal(got, big) {
		t.Fatalf("big echo: %d bytes", len(got))
	}
	p := srv.Plugins()["p"]
	if n := p.Stats().Recycles.Load(); n != 1 {
		t.Fatalf("recycles after a 16 MiB message: %d, want 1", n)
	}
	for _, cl := range []*wstest.Client{c, other} { // both resumed on the fresh instance
		cl.Send(ws.OpText, []byte("small"))
		if _, got := cl.Read(); string(got) != "small" {
			t.Fatalf("after recycle: %q", got)
		}
	}
	if n := p.Stats().Recycles.Load(); n != 1 {
		t.Errorf("small messages recycled again: %d", n)
	}
	base := strings.TrimSuffix(url, "/ws")
	if v := metric(scrape(t, base), "wasmsock_plugin_recycles_total", "plugin", "p"); v != 1 {
		t.Errorf("wasmsock_plugin_recycles_total = %v", v)
	}
}

// Item 17: a plugin's log lines are cut at log_line_bytes and rate-limited, with a count of what
// was dropped; one log call of 4 MiB does not write a 4 MiB line.
func TestPluginLogCutAndRateLimited(t *testing.T) {
	_, base, logs := serveLogged(t, pluginConfig(t, testCache, "../testdata/wasm/logflood.wasm",
		"log_line_bytes = \"1KiB\"\nlog_lines_per_second = 50"))
	c := wstest.Dial(t, base+"/ws", nil)
	for i := 0; i < 2; i++ {
		c.Send(ws.OpText, []byte("go"))
		if _, got := c.Read(); string(got) != "done" {
			t.Fatalf("reply %q", got)
		}
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		if len(l) > 2<<10 {
			t.Fatalf("a log line of %d bytes (log_line_bytes = 1KiB)", len(l))
		}
	}
	if n := len(logs.lines(`"AAAA`)); n < 1 {
		t.Errorf("no cut long line logged")
	}
	if got := logs.lines("cut_bytes"); len(got) == 0 {
		t.Errorf("cut lines do not say how much was cut")
	}
	spam := len(logs.lines(`"msg":"spam"`))
	if spam > 60 {
		t.Errorf("%d spam lines logged with log_lines_per_second = 50", spam)
	}
	if v := metric(scrape(t, base), "wasmsock_plugin_log_dropped_total", "plugin", "p"); v < 1900 {
		t.Errorf("wasmsock_plugin_log_dropped_total = %v, want about 2000-%d", v, spam)
	}
}
