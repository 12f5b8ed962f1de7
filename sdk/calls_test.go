package sdk_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// maxGoEchoCalls is how many guest functions the Go SDK may run to echo one message: the export
// on_message and the dispatch function it wraps, the wasmimport wrappers of msg_read and send,
// the plugin's handler, Conn.Send, and the deferred recover with runtime.gorecover. Each Go call
// costs about 27 ns compiled to WebAssembly, and the echo's server CPU showed it (BENCHMARKS.md,
// "The Go SDK's calls"); an SDK change that adds a level fails here.
const maxGoEchoCalls = 8

// TestGoEchoCallsPerMessage counts, with wazero's function listener, the functions that one
// on_message of the Go echo plugin (plugins/echo, built from source by make wasm and checked by
// CI) runs, after warm-up calls: at most maxGoEchoCalls guest functions, and the host functions
// msg_read and send once each.
func TestGoEchoCallsPerMessage(t *testing.T) {
	var calls []string
	listening := false
	ctx := experimental.WithFunctionListenerFactory(context.Background(), experimental.FunctionListenerFactoryFunc(
		func(api.FunctionDefinition) experimental.FunctionListener {
			return experimental.FunctionListenerFunc(func(_ context.Context, _ api.Module, def api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
				if listening {
					calls = append(calls, def.DebugName())
				}
			})
		}))
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)

	wasm, err := os.ReadFile("../plugins/echo/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("hello")
	hostMod := r.NewHostModuleBuilder("wasmsock")
	for _, def := range compiled.ImportedFunctions() {
		module, name, _ := def.Import()
		if module != "wasmsock" {
			continue
		}
		fn := api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}) // every other import: 0
		switch name {
		case "msg_read":
			fn = func(_ context.Context, m api.Module, stack []uint64) {
				m.Memory().Write(uint32(stack[0]), payload)
				stack[0] = uint64(len(payload))
			}
		case "send":
			fn = func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = 0 }
		}
		hostMod.NewFunctionBuilder().WithGoModuleFunction(fn, def.ParamTypes(), def.ResultTypes()).Export(name)
	}
	if _, err := hostMod.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	onMessage := mod.ExportedFunction("on_message")
	for range 100 {
		if _, err := onMessage.Call(ctx, 1, 1, uint64(len(payload))); err != nil {
			t.Fatal(err)
		}
	}
	listening = true
	if _, err := onMessage.Call(ctx, 1, 1, uint64(len(payload))); err != nil {
		t.Fatal(err)
	}
	listening = false

	var guest, hostCalls []string
	for _, c := range calls {
		if name, ok := strings.CutPrefix(c, "wasmsock."); ok {
			hostCalls = append(hostCalls, name)
		} else {
			guest = append(guest, c)
		}
	}
	if len(guest) > maxGoEchoCalls {
		t.Errorf("one echoed message ran %d guest functions, want at most %d:\n%s", len(guest), maxGoEchoCalls, strings.Join(guest, "\n"))
	}
	if got := strings.Join(hostCalls, " "); got != "msg_read send" {
		t.Errorf("host functions called: %q, want \"msg_read send\"", got)
	}
}
