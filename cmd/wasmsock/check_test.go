package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkCase is a config that serve must refuse to start with, and check must refuse the same
// way: exit 1, and the same problem (file:line: key: ...) in both outputs.
type checkCase struct {
	name  string
	env   map[string]string
	files map[string]string // extra files next to the config
	toml  string            // the config; %[1]s is the absolute path of testdata/wasm, %[2]s of plugins
	wants []string          // in check's output and in serve's
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// echoRoute is a config with one working plugin and route, to add a problem to.
const echoRoute = "[plugin.e]\nmodule = \"%[1]s/echo.wasm\"\n[[route]]\npath = \"/e\"\nplugin = \"e\"\n"

var checkCases = []checkCase{
	{
		name:  "admin key too short",
		env:   map[string]string{"WS_TEST_ADMIN_KEY": "short"},
		toml:  "[admin]\nkey_env = \"WS_TEST_ADMIN_KEY\"\n" + echoRoute,
		wants: []string{"host.toml:2: admin.key_env: the admin key is 5 bytes"},
	},
	{
		name:  "admin key env unset",
		toml:  "[admin]\nkey_env = \"WS_TEST_ADMIN_KEY_UNSET\"\n" + echoRoute,
		wants: []string{"host.toml:2: admin.key_env: environment variable WS_TEST_ADMIN_KEY_UNSET is not set"},
	},
	{
		name:  "auth public key missing",
		toml:  "[auth]\nalgorithms = [\"RS256\"]\npublic_key = { file = \"nope.pem\" }\n" + echoRoute,
		wants: []string{"host.toml:3: auth.public_key.file:", "nope.pem: no such file"},
	},
	{
		name:  "auth public key not PEM",
		files: map[string]string{"key.pem": "this is not a key\n"},
		toml:  "[auth]\nalgorithms = [\"ES256\"]\npublic_key = { file = \"key.pem\" }\n" + echoRoute,
		wants: []string{"host.toml:3: auth.public_key.file: no PEM block found"},
	},
	{
		name:  "route auth secret env unset",
		toml:  echoRoute + "[route.auth]\nalgorithms = [\"HS256\"]\nsecret = { env = \"WS_TEST_SECRET_UNSET\" }\n",
		wants: []string{"host.toml:8: route[0].auth.secret.env: environment variable WS_TEST_SECRET_UNSET is not set"},
	},
	{
		name:  "bad listen address",
		toml:  "listen = \"nonsense::99999\"\n" + echoRoute,
		wants: []string{"host.toml:1: listen: \"nonsense::99999\" is not \"host:port\""},
	},
	{
		name:  "chat page and a route on /",
		toml:  "chat_page = true\n[plugin.e]\nmodule = \"%[1]s/echo.wasm\"\n[[route]]\npath = \"/\"\nplugin = \"e\"\n",
		wants: []string{"host.toml:5: route[0].path: \"/\" is where chat_page = true serves the chat page"},
	},
	{
		name:  "route on a path the host serves",
		toml:  "[plugin.e]\nmodule = \"%[1]s/echo.wasm\"\n[[route]]\npath = \"/healthz\"\nplugin = \"e\"\n",
		wants: []string{"host.toml:4: route[0].path: \"/healthz\" is served by the host already (GET /healthz)"},
	},
	{
		name:  "status page on a path the host serves",
		toml:  "[admin]\nkey_file = \"admin.key\"\nstatus_page = \"/api/status\"\n" + echoRoute,
		files: map[string]string{"admin.key": "0123456789abcdef0123456789abcdef\n"},
		wants: []string{"host.toml:3: admin.status_page: \"/api/status\" is served by the host already (the admin API, GET /api/status)"},
	},
	{
		name:  "route that net/http cannot take",
		toml:  "[plugin.e]\nmodule = \"%[1]s/echo.wasm\"\n[[route]]\npath = \"/rooms/{id\"\nplugin = \"e\"\n",
		wants: []string{"host.toml:4: route[0].path: \"/rooms/{id\" cannot be served"},
	},
	{
		name:  "on_start refuses its config: the config line and the plugin's reason are shown",
		toml:  "[plugin.chat]\nmodule = \"%[2]s/chat/chat.wasm\"\nconfig = { colour = \"red\" }\n[[route]]\npath = \"/chat\"\nplugin = \"chat\"\n",
		wants: []string{"host.toml:3: plugin.chat.config:", "on_start returned 1", `unknown field \"colour\"`},
	},
	{
		name:  "a module problem points at its module line",
		toml:  "\n[plugin.e]\ninstances = 2\nmodule = \"%[1]s/missing_export.wasm\"\n[[route]]\npath = \"/e\"\nplugin = \"e\"\n",
		wants: []string{"host.toml:4: plugin.e.module:", `missing export "on_message"`},
	},
	{
		name: "every problem at once: key, module, path",
		toml: "[admin]\nkey_env = \"WS_TEST_ADMIN_KEY_UNSET\"\n[plugin.e]\nmodule = \"%[1]s/bad_import.wasm\"\n[[route]]\npath = \"/metrics\"\nplugin = \"e\"\n",
		wants: []string{
			"host.toml:2: admin.key_env: environment variable WS_TEST_ADMIN_KEY_UNSET is not set",
			"host.toml:4: plugin.e.module:",
			`from module "env"`,
			"host.toml:6: route[0].path: \"/metrics\" is served by the host already (GET /metrics)",
		},
	},
	{
		name: "explicit zeros that make no sense",
		toml: "[plugin.e]\nmodule = \"%[1]s/echo.wasm\"\ninstances = 0\n[[route]]\npath = \"/e\"\nplugin = \"e\"\n" +
			"max_message_bytes = 0\nqueue_messages = 0\nqueue_bytes = 0\n",
		wants: []string{
			"host.toml:3: plugin.e.instances: must be between 1 and 1024",
			"host.toml:7: route[0].max_message_bytes: must be between 125 bytes and 1GiB",
			"host.toml:8: route[0].queue_messages: must be between 1 and 1048576",
			"host.toml:9: route[0].queue_bytes: must hold at least one message",
		},
	},
}

// TestCheckFailsExactlyWhenServeDoes runs check (in process) and serve (the real binary) on
// configs serve refuses: both exit 1 with the same file:line: key: problem, and neither panics.
func TestCheckFailsExactlyWhenServeDoes(t *testing.T) {
	bin := binary(t)
	wasmDir, pluginsDir := absPath(t, "../../testdata/wasm"), absPath(t, "../../plugins")
	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			for name, content := range tc.files {
				os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
			}
			cfg := filepath.Join(dir, "host.toml")
			os.WriteFile(cfg, []byte(fmt.Sprintf(tc.toml, wasmDir, pluginsDir)), 0o644)

			var out, errb bytes.Buffer
			code := run([]string{"check", cfg}, &out, &errb)
			checkOut := out.String() + errb.String()
			if code != 1 {
				t.Errorf("check: exit %d, want 1\n%s", code, checkOut)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "serve", "-listen", "127.0.0.1:0", cfg)
			serveOut, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("serve started (killed after 30s); check said:\n%s", checkOut)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("serve: %v, want exit status 1\n%s", err, serveOut)
			}
			for _, w := range tc.wants {
				if !strings.Contains(checkOut, w) {
					t.Errorf("check output lacks %q:\n%s", w, checkOut)
				}
				if !strings.Contains(string(serveOut), w) {
					t.Errorf("serve output lacks %q:\n%s", w, serveOut)
				}
			}
			for _, out := range []string{checkOut, string(serveOut)} {
				if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
					t.Errorf("a panic:\n%s", out)
				}
			}
		})
	}
}

