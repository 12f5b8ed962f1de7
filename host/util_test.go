package host_test

import (
	"errors"
	"strings"
	"testing"
)

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

// testCallTimeout is the call_timeout every test config gives each plugin that does not set its
// own. A plugin's start-up (instantiation, _initialize, on_start) runs within call_timeout, and a
// Go module's runtime start-up under -race on a loaded 2-core machine can take longer than the
// default 1s: the plugin would then fail to start and the test with it. Tests of the timeout
// itself set call_timeout explicitly.
const testCallTimeout = `call_timeout = "30s"`

// generousStart returns the config src with testCallTimeout added to every [plugin.NAME] table
// that sets no call_timeout of its own.
func generousStart(src string) string {
	lines := strings.Split(src, "\n")
	var out []string
	at := -1     // index in out just after the current [plugin.NAME] header, or -1
	has := false // whether the current plugin table sets call_timeout
	end := func() {
		if at >= 0 && !has {
			out = append(out[:at], append([]string{testCallTimeout}, out[at:]...)...)
		}
		at, has = -1, false
	}
	for _, l := range lines {
		s := strings.TrimSpace(l)
		if strings.HasPrefix(s, "[") {
			end()
			if name, ok := strings.CutPrefix(s, "[plugin."); ok && !strings.HasPrefix(s, "[[") && !strings.ContainsAny(strings.TrimSuffix(name, "]"), ".]") {
				out = append(out, l)
				at = len(out)
				continue
			}
		} else if at >= 0 && strings.HasPrefix(s, "call_timeout") {
			has = true
		}
		out = append(out, l)
	}
	end()
	return strings.Join(out, "\n")
}

func TestGenerousStart(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[plugin.p]\nmodule = \"p.wasm\"\n[[route]]\npath = \"/\"\nplugin = \"p\"\n",
			"[plugin.p]\n" + testCallTimeout + "\nmodule = \"p.wasm\"\n[[route]]\npath = \"/\"\nplugin = \"p\"\n"},
		{"[plugin.p]\nmodule = \"p.wasm\"\ncall_timeout = \"1s\"\n[plugin.p.bus]\nshared = []\n[plugin.q]\nmodule = \"q.wasm\"",
			"[plugin.p]\nmodule = \"p.wasm\"\ncall_timeout = \"1s\"\n[plugin.p.bus]\nshared = []\n[plugin.q]\n" + testCallTimeout + "\nmodule = \"q.wasm\""},
		{"listen = \"x\"\n[plugin.p.config]\ncall_timeout = 5\n", "listen = \"x\"\n[plugin.p.config]\ncall_timeout = 5\n"},
	} {
		if got := generousStart(tc.in); got != tc.want {
			t.Errorf("generousStart(%q) =\n%q, want\n%q", tc.in, got, tc.want)
		}
	}
}
