package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidSharedPattern(t *testing.T) {
	for p, ok := range map[string]bool{"global.>": true, "billing.*": true, ">": false, "*": false, "*.x": false, "_INBOX.>": false, "$SYS.>": false, "a..b": false, "": false} {
		if err := ValidSharedPattern(p); (err == nil) != ok {
			t.Errorf("ValidSharedPattern(%q) = %v", p, err)
		}
	}
}

func TestPluginBusProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `[plugin.p]
module = "p.wasm"
[plugin.p.bus]
shared = ["ok.>", ">"]
event_queue = -1
queue_bytes = "2GiB"
colour = "blue"
[[route]]
path = "/ws"
plugin = "p"
`
	_, err := Parse(filepath.Join(dir, "host.toml"), []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"host.toml:4: plugin.p.bus.shared[1]: \">\" would share",
		"host.toml:5: plugin.p.bus.event_queue:",
		"host.toml:6: plugin.p.bus.queue_bytes:",
		"host.toml:7: plugin.p.bus.colour:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
