package plugin

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/kv"
)

// FuzzHostFunctions calls every host function with arbitrary arguments against a real guest
// memory: none may panic or return a status outside ABI v1's, whatever the pointers and lengths.
func FuzzHostFunctions(f *testing.F) {
	wasm, err := os.ReadFile("../../testdata/wasm/echo.wasm")
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		f.Fatal(err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		f.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		f.Fatal(err)
	}
	p := &Plugin{opts: Options{Host: nopHost{}, Bus: nopBus{}}, host: nopHost{}}
	p.opts.setDefaults()
	// Timers never fire here (manual), but timer_set and timer_cancel act on them: at most
	// abi.MaxTimers stay armed however long the fuzzer runs.
	p.timers = newTimers(p, time.Now, true)
	defer p.timers.close()
	store := kv.NewMemory(time.Now, kv.Limits{})
	p.kv = store
	g, err := newGuest(p, &module{rt: rt, compiled: compiled, log: slog.New(slog.DiscardHandler)}, 0, new(atomic.Int64))
	if err != nil {
		f.Fatal(err)
	}
	defer g.close()
	mem := g.mod.Memory()
	valid := map[abi.Status]bool{}
	for _, st := range abi.Statuses {
		valid[st] = true
	}

	f.Add(uint8(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), true)
	f.Add(uint8(1), uint64(1), uint64(1), uint64(0xfffffff0), uint64(100), uint64(0), uint64(0), false)
	f.Add(uint8(2), uint64(65530), uint64(10), uint64(1), uint64(0), uint64(0x7fffffff), uint64(1<<63), true)
	f.Add(uint8(5), uint64(1), uint64(0), uint64(5), uint64(0), uint64(16), uint64(0), true)
	counts := map[string]bool{abi.FuncMsgRead: true, abi.FuncConnGet: true, abi.FuncBroadcast: true, abi.FuncAttachGet: true,
		abi.FuncSubscribe: true, abi.FuncRequest: true, abi.FuncGroupSize: true, abi.FuncGroupMembers: true, abi.FuncKVGet: true}
	// Seeds for the timer and attachment functions: valid names and sizes, negative delays.
	f.Add(uint8(8), uint64(1), uint64(16), uint64(4), uint64(10), uint64(0), uint64(0), false)
	f.Add(uint8(8), uint64(0), uint64(16), uint64(4), uint64(0xffffffff), uint64(5), uint64(0), false)
	f.Add(uint8(9), uint64(1), uint64(16), uint64(4), uint64(0), uint64(0), uint64(0), false)
	f.Add(uint8(10), uint64(1), uint64(16), uint64(3000), uint64(0), uint64(0), uint64(0), false)
	f.Add(uint8(11), uint64(1), uint64(16), uint64(100), uint64(0), uint64(0), uint64(0), false)
	// Seeds for the shared store: a valid key written near the top of the guest's memory, so
	// that the fuzzer reaches the store and not only the key check.
	key := []byte("fuzz/key=1")
	keyAt := uint64(mem.Size()) - 64
	if !mem.Write(uint32(keyAt), key) {
		f.Fatal("cannot write the seed key")
	}
	index := func(name string) uint8 {
		for i, fn := range abi.HostFunctions {
			if fn.Name == name {
				return uint8(i)
			}
		}
		f.Fatalf("no host function %s", name)
		return 0
	}
	kl := uint64(len(key))
	f.Add(index(abi.FuncKVSet), keyAt, kl, keyAt, kl, uint64(1000), uint64(0), false)
	f.Add(index(abi.FuncKVSet), keyAt, kl, uint64(0), uint64(abi.MaxKVValue+1), uint64(0), uint64(0), false)
	f.Add(index(abi.FuncKVSet), keyAt, kl, uint64(0), uint64(10), uint64(0xffffffff), uint64(0), false)
	f.Add(index(abi.FuncKVGet), keyAt, kl, uint64(0), uint64(4), uint64(0), uint64(0), false)
	f.Add(index(abi.FuncKVCAS), keyAt, kl, keyAt, uint64(0xffffffff), keyAt, kl, false)
	f.Add(index(abi.FuncKVCAS), keyAt, kl, keyAt, kl, uint64(0), uint64(3), false)
	f.Add(index(abi.FuncKVCAS), keyAt, kl, keyAt, uint64(0xfffffffe), uint64(0), uint64(0), false)
	f.Add(index(abi.FuncKVDelete), keyAt, kl, uint64(0), uint64(0), uint64(0), uint64(0), false)
	f.Fuzz(func(t *testing.T, which uint8, a0, a1, a2, a3, a4, a5 uint64, payload bool) {
		fn := abi.HostFunctions[int(which)%len(abi.HostFunctions)]
		name := fn.Name
		// Functions with more than six parameters get zeros for the rest.
		stack := make([]uint64, max(len(fn.Params), 1))
		copy(stack, []uint64{a0, a1, a2, a3, a4, a5})
		// An i32 parameter arrives as its 32 bits, as wazero passes it.
		for i, typ := range fn.ParamTypes() {
			if typ == abi.I32 {
				stack[i] = uint64(uint32(stack[i]))
			}
		}
		if payload {
			g.setPayload([]byte("fuzz payload"))
		} else {
			g.clearPayload()
		}
		st := hostFuncs[name](g, mem, stack)
		if st < 0 && !valid[st] {
			t.Fatalf("%s%v returned status %d, not one of ABI v1", name, stack, st)
		}
		if st > 0 && !counts[name] {
			t.Fatalf("%s%v returned %d; only %v return counts, lengths or ids", name, stack, st, counts)
		}
		if n := p.timers.count(); n > abi.MaxTimers {
			t.Fatalf("%d timers armed, over the limit %d", n, abi.MaxTimers)
		}
		if n, b := store.Len(); n > abi.MaxKVEntries || b > abi.MaxKVBytes {
			t.Fatalf("the store holds %d entries, %d bytes: over its budget", n, b)
		}
		if n := p.AttachmentBytes(); n > 0 && len(p.attach.m)*abi.MaxAttachment < n {
			t.Fatalf("%d attachment bytes for %d connections", n, len(p.attach.m))
		}
	})
}

// nopBus accepts everything and delivers nothing.
type nopBus struct{}

func (nopBus) Publish(string, string, []byte) abi.Status { return abi.OK }

func (nopBus) Subscribe(string, string, string, func(BusMsg)) (func(), abi.Status) {
	return func() {}, abi.OK
}

func (nopBus) Request(string, string, []byte, time.Duration, func(BusMsg)) (func(), abi.Status) {
	return func() {}, abi.OK
}
