package sdk_test

// Benchmarks of the echo plugin of every SDK, and of the hand-written WAT echo (the floor: no
// language runtime at all). sdk/README.md has the figures, the machine and the date.
//
//	go test -run '^$' -bench . -count 3 ./sdk/
//
// BenchmarkInstantiate/LANG: plugin.Load of one instance, with the compiled code already in the
// compilation cache (a plugin loaded before the timer starts keeps it there: wazero drops a
// module from an in-memory cache when its last user closes). An op is what Load does then: a
// wazero runtime with the WASI and wasmsock host modules, decoding and validating the module
// (the cache saves only the compilation), instantiating it, _initialize and on_start. Close is
// not timed. Metrics: compile-ns, the cold compilation of the module (plugin.Check with an empty
// cache, measured once before the sub-benchmark); bytes, the size of the .wasm file.
//
// BenchmarkInstanceMemory/LANG: how much the process's resident memory grows when a plugin of
// memInstances instances is loaded, divided by memInstances ("bytes/instance": VmRSS from
// /proc/self/status, after a GC that returns freed heap to the OS, before and after the load).
// The compiled code is not counted (it is cached and resident before the first measurement); the
// plugin's own runtime and decoded module are, spread over the instances. heap-bytes/instance is
// the part of it on the Go heap (HeapInuse), where wazero keeps linear memory; it counts linear
// memory the guest never touched, which RSS does not. ns/op is the time to load the plugin.
//
// BenchmarkMessage/LANG: sequential round trips of a 64-byte text message over one WebSocket
// connection, through a real host (host.New and Serve on 127.0.0.1, the per-client limits off)
// with the wstest client; client and server share the process and its cores.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/tetratelabs/wazero"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/plugin"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// memInstances is the size of the instance pool BenchmarkInstanceMemory loads.
const memInstances = 50

// benchModule is one language's echo plugin.
type benchModule struct{ lang, path string }

// benchModules are the echo plugins of every SDK (impls, in suite_test.go), then the WAT echo.
func benchModules() []benchModule {
	var ms []benchModule
	for _, im := range impls {
		ms = append(ms, benchModule{im.lang, im.echo})
	}
	return append(ms, benchModule{"wat", "../testdata/wasm/echo.wasm"})
}

// benchHost is a host with no connections: the echo plugins call nothing during start-up.
type benchHost struct{}

func (benchHost) Send(uint64, uint64, int32, []byte) abi.Status                     { return abi.OK }
func (benchHost) Close(uint64, uint64, int, string) abi.Status                      { return abi.OK }
func (benchHost) ConnGet(uint64, uint64, string) (string, abi.Status)               { return "", abi.ErrNotFound }
func (benchHost) Join(uint64, uint64, string) abi.Status                            { return abi.OK }
func (benchHost) Leave(uint64, uint64, string) abi.Status                           { return abi.OK }
func (benchHost) Broadcast(uint64, string, int32, []byte, uint64) (int, abi.Status) { return 0, abi.OK }
func (benchHost) Released(uint64)                                                   {}
func (benchHost) Presence(context.Context, uint64, string, bool) (int, []plugin.Member, abi.Status) {
	return 0, nil, abi.OK
}

var _ plugin.Host = benchHost{}

func readModule(b *testing.B, path string) []byte {
	b.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		b.Fatalf("%v (build the examples: make wasm)", err)
	}
	return wasm
}

// warmCache compiles wasm into a fresh compilation cache and returns it with a plugin that keeps
// the compiled code in it (close it when done), and how long a cold compilation took.
func warmCache(b *testing.B, name string, wasm []byte) (wazero.CompilationCache, *plugin.Plugin, time.Duration) {
	b.Helper()
	ctx := context.Background()
	// Check compiles and validates with an empty cache, then closes the module, which drops it
	// from the cache again: this measures the compilation alone.
	start := time.Now()
	if err := plugin.Check(ctx, wasm, wazero.NewCompilationCache()); err != nil {
		b.Fatalf("%s: check: %v", name, err)
	}
	compile := time.Since(start)
	cache := wazero.NewCompilationCache()
	keeper, err := plugin.Load(ctx, plugin.Options{Name: name + "-keeper", Wasm: wasm, Host: benchHost{}, Cache: cache})
	if err != nil {
		b.Fatalf("%s: load: %v", name, err)
	}
	return cache, keeper, compile
}

func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	for _, m := range benchModules() {
		wasm := readModule(b, m.path)
		cache, keeper, compile := warmCache(b, m.lang, wasm)
		b.Run(m.lang, func(b *testing.B) {
			opts := plugin.Options{Name: m.lang, Wasm: wasm, Instances: 1, Host: benchHost{}, Cache: cache}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p, err := plugin.Load(ctx, opts)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				p.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(compile.Nanoseconds()), "compile-ns")
			b.ReportMetric(float64(len(wasm)), "bytes")
		})
		keeper.Close()
	}
}

func BenchmarkInstanceMemory(b *testing.B) {
	if _, _, err := memoryNow(); err != nil {
		b.Skipf("resident memory unknown here: %v", err)
	}
	ctx := context.Background()
	for _, m := range benchModules() {
		wasm := readModule(b, m.path)
		cache, keeper, _ := warmCache(b, m.lang, wasm)
		b.Run(m.lang, func(b *testing.B) {
			opts := plugin.Options{Name: m.lang, Wasm: wasm, Instances: memInstances, Host: benchHost{}, Cache: cache}
			var rss, heap int64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				rss0, heap0, err := memoryNow()
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				p, err := plugin.Load(ctx, opts)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				rss1, heap1, err := memoryNow()
				if err != nil {
					b.Fatal(err)
				}
				rss += rss1 - rss0
				heap += heap1 - heap0
				p.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(rss)/float64(b.N*memInstances), "bytes/instance")
			b.ReportMetric(float64(heap)/float64(b.N*memInstances), "heap-bytes/instance")
		})
		keeper.Close()
	}
}

// memoryNow collects garbage, returns the freed heap to the OS, and reports the process's
// resident memory (VmRSS) and the Go heap in use, in bytes.
func memoryNow() (rss, heap int64, err error) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, int64(ms.HeapInuse), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

func BenchmarkMessage(b *testing.B) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4) // 64 bytes
	for _, m := range benchModules() {
		url := startBenchHost(b, m.path)
		b.Run(m.lang, func(b *testing.B) {
			c := wstest.Dial(b, url, nil)
			for b.Loop() {
				c.Send(ws.OpText, payload)
				op, got := c.Read()
				if op != ws.OpText || !bytes.Equal(got, payload) {
					b.Fatalf("echo: got op %v %q, want text %q", op, got, payload)
				}
			}
		})
	}
}

// startBenchHost serves module on /ws, with the limits on messages and new connections per
// client off (a benchmark's load is far over them on purpose), until the benchmark ends. It
// returns the route's ws:// URL.
func startBenchHost(b *testing.B, module string) string {
	b.Helper()
	abs, err := filepath.Abs(module)
	if err != nil {
		b.Fatal(err)
	}
	src := fmt.Sprintf(`listen = "127.0.0.1:0"
[log]
level = "error"
[limits]
messages_per_second = 0
connections_per_second_per_ip = 0
[plugin.p]
module = %q
[[route]]
path = "/ws"
plugin = "p"
`, abs)
	cfg, err := config.Parse(filepath.Join(b.TempDir(), "host.toml"), []byte(src))
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	_, base := hosttest.Serve(b, cfg, nil)
	return base + "/ws"
}
