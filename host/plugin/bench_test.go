package plugin

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/internal/clock"
	"github.com/wasmsock/wasmsock/host/plugin/internal/loopcheck"
)

// connected loads the module at path (relative to this package) with opts (CallTimeout a minute
// unless set), stopped when the test ends, and accepts connection 1.
func connected(t testing.TB, path string, opts Options) *Plugin {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.Wasm = wasm
	if opts.CallTimeout == 0 {
		opts.CallTimeout = time.Minute
	}
	p, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if v := p.Connect(1, 0); !v.Accepted() {
		t.Fatalf("connect: %+v", v)
	}
	return p
}

// nopHost accepts every send and knows every connection.
type nopHost struct{}

func (nopHost) Send(uint64, uint64, int32, []byte) abi.Status { return abi.OK }
func (nopHost) Close(uint64, uint64, int, string) abi.Status  { return abi.OK }
func (nopHost) ConnGet(_, _ uint64, key string) (string, abi.Status) {
	if key == "path" {
		return "/", abi.OK
	}
	return "", abi.ErrNotFound
}
func (nopHost) Join(uint64, uint64, string) abi.Status  { return abi.OK }
func (nopHost) Leave(uint64, uint64, string) abi.Status { return abi.OK }
func (nopHost) Released(uint64)                         {}
func (nopHost) Presence(context.Context, uint64, string, bool) (int, []Member, abi.Status) {
	return 2, []Member{{Conn: 1, User: "ada"}, {Conn: 0, User: ""}}, abi.OK
}
func (nopHost) Broadcast(uint64, string, int32, []byte, uint64) (int, abi.Status) { return 0, abi.OK }

// BenchmarkCallTimeout measures what interrupting runaway calls costs per call, on the echo
// plugin's on_message (msg_read + send of 5 bytes):
//
//   - unbounded: no way to interrupt a call (the floor).
//   - stopflag: what wasmsock does: the module instrumented by loopcheck (a flag checked at every
//     loop head, set when the guest's context is cancelled), one long-lived context per guest,
//     and one watchdog goroutine per plugin that cancels it when a call overruns.
//   - closeoncontextdone: wazero's own mechanism (before): WithCloseOnContextDone, which starts a
//     goroutine per call to watch the context and exits to Go at every loop iteration, with the
//     same watchdog (wazero issue 2466).
//   - per-call-timeout: WithCloseOnContextDone with a context.WithTimeout for every call.
func BenchmarkCallTimeout(b *testing.B) {
	for _, module := range []string{"../../testdata/wasm/echo.wasm", "../../plugins/echo/echo.wasm"} {
		wasm, err := os.ReadFile(module)
		if err != nil {
			b.Fatal(err)
		}
		name := "wat"
		if module[len(module)-len("plugins/echo/echo.wasm"):] == "plugins/echo/echo.wasm" {
			name = "go"
		}
		for _, mode := range []string{"unbounded", "stopflag", "closeoncontextdone", "per-call-timeout"} {
			b.Run(name+"/"+mode, func(b *testing.B) { benchCall(b, wasm, mode) })
		}
	}
}

func benchCall(b *testing.B, wasm []byte, mode string) {
	ctx := context.Background()
	ensureTermination := mode == "closeoncontextdone" || mode == "per-call-timeout"
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(ensureTermination))
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		b.Fatal(err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		b.Fatal(err)
	}
	code := wasm
	if mode == "stopflag" {
		var err error
		if code, err = loopcheck.Instrument(wasm); err != nil {
			b.Fatal(err)
		}
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		b.Fatal(err)
	}
	p := &Plugin{opts: Options{Host: nopHost{}}, host: nopHost{}}
	p.opts.setDefaults()
	m := &module{rt: rt, compiled: compiled, log: slog.New(slog.DiscardHandler), checked: mode == "stopflag"}
	g, err := newGuest(p, m, 0, new(atomic.Int64))
	if err != nil {
		b.Fatal(err)
	}
	defer g.close()
	payload := []byte("hello")
	fn := g.fns.onMessage
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.setPayload(payload)
		g.stack[0], g.stack[1], g.stack[2] = 1, abi.KindText, uint64(len(payload))
		if mode == "per-call-timeout" {
			cctx, cancel := context.WithTimeout(g.ctx, time.Second)
			g.callStart.Store(clock.Now())
			err = fn.CallWithStack(cctx, g.stack[:])
			g.callStart.Store(0)
			cancel()
		} else {
			err = g.call(fn, 1)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// countHost counts the messages the guest sends.
type countHost struct {
	nopHost
	sent atomic.Int64
}

func (h *countHost) Send(uint64, uint64, int32, []byte) abi.Status {
	h.sent.Add(1)
	return abi.OK
}

// BenchmarkMessagePath measures one message through the plugin's whole delivery path
// (Plugin.Message -> on_message -> msg_read + send -> Host.Send), for the WAT and the Go echo:
//
//   - armed / unbounded: call timeouts armed (the loopcheck stop flag, what wasmsock runs) or not
//     (no way to stop a runaway guest: the floor);
//   - inline / handoff: the guest called on the delivering goroutine when the instance is idle
//     (what wasmsock does), or every event handed to the instance's worker goroutine (before).
func BenchmarkMessagePath(b *testing.B) {
	for _, mod := range []struct{ name, path string }{{"wat", "../../testdata/wasm/echo.wasm"}, {"go", "../../plugins/echo/echo.wasm"}} {
		wasm, err := os.ReadFile(mod.path)
		if err != nil {
			b.Fatal(err)
		}
		for _, armed := range []bool{true, false} {
			for _, inline := range []bool{true, false} {
				name := mod.name + "/armed"
				if !armed {
					name = mod.name + "/unbounded"
				}
				if inline {
					name += "/inline"
				} else {
					name += "/handoff"
				}
				b.Run(name, func(b *testing.B) { benchMessagePath(b, wasm, armed, inline) })
			}
		}
	}
}

func benchMessagePath(b *testing.B, wasm []byte, armed, inline bool) {
	h := &countHost{}
	opts := Options{Wasm: wasm, Host: h, Cache: benchCache}
	opts.unbounded, opts.noInline = !armed, !inline
	p, err := Load(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	p.Connect(1, 0)
	payload := []byte("hello")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Message(1, abi.KindText, payload)
	}
	for h.sent.Load() < int64(b.N) {
		runtime.Gosched()
	}
}

var benchCache = wazero.NewCompilationCache()
