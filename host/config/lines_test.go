package config

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestKeyLines(t *testing.T) {
	src := strings.Join([]string{
		`top = 1 # comment`,                 // 1
		`a.b . c = 2`,                       // 2
		`"q.k" = 3`,                         // 3
		`'lit' = 4`,                         // 4
		`"esc\n\u00e9\"" = 5`,               // 5
		`[ tab . "x y" ]  # comment`,        // 6
		`k = """`,                           // 7
		`[not.a.table]`,                     // 8
		`k2 = "\""" # still the string`,     // 9
		`"""`,                               // 10
		`ml = '''`,                          // 11
		`[nor.this]'''`,                     // 12
		`arr = [ # comment ]`,               // 13
		`  "]", '[', { x = "}" },`,          // 14
		`] # done`,                          // 15
		`after = 1`,                         // 16
		`[[route]]`,                         // 17
		`path = "/a"`,                       // 18
		`[[route]]  # second route`,         // 19
		`path = "/b"`,                       // 20
		`[route.sub]`,                       // 21
		`x = 1`,                             // 22
		`[[route.items]]`,                   // 23
		`[[route.items]]`,                   // 24
		`y = 2`,                             // 25
		`[[route]]`,                         // 26
		`path = "/a"`,                       // 27
		`[[route.items]]`,                   // 28
		`inline = { a = 1, b = { c = 2 } }`, // 29
		`[top2]`,                            // 30
		`top = 9`,                           // 31
		`[tab]`,                             // 32: tab was first defined at line 6
		"z = 1\r",                           // 33: CRLF
		`crlf = 1`,                          // 34
	}, "\n")
	// The scanner is for valid TOML.
	if _, err := toml.Decode(src, new(map[string]any)); err != nil {
		t.Fatalf("the test's TOML is not valid: %v", err)
	}
	want := map[string]int{
		"top":                        1,
		"a":                          2,
		"a.b":                        2,
		"a.b.c":                      2,
		`"q.k"`:                      3,
		"lit":                        4,
		`"esc\né\""`:                 5,
		"tab":                        6,
		`tab."x y"`:                  6,
		`tab."x y".k`:                7,
		`tab."x y".ml`:               11,
		`tab."x y".arr`:              13,
		`tab."x y".after`:            16,
		"route":                      17,
		"route[0]":                   17,
		"route[0].path":              18,
		"route[1]":                   19,
		"route[1].path":              20,
		"route[1].sub":               21,
		"route[1].sub.x":             22,
		"route[1].items":             23,
		"route[1].items[0]":          23,
		"route[1].items[1]":          24,
		"route[1].items[1].y":        25,
		"route[2]":                   26,
		"route[2].path":              27,
		"route[2].items":             28,
		"route[2].items[0]":          28,
		"route[2].items[0].inline":   29,
		"top2":                       30,
		"top2.top":                   31,
		"tab.z":                      33,
		"tab.crlf":                   34,
		`tab."x y".arr.x`:            0, // in an inline table: not listed
		"route[2].items[0].inline.a": 0,
		"not":                        0, // in a multi-line string
		`tab."x y".k2`:               0,
		"nor":                        0,
	}
	got := keyLines(src)
	for k, line := range want {
		if got[k] != line {
			t.Errorf("line of %s = %d, want %d", k, got[k], line)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %s at line %d", k, got[k])
		}
	}
}

func TestKeyLinesBOM(t *testing.T) {
	if got := keyLines("\xef\xbb\xbfa = 1\nb = 2\n"); got["a"] != 1 || got["b"] != 2 {
		t.Errorf("keyLines with a BOM = %v", got)
	}
}

func TestKeyPaths(t *testing.T) {
	for _, tt := range []struct {
		path, name, want string
	}{
		{"", "a", "a"},
		{"", "a-b_C9", "a-b_C9"},
		{"", "a b", `"a b"`},
		{"", "", `""`},
		{"plugin", "a.b", `plugin."a.b"`},
		{"plugin", "a\nb", `plugin."a\nb"`},
		{"route[1]", "path", "route[1].path"},
	} {
		if got := childKey(tt.path, tt.name); got != tt.want {
			t.Errorf("childKey(%q, %q) = %s, want %s", tt.path, tt.name, got, tt.want)
		}
	}
	if got := indexKey("route", 3); got != "route[3]" {
		t.Errorf("indexKey = %s", got)
	}
	for path, want := range map[string][]string{
		"a":                          nil,
		"route[1].path":              {"route[1]", "route"},
		`plugin."a.b[1]".module`:     {`plugin."a.b[1]"`, "plugin"},
		`plugin."x\".y".config.n[2]`: {`plugin."x\".y".config.n`, `plugin."x\".y".config`, `plugin."x\".y"`, "plugin"},
	} {
		if got := enclosingKeys(path); !slices.Equal(got, want) {
			t.Errorf("enclosingKeys(%s) = %q, want %q", path, got, want)
		}
	}
}

// FuzzKeyLines: keyLines returns, without panicking, on any input, and every line it gives is in
// the input.
func FuzzKeyLines(f *testing.F) {
	for _, s := range []string{"a = 1\n[b]\nc = [\n1]\n", `"x\u00e9" = """a` + "\n" + `"""`, "[[a]]\n[[a.b]]\n[a.b.c]\n", "'", `"\`, "[", "a.", "k = {", "\xef\xbb\xbf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		n := strings.Count(src, "\n") + 1
		for k, line := range keyLines(src) {
			if line < 1 || line > n {
				t.Fatalf("%s at line %d of %d", k, line, n)
			}
		}
	})
}
