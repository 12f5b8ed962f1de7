package main

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

const newSummary = `Creates a plugin project in DIR (default ./NAME): the plugin's source, a starter that greets
every client and echoes every message, with comments pointing at the SDK's documentation; a
Makefile whose default target builds NAME.wasm; a host.toml that serves it on /NAME and rebuilds
it on save under "wasmsock dev"; a scenario.toml for "wasmsock test"; a .gitignore and a README.md.

  cd NAME && make && wasmsock dev

The project takes the SDK from a checkout of the wasmsock repository (-sdk; by default the one
the current directory is in), so it builds offline: Go through a replace directive, Rust through
a path dependency, AssemblyScript through a file: dependency, and C with a copy of wasmsock.h and
wasmsock.c. DIR must not exist, or be empty. NAME is the plugin's name: 1-64 letters, digits,
'-' or '_', not starting with '-'.`

// sdkModule is the module path in the go.mod at the root of the wasmsock repository.
const sdkModule = "github.com/wasmsock/wasmsock"

// scaffoldFiles holds the templates: scaffold/common/ for every language and scaffold/LANG/ for
// one. A template's path under its directory is the generated file's, without ".tmpl", with
// "NAME" replaced by the plugin's name and a leading "dot-" by ".".
//
//go:embed scaffold
var scaffoldFiles embed.FS

// scaffoldLang is a language "wasmsock new" makes projects in.
type scaffoldLang struct {
	title  string
	source string   // the plugin's main source file, relative to the project
	watch  []string // host.toml's watch globs
	needs  []string // files of the wasmsock repository the project uses
	copies []string // files copied from the repository into the project (as their base name)
}

var scaffoldLangs = map[string]scaffoldLang{
	"go": {
		title:  "Go",
		source: "main.go",
		watch:  []string{"*.go", "go.mod"},
		needs: []string{"go.mod", "abi/go.mod", "sdk/go/go.mod", "sdk/go/wasmsock.go",
			"sdk/go/plugintest/go.mod", "sdk/go/plugintest/go.sum"},
	},
	"rust": {
		title:  "Rust",
		source: "src/lib.rs",
		watch:  []string{"src/*.rs", "Cargo.toml"},
		needs:  []string{"sdk/rust/Cargo.toml", "sdk/rust/src/lib.rs", "sdk/rust/wasm-toolchain.sh"},
	},
	"c": {
		title:  "C",
		source: "NAME.c",
		watch:  []string{"*.c", "*.h"},
		needs:  []string{"sdk/c/wasmsock.h", "sdk/c/wasmsock.c"},
		copies: []string{"sdk/c/wasmsock.h", "sdk/c/wasmsock.c"},
	},
	"assemblyscript": {
		title:  "AssemblyScript",
		source: "assembly/index.ts",
		watch:  []string{"assembly/*.ts", "asconfig.json"},
		needs:  []string{"sdk/assemblyscript/package.json", "sdk/assemblyscript/index.ts"},
	},
}

