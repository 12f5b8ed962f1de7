// Command abigen generates, from the ABI table abi/abi.json, every file (or marked part of a file)
// that restates the ABI: the Go constants and tables (abi/abi_gen.go), the Go SDK's imports and
// errors, the C header's ABI section, the Rust bindings (sys.rs, errors.rs), the AssemblyScript
// bindings (env.ts, abi.ts) and the tables of abi/ABI.md.
//
// It runs from the abi directory (go generate ./abi/..., or make generate at the top):
//
//	go run ./internal/abigen [-root ..] [-check]
//
// With -check it writes nothing and fails, naming the files, if any would change.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// table is abi.json.
type table struct {
	Version      int    `json:"version"`
	Marker       string `json:"marker"`
	ImportModule string `json:"import_module"`
	MemoryExport string `json:"memory_export"`
	Exports      []fn   `json:"exports"`
	Functions    []fn   `json:"functions"`
	Statuses     []num  `json:"statuses"`
	Kinds        []num  `json:"kinds"`
	ConnectFlags []num  `json:"connect_flags"`
	Bus          []num  `json:"bus"`
	LogLevels    []num  `json:"log_levels"`
	Limits       []num  `json:"limits"`
	Strings      []str  `json:"strings"`
	CloseCodes   struct {
		Sendable        [][2]int `json:"sendable"`
		SendableDoc     string   `json:"sendable_doc"`
		OnConnect       [][2]int `json:"on_connect"`
		OnConnectDoc    string   `json:"on_connect_doc"`
		ReportedOnly    []int    `json:"reported_only"`
		ReportedOnlyDoc string   `json:"reported_only_doc"`
	} `json:"close_codes"`
	ConnGetKeys []struct {
		Key    string `json:"key"`
		Value  string `json:"value"`
		Absent string `json:"absent"`
	} `json:"conn_get_keys"`
}

type fn struct {
	Name     string   `json:"name"`
	Go       string   `json:"go"`
	Status   string   `json:"status"`
	Required bool     `json:"required"`
	Params   []param  `json:"params"`
	Results  []string `json:"results"` // exports only; host functions return one i32
	Doc      string   `json:"doc"`
	// RequiresExport names the guest export a module that imports this host function must have
	// (the function makes the host call it).
	RequiresExport string `json:"requires_export"`
}

type param struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type num struct {
	Name  string `json:"name"` // Go name
	C     string `json:"c"`    // C suffix after WASMSOCK_, Rust constant name
	Rust  string `json:"rust"` // Rust Error variant (statuses)
	Value int    `json:"value"`
	Text  string `json:"text"` // statuses
	Doc   string `json:"doc"`
}

type str struct {
	Name  string `json:"name"`
	C     string `json:"c"`
	Value string `json:"value"`
	Doc   string `json:"doc"`
}

func main() {
	root := flag.String("root", "..", "the repository's root directory")
	check := flag.Bool("check", false, "write nothing; fail if any generated file is out of date")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "abigen:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	raw, err := os.ReadFile(filepath.Join(root, "abi", "abi.json"))
	if err != nil {
		return err
	}
	var t table
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := decodeTable(dec, &t); err != nil {
		return fmt.Errorf("abi/abi.json: %v", err)
	}
	if err := t.validate(); err != nil {
		return fmt.Errorf("abi/abi.json: %v", err)
	}
	outs := []struct {
		path string
		gen  func(t *table, old []byte) ([]byte, error)
	}{
		{"abi/abi_gen.go", genGo},
		{"sdk/go/imports_wasip1.go", genGoImports},
		{"sdk/go/errors_gen.go", genGoErrors},
		{"sdk/c/wasmsock.h", genC},
		{"sdk/rust/src/sys.rs", genRustSys},
		{"sdk/rust/src/errors.rs", genRustErrors},
		{"sdk/assemblyscript/assembly/env.ts", genASEnv},
		{"sdk/assemblyscript/assembly/abi.ts", genASABI},
		{"abi/ABI.md", genMarkdown},
	}
	var stale []string
	for _, o := range outs {
		path := filepath.Join(root, filepath.FromSlash(o.path))
		old, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		b, err := o.gen(&t, old)
		if err != nil {
			return fmt.Errorf("%s: %v", o.path, err)
		}
		if bytes.Equal(b, old) {
			continue
		}
		if check {
			stale = append(stale, o.path)
			continue
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("out of date (run make generate): %s", strings.Join(stale, ", "))
	}
	return nil
}

// decodeTable decodes abi.json, ignoring the "about" and "param_types" documentation keys.
func decodeTable(dec *json.Decoder, t *table) error {
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return err
	}
	delete(m, "about")
	delete(m, "param_types")
	b, _ := json.Marshal(m)
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(t)
}

