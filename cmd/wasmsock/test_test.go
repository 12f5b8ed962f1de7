package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runTest runs "wasmsock test" with args and returns its exit status and output.
func runTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cmdTest(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// writeScenario writes a scenario file into a temporary directory; {{probe}}, {{echo}} and
// {{lobby}} (the C one) in src become the absolute paths of those plugins.
func writeScenario(t *testing.T, name, src string) string {
	t.Helper()
	for k, rel := range map[string]string{
		"{{probe}}": "../../testdata/plugins/probe/probe.wasm",
		"{{echo}}":  "../../plugins/echo/echo.wasm",
		"{{lobby}}": "../../sdk/c/examples/lobby/lobby.wasm",
	} {
		abs, err := filepath.Abs(rel)
		if err != nil {
			t.Fatal(err)
		}
		src = strings.ReplaceAll(src, k, abs)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var summaryLine = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

// checkSummary checks the last line of the output ("" for any number).
func checkSummary(t *testing.T, out string, passed, failed string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	m := summaryLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil || m[1] != passed || (failed != "" && m[2] != failed) {
		t.Fatalf("summary: want %s passed, %s failed; output:\n%s", passed, failed, out)
	}
}

func TestTestCommandScenarios(t *testing.T) {
	code, out, errOut := runTest(t, "../../sdk/testdata/scenarios/echo.toml", "../../sdk/testdata/scenarios/chat.toml",
		"../../sdk/testdata/scenarios/state.toml", "../../sdk/testdata/scenarios/lobby.toml")
	if code != 0 || strings.Contains(out, "FAIL") || errOut != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !regexp.MustCompile(`^ok   \.\./\.\./sdk/testdata/scenarios/(echo|chat|state|lobby)\.toml:\d+: `).MatchString(l) {
			t.Errorf("unexpected line %q", l)
		}
	}
	checkSummary(t, out, strings.TrimSpace(strings.Split(lines[len(lines)-1], " ")[0]), "0")
	if n := len(lines) - 1; n < 30 {
		t.Errorf("only %d steps ran", n)
	}
}

// TestTestCommandStateFailures checks that the time and state expectations fail when the plugin
// does not do what they say: a timer that has not fired yet, a wrong attachment, a wrong count.
func TestTestCommandStateFailures(t *testing.T) {
	path := writeScenario(t, "state.toml", `
module = "{{probe}}"
[[conn]]
name = "a"
[[step]]
conn = "a"
send = "timer t 1000"
expect = "ok"
expect_timers = 2
[[step]]
advance = "999ms"
on = "a"
expect = "timer t"
[[step]]
conn = "a"
send = "attach x"
expect = "ok"
expect_attachment = "y"
`)
	code, out, _ := runTest(t, path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"1 timers armed, expected 2", "advance 999ms; a expects \"timer t\": ", "attachment is \"x\", expected \"y\""} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bad := writeScenario(t, "bad.toml", "module = \"{{probe}}\"\n[[step]]\nadvance = \"soon\"\n")
	if code, out, _ := runTest(t, bad); code != 1 || !strings.Contains(out, `bad.toml:2: advance = "soon": not a duration`) {
		t.Errorf("a bad duration: exit %d\n%s", code, out)
	}
}

// TestTestCommandKV checks expect_kv against the shared store of the lobby example (the C one:
// any language's module works, and it loads fast): values, absence, the namespace of the step's
// connection, TTLs on the scenario's clock, and the failures' messages.
func TestTestCommandKV(t *testing.T) {
	path := writeScenario(t, "kv.toml", `
module = "{{lobby}}"
instances = 2
[[conn]]
name = "a"
[[conn]]
name = "b"
namespace = "acme"
[[step]]
conn = "a"
send = "visit"
expect = "visits 1"
expect_kv = { visits = "1", topic = false }
[[step]]
conn = "b"
send = "set-topic Hello, acme"
expect = "ok"
expect_kv = { "topic" = "Hello, acme", visits = false }
[[step]]
expect_kv = { visits = "1", topic = false }
[[step]]
advance = "60s"
on = "b"
expect_kv = { topic = false }
[[step]]
conn = "a"
send = "set-topic "
expect = "ok"
expect_kv = { topic = "", "count/1" = "x", visits = "2" }
[[step]]
on = "b"
expect_kv = { visits = "1" }
[[step]]
on = "a"
expect_kv = { visits = false }
`)
	code, out, _ := runTest(t, path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		`ok   ` + path + `:9: a sends "visit"; a expects "visits 1"; expect kv {"topic":false,"visits":"1"}`,
		`ok   ` + path + `:14: b sends "set-topic Hello, acme"; b expects "ok"; expect kv {"topic":"Hello, acme","visits":false}`,
		`ok   ` + path + `:19: expect kv {"topic":false,"visits":"1"}`,
		`ok   ` + path + `:21: advance 60s; expect kv {"topic":false}`,
		`FAIL ` + path + `:25: a sends "set-topic "; a expects "ok"; expect kv {"count/1":"x","topic":"","visits":"2"}: kv "count/1" has no value, expected "x"; kv "visits" is "1", expected "2"`,
		`FAIL ` + path + `:30: expect kv {"visits":"1"}: kv "visits" (namespace "acme") has no value, expected "1"`,
		`FAIL ` + path + `:33: expect kv {"visits":false}: kv "visits" is "1", expected no value`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing line %q in:\n%s", want, out)
		}
	}
	checkSummary(t, out, "4", "3")

	bad := writeScenario(t, "bad.toml", `module = "{{probe}}"
[[step]]
expect_kv = { ".hidden" = "x" }
[[step]]
expect_kv = { n = 5 }
[[step]]
expect_kv = { t = true }
[[step]]
expect_kv = { nested = { a = "b" } }
`)
	code, out, _ = runTest(t, bad)
	for _, want := range []string{
		`:2: expect_kv: ".hidden" is not a key of the shared store`,
		`:4: expect_kv: the value of "n" must be a string, or false for no value`,
		`:6: expect_kv: the value of "t" must be a string, or false for no value`,
		`:8: expect_kv: the value of "nested" must be a string, or false for no value`,
	} {
		if !strings.Contains(out, "FAIL "+bad+want) {
			t.Errorf("exit %d, missing %q in:\n%s", code, want, out)
		}
	}
}

// TestTestCommandProbe covers the expectations the example plugins cannot: refusals, closes by
// the plugin with a code and a reason, and -v's log lines.
func TestTestCommandProbe(t *testing.T) {
	path := writeScenario(t, "probe.toml", `
module = "{{probe}}"

[[conn]]
name = "obs"
query = "observe=1"

[[conn]]
name = "refused"
query = "reject=403"

[[conn]]
name = "kicked"
query = "closewith=4001"

[[conn]]
name = "c"
route = "/probe"
headers = { "X-Token" = "secret" }

[[step]]
on = "obs"
expect = "connected 1 /"

[[step]]
on = "obs"
expect = "connected 2 /probe"

[[step]]
connect = "refused"
expect_reject = 403
expect_none = ["obs"]

[[step]]
connect = "kicked"
expect_closed = 4001

[[step]]
on = "obs"
expect = "closed 4 4001 "

[[step]]
conn = "c"
send = "get header.x-token"
expect = "secret"

[[step]]
conn = "c"
send = "close 4002 see you"
expect_closed = 4002
expect_reason = "see you"

[[step]]
on = "obs"
expect = "closed 2 4002 see you"
`)
	code, out, _ := runTest(t, "-v", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	checkSummary(t, out, "8", "0")
}

func TestTestCommandFailures(t *testing.T) {
	path := writeScenario(t, "fails.toml", `module = "{{echo}}"

[[conn]]
name = "a"

[[conn]]
name = "b"

[[step]]
conn = "a"
send = "hello"
expect = "goodbye"

[[step]]
conn = "a"
send = '{"x":1,"y":{"z":2}}'
expect_json = { y = { z = 3 } }

[[step]]
conn = "a"
send = "left over"
expect_none = ["b", "a"]

[[step]]
on = "b"
expect_closed = 1000

[[step]]
conn = "b"
send = "fine"
expect = "fine"

[[step]]
connect = "c"
expect_reject = 403

[[conn]]
name = "c"
`)
	code, out, _ := runTest(t, path)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		`FAIL ` + path + `:9: a sends "hello"; a expects "goodbye": a got text "hello", expected text "goodbye"`,
		`FAIL ` + path + `:14: a sends "{\"x\":1,\"y\":{\"z\":2}}"; a expects JSON {"y":{"z":3}}: a got text "{\"x\":1,\"y\":{\"z\":2}}": y.z is 2, expected 3`,
		`FAIL ` + path + `:19: a sends "left over"; b, a expect nothing: a has 1 message(s) waiting, expected none; the first: text "left over"`,
		`FAIL ` + path + `:24: b expects close 1000: b is open, expected it closed with 1000`,
		`ok   ` + path + `:28: b sends "fine"; b expects "fine"`,
		`FAIL ` + path + `:33: connect c; expect refusal 403: connect c: connection accepted, expected a refusal with HTTP 403`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing line %q in:\n%s", want, out)
		}
	}
	checkSummary(t, out, "1", "5")
}

func TestTestCommandBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // lines of the output, each followed by a newline
	}{
		{
			name: "unknown keys",
			src: `module = "{{echo}}"
modul = "x"

[[conn]]
name = "a"
usr = "alice"

[[step]]
conn = "a"
send = "x"

[[step]]
conn = "a"
sned = "x"

[[stpe]]
conn = "a"
`,
			want: []string{
				`:2: unknown key "modul" at the top level`,
				`:6: unknown key "usr" in [[conn]]`,
				`:14: unknown key "sned" in [[step]]`,
				`:16: unknown table [stpe]`,
			},
		},
		{
			name: "syntax",
			src:  "module = \"x.wasm\"\n[[step]]\nsend = \n",
			want: []string{`:3: `},
		},
		{
			name: "wrong type",
			src:  "module = \"x.wasm\"\n[[conn]]\nname = \"a\"\n[[step]]\nconn = \"a\"\nsend = 5\n",
			want: []string{`:6: incompatible types`},
		},
		{
			name: "bad steps",
			src: `module = "{{echo}}"
[[conn]]
name = "a"
[[step]]
conn = "a"
send = "x"
close = 1000
[[step]]
conn = "nobody"
send = "x"
[[step]]
conn = "a"
[[step]]
send_binary = "zz"
conn = "a"
[[step]]
conn = "a"
expect_reject = 403
`,
			want: []string{
				`:4: a step has one action at most`,
				`:8: conn = "nobody": no [[conn]] has that name`,
				`:11: the step does nothing`,
				`:13: send_binary: not hex`,
				`:16: expect_reject goes with connect`,
			},
		},
		{
			name: "refused before the first step",
			src:  "module = \"{{probe}}\"\n\n[[conn]]\nname = \"a\"\nquery = \"reject=401\"\n\n[[step]]\nconn = \"a\"\nsend = \"echo x\"\n",
			want: []string{
				`:3: opening conn a before the first step: plugintest: handshake refused with HTTP 401`,
				`:7: a sends "echo x": a: conn "a" was refused`,
			},
		},
		{
			name: "module missing",
			src:  "module = \"missing.wasm\"\n",
			want: []string{`:1: load: `},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeScenario(t, "bad.toml", tc.src)
			code, out, _ := runTest(t, path)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, "FAIL "+path+w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			checkSummary(t, out, "0", "")
		})
	}
}

func TestTestCommandUsage(t *testing.T) {
	if code, _, errOut := runTest(t); code != 2 || !strings.Contains(errOut, "no scenario files") {
		t.Fatalf("no files: exit %d, %q", code, errOut)
	}
	if code, _, _ := runTest(t, "-nope", "x.toml"); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
	if code, _, errOut := runTest(t, "-h"); code != 2 || !strings.Contains(errOut, "expect_json") {
		t.Fatalf("-h: exit %d, %q", code, errOut)
	}
}
