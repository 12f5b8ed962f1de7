package plugin

import (
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmsock/wasmsock/abi"
)

// ValidationError lists every way a module breaks ABI v1.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "module does not implement wasmsock ABI v1: " + strings.Join(e.Problems, "; ")
}

type signature struct {
	params, results []api.ValueType
}

func (s signature) String() string {
	return fmt.Sprintf("(%s) -> (%s)", typeNames(s.params), typeNames(s.results))
}

func typeNames(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return strings.Join(names, ", ")
}

// valueTypes converts the ABI table's types to wazero's (both use the binary format's numbers).
func valueTypes(ts []abi.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = api.ValueType(t)
	}
	return out
}

func sigOf(f abi.Func) signature {
	return signature{params: valueTypes(f.ParamTypes()), results: valueTypes(f.Results)}
}

const wasiModule = "wasi_snapshot_preview1"

// validate checks a compiled module against ABI v1 and the host's import rules.
func validate(m wazero.CompiledModule) error {
	var problems []string
	exports := m.ExportedFunctions()
	check := func(name string, want signature, required bool) {
		def, ok := exports[name]
		if !ok {
			if required {
				problems = append(problems, fmt.Sprintf("missing export %q %s", name, want))
			}
			return
		}
		got := signature{params: def.ParamTypes(), results: def.ResultTypes()}
		if !sameTypes(got.params, want.params) || !sameTypes(got.results, want.results) {
			problems = append(problems, fmt.Sprintf("export %q has signature %s, want %s", name, got, want))
		}
	}
	// Required exports first, then optional ones, each in the table's order.
	for _, required := range []bool{true, false} {
		for _, e := range abi.Exports {
			if e.Required == required {
				check(e.Name, sigOf(e), required)
			}
		}
	}
	if _, ok := m.ExportedMemories()[abi.ExportMemory]; !ok {
		problems = append(problems, fmt.Sprintf("missing exported memory %q", abi.ExportMemory))
	}
	for _, imp := range m.ImportedFunctions() {
		mod, name, _ := imp.Import()
		switch mod {
		case wasiModule:
		case abi.ImportModule:
			f, ok := abi.LookupHostFunction(name)
			want := sigOf(f)
			if !ok {
				problems = append(problems, fmt.Sprintf("imports unknown host function %s.%s", mod, name))
				continue
			}
			got := signature{params: imp.ParamTypes(), results: imp.ResultTypes()}
			if !sameTypes(got.params, want.params) || !sameTypes(got.results, want.results) {
				problems = append(problems, fmt.Sprintf("imports %s.%s with signature %s, want %s", mod, name, got, want))
			}
		default:
			problems = append(problems, fmt.Sprintf("imports %s.%s from module %q: only %q and %q are provided", mod, name, mod, abi.ImportModule, wasiModule))
		}
	}
	for _, imp := range m.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if f, ok := abi.LookupHostFunction(name); ok && mod == abi.ImportModule && f.RequiresExport != "" {
			if _, ok := exports[f.RequiresExport]; !ok {
				problems = append(problems, fmt.Sprintf("imports %s.%s but does not export %q, which it makes the host call", mod, name, f.RequiresExport))
			}
		}
	}
	for _, mem := range m.ImportedMemories() {
		mod, name, _ := mem.Import()
		problems = append(problems, fmt.Sprintf("imports memory %s.%s: a plugin must define and export its own memory", mod, name))
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