func langNames() string {
	names := make([]string, 0, len(scaffoldLangs))
	for n := range scaffoldLangs {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// scaffoldData is what the templates see.
type scaffoldData struct {
	Name      string   // the plugin's name
	Lang      string   // a key of scaffoldLangs
	LangTitle string   // "Go", "Rust", ...
	Source    string   // the plugin's main source file
	Watch     []string // host.toml's watch globs
	Greeting  string   // the starter's greeting, which scenario.toml expects
	SDK       string   // the wasmsock repository, absolute

	GoModule   string   // go.mod's module path
	GoVersion  string   // go.mod's go version: plugintest's (the SDK alone needs less)
	GoRequires []string // go.mod's indirect requirements ("path version"): plugintest's
	GoSum      string   // go.sum: plugintest's

	RustCrate string // the package and library name (a Rust identifier)
	RustType  string // the plugin type's name
	RustSDK   string // the SDK crate's directory

	NPMName   string // package.json's name
	ASVersion string // the assemblyscript version the SDK pins
	ASSDK     string // the SDK dependency: "file:..."
	ASBuild   string // the build script
}

// cmdNew runs "wasmsock new".
func cmdNew(args []string, stdout, stderr io.Writer) int {
	fset := newFlags("new", newSummary, stderr)
	fset.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasmsock new --lang LANG [-dir DIR] [-sdk PATH] NAME\n\n%s\n\nFlags:\n", newSummary)
		fset.PrintDefaults()
	}
	lang := fset.String("lang", "", "the plugin's `language`: "+langNames())
	dir := fset.String("dir", "", "the project `directory` to create (default ./NAME); it must not exist, or be empty")
	sdk := fset.String("sdk", "", "the `path` of the wasmsock repository, which the project takes the SDK from (default: the one the current directory, or else this executable, is in)")
	if err := fset.Parse(args); err != nil {
		return 2
	}
	// Flags may also follow the name: wasmsock new NAME --lang go.
	var name string
	if fset.NArg() > 0 {
		name = fset.Arg(0)
		if err := fset.Parse(fset.Args()[1:]); err != nil {
			return 2
		}
		if fset.NArg() > 0 {
			fmt.Fprintf(stderr, "wasmsock new: more than one NAME (also %q)\n", fset.Args())
			return 2
		}
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wasmsock new: "+format+"\n", a...)
		return 2
	}
	switch {
	case name == "":
		fmt.Fprintln(stderr, "wasmsock new: no NAME")
		fset.Usage()
		return 2
	case *lang == "":
		return fail("no -lang: choose one of %s", langNames())
	}
	if err := checkPluginName(name); err != nil {
		return fail("%v", err)
	}
	l, ok := scaffoldLangs[*lang]
	if !ok {
		return fail("unknown language %q: choose one of %s", *lang, langNames())
	}
	root, err := findSDK(*sdk)
	if err != nil {
		fmt.Fprintf(stderr, "wasmsock new: %v\n", err)
		return 1
	}
	for _, f := range l.needs {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(f))); err != nil {
			fmt.Fprintf(stderr, "wasmsock new: the wasmsock repository in %s has no %s: is it complete, and recent enough for %s plugins?\n", root, f, l.title)
			return 1
		}
	}
	if *dir == "" {
		*dir = name
	}
	files, err := renderProject(name, *lang, root)
	if err != nil {
		fmt.Fprintf(stderr, "wasmsock new: %v\n", err)
		return 1
	}
	if err := writeProject(*dir, files); err != nil {
		fmt.Fprintf(stderr, "wasmsock new: %v\n", err)
		return 1
	}

	fmt.Fprintf(stdout, "Created the %s plugin %s in %s, with the SDK of %s:\n", l.title, name, *dir, root)
	for _, f := range files {
		fmt.Fprintf(stdout, "  %s\n", f.path)
	}
	fmt.Fprintf(stdout, `
Next:
  cd %s
  make                          # builds %s.wasm
  wasmsock dev                  # serves ws://localhost:8080/%s, rebuilds and reloads on save
  wasmsock test scenario.toml   # plays the test conversation
`, shellQuote(*dir), name, name)
	return 0
}

var pluginNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkPluginName accepts what host.toml accepts as a plugin name, except a leading '-', which
// would read as a flag (and as an option to the tools the Makefile runs).
func checkPluginName(name string) error {
	if !pluginNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a plugin name: 1-64 letters, digits, '-' or '_'", name)
	}
	if name[0] == '-' {
		return fmt.Errorf("%q is not a plugin name: it must not start with '-'", name)
	}
	return nil
}

