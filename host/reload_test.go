package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write then rename, as a build tool should, so a reload never reads half a file.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoad swaps the module 20 times (two builds whose replies differ) while 200
// connections exchange numbered messages, and drops a broken module in mid-run. No connection is
// dropped, every message is answered exactly once and in order, and after each swap the new
// behaviour is seen.
func TestReloadUnderLoad(t *testing.T) {
	const conns, swaps = 200, 20
	module := filepath.Join(t.TempDir(), "tag.wasm")
	builds := []string{"../testdata/wasm/tag_a.wasm", "../testdata/wasm/tag_b.wasm"}
	copyFile(t, builds[0], module)
	srv, base := startConfig(t, module, "[[route]]\npath = \"/ws\"\nplugin = \"p\"")

	// gen counts reload starts and ends: odd while a reload runs. Between two reloads (gen even,
	// unchanged across a round trip) every reply must carry the tag of tags[gen/2%2].
	var gen atomic.Int64
	tags := []string{"a", "b"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var answered atomic.Int64
	errs := make(chan error, conns)
	clients := make([]*wstest.Client, conns)
	for i := range clients {
		clients[i] = wstest.Dial(t, base+"/ws", nil)
	}
	for i, c := range clients {
		wg.Add(1)
		go func(i int, c *wstest.Client) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				before := gen.Load()
				msg := strconv.Itoa(n)
				if err := ws.WriteFrame(c.Conn, ws.MaskFrameInPlace(ws.NewTextFrame([]byte(msg)))); err != nil {
					errs <- fmt.Errorf("conn %d: write: %v", i, err)
					return
				}
				f, err := c.ReadFrame(10 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("conn %d: message %d not answered: %v", i, n, err)
					return
				}
				tag, body, _ := strings.Cut(string(f.Payload), ":")
				if body != msg {
					errs <- fmt.Errorf("conn %d: sent %s, got %q (lost, duplicated or reordered)", i, msg, f.Payload)
					return
				}
				if want := tags[before/2%2]; before%2 == 0 && gen.Load() == before && tag != want {
					errs <- fmt.Errorf("conn %d: message %d answered by %q while %q was serving", i, n, tag, want)
					return
				}
				answered.Add(1)
			}
		}(i, c)
	}

	ctx := context.Background()
	for k := 1; k <= swaps; k++ {
		time.Sleep(20 * time.Millisecond)
		if k == swaps/2 {
			// A broken module dropped in: refused, the old one keeps serving.
			copyFile(t, "../testdata/wasm/not_wasm.wasm", module)
			if rep := srv.ReloadPlugin(ctx, "p"); rep.Error == "" || rep.Changed {
				t.Errorf("broken module accepted: %+v", rep)
			}
		}
		gen.Add(1)
		copyFile(t, builds[k%2], module)
		rep := srv.ReloadPlugin(ctx, "p")
		if rep.Error != "" || !rep.Changed {
			t.Fatalf("swap %d: %+v", k, rep)
		}
		gen.Add(1)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.Connections(); n != conns {
		t.Errorf("%d connections open after the swaps, want %d", n, conns)
	}
	// Nothing arrives that was not asked for (no duplicates).
	for i, c := range clients[:10] {
		if f, err := c.ReadFrame(50 * time.Millisecond); err == nil {
			t.Errorf("conn %d: unexpected extra frame %q", i, f.Payload)
		}
	}
	t.Logf("%d messages answered across %d swaps", answered.Load(), swaps)
	if p := srv.Plugins()["p"]; p.Stats().Reloads.Load() != swaps || p.Stats().ReloadFailures.Load() != 1 {
		t.Errorf("reloads %d, failures %d", p.Stats().Reloads.Load(), p.Stats().ReloadFailures.Load())
	}
}
