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
)

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
func (nopHost) Presence(uint64, string, bool) (int, []Member) {
	return 2, []Member{{Conn: 1, User: "ada"}, {Conn: 0, User: ""}}
}
func (nopHost) Broadcast(uint64, string, int32, []byte, uint64) (int, abi.Status) { return 0, abi.OK }

// BenchmarkCallTimeout measures what interrupting runaway calls costs per call (wazero issue 2466:
// WithCloseOnContextDone is known to be expensive), on the echo plugin's on_message (msg_read +
// send of 5 bytes):
//
//   - unbounded: no way to interrupt a call (the floor).
//   - watchdog: what wasmsock does: CloseOnContextDone, one long-lived context per guest, and one
//     watchdog goroutine per plugin that cancels it when a call overruns.
//   - per-call-timeout: CloseOnContextDone with a context.WithTimeout for every call.
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
		b.Run(name+"/unbounded", func(b *testing.B) { benchCall(b, wasm, false, false) })
		b.Run(name+"/watchdog", func(b *testing.B) { benchCall(b, wasm, true, false) })
		b.Run(name+"/per-call-timeout", func(b *testing.B) { benchCall(b, wasm, true, true) })
	}
}

func benchCall(b *testing.B, wasm []byte, ensureTermination, perCallTimeout bool) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(ensureTermination))
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		b.Fatal(err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		b.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	p := &Plugin{opts: Options{Host: nopHost{}}, host: nopHost{}}
	p.opts.setDefaults()
	m := &module{rt: rt, compiled: compiled, log: slog.New(slog.DiscardHandler)}
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
		if perCallTimeout {
			cctx, cancel := context.WithTimeout(g.ctx, time.Second)
			g.callStart.Store(time.Now().UnixNano())
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
//   - armed / unbounded: call timeouts armed (wazero's termination checks and its per-call
//     goroutine, what wasmsock runs) or not (no way to stop a runaway guest: the floor);
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
