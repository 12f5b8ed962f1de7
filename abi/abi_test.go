package abi

import "testing"

func TestValidCloseCode(t *testing.T) {
	tests := []struct {
		code int
		want bool
	}{
		{0, false}, {999, false}, {1000, true}, {1003, true}, {1004, false}, {1005, false},
		{1006, false}, {1007, true}, {1014, true}, {1015, false}, {2999, false}, {3000, true},
		{4999, true}, {5000, false}, {-1, false},
	}
	for _, tt := range tests {
		if got := ValidCloseCode(tt.code); got != tt.want {
			t.Errorf("ValidCloseCode(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
	for _, c := range ReportedOnlyCloseCodes {
		if ValidCloseCode(c) {
			t.Errorf("%d is reported only, but ValidCloseCode accepts it", c)
		}
	}
	for _, c := range []int{3999, 4000, 4999, 5000, 1000} {
		if got, want := ValidConnectCloseCode(c), c >= 4000 && c <= 4999; got != want {
			t.Errorf("ValidConnectCloseCode(%d) = %v, want %v", c, got, want)
		}
	}
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{OK, "ok"}, {7, "ok"}, {ErrUnknownConn, "unknown connection"}, {ErrTooLarge, "payload too large"},
		{-1000, "unknown status"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Status(%d).String() = %q, want %q", int32(tt.s), got, tt.want)
		}
	}
	seen := map[string]Status{}
	for _, s := range Statuses {
		if prev, ok := seen[s.String()]; ok {
			t.Errorf("statuses %d and %d share the text %q", prev, s, s.String())
		}
		seen[s.String()] = s
	}
}

func TestTables(t *testing.T) {
	required := 0
	for _, e := range Exports {
		if e.Required {
			required++
		}
	}
	if required == 0 || len(HostFunctions) == 0 {
		t.Fatalf("empty tables: %d required exports, %d host functions", required, len(HostFunctions))
	}
	f, ok := LookupHostFunction(FuncConnGet)
	if !ok || len(f.Params) != 5 || f.ParamTypes()[0] != I64 || f.ParamTypes()[1] != I32 {
		t.Errorf("LookupHostFunction(conn_get) = %+v, %v", f, ok)
	}
	if _, ok := LookupHostFunction("nope"); ok {
		t.Error("LookupHostFunction found a function that does not exist")
	}
}