// TestCheckBuildsWhatServeBuilds: a plugin that broadcasts from on_start is fine for serve, and so
// for check (which once crashed on it with a nil pointer).
func TestCheckBuildsWhatServeBuilds(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "host.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[plugin.b]\nmodule = %q\n[[route]]\npath = \"/b\"\nplugin = \"b\"\n",
		absPath(t, "../../testdata/wasm/start_broadcast.wasm"))), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"check", cfg}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok (1 plugins, 1 routes)") {
		t.Fatalf("check: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// TestConfigArgument: the config may be given as the one positional argument; anything else
// on the command line is refused rather than ignored.
func TestConfigArgument(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(fmt.Sprintf(echoRoute, absPath(t, "../../testdata/wasm"))), 0o644)
	broken := filepath.Join(dir, "broken.toml")
	os.WriteFile(broken, []byte("listne = \":1\"\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", good}, 0, "good.toml: ok"},
		{[]string{"check", broken}, 1, "broken.toml:1: listne: unknown key"},
		{[]string{"check", "-config", broken}, 1, "broken.toml:1: listne: unknown key"},
		{[]string{"check", "-config", broken, broken}, 1, "broken.toml:1: listne: unknown key"},
		{[]string{"check", "-config", good, broken}, 2, "two config files"},
		{[]string{"check", good, broken}, 2, "one config file at most"},
		{[]string{"serve", broken}, 1, "broken.toml:1: listne: unknown key"},
		{[]string{"serve", "-listen", "127.0.0.1:0", broken, "extra"}, 2, "one config file at most"},
		{[]string{"dev", broken}, 1, "broken.toml:1: listne: unknown key"},
		{[]string{"serve", "-listen", "nonsense::99999", good}, 1, `listen: "nonsense::99999" is not "host:port"`},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if code := run(tc.args, &out, &out); code != tc.code || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, out.String())
		}
	}
}
