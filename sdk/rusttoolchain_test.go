package sdk_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRustc writes an executable "rustc" in a directory of its own that knows the targets in
// targets and has a standard library for those in installed, and returns its path.
func fakeRustc(t *testing.T, targets, installed []string, withCargo bool) string {
	t.Helper()
	dir := t.TempDir()
	sysroot := filepath.Join(dir, "sysroot")
	for _, tgt := range installed {
		if err := os.MkdirAll(filepath.Join(sysroot, "lib", "rustlib", tgt, "lib"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\ncase \"$*\" in\n" +
		"'--print target-list') printf '%s\\n' x86_64-unknown-linux-gnu " + strings.Join(targets, " ") + " ;;\n" +
		"'--print sysroot') echo '" + sysroot + "' ;;\n" +
		"'--version') echo 'rustc 9.99.0 (fake)' ;;\n" +
		"*) exit 1 ;;\nesac\n"
	rustc := filepath.Join(dir, "bin", "rustc")
	if err := os.MkdirAll(filepath.Dir(rustc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rustc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if withCargo {
		if err := os.WriteFile(filepath.Join(dir, "bin", "cargo"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return rustc
}

// TestRustToolchain checks the choice sdk/rust/wasm-toolchain.sh makes (the Rust examples' and the
// scaffold's builds run it): the WASI target the compiler knows, a compiler without that target's
// standard library passed over with what to install, and cargo from the compiler's directory.
func TestRustToolchain(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	script, err := filepath.Abs("rust/wasm-toolchain.sh")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		target string // "" when the script must fail
		cargo  string // "next" for the cargo beside rustc, else the word printed
		errs   []string
	}
	rustup := func(t *testing.T) string { // rustup 1.84+: only wasm32-wasip1, not installed
		return fakeRustc(t, []string{"wasm32-wasip1", "wasm32-wasip2"}, nil, true)
	}
	debian163 := func(t *testing.T) string { // Debian's 1.63 with libstd-rust-dev-wasm32
		return fakeRustc(t, []string{"wasm32-wasi"}, []string{"wasm32-wasi"}, true)
	}
	for _, tc := range []struct {
		name  string
		rustc func(t *testing.T) []string
		want  want
	}{
		{"old toolchain: wasm32-wasi", func(t *testing.T) []string { return []string{debian163(t)} },
			want{target: "wasm32-wasi", cargo: "next"}},
		{"new toolchain: wasm32-wasip1", func(t *testing.T) []string {
			return []string{fakeRustc(t, []string{"wasm32-wasip1"}, []string{"wasm32-wasip1"}, true)}
		}, want{target: "wasm32-wasip1", cargo: "next"}},
		{"both names known, wasip1 preferred", func(t *testing.T) []string {
			return []string{fakeRustc(t, []string{"wasm32-wasi", "wasm32-wasip1"}, []string{"wasm32-wasi", "wasm32-wasip1"}, true)}
		}, want{target: "wasm32-wasip1", cargo: "next"}},
		{"both names known, only wasi installed", func(t *testing.T) []string {
			return []string{fakeRustc(t, []string{"wasm32-wasi", "wasm32-wasip1"}, []string{"wasm32-wasi"}, true)}
		}, want{target: "wasm32-wasi", cargo: "next"}},
		{"no cargo beside rustc: cargo from PATH", func(t *testing.T) []string {
			return []string{fakeRustc(t, []string{"wasm32-wasip1"}, []string{"wasm32-wasip1"}, false)}
		}, want{target: "wasm32-wasip1", cargo: "cargo"}},
		{"rustup without the target falls back to the next", func(t *testing.T) []string {
			return []string{rustup(t), debian163(t)}
		}, want{target: "wasm32-wasi", cargo: "next"}},
		{"none usable: says what to install", func(t *testing.T) []string {
			return []string{rustup(t), fakeRustc(t, nil, nil, true), "no-such-rustc"}
		}, want{errs: []string{"rustup target add wasm32-wasip1", "libstd-rust-dev-wasm32",
			"knows no WASI target", "no-such-rustc: not found"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cands := tc.rustc(t)
			cmd := exec.Command("sh", append([]string{script}, cands...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if tc.want.target == "" {
				if err == nil {
					t.Fatalf("chose %q, want a failure", out)
				}
				for _, e := range tc.want.errs {
					if !strings.Contains(stderr.String(), e) {
						t.Errorf("stderr lacks %q:\n%s", e, stderr.String())
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, stderr.String())
			}
			f := strings.Fields(string(out))
			if len(f) != 3 {
				t.Fatalf("output %q: want RUSTC CARGO TARGET", out)
			}
			var chosen string
			for _, c := range cands {
				if strings.HasSuffix(c, "/rustc") && f[0] == c {
					chosen = c
				}
			}
			if chosen == "" {
				t.Fatalf("rustc %q is none of the usable candidates %q", f[0], cands)
			}
			wantCargo := tc.want.cargo
			if wantCargo == "next" {
				wantCargo = filepath.Join(filepath.Dir(chosen), "cargo")
			}
			if f[1] != wantCargo || f[2] != tc.want.target {
				t.Errorf("got cargo %s target %s, want cargo %s target %s", f[1], f[2], wantCargo, tc.want.target)
			}
		})
	}
}
