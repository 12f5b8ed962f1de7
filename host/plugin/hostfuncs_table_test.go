package plugin

import (
	"testing"

	"github.com/wasmsock/wasmsock/abi"
)

// TestHostFunctionsMatchTable checks that the host implements exactly the host functions of the
// ABI table (abi/abi.json): one missing would make every plugin fail to load, one extra would be
// a function no SDK knows.
func TestHostFunctionsMatchTable(t *testing.T) {
	inTable := map[string]bool{}
	for _, f := range abi.HostFunctions {
		inTable[f.Name] = true
		if _, ok := hostFuncs[f.Name]; !ok {
			t.Errorf("host function %q of the ABI table has no implementation in hostFuncs", f.Name)
		}
		if len(f.Results) != 1 || f.Results[0] != abi.I32 {
			t.Errorf("host function %q returns %v, want one i32 status", f.Name, f.Results)
		}
	}
	for name := range hostFuncs {
		if !inTable[name] {
			t.Errorf("hostFuncs implements %q, which is not in the ABI table", name)
		}
	}
}
