package plugin

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestReloadWith reloads the chat plugin with new configs: one its on_start refuses leaves the
// running module and config serving; a good one replaces the config, which a later Reload of the
// module alone keeps.
func TestReloadWith(t *testing.T) {
	wasm, err := os.ReadFile("../../plugins/chat/chat.wasm")
	if err != nil {
		t.Skip("plugins/chat/chat.wasm not built (make wasm):", err)
	}
	ctx := context.Background()
	// One compilation for every reload of the same bytes.
	p, err := Load(ctx, Options{Name: "chat", Wasm: wasm, Config: []byte(`{"max_text":5}`), Host: nopHost{}, Cache: wazero.NewCompilationCache()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, tc := range []struct {
		name, config string
		wantErr      string // "" for success
		wantConfig   string // serving after the reload
	}{
		{"refused by on_start", `{"max_text":0}`, "on_start", `{"max_text":5}`},
		{"unknown key", `{"colour":1}`, "on_start", `{"max_text":5}`},
		{"accepted", `{"max_text":9}`, "", `{"max_text":9}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hash := p.Hash()
			res := p.ReloadWith(ctx, wasm, []byte(tc.config))
			switch {
			case tc.wantErr == "" && res.Err != nil:
				t.Fatalf("reload: %v", res.Err)
			case tc.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.wantErr)):
				t.Fatalf("reload: %v, want an error with %q", res.Err, tc.wantErr)
			}
			if got := string(p.Config()); got != tc.wantConfig {
				t.Errorf("config serving: %s, want %s", got, tc.wantConfig)
			}
			if p.Hash() != hash {
				t.Errorf("hash changed from %s to %s: the same module", hash, p.Hash())
			}
		})
	}
	if res := p.Reload(ctx, wasm); res.Err != nil || string(p.Config()) != `{"max_text":9}` {
		t.Errorf("Reload of the module alone: %v, config %s", res.Err, p.Config())
	}
}