var (
	reSnake = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	reGo    = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	reC     = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

var paramTypes = map[string]bool{"conn": true, "ptr": true, "out": true, "len": true, "i32": true, "i64": true, "u64": true}

// validate checks what the generators rely on, so that a mistake in the table is reported here
// rather than as broken code in four languages.
func (t *table) validate() error {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	names := map[string]bool{}
	checkFn := func(kind string, f fn) {
		if !reSnake.MatchString(f.Name) {
			bad("%s %q: name must be snake_case", kind, f.Name)
		}
		if names[f.Name] {
			bad("%s %q: defined twice", kind, f.Name)
		}
		names[f.Name] = true
		if !reGo.MatchString(f.Go) {
			bad("%s %q: go name %q must be an exported Go identifier", kind, f.Name, f.Go)
		}
		if f.Status != "FINAL" && f.Status != "DRAFT" {
			bad("%s %q: status must be FINAL or DRAFT", kind, f.Name)
		}
		if strings.TrimSpace(f.Doc) == "" {
			bad("%s %q: no doc", kind, f.Name)
		}
		seen := map[string]bool{}
		for _, p := range f.Params {
			if !reSnake.MatchString(p.Name) || seen[p.Name] {
				bad("%s %q: bad or repeated parameter name %q", kind, f.Name, p.Name)
			}
			seen[p.Name] = true
			if !paramTypes[p.Type] {
				bad("%s %q: parameter %q has unknown type %q", kind, f.Name, p.Name, p.Type)
			}
		}
	}
	for _, f := range t.Exports {
		checkFn("export", f)
		for _, r := range f.Results {
			if r != "i32" && r != "i64" {
				bad("export %q: result type %q", f.Name, r)
			}
		}
	}
	for _, f := range t.Functions {
		checkFn("function", f)
		if f.Required || len(f.Results) > 0 {
			bad("function %q: host functions return one i32 status and are never required", f.Name)
		}
		if strings.HasPrefix(f.Name, "wasmsock_") || strings.HasPrefix(f.Name, "_") {
			bad("function %q: reserved name", f.Name)
		}
		if f.RequiresExport != "" {
			found := false
			for _, e := range t.Exports {
				found = found || e.Name == f.RequiresExport
			}
			if !found {
				bad("function %q: requires_export %q is not an export", f.Name, f.RequiresExport)
			}
		}
	}
	values := map[int]bool{}
	for _, s := range t.Statuses {
		if values[s.Value] {
			bad("status %s: value %d used twice", s.Name, s.Value)
		}
		values[s.Value] = true
		if s.Value > 0 || !reGo.MatchString(s.Name) || !reC.MatchString(s.C) || !reGo.MatchString(s.Rust) || s.Text == "" || s.Doc == "" {
			bad("status %s: needs a value <= 0, Go, C and Rust names, a text and a doc", s.Name)
		}
	}
	for _, group := range [][]num{t.Kinds, t.ConnectFlags, t.Bus, t.LogLevels, t.Limits} {
		for _, n := range group {
			if !reGo.MatchString(n.Name) || !reC.MatchString(n.C) || n.Doc == "" {
				bad("constant %s: needs Go and C names and a doc", n.Name)
			}
		}
	}
	if len(t.Statuses) == 0 || t.Statuses[0].Value != 0 {
		bad("the first status must be OK (0)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// ---- helpers ----

const header = "Code generated by abigen from abi/abi.json; DO NOT EDIT."

// camel turns snake_case into lowerCamelCase.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// pascal turns snake_case into UpperCamelCase.
func pascal(s string) string {
	c := camel(s)
	return strings.ToUpper(c[:1]) + c[1:]
}

// wrap breaks text into lines of at most width runes, each starting with prefix.
func wrap(text, prefix string, width int) string {
	var b strings.Builder
	line := prefix
	for _, w := range strings.Fields(text) {
		if len(line) > len(prefix) && len(line)+1+len(w) > width {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = prefix
		}
		if len(line) > len(prefix) {
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
	return b.String()
}

func wasmSig(f fn, named bool) string {
	var parts []string
	for _, p := range f.Params {
		vt := wasmType(p.Type)
		if named {
			parts = append(parts, fmt.Sprintf("(param $%s %s)", p.Name, vt))
		} else {
			parts = append(parts, vt)
		}
	}
	s := strings.Join(parts, " ")
	var res []string
	for _, r := range f.Results {
		res = append(res, r)
	}
	if named {
		if len(res) > 0 {
			s += fmt.Sprintf(" (result %s)", strings.Join(res, " "))
		}
		if s == "" {
			return "(func)"
		}
		return "(func " + strings.TrimSpace(s) + ")"
	}
	return fmt.Sprintf("(%s) -> (%s)", s, strings.Join(res, ", "))
}

func wasmType(pt string) string {
	switch pt {
	case "conn", "i64", "u64":
		return "i64"
	}
	return "i32"
}

// hostResults gives host functions their one i32 result.
func (t *table) hostFns() []fn {
	out := make([]fn, len(t.Functions))
	for i, f := range t.Functions {
		f.Results = []string{"i32"}
		out[i] = f
	}
	return out
}

// guestExports are the exports a plugin defines itself (not the marker, not _initialize).
func (t *table) guestExports() []fn {
	var out []fn
	for _, e := range t.Exports {
		if e.Name == t.Marker || strings.HasPrefix(e.Name, "_") {
			continue
		}
		out = append(out, e)
	}
	return out
}

// concat is the constants of groups, in order (slices.Concat, which this module's Go version
// does not have).
func concat(groups ...[]num) []num {
	var all []num
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

func rangesText(rs [][2]int) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d-%d", r[0], r[1]))
	}
	return joinAnd(parts)
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func rangesCond(rs [][2]int, v string) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("(%s >= %d && %s <= %d)", v, r[0], v, r[1]))
	}
	return strings.Join(parts, " || ")
}

// ---- Go: abi/abi_gen.go ----

func genGo(t *table, _ []byte) ([]byte, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// %s\n\npackage abi\n\n", header)
	p("// Version is the ABI version this package describes. A module declares it by exporting the marker\n// function named by Marker.\nconst Version = %d\n\n", t.Version)
	p("// Marker is the export every plugin must have: a function with no parameters and no results.\nconst Marker = %q\n\n", t.Marker)
	p("// ImportModule is the module name of every host function.\nconst ImportModule = %q\n\n", t.ImportModule)
	p("// ExportMemory is the name under which a plugin exports its linear memory.\nconst ExportMemory = %q\n\n", t.MemoryExport)
	p("// Names of the guest exports.\nconst (\n")
	for _, e := range t.Exports {
		if e.Name == t.Marker {
			continue
		}
		opt := ""
		if !e.Required {
			opt = "optional: "
		}
		p("\t%s = %q // %s%s\n", e.Go, e.Name, opt, wasmSig(e, false))
	}
	p(")\n\n// Names of the host functions in module ImportModule.\nconst (\n")
	for _, f := range t.hostFns() {
		var ps []string
		for _, x := range f.Params {
			ps = append(ps, x.Name+" "+wasmType(x.Type))
		}
		p("\t%s = %q // (%s) -> i32\n", f.Go, f.Name, strings.Join(ps, ", "))
	}
	p(")\n\n// Statuses. Their numbers are part of ABI v%d and never change.\nconst (\n", t.Version)
	for _, s := range t.Statuses {
		b.WriteString(wrap(s.Doc, "\t// ", 100))
		p("\t%s Status = %d\n", s.Name, s.Value)
	}
	p(")\n\nvar statusText = map[Status]string{\n")
	for _, s := range t.Statuses {
		p("\t%s: %q,\n", s.Name, s.Text)
	}
	p("}\n\n// Statuses lists every status of this ABI version, OK first.\nvar Statuses = []Status{")
	for i, s := range t.Statuses {
		if i > 0 {
			p(", ")
		}
		p("%s", s.Name)
	}
	p("}\n\n")
	groups := []struct {
		title string
		nums  []num
	}{
		{"Message kinds, equal to the RFC 6455 opcodes of the frames that carry them.", t.Kinds},
		{"Flags passed to on_connect.", t.ConnectFlags},
		{"The bus: the kinds of events on_event receives, and request timeouts in milliseconds.", t.Bus},
		{"Log levels for the log host function.", t.LogLevels},
		{"Limits (the unit is in each one's comment).", t.Limits},
	}
	for _, g := range groups {
		p("// %s\nconst (\n", g.title)
		for _, n := range g.nums {
			b.WriteString(wrap(n.Name+": "+n.Doc, "\t// ", 100))
			p("\t%s = %d\n", n.Name, n.Value)
		}
		p(")\n\n")
	}
	for _, s := range t.Strings {
		b.WriteString(wrap(s.Name+" is "+lowerFirst(s.Doc), "// ", 100))
		p("const %s = %q\n\n", s.Name, s.Value)
	}
	goRanges := func(rs [][2]int) string {
		var parts []string
		for _, r := range rs {
			parts = append(parts, fmt.Sprintf("{%d, %d}", r[0], r[1]))
		}
		return "[]CodeRange{" + strings.Join(parts, ", ") + "}"
	}
	b.WriteString(wrap("SendableCloseCodes: "+t.CloseCodes.SendableDoc, "// ", 100))
	p("var SendableCloseCodes = %s\n\n", goRanges(t.CloseCodes.Sendable))
	b.WriteString(wrap("ConnectCloseCodes: "+t.CloseCodes.OnConnectDoc, "// ", 100))
	p("var ConnectCloseCodes = %s\n\n", goRanges(t.CloseCodes.OnConnect))
	b.WriteString(wrap("ReportedOnlyCloseCodes: "+t.CloseCodes.ReportedOnlyDoc, "// ", 100))
	var ro []string
	for _, c := range t.CloseCodes.ReportedOnly {
		ro = append(ro, strconv.Itoa(c))
	}
	p("var ReportedOnlyCloseCodes = []int{%s}\n\n", strings.Join(ro, ", "))
	goFunc := func(f fn, host bool) {
		p("\t{Name: %q, Params: []Param{", f.Name)
		for i, x := range f.Params {
			if i > 0 {
				p(", ")
			}
			p("{%q, %q}", x.Name, x.Type)
		}
		p("}, Results: []ValueType{")
		for i, r := range f.Results {
			if i > 0 {
				p(", ")
			}
			p("%s", strings.ToUpper(r))
		}
		p("}, Stability: %s", map[string]string{"FINAL": "Final", "DRAFT": "Draft"}[f.Status])
		if f.Required {
			p(", Required: true")
		}
		if f.RequiresExport != "" {
			p(", RequiresExport: %q", f.RequiresExport)
		}
		p("},\n")
	}
	p("// HostFunctions are the host functions of module ImportModule, with their signatures. A module\n// may import any of them and no other.\nvar HostFunctions = []Func{\n")
	for _, f := range t.hostFns() {
		goFunc(f, true)
	}
	p("}\n\n// Exports are the guest exports the host looks for: each Required one must be there, and each\n// one that is there must have exactly its signature.\nvar Exports = []Func{\n")
	for _, e := range t.Exports {
		goFunc(e, false)
	}
	p("}\n")
	return format.Source([]byte(b.String()))
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if len(r) > 1 && unicode.IsUpper(r[1]) {
		return s
	}
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// ---- Go SDK: sdk/go/imports_wasip1.go and sdk/go/errors_gen.go ----

func goParamType(pt string) string {
	switch pt {
	case "conn", "u64":
		return "uint64"
	case "i64":
		return "int64"
	case "ptr", "out":
		return "unsafe.Pointer"
	}
	return "int32"
}

func genGoImports(t *table, _ []byte) ([]byte, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// %s\n\n//go:build wasip1\n\npackage wasmsock\n\nimport \"unsafe\"\n\n", header)
	p("// The host functions, imported from module %q (abi.ImportModule). Pointers are offsets into\n", t.ImportModule)
	p("// the plugin's linear memory; the Go garbage collector does not move objects, and passing an\n// unsafe.Pointer keeps its object alive for the duration of the call.\n\n")
	usesUnsafe := false
	for _, f := range t.hostFns() {
		var ps []string
		for _, x := range f.Params {
			gt := goParamType(x.Type)
			if gt == "unsafe.Pointer" {
				usesUnsafe = true
			}
			ps = append(ps, camel(x.Name)+" "+gt)
		}
		b.WriteString(wrap("wasm"+strings.TrimPrefix(f.Go, "Func")+": "+f.Doc, "// ", 100))
		p("//\n//go:wasmimport %s %s\nfunc wasm%s(%s) int32\n\n", t.ImportModule, f.Name, strings.TrimPrefix(f.Go, "Func"), strings.Join(ps, ", "))
	}
	if !usesUnsafe {
		p("var _ unsafe.Pointer\n")
	}
	return format.Source([]byte(b.String()))
}

func genGoErrors(t *table, _ []byte) ([]byte, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// %s\n\npackage wasmsock\n\nimport \"github.com/wasmsock/wasmsock/abi\"\n\n", header)
	p("// The errors the host can return, one per negative [abi.Status]. An [Error] compares equal to the\n// sentinel with the same status.\nvar (\n")
	for _, s := range t.Statuses {
		if s.Value == 0 {
			continue
		}
		b.WriteString(wrap(fmt.Sprintf("%s (status %d, %q): %s", s.Name, s.Value, s.Text, s.Doc), "\t// ", 100))
		p("\t%s error = Error{abi.%s}\n", s.Name, s.Name)
	}
	p(")\n")
	return format.Source([]byte(b.String()))
}

// ---- C: the generated section of sdk/c/wasmsock.h ----

func cParamType(pt string) string {
	switch pt {
	case "conn", "u64":
		return "uint64_t"
	case "i64":
		return "int64_t"
	case "ptr":
		return "const uint8_t *"
	case "out":
		return "uint8_t *"
	}
	return "int32_t"
}

func cParams(f fn) string {
	var ps []string
	for _, x := range f.Params {
		ct := cParamType(x.Type)
		if strings.HasSuffix(ct, "*") {
			ps = append(ps, ct+x.Name)
		} else {
			ps = append(ps, ct+" "+x.Name)
		}
	}
	if len(ps) == 0 {
		return "void"
	}
	return strings.Join(ps, ", ")
}

// cDecl writes "head(params)tail" starting at indent, breaking the parameter list after a comma
// when a line would pass 100 columns, with continuation lines aligned after the parenthesis.
func cDecl(indent, head string, f fn, tail string) string {
	ps := strings.Split(cParams(f), ", ")
	line := indent + head + "("
	align := strings.Repeat(" ", len(line))
	var b strings.Builder
	for i, x := range ps {
		piece := x
		if i < len(ps)-1 {
			piece += ","
		} else {
			piece += ")" + tail
		}
		if i > 0 {
			if len(line)+1+len(piece) > 100 {
				b.WriteString(line + "\n")
				line = align + piece
				continue
			}
			line += " "
		}
		line += piece
	}
	b.WriteString(line + "\n")
	return b.String()
}

func cResult(f fn) string {
	switch {
	case len(f.Results) == 0:
		return "void"
	case f.Results[0] == "i64":
		return "int64_t"
	}
	return "int32_t"
}

func genCSection(t *table) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("/* The ABI version this header implements; the marker export %s declares it. */\n", t.Marker)
	p("#define WASMSOCK_ABI_VERSION %d\n\n", t.Version)
	p("/* Statuses returned by the host functions (abi/ABI.md, \"Status codes\"): >= 0 is success, a\n * count or a length where the function says so; treat any negative value as an error. */\n")
	p("typedef enum wasmsock_status {\n")
	for i, s := range t.Statuses {
		b.WriteString(cComment(s.Doc, "    "))
		comma := ","
		if i == len(t.Statuses)-1 {
			comma = ""
		}
		p("    WASMSOCK_%s = %d%s\n", s.C, s.Value, comma)
	}
	p("} wasmsock_status;\n\n")
	enum := func(name, title string, ns []num) {
		p("/* %s */\ntypedef enum %s {\n", title, name)
		for i, n := range ns {
			comma := ","
			if i == len(ns)-1 {
				comma = ""
			}
			p("    WASMSOCK_%s = %d%s /* %s */\n", n.C, n.Value, comma, strings.TrimSuffix(n.Doc, "."))
		}
		p("} %s;\n\n", name)
	}
	enum("wasmsock_kind", "Message kinds: the RFC 6455 opcodes of the frames that carry them.", t.Kinds)
	enum("wasmsock_level", "Log levels of wasmsock_log.", t.LogLevels)
	for _, n := range concat(t.ConnectFlags, t.Bus) {
		p("%s#define WASMSOCK_%s %d\n\n", cComment(n.Doc, ""), n.C, n.Value)
	}
	p("/* Limits (the unit is in each one's comment). */\n")
	for _, n := range t.Limits {
		p("%s#define WASMSOCK_%s %d\n", cComment(n.Doc, ""), n.C, n.Value)
	}
	p("\n")
	for _, s := range t.Strings {
		p("%s#define WASMSOCK_%s %q\n\n", cComment(s.Doc, ""), s.C, s.Value)
	}
	p("/* Reports whether an endpoint may send code in a close frame (RFC 6455 §7.4): %s. */\n", rangesText(t.CloseCodes.Sendable))
	p("static inline int wasmsock_valid_close_code(int32_t code) {\n    return %s;\n}\n\n", rangesCond(t.CloseCodes.Sendable, "code"))
	p("/* Describes a status as the Go SDK does: \"ok\" for any value >= 0, \"unknown connection\", ...\n * and \"unknown status\" for a negative value the ABI does not define. */\n")
	p("static inline const char *wasmsock_status_text(int32_t status) {\n    if (status >= 0) {\n        return \"ok\";\n    }\n    switch (status) {\n")
	for _, s := range t.Statuses {
		if s.Value == 0 {
			continue
		}
		p("    case WASMSOCK_%s:\n        return %q;\n", s.C, s.Text)
	}
	p("    }\n    return \"unknown status\";\n}\n\n")
	p("/* ---- Exports: the plugin defines these; the declarations export them. ---- */\n\n")
	for _, e := range t.guestExports() {
		doc := e.Doc
		if !e.Required {
			doc += " Optional: leave it undefined and the module does not export it."
		} else {
			doc += " Required."
		}
		b.WriteString(cComment(doc, ""))
		p("%s\n", cDecl("", fmt.Sprintf("WASMSOCK_EXPORT(%q) %s %s", e.Name, cResult(e), e.Name), e, ";"))
	}
	p("/* ---- Host functions (abi/ABI.md, \"Host functions\"), imported from module %q. ---- */\n\n", t.ImportModule)
	for _, f := range t.hostFns() {
		doc := f.Doc
		if f.Status == "DRAFT" {
			doc += " DRAFT: its behaviour may still be refined."
		}
		b.WriteString(cComment(doc, ""))
		p("WASMSOCK_IMPORT(%q)\n%s\n", f.Name, cDecl("", "int32_t wasmsock_"+f.Name, f, ";"))
	}
	return b.String()
}

// cComment makes a C block comment of text, indented by indent: "/* ... \n * ... */\n".
func cComment(text, indent string) string {
	w := strings.TrimSuffix(wrap(text, indent+" * ", 96), "\n")
	return indent + "/*" + strings.TrimPrefix(w, indent+" *") + " */\n"
}

// replaceSection replaces the text between the lines holding begin and end (kept) with body.
func replaceSection(old []byte, begin, end, body string) ([]byte, error) {
	s := string(old)
	i := strings.Index(s, begin)
	if i < 0 {
		return nil, fmt.Errorf("no marker %q", begin)
	}
	i += strings.Index(s[i:], "\n") + 1
	j := strings.Index(s[i:], end)
	if j < 0 {
		return nil, fmt.Errorf("no marker %q after %q", end, begin)
	}
	j += i
	j = strings.LastIndex(s[:j], "\n") + 1
	return []byte(s[:i] + body + s[j:]), nil
}

func genC(t *table, old []byte) ([]byte, error) {
	return replaceSection(old, "/* BEGIN GENERATED", "/* END GENERATED", genCSection(t))
}

// ---- Rust: sdk/rust/src/sys.rs and errors.rs ----

func rustParamType(pt string) string {
	switch pt {
	case "conn", "u64":
		return "u64"
	case "i64":
		return "i64"
	case "ptr":
		return "*const u8"
	case "out":
		return "*mut u8"
	}
	return "i32"
}

func rustDoc(text, indent string) string {
	return wrap(text, indent+"/// ", 100)
}

func genRustSys(t *table, _ []byte) ([]byte, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// %s\n\n", header)
	p(`//! The raw ABI: the host functions exactly as the host exports them, and the numbers of ABI
//! version %d.
//!
//! Everything here is generated from the ABI's table (`+"`abi/abi.json`"+`), as the other SDKs'
//! bindings are. Plugins normally use the safe API of the crate root ([`+"`Conn`"+`](crate::Conn),
//! [`+"`broadcast`"+`](crate::broadcast), [`+"`log`"+`](crate::log), ...) instead; this module is for
//! what that API does not cover, and for reading alongside the specification (`+"`abi/ABI.md`"+`).
//!
//! The functions are `+"`unsafe`"+`: every `+"`(ptr, len)`"+` pair must describe memory of this module,
//! and a destination pair must be writable. The host checks every range and answers
//! [`+"`ERR_BAD_POINTER`"+`] rather than trapping, but a range that is inside the memory and not what
//! the caller meant (a dangling pointer, say) is still a bug the host cannot see.
//!
//! Off `+"`wasm32`"+` (for `+"`cargo test`"+` and `+"`cargo doc`"+` on the build machine) there is no host:
//! every function returns [`+"`ERR_NOT_SUPPORTED`"+`] and writes nothing.

/// The ABI version this crate implements; the marker export `+"`%s`"+` declares it.
pub const ABI_VERSION: u32 = %d;

`, t.Version, t.Marker, t.Version)
	for _, s := range t.Statuses {
		b.WriteString(rustDoc(s.Doc, ""))
		p("pub const %s: i32 = %d;\n", s.C, s.Value)
	}
	p("\n")
	for _, n := range t.Kinds {
		b.WriteString(rustDoc("Message kind: "+n.Doc, ""))
		p("pub const KIND_%s: i32 = %d;\n", n.C, n.Value)
	}
	for _, n := range concat(t.ConnectFlags, t.Bus, t.LogLevels) {
		b.WriteString(rustDoc(n.Doc, ""))
		p("pub const %s: i32 = %d;\n", n.C, n.Value)
	}
	for _, n := range t.Limits {
		b.WriteString(rustDoc(n.Doc, ""))
		p("pub const %s: usize = %d;\n", n.C, n.Value)
	}
	for _, s := range t.Strings {
		b.WriteString(rustDoc(s.Doc, ""))
		p("pub const %s: &str = %q;\n", s.C, s.Value)
	}
	p("\n")
	b.WriteString(rustDoc(fmt.Sprintf("Reports whether an endpoint may send `code` in a close frame (RFC 6455 §7.4): %s.", rangesText(t.CloseCodes.Sendable)), ""))
	var arms []string
	for _, r := range t.CloseCodes.Sendable {
		arms = append(arms, fmt.Sprintf("%d..=%d", r[0], r[1]))
	}
	p("pub const fn valid_close_code(code: i32) -> bool {\n    matches!(code, %s)\n}\n\n", strings.Join(arms, " | "))
	b.WriteString(rustDoc("Describes a status in a few words, as `abi.Status.String` does in Go: `\"ok\"` for any value `>= 0`, `\"unknown connection\"`, ..., and `\"unknown status\"` for a negative value this version does not define.", ""))
	p("pub fn status_text(status: i32) -> &'static str {\n    match status {\n        s if s >= 0 => \"ok\",\n")
	for _, s := range t.Statuses {
		if s.Value == 0 {
			continue
		}
		p("        %s => %q,\n", s.C, s.Text)
	}
	p("        _ => \"unknown status\",\n    }\n}\n\n")
	p("#[cfg(target_arch = \"wasm32\")]\n#[link(wasm_import_module = %q)]\nextern \"C\" {\n", t.ImportModule)
	for i, f := range t.hostFns() {
		if i > 0 {
			p("\n")
		}
		b.WriteString(rustDoc(f.Doc, "    "))
		var ps []string
		for _, x := range f.Params {
			ps = append(ps, x.Name+": "+rustParamType(x.Type))
		}
		p("    #[link_name = %q]\n    pub fn %s(%s) -> i32;\n", f.Name, f.Name, strings.Join(ps, ", "))
	}
	p("}\n\n")
	p(`#[cfg(all(not(target_arch = "wasm32"), not(test)))]
mod off_wasm {
    //! Stand-ins for the host functions when the crate is built for the build machine, so that
    //! ` + "`cargo doc`" + ` and the tests of code using the crate build and run.
    #![allow(clippy::missing_safety_doc)]

    use super::ERR_NOT_SUPPORTED;
`)
	for _, f := range t.hostFns() {
		var ps []string
		for _, x := range f.Params {
			ps = append(ps, "_"+x.Name+": "+rustParamType(x.Type))
		}
		p("\n    /// Stand-in for the `%s` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.\n", f.Name)
		p("    pub unsafe fn %s(%s) -> i32 {\n        ERR_NOT_SUPPORTED\n    }\n", f.Name, strings.Join(ps, ", "))
	}
	p(`}

#[cfg(all(not(target_arch = "wasm32"), not(test)))]
pub use off_wasm::*;

// The crate's own unit tests run against a fake host with the same functions.
#[cfg(all(not(target_arch = "wasm32"), test))]
pub use crate::fake::*;
`)
	return []byte(b.String()), nil
}

func genRustErrors(t *table, _ []byte) ([]byte, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// %s\n\nuse core::fmt;\n\nuse crate::sys;\n\n", header)
	p(`/// A failure reported by the host: one of the negative statuses of ABI v%d.
///
/// Every function of the crate that calls the host returns `+"`Result<T, Error>`"+` (the crate's
/// [`+"`Result`"+`] alias). The variants are the statuses of `+"`abi/ABI.md`"+`; a status this version of the
/// ABI does not define (a newer host may add some) is [`+"`Error::Other`"+`].
///
/// Its [`+"`Display`"+`](fmt::Display) text is the same as the Go SDK's, for example
/// `+"`wasmsock: unknown connection`"+`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
`, t.Version)
	for _, s := range t.Statuses {
		if s.Value == 0 {
			continue
		}
		b.WriteString(rustDoc(fmt.Sprintf("%s (`%d`)", strings.TrimSuffix(s.Doc, "."), s.Value), "    "))
		p("    %s,\n", s.Rust)
	}
	p("    /// A negative status this version of the ABI does not define.\n    Other(i32),\n}\n\n")
	p(`/// The result of a call to the host: the crate's functions return ` + "`Result<T>`" + `, which is
/// ` + "`core::result::Result<T, Error>`" + `.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// Returns the error for a host function's status, or ` + "`None`" + ` for a success (` + "`>= 0`" + `).
    pub fn from_status(status: i32) -> Option<Error> {
        Some(match status {
            s if s >= 0 => return None,
`)
	for _, s := range t.Statuses {
		if s.Value != 0 {
			p("            sys::%s => Error::%s,\n", s.C, s.Rust)
		}
	}
	p(`            s => Error::Other(s),
        })
    }

    /// Returns the status number of the error, as the host returned it (always negative).
    pub fn status(self) -> i32 {
        match self {
`)
	for _, s := range t.Statuses {
		if s.Value != 0 {
			p("            Error::%s => sys::%s,\n", s.Rust, s.C)
		}
	}
	p(`            Error::Other(s) => s,
        }
    }

    /// Describes the status in a few words, as ` + "`abi.Status.String`" + ` does in Go: ` + "`\"unknown\n    /// connection\"`" + `, ` + "`\"connection closed\"`" + `, ...
    pub fn text(self) -> &'static str {
        sys::status_text(self.status())
    }
}

/// Turns a host function's status into a result: ` + "`Ok(n)`" + ` for ` + "`n >= 0`" + `, else the error.
pub fn check(status: i32) -> Result<u32> {
    match Error::from_status(status) {
        None => Ok(status as u32),
        Some(e) => Err(e),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasmsock: {}", self.text())
    }
}

impl std::error::Error for Error {}
`)
	return []byte(b.String()), nil
}

// ---- AssemblyScript: env.ts and abi.ts ----

func asParamType(pt string) string {
	switch pt {
	case "conn", "u64":
		return "u64"
	case "i64":
		return "i64"
	case "ptr", "out":
		return "usize"
	}
	return "i32"
}

func genASEnv(t *table, _ []byte) ([]byte, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// %s\n\n", header)
	p(`// The raw host functions of wasmsock ABI v%d (abi/ABI.md), imported from module %q.
//
// Plugins normally use the typed wrappers in index.ts instead. These are exported for plugins
// that want to pass their own (pointer, length) pairs, such as a static buffer, without any
// copying. Pointers are addresses in the module's memory; every function returns a status:
// >= 0 success (a count or a length where the ABI says so), < 0 an error (see Status).
`, t.Version, t.ImportModule)
	for _, f := range t.hostFns() {
		var ps []string
		for _, x := range f.Params {
			ps = append(ps, camel(x.Name)+": "+asParamType(x.Type))
		}
		p("\n/** %s */\n// @ts-ignore: decorator\n@external(%q, %q)\nexport declare function %s(%s): i32;\n", f.Doc, t.ImportModule, f.Name, f.Name, strings.Join(ps, ", "))
	}
	return []byte(b.String()), nil
}

func genASABI(t *table, _ []byte) ([]byte, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// %s\n\n// The numbers and rules of wasmsock ABI v%d (abi/ABI.md); index.ts exports them.\n\n", header, t.Version)
	p("/** The ABI version this SDK implements; the marker export %s declares it. */\nexport const ABI_VERSION: i32 = %d;\n\n", t.Marker, t.Version)
	p(`/**
 * What a host function returns: ` + "`OK`" + ` (or a count or a length where the function says so) on
 * success, a negative value on failure. The numbers never change within the ABI version. A host
 * may add negative values: treat any negative value as an error (` + "`isError`" + `).
 */
export enum Status {
`)
	for _, s := range t.Statuses {
		b.WriteString(strings.TrimSuffix(wrap(s.Doc, "  /** ", 100), "\n") + " */\n")
		p("  %s = %d,\n", strings.TrimPrefix(s.Name, "Err"), s.Value)
	}
	p("}\n\n/**\n * Names a status: \"ok\" for any value >= 0, \"unknown status\" for a negative value this version\n * does not define, else for example \"unknown connection\".\n */\n")
	p("export function statusText(status: i32): string {\n  if (status >= 0) return \"ok\";\n  switch (status) {\n")
	for _, s := range t.Statuses {
		if s.Value != 0 {
			p("    case Status.%s: return %q;\n", strings.TrimPrefix(s.Name, "Err"), s.Text)
		}
	}
	p("  }\n  return \"unknown status\";\n}\n\n")
	p("/** The kind of a WebSocket message; the values are the opcodes of the frames that carry it. */\nexport enum Kind {\n")
	for _, n := range t.Kinds {
		p("  /** %s */\n  %s = %d,\n", n.Doc, strings.TrimPrefix(n.Name, "Kind"), n.Value)
	}
	p("}\n\n/** The level of a log record. */\nexport enum Level {\n")
	for _, n := range t.LogLevels {
		p("  /** %s */\n  %s = %d,\n", n.Doc, strings.TrimPrefix(n.Name, "Log"), n.Value)
	}
	p("}\n\n")
	for _, n := range concat(t.ConnectFlags, t.Bus, t.Limits) {
		p("%s", strings.TrimSuffix(wrap(n.Doc, "/** ", 100), "\n")+" */\n")
		p("export const %s: i32 = %d;\n\n", n.C, n.Value)
	}
	for _, s := range t.Strings {
		p("%s", strings.TrimSuffix(wrap(s.Doc, "/** ", 100), "\n")+" */\n")
		p("export const %s = %q;\n\n", s.C, s.Value)
	}
	p("/** Reports whether an endpoint may send close code `code` (RFC 6455 §7.4): %s. */\n", rangesText(t.CloseCodes.Sendable))
	p("export function validCloseCode(code: i32): bool {\n  return %s;\n}\n", rangesCond(t.CloseCodes.Sendable, "code"))
	return []byte(b.String()), nil
}

// ---- ABI.md: the marked sections ----

const mdBegin = "<!-- BEGIN GENERATED abigen:"
const mdEnd = "<!-- END GENERATED abigen:"

func genMarkdown(t *table, old []byte) ([]byte, error) {
	sections := map[string]string{
		"function-status": mdFunctionStatus(t),
		"host-functions":  mdHostFunctions(t),
		"status-codes":    mdStatusCodes(t),
		"limits":          mdLimits(t),
		"close-codes":     mdCloseCodes(t),
		"conn-get-keys":   mdConnGetKeys(t),
	}
	for _, e := range t.Exports {
		sections["sig:"+e.Name] = mdSig(t, e, false)
	}
	for _, f := range t.hostFns() {
		sections["sig:"+f.Name] = mdSig(t, f, true)
	}
	s := string(old)
	var missing []string
	keys := make([]string, 0, len(sections))
	for k := range sections {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		begin := mdBegin + k + " "
		if !strings.Contains(s, begin) {
			missing = append(missing, k)
			continue
		}
		nb, err := replaceSection([]byte(s), begin, mdEnd+k+" ", sections[k])
		if err != nil {
			return nil, err
		}
		s = string(nb)
	}
	// A marked section whose function has left the table is an error too.
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(mdBegin)+`(\S+) `).FindAllStringSubmatch(s, -1) {
		if _, ok := sections[m[1]]; !ok {
			return nil, fmt.Errorf("section %q is not in abi.json", m[1])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no section for %s: add, where the text about it goes,\n%s<NAME> -->\n%s<NAME> -->\n(see abi/README.md)", strings.Join(missing, ", "), mdBegin, mdEnd)
	}
	return []byte(s), nil
}

func mdFunctionStatus(t *table) string {
	var b strings.Builder
	b.WriteString("| Name | Kind | Status |\n|------|------|--------|\n")
	for _, e := range t.Exports {
		st := e.Status
		if !e.Required {
			st += " (optional)"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | guest export | %s |\n", e.Name, anchor(e.Name, e.Required), st)
	}
	fmt.Fprintf(&b, "| `%s` | guest export (memory) | FINAL |\n", t.MemoryExport)
	for _, f := range t.Functions {
		fmt.Fprintf(&b, "| [`%s`](#%s) | host function | %s |\n", f.Name, anchor(f.Name, true), f.Status)
	}
	return b.String()
}

// anchor is GitHub's anchor of a "### `name`" heading ("### `on_start` (optional)" for optional
// exports).
func anchor(name string, required bool) string {
	a := strings.ToLower(name)
	a = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, a)
	if !required {
		a += "-optional"
	}
	return a
}

func mdHostFunctions(t *table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "All imported from module `%s`; each returns an `i32` status.\n\n", t.ImportModule)
	b.WriteString("| Function | Parameters | Status | What it does |\n|----------|------------|--------|--------------|\n")
	for _, f := range t.hostFns() {
		var ps []string
		for _, x := range f.Params {
			ps = append(ps, fmt.Sprintf("`%s %s`", x.Name, wasmType(x.Type)))
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", f.Name, anchor(f.Name, true), strings.Join(ps, ", "), f.Status, f.Doc)
	}
	return b.String()
}

func mdStatusCodes(t *table) string {
	var b strings.Builder
	b.WriteString("| Value | Name | Text | Meaning |\n|------:|------|------|---------|\n")
	for _, s := range t.Statuses {
		v := strconv.Itoa(s.Value)
		name := "`" + s.Name + "`"
		if s.Value == 0 {
			v = "`>= 0`"
			name = "`OK` (0)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", v, name, s.Text, s.Doc)
	}
	return b.String()
}

func mdLimits(t *table) string {
	var b strings.Builder
	b.WriteString("| Limit | Value | Go | C | What |\n|-------|------:|----|---|------|\n")
	for _, n := range t.Limits {
		fmt.Fprintf(&b, "| %s | %d | `abi.%s` | `WASMSOCK_%s` | %s |\n", strings.ToLower(splitWords(strings.TrimPrefix(n.Name, "Max"))), n.Value, n.Name, n.C, n.Doc)
	}
	return b.String()
}

func splitWords(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return "max " + b.String()
}

func mdCloseCodes(t *table) string {
	cc := t.CloseCodes
	var ro []string
	for _, c := range cc.ReportedOnly {
		ro = append(ro, strconv.Itoa(c))
	}
	return fmt.Sprintf("- **What the guest may send** (`close`): %s. %s\n- **What `on_connect` may return** to close right after the handshake: %s. %s\n- **What `on_close` may report**: any code a peer may send (the ranges above), and %s. %s\n",
		rangesText(cc.Sendable), cc.SendableDoc, rangesText(cc.OnConnect), cc.OnConnectDoc, joinAnd(ro), cc.ReportedOnlyDoc)
}

func mdConnGetKeys(t *table) string {
	var b strings.Builder
	b.WriteString("| Key | Value | Absent (`ErrNotFound`) when |\n|-----|-------|-----------------------------|\n")
	for _, k := range t.ConnGetKeys {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Key, k.Value, k.Absent)
	}
	return b.String()
}

func mdSig(t *table, f fn, host bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "* status: %s\n", f.Status)
	if host {
		fmt.Fprintf(&b, "* wasm: `(import %q %q %s)`\n", t.ImportModule, f.Name, wasmSig(f, true))
		fmt.Fprintf(&b, "* C:\n  ```c\n  __attribute__((import_module(%q), import_name(%q)))\n%s  ```\n", t.ImportModule, f.Name, cDecl("  ", "int32_t wasmsock_"+f.Name, f, ";"))
	} else if strings.HasPrefix(f.Name, "_") {
		fmt.Fprintf(&b, "* wasm: `%s`\n* C: generated by the toolchain for a WASI reactor; not written by hand.\n", wasmSig(f, true))
	} else {
		fmt.Fprintf(&b, "* wasm: `%s`\n", wasmSig(f, true))
		body := ";"
		if f.Name == t.Marker {
			body = " {}"
		}
		fmt.Fprintf(&b, "* C:\n  ```c\n  __attribute__((export_name(%q)))\n%s  ```\n", f.Name, cDecl("  ", cResult(f)+" "+f.Name, f, body))
	}
	return b.String()
}