// findSDK returns the absolute path of the wasmsock repository: flag if set (which must be the
// repository), else the first directory holding it from the current directory up, else from the
// executable's directory up.
func findSDK(flag string) (string, error) {
	if flag != "" {
		abs, err := filepath.Abs(flag)
		if err != nil {
			return "", err
		}
		if !isSDKRoot(abs) {
			return "", fmt.Errorf("-sdk %s: not the wasmsock repository (it has no go.mod with \"module %s\")", flag, sdkModule)
		}
		if strings.ContainsFunc(abs, unicode.IsControl) {
			return "", fmt.Errorf("-sdk %q: a path with control characters cannot go into the project's files", abs)
		}
		return abs, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, d := range starts {
		for {
			if isSDKRoot(d) && !strings.ContainsFunc(d, unicode.IsControl) {
				return d, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", fmt.Errorf("cannot find the wasmsock repository (a go.mod with \"module %s\") in the current directory or above it: "+
		"the project needs a checkout of it for the SDK; name it with -sdk PATH", sdkModule)
}

// isSDKRoot reports whether dir has the wasmsock repository's go.mod.
func isSDKRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	return goModDirective(f, "module") == sdkModule
}

// goModDirective returns the argument of the first line of a go.mod that starts with directive
// ("module", "go"), unquoted, or "".
func goModDirective(r io.Reader, directive string) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == directive {
			if s, err := strconv.Unquote(fields[1]); err == nil {
				return s
			}
			return fields[1]
		}
	}
	return ""
}

// projectFile is one file of a generated project.
type projectFile struct {
	path string // slash-separated, relative to the project
	data []byte
}

// renderProject makes the files of a project in language lang (a key of scaffoldLangs) for the
// plugin name, with the SDK of the wasmsock repository in root (absolute). It writes nothing.
func renderProject(name, lang, root string) ([]projectFile, error) {
	l := scaffoldLangs[lang]
	d := scaffoldData{
		Name:      name,
		Lang:      lang,
		LangTitle: l.title,
		Source:    strings.ReplaceAll(l.source, "NAME", name),
		Watch:     l.watch,
		Greeting:  "welcome to " + name,
		SDK:       root,
	}
	switch lang {
	case "go":
		// The project's tests use plugintest, which runs the plugin with the host's runtime: the
		// project needs what plugintest needs, which plugintest's own go.mod and go.sum in the
		// checkout list, so that go build and go test work offline and need no go mod tidy.
		d.GoModule = goModulePath(name)
		dir := filepath.Join(root, "sdk", "go", "plugintest")
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			return nil, err
		}
		if d.GoVersion = goModDirective(bytes.NewReader(mod), "go"); d.GoVersion == "" {
			return nil, fmt.Errorf("%s: no go directive", filepath.Join(dir, "go.mod"))
		}
		for _, r := range goModRequires(mod) {
			if r != sdkModule+"/sdk/go v0.0.0" {
				d.GoRequires = append(d.GoRequires, r)
			}
		}
		slices.Sort(d.GoRequires) // as go mod tidy writes them
		sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
		if err != nil {
			return nil, err
		}
		d.GoSum = string(sum)
	case "rust":
		d.RustCrate = rustCrateName(name)
		d.RustType = rustTypeName(name)
		d.RustSDK = filepath.Join(root, "sdk", "rust")
	case "assemblyscript":
		pkgFile := filepath.Join(root, "sdk", "assemblyscript", "package.json")
		b, err := os.ReadFile(pkgFile)
		if err != nil {
			return nil, err
		}
		var pkg struct {
			DevDependencies map[string]string `json:"devDependencies"`
		}
		if err := json.Unmarshal(b, &pkg); err != nil {
			return nil, fmt.Errorf("%s: %v", pkgFile, err)
		}
		if d.ASVersion = pkg.DevDependencies["assemblyscript"]; d.ASVersion == "" {
			return nil, fmt.Errorf("%s: no assemblyscript in devDependencies", pkgFile)
		}
		d.NPMName = npmPackageName(name)
		d.ASSDK = "file:" + filepath.ToSlash(filepath.Join(root, "sdk", "assemblyscript"))
		d.ASBuild = "asc assembly/index.ts --config asconfig.json -o " + name + ".wasm"
	}

	var files []projectFile
	for _, dir := range []string{"scaffold/common", "scaffold/" + lang} {
		err := fs.WalkDir(scaffoldFiles, dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			src, err := scaffoldFiles.ReadFile(p)
			if err != nil {
				return err
			}
			t, err := template.New(p).Funcs(scaffoldFuncs).Option("missingkey=error").Parse(string(src))
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := t.Execute(&out, d); err != nil {
				return err
			}
			files = append(files, projectFile{path: outputPath(strings.TrimPrefix(p, dir+"/"), name), data: out.Bytes()})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, c := range l.copies {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(c)))
		if err != nil {
			return nil, err
		}
		files = append(files, projectFile{path: path.Base(c), data: b})
	}
	slices.SortFunc(files, func(a, b projectFile) int { return strings.Compare(a.path, b.path) })
	return files, nil
}

// outputPath maps a template's path to the generated file's.
func outputPath(p, name string) string {
	p = strings.TrimSuffix(p, ".tmpl")
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if rest, ok := strings.CutPrefix(s, "dot-"); ok {
			s = "." + rest
		}
		parts[i] = strings.ReplaceAll(s, "NAME", name)
	}
	return strings.Join(parts, "/")
}

var scaffoldFuncs = template.FuncMap{
	"toml":      tomlString,
	"tomlList":  tomlList,
	"json":      jsonString,
	"goModPath": goModPath,
	"sdkPath":   func(root, rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) },
}

