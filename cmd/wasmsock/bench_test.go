package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
)

// TestBenchSaysWhy (issue 13 item 13): a bench run the server's message rate limit cuts short
// exits 1 saying so (1008 "message rate limit exceeded", messages_per_second) and what to do; run
// at the -rate it suggests, it is clean.
func TestBenchSaysWhy(t *testing.T) {
	echo, _ := filepath.Abs("../../testdata/wasm/echo.wasm")
	src := fmt.Sprintf("[limits]\nmessages_per_second = 20\n[plugin.echo]\nmodule = %q\n[[route]]\npath = \"/echo\"\nplugin = \"echo\"\n", echo)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "host.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, base := hosttest.Serve(t, cfg, nil)
	url := base + "/echo"

	var out, errb bytes.Buffer
	code := run([]string{"bench", "-url", url, "-conns", "2", "-duration", "1s"}, &out, &errb)
	if code != 1 {
		t.Fatalf("bench as fast as possible against 20 messages/s: exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"with 1008", `"message rate limit exceeded"`, "messages_per_second", "-rate"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"bench", "-url", url, "-conns", "2", "-duration", "1s", "-rate", "10"}, &out, &errb); code != 0 {
		t.Errorf("bench -rate 10 (5 per connection): exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}
}
