package plugin

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/plugin/internal/loopcheck"
)

// A guest spinning in on_message is interrupted once it runs past CallTimeout, whichever way the
// module is made interruptible: the stop flag loopcheck adds (every module the runtime accepts),
// or, for a module loopcheck refuses (here, one that already exports the flag's name), wazero's
// own termination checks. The stop flag also stops a guest that spins without a loop (recursion
// that never gets deep but makes 2^60 calls), which wazero's checks, at loop heads only, do not.
// The fault is counted as a timeout and the plugin serves on.
func TestCallTimeoutInterruptsLoop(t *testing.T) {
	read := func(name string) []byte {
		wasm, err := os.ReadFile("../../testdata/wasm/" + name + ".wasm")
		if err != nil {
			t.Fatal(err)
		}
		return wasm
	}
	loop := read("loop")
	taken, err := loopcheck.Instrument(loop) // exports loopcheck.Export already
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		wasm    []byte
		checked bool
	}{
		{"loop/stop flag", loop, true},
		{"loop/runtime fallback", taken, false},
		{"recursion/stop flag", read("recurse"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &closeHost{closed: make(chan uint64, 4)}
			p, err := Load(context.Background(), Options{Wasm: tt.wasm, Host: h, CallTimeout: time.Second}) // also bounds start-up: generous for -race on a loaded machine
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if got := p.module.Load().checked; got != tt.checked {
				t.Fatalf("module instrumented: %v, want %v", got, tt.checked)
			}
			for conn := uint64(1); conn <= 2; conn++ {
				if v := p.Connect(conn, 0); !v.Accepted() {
					t.Fatalf("connect %d: %+v", conn, v)
				}
				p.Message(conn, abi.KindText, []byte("spin")) // returns once the call is interrupted
				select {
				case got := <-h.closed:
					if got != conn {
						t.Fatalf("closed conn %d, want %d", got, conn)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("conn %d: the spinning call was not interrupted", conn)
				}
			}
			if n := p.Stats().Timeouts.Load(); n != 2 {
				t.Errorf("%d timeouts counted, want 2", n)
			}
		})
	}
}

// closeHost reports the connections the plugin closes (1011 after a fault).
type closeHost struct {
	nopHost
	closed chan uint64
}

func (h *closeHost) Close(_, conn uint64, _ int, _ string) abi.Status {
	h.closed <- conn
	return abi.OK
}

// goroutineHost records how many goroutines exist while the guest is inside send.
type goroutineHost struct {
	nopHost
	during []int
}

func (h *goroutineHost) Send(uint64, uint64, int32, []byte) abi.Status {
	h.during = append(h.during, runtime.NumGoroutine())
	return abi.OK
}

// A guest call with call timeouts armed starts no goroutine: the count inside the call (in the
// guest's send) is the count before it. wazero's own mechanism (WithCloseOnContextDone) starts
// one per call to watch the call's context, which this host no longer uses for modules it can
// instrument.
func TestCallStartsNoGoroutine(t *testing.T) {
	for _, module := range []string{"../../testdata/wasm/echo.wasm", "../../plugins/echo/echo.wasm"} {
		t.Run(module, func(t *testing.T) {
			wasm, err := os.ReadFile(module)
			if err != nil {
				t.Fatal(err)
			}
			h := &goroutineHost{}
			p, err := Load(context.Background(), Options{Wasm: wasm, Host: h, CallTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.Connect(1, 0)
			// The instance is idle, so each message runs on this goroutine, and send with it.
			extra := 1 << 30
			for i := 0; i < 20; i++ {
				before := runtime.NumGoroutine()
				p.Message(1, abi.KindText, []byte("hello"))
				if len(h.during) != i+1 {
					t.Fatalf("message %d: %d sends, want %d", i, len(h.during), i+1)
				}
				extra = min(extra, h.during[i]-before)
			}
			// Other goroutines of the process may come and go meanwhile; one call of the 20
			// without more goroutines than before is enough to show none is started per call.
			if extra > 0 {
				t.Errorf("every call ran with at least %d more goroutine(s) than before it", extra)
			}
		})
	}
}