// goModRequires returns the requirements of a go.mod, each as "path version", in its order.
func goModRequires(mod []byte) []string {
	var reqs []string
	inBlock := false
	for _, line := range strings.Split(string(mod), "\n") {
		line, _, _ = strings.Cut(line, "//")
		fields := strings.Fields(line)
		switch {
		case inBlock && len(fields) == 1 && fields[0] == ")":
			inBlock = false
		case inBlock && len(fields) == 2:
			reqs = append(reqs, fields[0]+" "+fields[1])
		case len(fields) == 2 && fields[0] == "require" && fields[1] == "(":
			inBlock = true
		case len(fields) == 3 && fields[0] == "require":
			reqs = append(reqs, fields[1]+" "+fields[2])
		}
	}
	return reqs
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// goModPath writes a directory path for a go.mod replace directive: bare when it can be, else
// as a quoted string.
func goModPath(p string) string {
	if p == "" || strings.ContainsAny(p, " \t\"'`\\()[]{},;") || strings.Contains(p, "//") || strings.Contains(p, "/*") {
		return strconv.Quote(p)
	}
	return p
}

// goModulePath returns the go.mod module path for the plugin name: the name itself, unless the
// go command reserves it (a meta-package such as "std", or a name Windows reserves for devices).
func goModulePath(name string) string {
	switch name {
	case "std", "cmd", "all", "tool", "work":
		return name + "-plugin"
	}
	switch l := strings.ToLower(name); {
	case l == "con", l == "prn", l == "aux", l == "nul",
		len(l) == 4 && (strings.HasPrefix(l, "com") || strings.HasPrefix(l, "lpt")) && l[3] >= '0' && l[3] <= '9':
		return name + "-plugin"
	}
	return name
}

// rustReserved are the names a Rust crate cannot take: keywords (reserved ones included), the
// standard library's crates, and the SDK's.
var rustReserved = map[string]bool{
	"as": true, "async": true, "await": true, "break": true, "const": true, "continue": true, "crate": true,
	"dyn": true, "else": true, "enum": true, "extern": true, "false": true, "fn": true, "for": true, "if": true,
	"impl": true, "in": true, "let": true, "loop": true, "match": true, "mod": true, "move": true, "mut": true,
	"pub": true, "ref": true, "return": true, "self": true, "static": true, "struct": true, "super": true,
	"trait": true, "true": true, "type": true, "unsafe": true, "use": true, "where": true, "while": true,
	"abstract": true, "become": true, "box": true, "do": true, "final": true, "macro": true, "override": true,
	"priv": true, "try": true, "typeof": true, "unsized": true, "virtual": true, "yield": true,
	"std": true, "core": true, "alloc": true, "proc_macro": true, "test": true, "wasmsock": true,
}

// rustCrateName derives the Cargo package and library name from the plugin name: a snake_case
// Rust identifier ("my-Plugin" -> "my_plugin"), which is also the built library's file name.
func rustCrateName(name string) string {
	id := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	if id[0] >= '0' && id[0] <= '9' {
		id = "plugin_" + id
	}
	if rustReserved[id] || strings.Trim(id, "_") == "" {
		id += "_plugin"
	}
	return id
}

// rustTypeReserved are type names the generated lib.rs cannot use for the plugin: what it
// imports and what the prelude names.
var rustTypeReserved = map[string]bool{
	"Self": true, "GREETING": true, "Conn": true, "Message": true, "Plugin": true, "Verdict": true, "Kind": true,
	"Box": true, "Option": true, "Result": true, "String": true, "Vec": true, "Some": true, "None": true,
	"Ok": true, "Err": true, "Default": true, "Clone": true, "Copy": true, "Send": true, "Sync": true,
	"Sized": true, "Drop": true, "Fn": true, "FnMut": true, "FnOnce": true, "Iterator": true,
	"Into": true, "From": true, "ToString": true, "ToOwned": true, "Eq": true, "PartialEq": true,
	"Ord": true, "PartialOrd": true, "AsRef": true, "AsMut": true, "Extend": true, "Unpin": true,
}

// rustTypeName derives the plugin type's name from the plugin name, in CamelCase
// ("my-plugin" -> "MyPlugin").
func rustTypeName(name string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	t := b.String()
	if t == "" || (t[0] >= '0' && t[0] <= '9') {
		t = "Plugin" + t
	}
	if rustTypeReserved[t] {
		t += "Plugin"
	}
	return t
}

// npmPackageName derives package.json's name from the plugin name: npm wants lower case, and
// no leading '_'.
func npmPackageName(name string) string {
	n := strings.TrimLeft(strings.ToLower(name), "_-")
	switch n {
	case "":
		return "plugin"
	case "node_modules":
		return n + "-plugin"
	}
	return n
}

// writeProject writes files into dir, which must not exist or be empty. On failure it removes
// what it wrote (and dir, if it made it).
func writeProject(dir string, files []projectFile) (err error) {
	entries, err := os.ReadDir(dir)
	made := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		made = true
	case err != nil:
		if st, serr := os.Stat(dir); serr == nil && !st.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s exists and is not empty: not overwriting it (choose another -dir, or empty it)", dir)
	}
	var written []string // top-level entries
	defer func() {
		if err == nil {
			return
		}
		if made {
			os.RemoveAll(dir)
			return
		}
		for _, w := range written {
			os.RemoveAll(filepath.Join(dir, w))
		}
	}()
	for _, f := range files {
		top, _, _ := strings.Cut(f.path, "/")
		if !slices.Contains(written, top) {
			written = append(written, top)
		}
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./+,:@%", r)))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
