package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/wstest"
)

// binary builds the wasmsock command once for the tests that run it as a process.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wasmsock")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServe starts the binary's serve with args and "-listen 127.0.0.1:0" (the kernel picks a
// free port: no window in which another process can take it) and returns the process, its log
// (stderr), the address it listens on (read from its "listening" log line) and a channel that
// gets the process's exit (cmd.Wait's error). The process is killed when the test ends.
func startServe(t *testing.T, bin string, args ...string) (*exec.Cmd, *syncLog, string, <-chan error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "-listen", "127.0.0.1:0"}, args...)...)
	logs := &syncLog{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	listening := regexp.MustCompile(`(?:msg=listening addr=|"msg":"listening","addr":")([^\s"]+)`)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			return cmd, logs, m[1], exited
		}
		select {
		case <-exited:
			t.Fatalf("serve exited before listening:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log that it listens:\n%s", logs.String())
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

// TestServeReloadDrain runs the real binary: it serves, reloads on SIGHUP without dropping the
// connection, and drains on SIGTERM (the client gets 1001, the process exits 0).
func TestServeReloadDrain(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	module := filepath.Join(dir, "tag.wasm")
	copyFile(t, "../../testdata/wasm/tag_a.wasm", module)
	cfg := filepath.Join(dir, "host.toml")
	os.WriteFile(cfg, []byte("drain_timeout = \"5s\"\n[plugin.tag]\nmodule = \"tag.wasm\"\n[[route]]\npath = \"/t\"\nplugin = \"tag\"\n"), 0o644)

	cmd, logs, addr, exited := startServe(t, bin, "-config", cfg)
	c := wstest.Dial(t, "ws://"+addr+"/t", nil)
	roundTrip := func(msg string) string {
		c.Send(ws.OpText, []byte(msg))
		_, got := c.Read()
		return string(got)
	}
	if got := roundTrip("1"); got != "a:1" {
		t.Fatalf("before reload: %q", got)
	}
	copyFile(t, "../../testdata/wasm/tag_b.wasm", module)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if got = roundTrip("2"); got == "b:2" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got != "b:2" {
		t.Fatalf("after SIGHUP the same connection got %q, want b:2\n%s", got, logs.String())
	}
	// SIGHUP reads the config again: a route added to the file serves, the connection stays.
	if _, err := wstest.TryDial(t, "ws://"+addr+"/t2", nil); err == nil {
		t.Fatal("/t2 answered before it was configured")
	}
	os.WriteFile(cfg+".new", []byte("drain_timeout = \"5s\"\n[plugin.tag]\nmodule = \"tag.wasm\"\n[[route]]\npath = \"/t\"\nplugin = \"tag\"\n[[route]]\npath = \"/t2\"\nplugin = \"tag\"\n"), 0o644)
	os.Rename(cfg+".new", cfg)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c2, err := wstest.TryDial(t, "ws://"+addr+"/t2", nil)
		if err == nil {
			c2.Conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/t2 after SIGHUP: %v\n%s", err, logs.String())
		}
	}
	if got := roundTrip("3"); got != "b:3" {
		t.Fatalf("after the second SIGHUP the same connection got %q", got)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := c.ExpectClose(5 * time.Second); code != 1001 {
		t.Errorf("drain: close %d, want 1001", code)
	}
	c.Close(1001, "")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("did not exit after SIGTERM\n%s", logs.String())
	}
	for _, want := range []string{"plugins ~tag(module)", "routes +/t2", "draining", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	good := write("good.toml", fmt.Sprintf("[plugin.e]\nmodule = %q\n[[route]]\npath = \"/e\"\nplugin = \"e\"\n", abs("../../testdata/wasm/echo.wasm")))
	typo := write("typo.toml", fmt.Sprintf("listne = \":1\"\n[plugin.e]\nmodule = %q\n[[route]]\npath = \"/e\"\nplugin = \"e\"\n", abs("../../testdata/wasm/echo.wasm")))
	badModule := write("bad.toml", fmt.Sprintf("[plugin.e]\nmodule = %q\n[plugin.f]\nmodule = %q\n[[route]]\npath = \"/e\"\nplugin = \"e\"\n",
		abs("../../testdata/wasm/missing_export.wasm"), abs("../../testdata/wasm/bad_import.wasm")))
	tests := []struct {
		file  string
		code  int
		wants []string
	}{
		{good, 0, []string{"good.toml: ok"}},
		{typo, 1, []string{"typo.toml:1: listne: unknown key"}},
		{badModule, 1, []string{`plugin e`, `missing export "on_message"`, `plugin f`, `from module "env"`}},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run([]string{"check", "-config", tc.file}, &out, &errb)
		all := out.String() + errb.String()
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s", filepath.Base(tc.file), code, tc.code, all)
		}
		for _, w := range tc.wants {
			if !strings.Contains(all, w) {
				t.Errorf("%s: output lacks %q:\n%s", filepath.Base(tc.file), w, all)
			}
		}
		if tc.code != 0 {
			// One line per problem.
			if n := len(strings.Split(strings.TrimSpace(errb.String()), "\n")); n != len(tc.wants)/2 && tc.file == badModule {
				t.Errorf("%d lines for 2 problems:\n%s", n, errb.String())
			}
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if run([]string{"version"}, &out, &out) != 0 || !strings.Contains(out.String(), "plugin ABI v1") {
		t.Errorf("version: %q", out.String())
	}
	out.Reset()
	if run([]string{"frobnicate"}, &out, &out) != 2 || !strings.Contains(out.String(), "unknown command") {
		t.Errorf("unknown command: %q", out.String())
	}
	out.Reset()
	if run([]string{"serve", "-h"}, &out, &out) != 2 || !strings.Contains(out.String(), "-listen") {
		t.Errorf("serve -h: %q", out.String())
	}
}
