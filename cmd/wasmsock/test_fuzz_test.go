package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzParseScenario feeds scenario files to the parser: it must never panic, and every problem
// it finds must name a line of the file (or 0, for the file as a whole) and say something.
func FuzzParseScenario(f *testing.F) {
	for _, name := range []string{"echo", "chat", "state", "lobby"} {
		src, err := os.ReadFile("../../sdk/testdata/scenarios/" + name + ".toml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("module = \"x.wasm\"\n[[conn]]\nname = \"a\"\n[[step]]\nconn = \"a\"\nexpect_kv = { \"a/b\" = \"1\", c = false, d = 5, \".e\" = \"x\" }\n"))
	f.Add([]byte("[[step]]\nexpect_kv = { a = { b = true } }\nadvance = \"-1s\"\n"))
	f.Add([]byte("[[step]]\nexpect_kv = 3\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, problems := parseScenario(src)
		lines := bytes.Count(src, []byte("\n")) + 1
		for _, p := range problems {
			if p.line < 0 || p.line > lines {
				t.Errorf("problem at line %d of a %d-line file: %s", p.line, lines, p.msg)
			}
			if strings.TrimSpace(p.msg) == "" {
				t.Errorf("problem at line %d without a message", p.line)
			}
		}
	})
}
