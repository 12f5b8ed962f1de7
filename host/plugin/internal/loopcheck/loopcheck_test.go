package loopcheck

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// modules are the committed .wasm files of the repository: every language's SDK output and the
// hand-written fixtures. Of the Go SDK's modules (megabytes each, alike in shape, slow to compile
// under the race detector) only the echo plugin is taken.
func modules(t testing.TB) map[string][]byte {
	t.Helper()
	var paths []string
	for _, glob := range []string{"testdata/wasm/*.wasm", "testdata/plugins/*/*.wasm", "plugins/*/*.wasm", "sdk/*/examples/*/*.wasm"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "..", "..", glob))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 10 {
		t.Fatalf("found only %d modules", len(paths))
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 && !strings.HasSuffix(p, "plugins/echo/echo.wasm") {
			continue
		}
		out[strings.TrimPrefix(p, "../../../../")] = b
	}
	return out
}

func compiles(t testing.TB, wasm []byte) error {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, wasm)
	if err == nil {
		cm.Close(ctx)
	}
	return err
}

// Every module that compiles compiles once instrumented, and keeps its exports.
func TestInstrumentCompiles(t *testing.T) {
	ctx := context.Background()
	for name, wasm := range modules(t) {
		t.Run(name, func(t *testing.T) {
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			before, err := rt.CompileModule(ctx, wasm)
			if err != nil {
				return // a fixture of a broken module
			}
			out, err := Instrument(wasm)
			if err != nil {
				t.Fatal(err)
			}
			after, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("instrumented module does not compile: %v", err)
			}
			for fn := range before.ExportedFunctions() {
				if _, ok := after.ExportedFunctions()[fn]; !ok {
					t.Errorf("export %q lost", fn)
				}
			}
			if len(after.ExportedFunctions()) != len(before.ExportedFunctions()) {
				t.Errorf("%d exported functions, want %d", len(after.ExportedFunctions()), len(before.ExportedFunctions()))
			}
		})
	}
}

// A guest spinning in a loop stops at the next iteration once the flag is set, on a runtime without
// its own termination checks; before, it runs.
func TestFlagStopsALoop(t *testing.T) {
	ctx := context.Background()
	mod, stop := instrumented(t, "loop")
	if stop.Get() != 0 {
		t.Fatalf("flag starts at %d", stop.Get())
	}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := mod.ExportedFunction("on_message").Call(ctx, 1, 1, 0)
		done <- err
	}()
	<-started
	select {
	case err := <-done:
		t.Fatalf("the loop returned before the flag was set: %v", err)
	default:
	}
	stop.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("call ended with %v, want the check's trap", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the loop did not stop after the flag was set")
	}
}

