package hosttest_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestServe serves the WAT echo fixture through the real host and talks to it over a real socket,
// as a plugin author tests a module before deploying it.
func TestServe(t *testing.T) {
	module, err := filepath.Abs("../../testdata/wasm/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("[plugin.echo]\nmodule = %q\n[[route]]\npath = \"/echo\"\nplugin = \"echo\"\n", module)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "host.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	srv, base := hosttest.Serve(t, cfg, nil)
	c := wstest.Dial(t, base+"/echo", nil)
	c.Send(ws.OpText, []byte("hello"))
	if op, p := c.Read(); op != ws.OpText || string(p) != "hello" {
		t.Fatalf("echo: %v %q, want text %q", op, p, "hello")
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("Connections() = %d, want 1", n)
	}
}
