package config_test

import (
	"encoding"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/wasmsock/wasmsock/host/config"
)

// configKeys lists every key the decoder knows, from the toml tags of the config structs: tables
// of tables (plugin) as "*", arrays of tables (route) without an index; a value that decodes
// itself (a duration, a size) or a free-form table (a plugin's config) is one key.
func configKeys(t reflect.Type, prefix string, keys map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	leaf := func() bool {
		p := reflect.PointerTo(t)
		return p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) || p.Implements(reflect.TypeFor[toml.Unmarshaler]())
	}
	switch {
	case t.Kind() == reflect.Struct && !leaf():
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			configKeys(f.Type, key, keys)
		}
	case t.Kind() == reflect.Map && t.Elem().Kind() != reflect.Interface:
		configKeys(t.Elem(), prefix+".*", keys)
	case t.Kind() == reflect.Slice && (t.Elem().Kind() == reflect.Struct || t.Elem().Kind() == reflect.Pointer):
		configKeys(t.Elem(), prefix, keys)
	default:
		keys[prefix] = true
	}
}

// documentedKeys lists the keys a TOML document defines, named as configKeys names them.
func documentedKeys(v any, prefix string, known map[string]bool, keys map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if known[prefix] { // a free-form table (plugin config): one key
			keys[prefix] = true
			return
		}
		for k, val := range x {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if !known[key] && hasPrefixKey(known, prefix+".*") {
				key = prefix + ".*" // a table of tables: any name
			}
			documentedKeys(val, key, known, keys)
		}
	case []map[string]any:
		for _, t := range x {
			documentedKeys(t, prefix, known, keys)
		}
	default:
		keys[prefix] = true
	}
}

func hasPrefixKey(known map[string]bool, prefix string) bool {
	for k := range known {
		if strings.HasPrefix(k, prefix+".") {
			return true
		}
	}
	return false
}

// commented matches a commented-out key or table header in host.toml: "# key = value",
// "# [table]", "# [[route]]".
var commented = regexp.MustCompile(`^(\s*)#\s?((\[\[?[A-Za-z0-9_.-]+\]\]?|[A-Za-z_][A-Za-z0-9_.-]*\s*=).*)$`)

// TestHostTOMLNamesEveryKey: the repository's host.toml says it shows every key; with its
// commented-out keys and tables put back, it must define every key the decoder knows (derived
// from the config structs, so a key added anywhere is caught) and nothing else.
func TestHostTOMLNamesEveryKey(t *testing.T) {
	src, err := os.ReadFile("../../host.toml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.SplitSeq(string(src), "\n") {
		out = append(out, commented.ReplaceAllString(line, "$1$2"))
	}
	var doc map[string]any
	if _, err := toml.Decode(strings.Join(out, "\n"), &doc); err != nil {
		t.Fatalf("host.toml with its commented keys put back is not TOML: %v", err)
	}
	known := map[string]bool{}
	configKeys(reflect.TypeFor[config.Config](), "", known)
	got := map[string]bool{}
	documentedKeys(doc, "", known, got)
	// A route's [route.auth] has the keys of [auth]: host.toml shows the table and refers to them.
	routeAuth := false
	for k := range got {
		routeAuth = routeAuth || strings.HasPrefix(k, "route.auth.")
	}
	for _, k := range slices.Sorted(maps.Keys(known)) {
		if rest, ok := strings.CutPrefix(k, "route.auth."); ok && routeAuth && got["auth."+rest] {
			continue
		}
		if !got[k] {
			t.Errorf("host.toml does not show the key %s", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if !known[k] {
			t.Errorf("host.toml shows %s, which is not a config key", k)
		}
	}
	if len(known) < 50 {
		t.Errorf("only %d keys found by reflection: the walk is broken", len(known))
	}
}