// Hand-built modules: the global and export sections are added in their place when missing, and
// what cannot be instrumented is refused.
func TestInstrumentModules(t *testing.T) {
	header := []byte("\x00asm\x01\x00\x00\x00")
	typ := []byte{1, 4, 1, 0x60, 0, 0}  // type 0: [] -> []
	fnOnly := []byte{3, 2, 1, 0}        // one function of type 0
	fn := append(fnOnly, 5, 3, 1, 0, 1) // and a memory of one page
	code := func(body ...byte) []byte { // one function body, no locals
		b := append([]byte{1, byte(len(body) + 1), 0}, body...)
		return append([]byte{10, byte(len(b))}, b...)
	}
	mod := func(secs ...[]byte) []byte { return bytes.Join(append([][]byte{header}, secs...), nil) }
	loop := code(0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b) // loop br 0 end end
	exportRun := []byte{7, 7, 1, 3, 'r', 'u', 'n', 0, 0}
	global := []byte{6, 6, 1, 0x7f, 0x00, 0x41, 0x07, 0x0b} // immutable i32 = 7
	for _, tt := range []struct {
		name string
		wasm []byte
		err  string // "" for success
	}{
		{"no global, no export section", mod(typ, fn, loop), ""},
		{"exports, no globals", mod(typ, fn, exportRun, loop), ""},
		{"a global of its own", mod(typ, fn, global, exportRun, loop), ""},
		{"nested loops", mod(typ, fn, code(0x03, 0x40, 0x03, 0x40, 0x0c, 0x01, 0x0b, 0x0b, 0x0b)), ""},
		{"exception handling", mod(typ, fn, code(0x06, 0x40, 0x0b, 0x0b)), "not supported"},
		{"tail call", mod(typ, fn, code(0x12, 0x00, 0x0b)), "not supported"},
		{"truncated body", mod(typ, fn, []byte{10, 4, 1, 5, 0, 0x03}), "truncated"},
		{"already exports the flag", mod(typ, fn, append([]byte{7, byte(4 + len(Export)), 1, byte(len(Export))}, append([]byte(Export), 0, 0)...), loop), "already exports"},
		{"not wasm", []byte("hello, world"), "not a WebAssembly module"},
		{"no memory", mod(typ, fnOnly, loop), "no memory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Instrument(tt.wasm)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := compiles(t, tt.wasm); err != nil {
				t.Fatalf("the test's module is broken: %v", err)
			}
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			m, err := rt.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatalf("instrumented module: %v", err)
			}
			stop, ok := m.ExportedGlobal(Export).(api.MutableGlobal)
			if !ok {
				t.Fatalf("no mutable global %q", Export)
			}
			if run := m.ExportedFunction("run"); run != nil {
				stop.Set(1) // the loop never ends by itself: the flag ends it at once
				if _, err := run.Call(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("run: %v, want the check's trap", err)
				}
			}
		})
	}
}

// Whatever the input, Instrument does not panic, and a module the runtime compiles still
// compiles once instrumented.
func FuzzInstrument(f *testing.F) {
	for _, wasm := range modules(f) {
		if len(wasm) < 4096 {
			f.Add(wasm)
		}
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if compiles(t, wasm) != nil {
			return
		}
		if err != nil {
			if errors.Is(err, errTruncated) {
				t.Fatalf("a module the runtime compiles was read as truncated: %v", err)
			}
			return // an instruction outside what is instrumented: the caller falls back
		}
		if err := compiles(t, out); err != nil {
			t.Fatalf("instrumented module does not compile: %v", err)
		}
	})
}

// A guest that spins, in a loop or by calls, lets the Go runtime stop the world (a garbage
// collection) while it runs: compiled wasm cannot be preempted, and without the checks' exits to
// Go every goroutine of the process, the one that would set the flag included, waited for the
// guest forever.
func TestSpinningGuestLetsTheWorldStop(t *testing.T) {
	for _, name := range []string{"loop", "recurse"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			mod, stop := instrumented(t, name)
			done := make(chan error, 1)
			go func() {
				_, err := mod.ExportedFunction("on_message").Call(ctx, 1, 1, 0)
				done <- err
			}()
			for i := 0; i < 3; i++ {
				runtime.GC() // stops the world twice; returns only if the guest lets it
			}
			select {
			case err := <-done:
				t.Fatalf("the guest returned by itself: %v", err)
			default:
			}
			stop.Set(1)
			if err := <-done; err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("call ended with %v, want the check's trap", err)
			}
		})
	}
}

// instrumented instantiates the fixture testdata/wasm/NAME.wasm, instrumented, on a runtime
// without termination checks of its own (closed when the test ends), and returns it with its
// stop flag.
func instrumented(t *testing.T, name string) (api.Module, api.MutableGlobal) {
	t.Helper()
	wasm, err := os.ReadFile("../../../../testdata/wasm/" + name + ".wasm")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = rt.Close(ctx) })
	mod, err := rt.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	stop, ok := mod.ExportedGlobal(Export).(api.MutableGlobal)
	if !ok {
		t.Fatalf("no mutable global %q", Export)
	}
	return mod, stop
}
