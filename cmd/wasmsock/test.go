package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/kv"
	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

const testSummary = `Runs scripted conversations with a plugin, without a network: each scenario file loads a
module, opens fake connections and goes through its steps, each sending something and checking
what the plugin answers. It prints one line per step, ok or FAIL with the reason, then
"N passed, N failed". The exit status is 0 if every step passed, 1 otherwise, 2 for bad flags.

A scenario is a TOML file (unknown keys are errors):

  module = "echo.wasm"           # the plugin, relative to the scenario file
  config = { max_text = 100 }    # optional: the plugin's config (JSON for on_start)
  instances = 1                  # optional: the size of the instance pool

  [[conn]]                       # a fake connection; every field but name is optional
  name = "a"
  user = "alice"                 # the authenticated user id: in the group "user:alice"
  namespace = "acme"
  route = "/chat"                # the route's path (default "/"), and the request's:
  path = "/chat"
  query = "room=lobby"           # raw, without '?'
  headers = { "X-Token" = "t" }
  subprotocol = "chat.v1"
  remote_addr = "127.0.0.1:5000"

  [[step]]                       # at most one action...
  conn = "a"                     #   the connection that acts, and the one checked by default
  send = "hello"                 #   a text message from conn ("" is an empty one)
  # send_binary = "00ff"         #   a binary message, in hex
  # close = 1000                 #   conn closes, with reason = "..." (0: no code)
  # connect = "b"                #   opens b (with expect_reject: expects a refusal)
  # reload = "echo.wasm"         #   hot-reloads the plugin (the same file still reloads)
  # advance = "1500ms"           #   moves the plugin's clock: fires the timers due meanwhile
  expect = "hello"               # ...then checks: the next message of conn is this text,
  # on = "b"                     #   or of b instead of conn
  # expect_json = { action = "joined" }   #   text, JSON containing these keys and values
  # expect_binary = "00ff"       #   binary, these bytes
  # expect_none = ["b", "c"]     #   these connections have no message waiting
  # expect_closed = 4000         #   conn is closed with this code (and expect_reason = "...")
  # expect_reject = 403          #   the connect step was refused with this HTTP status
  # expect_attachment = "x"      #   conn's attachment (the host keeps it) is this text
  # expect_timers = 2            #   the plugin has this many timers armed
  # expect_kv = { visits = "3", topic = false }
  #                              #   the plugin's shared store (kv_*), in the namespace of the
  #                              #   step's connection (conn or on; else the default one): each
  #                              #   key has this text as its value, or (false) no live value;
  #                              #   other keys are not looked at. Quote keys with / or . in them

Connections that no connect step opens are opened before the first step, in the order they are
listed. The plugin's clock stands still except in advance steps, so timers fire exactly there. Each step waits until the plugin has handled everything it caused. A message that an
expectation looked at is consumed: the next expectation sees the one after it.`

// cmdTest runs "wasmsock test".
func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("test", testSummary, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasmsock test [-v] scenario.toml...\n\n%s\n\nFlags:\n", testSummary)
		fs.PrintDefaults()
	}
	verbose := fs.Bool("v", false, "also print the plugin's log lines, under the step that caused them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "wasmsock test: no scenario files")
		fs.Usage()
		return 2
	}
	var total tally
	for _, path := range fs.Args() {
		t := runScenarioFile(path, stdout, *verbose)
		total.passed += t.passed
		total.failed += t.failed
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", total.passed, total.failed)
	if total.failed > 0 {
		return 1
	}
	return 0
}

type tally struct{ passed, failed int }

// scenario is a scenario file.
type scenario struct {
	Module    string         `toml:"module"`
	Config    map[string]any `toml:"config"`
	Instances int            `toml:"instances"`
	Conns     []scenarioConn `toml:"conn"`
	Steps     []scenarioStep `toml:"step"`
}

type scenarioConn struct {
	Name        string            `toml:"name"`
	User        string            `toml:"user"`
	Namespace   string            `toml:"namespace"`
	Route       string            `toml:"route"`
	Path        string            `toml:"path"`
	Query       string            `toml:"query"`
	Headers     map[string]string `toml:"headers"`
	Subprotocol string            `toml:"subprotocol"`
	RemoteAddr  string            `toml:"remote_addr"`

	line int // of its [[conn]] header
}

// scenarioStep is one step. Pointers tell a key that is absent from one set to a zero value.
type scenarioStep struct {
	Conn string `toml:"conn"`
	On   string `toml:"on"`

	Connect    string  `toml:"connect"`
	Send       *string `toml:"send"`
	SendBinary *string `toml:"send_binary"`
	Close      *int    `toml:"close"`
	Reason     string  `toml:"reason"`
	Reload     string  `toml:"reload"`
	Advance    string  `toml:"advance"`

	Expect       *string        `toml:"expect"`
	ExpectJSON   map[string]any `toml:"expect_json"`
	ExpectBinary *string        `toml:"expect_binary"`
	ExpectNone   []string       `toml:"expect_none"`
	ExpectClosed *int           `toml:"expect_closed"`
	ExpectReason *string        `toml:"expect_reason"`
	ExpectReject *int           `toml:"expect_reject"`
	ExpectAttach *string        `toml:"expect_attachment"`
	ExpectTimers *int           `toml:"expect_timers"`
	ExpectKV     map[string]any `toml:"expect_kv"`

	line    int           // of the step's [[step]] header
	advance time.Duration // Advance parsed
	binary  []byte        // SendBinary decoded
	wantBin []byte        // ExpectBinary decoded
}

// target is the connection the step's expectations look at.
func (s *scenarioStep) target() string {
	switch {
	case s.On != "":
		return s.On
	case s.Conn != "":
		return s.Conn
	}
	return s.Connect
}

// runScenarioFile loads and runs one scenario, printing a line per step (and per problem).
func runScenarioFile(path string, out io.Writer, verbose bool) tally {
	var t tally
	fail := func(line int, msg string) {
		fmt.Fprintf(out, "FAIL %s:%d: %s\n", path, line, msg)
		t.failed++
	}
	sc, problems := loadScenario(path)
	if len(problems) > 0 {
		for _, p := range problems {
			fail(p.line, p.msg)
		}
		return t
	}
	dir := filepath.Dir(path)
	var config []byte
	if sc.Config != nil {
		var err error
		if config, err = json.Marshal(sc.Config); err != nil {
			fail(1, "config: "+err.Error())
			return t
		}
	}
	h, err := plugintest.LoadFile(resolve(dir, sc.Module), plugintest.Options{Config: config, Instances: sc.Instances})
	if err != nil {
		fail(1, "load: "+err.Error())
		return t
	}
	defer h.Close()
	r := &scenarioRun{sc: sc, dir: dir, h: h, conns: map[string]*plugintest.Conn{}, rejected: map[string]bool{}}
	explicit := map[string]bool{}
	for _, st := range sc.Steps {
		if st.Connect != "" {
			explicit[st.Connect] = true
		}
	}
	for _, c := range sc.Conns {
		if explicit[c.Name] {
			continue
		}
		if err := r.connect(c.Name, nil); err != nil {
			fail(c.line, fmt.Sprintf("opening conn %s before the first step: %v", c.Name, err))
		}
	}
	logs := len(h.Logs())
	for i := range sc.Steps {
		st := &sc.Steps[i]
		reasons := r.step(st)
		desc := describeStep(st)
		if len(reasons) == 0 {
			fmt.Fprintf(out, "ok   %s:%d: %s\n", path, st.line, desc)
			t.passed++
		} else {
			fail(st.line, desc+": "+strings.Join(reasons, "; "))
		}
		if verbose {
			all := h.Logs()
			for _, l := range all[logs:] {
				fmt.Fprintf(out, "     log: %s\n", strings.ReplaceAll(l.String(), "\n", "\n          "))
			}
			logs = len(all)
		}
	}
	return t
}

// resolve returns path relative to dir, the scenario's directory, unless it is absolute.
func resolve(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// scenarioRun is the state of a running scenario.
type scenarioRun struct {
	sc       *scenario
	dir      string
	h        *plugintest.Harness
	conns    map[string]*plugintest.Conn
	rejected map[string]bool
}

// connect opens the connection declared as name. With wantReject, a refusal with that HTTP
// status is what is expected.
func (r *scenarioRun) connect(name string, wantReject *int) error {
	i := slices.IndexFunc(r.sc.Conns, func(c scenarioConn) bool { return c.Name == name })
	d := r.sc.Conns[i]
	var header http.Header
	for k, v := range d.Headers {
		if header == nil {
			header = http.Header{}
		}
		header.Add(k, v)
	}
	c, err := r.h.Connect(plugintest.ConnInfo{
		User: d.User, Namespace: d.Namespace, Route: d.Route, Path: d.Path, Query: d.Query,
		Header: header, Subprotocol: d.Subprotocol, RemoteAddr: d.RemoteAddr,
	})
	var rej *plugintest.Rejected
	if errors.As(err, &rej) && rej.HTTPStatus == 0 {
		err = nil // accepted, then closed: the connection exists, expect_closed can check it
	}
	if c != nil {
		r.conns[name] = c
	}
	switch {
	case wantReject == nil && err != nil:
		r.rejected[name] = true
		return err
	case wantReject == nil:
		return nil
	case err == nil:
		return fmt.Errorf("connection accepted, expected a refusal with HTTP %d", *wantReject)
	case rej == nil:
		return err
	}
	r.rejected[name] = true
	if rej.HTTPStatus != *wantReject {
		return fmt.Errorf("refused with HTTP %d, expected %d", rej.HTTPStatus, *wantReject)
	}
	return nil
}

// conn returns an open (or closed) connection by name.
func (r *scenarioRun) conn(name string) (*plugintest.Conn, error) {
	if c := r.conns[name]; c != nil {
		return c, nil
	}
	if r.rejected[name] {
		return nil, fmt.Errorf("conn %q was refused", name)
	}
	return nil, fmt.Errorf("conn %q is not connected yet", name)
}

// step runs one step and returns what went wrong, nothing if it passed.
func (r *scenarioRun) step(st *scenarioStep) []string {
	var reasons []string
	failed := func(err error) { reasons = append(reasons, err.Error()) }

	// The action.
	switch {
	case st.Connect != "":
		if err := r.connect(st.Connect, st.ExpectReject); err != nil {
			failed(fmt.Errorf("connect %s: %w", st.Connect, err))
		}
	case st.Reload != "":
		if err := r.h.ReloadFile(resolve(r.dir, st.Reload)); err != nil {
			failed(err)
		}
	case st.Advance != "":
		if _, err := r.h.Advance(st.advance); err != nil {
			failed(err)
		}
	case st.Send != nil || st.SendBinary != nil || st.Close != nil:
		c, err := r.conn(st.Conn)
		if err == nil {
			switch {
			case st.Send != nil:
				err = c.SendText(*st.Send)
			case st.SendBinary != nil:
				err = c.SendBinary(st.binary)
			default:
				err = c.Close(*st.Close, st.Reason)
			}
		}
		if err != nil {
			failed(fmt.Errorf("%s: %w", st.Conn, err))
		}
	}
	if len(reasons) > 0 {
		return reasons
	}

	// The expectations.
	name := st.target()
	if st.Expect != nil || st.ExpectJSON != nil || st.ExpectBinary != nil {
		if err := r.expectMessage(name, st); err != nil {
			failed(err)
		}
	}
	if st.ExpectClosed != nil {
		if c, err := r.conn(name); err != nil {
			failed(err)
		} else if code, reason, closed := c.Closed(); !closed {
			failed(fmt.Errorf("%s is open, expected it closed with %d", name, *st.ExpectClosed))
		} else if code != *st.ExpectClosed {
			failed(fmt.Errorf("%s closed with %d %q, expected %d", name, code, reason, *st.ExpectClosed))
		} else if st.ExpectReason != nil && reason != *st.ExpectReason {
			failed(fmt.Errorf("%s closed with reason %q, expected %q", name, reason, *st.ExpectReason))
		}
	}
	if st.ExpectAttach != nil {
		if c, err := r.conn(name); err != nil {
			failed(err)
		} else if got := string(c.Attachment()); got != *st.ExpectAttach {
			failed(fmt.Errorf("%s's attachment is %s, expected %s", name, shorten(strconv.Quote(got)), shorten(strconv.Quote(*st.ExpectAttach))))
		}
	}
	if st.ExpectTimers != nil {
		if n := len(r.h.Timers()); n != *st.ExpectTimers {
			failed(fmt.Errorf("%d timers armed, expected %d", n, *st.ExpectTimers))
		}
	}
	if st.ExpectKV != nil {
		for _, err := range r.expectKV(st) {
			failed(err)
		}
	}
	for _, n := range st.ExpectNone {
		c, err := r.conn(n)
		if err != nil {
			failed(err)
			continue
		}
		if p := c.Pending(); len(p) > 0 {
			failed(fmt.Errorf("%s has %d message(s) waiting, expected none; the first: %s", n, len(p), shorten(p[0].String())))
		}
	}
	return reasons
}

// kvNamespace is the namespace whose shared store expect_kv looks at: the step's connection's.
func (r *scenarioRun) kvNamespace(st *scenarioStep) string {
	name := st.target()
	for _, c := range r.sc.Conns {
		if c.Name == name {
			return c.Namespace
		}
	}
	return ""
}

// expectKV checks the plugin's shared store against expect_kv, key by key in order.
func (r *scenarioRun) expectKV(st *scenarioStep) []error {
	ns := r.kvNamespace(st)
	store := r.h.KV(ns)
	where := ""
	if ns != "" {
		where = fmt.Sprintf(" (namespace %q)", ns)
	}
	keys := make([]string, 0, len(st.ExpectKV))
	for k := range st.ExpectKV {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		got, ok := store[k]
		want, wantSome := st.ExpectKV[k].(string) // else false: no value (check made sure)
		switch {
		case !wantSome && ok:
			errs = append(errs, fmt.Errorf("kv %q%s is %s, expected no value", k, where, shorten(strconv.Quote(string(got)))))
		case wantSome && !ok:
			errs = append(errs, fmt.Errorf("kv %q%s has no value, expected %s", k, where, shorten(strconv.Quote(want))))
		case wantSome && string(got) != want:
			errs = append(errs, fmt.Errorf("kv %q%s is %s, expected %s", k, where, shorten(strconv.Quote(string(got))), shorten(strconv.Quote(want))))
		}
	}
	return errs
}

// expectMessage checks (and consumes) the next message of conn name.
func (r *scenarioRun) expectMessage(name string, st *scenarioStep) error {
	c, err := r.conn(name)
	if err != nil {
		return err
	}
	m, ok := c.Next()
	if !ok {
		return fmt.Errorf("%s has no message waiting", name)
	}
	got := func() error { return fmt.Errorf("%s got %s", name, shorten(m.String())) }
	switch {
	case st.ExpectBinary != nil:
		if m.Kind != plugintest.Binary || !bytes.Equal(m.Data, st.wantBin) {
			return fmt.Errorf("%w, expected binary %s", got(), shorten(*st.ExpectBinary))
		}
	case st.Expect != nil:
		if m.Kind != plugintest.Text || m.Text() != *st.Expect {
			return fmt.Errorf("%w, expected text %s", got(), shorten(strconv.Quote(*st.Expect)))
		}
	default:
		var v any
		if m.Kind != plugintest.Text || json.Unmarshal(m.Data, &v) != nil {
			return fmt.Errorf("%w, expected a JSON text message", got())
		}
		want, err := normalizeJSON(st.ExpectJSON)
		if err != nil {
			return err
		}
		if diff := jsonSubset(want, v, ""); diff != "" {
			return fmt.Errorf("%w: %s", got(), diff)
		}
	}
	return nil
}

// normalizeJSON turns a value decoded from TOML into what encoding/json would decode from its
// JSON (numbers become float64, and so on), so that it compares with a decoded message.
func normalizeJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var n any
	err = json.Unmarshal(b, &n)
	return n, err
}

// jsonSubset describes how got fails to contain want ("" when it does): objects in want may leave
// out keys of got; every other value must be equal.
func jsonSubset(want, got any, path string) string {
	if w, ok := want.(map[string]any); ok {
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s is %s, not an object", pathName(path), compactJSON(got))
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := path + "." + k
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s is missing", p[1:])
			}
			if d := jsonSubset(w[k], gv, p); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s is %s, expected %s", pathName(path), compactJSON(got), compactJSON(want))
	}
	return ""
}

func pathName(path string) string {
	if path == "" {
		return "the message"
	}
	return path[1:]
}

func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	return shorten(string(b))
}

// shorten cuts s for a one-line report.
func shorten(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// describeStep says what a step does, in a few words.
func describeStep(st *scenarioStep) string {
	var parts []string
	add := func(f string, a ...any) { parts = append(parts, fmt.Sprintf(f, a...)) }
	quote := func(s string) string { return shorten(strconv.Quote(s)) }
	hexOrEmpty := func(s string) string {
		if s == "" {
			return "(empty)"
		}
		return shorten(s)
	}
	switch {
	case st.Connect != "":
		add("connect %s", st.Connect)
	case st.Reload != "":
		add("reload %s", st.Reload)
	case st.Advance != "":
		add("advance %s", st.Advance)
	case st.Send != nil:
		add("%s sends %s", st.Conn, quote(*st.Send))
	case st.SendBinary != nil:
		add("%s sends binary %s", st.Conn, hexOrEmpty(*st.SendBinary))
	case st.Close != nil:
		add("%s closes with %d %s", st.Conn, *st.Close, quote(st.Reason))
	}
	t := st.target()
	switch {
	case st.ExpectReject != nil:
		add("expect refusal %d", *st.ExpectReject)
	case st.Expect != nil:
		add("%s expects %s", t, quote(*st.Expect))
	case st.ExpectJSON != nil:
		add("%s expects JSON %s", t, compactJSON(st.ExpectJSON))
	case st.ExpectBinary != nil:
		add("%s expects binary %s", t, hexOrEmpty(*st.ExpectBinary))
	}
	if st.ExpectClosed != nil {
		add("%s expects close %d", t, *st.ExpectClosed)
	}
	if st.ExpectAttach != nil {
		add("%s expects attachment %s", t, quote(*st.ExpectAttach))
	}
	if st.ExpectTimers != nil {
		add("expect %d timers", *st.ExpectTimers)
	}
	if st.ExpectKV != nil {
		add("expect kv %s", compactJSON(st.ExpectKV))
	}
	if len(st.ExpectNone) == 1 {
		add("%s expects nothing", st.ExpectNone[0])
	} else if len(st.ExpectNone) > 1 {
		add("%s expect nothing", strings.Join(st.ExpectNone, ", "))
	}
	return strings.Join(parts, "; ")
}

// problem is something wrong with a scenario file, at a line.
type problem struct {
	line int
	msg  string
}

var tomlLineError = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

// loadScenario reads and checks a scenario file. TOML is decoded strictly: a key the format does
// not have is a problem, reported at its line.
func loadScenario(path string) (*scenario, []problem) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, []problem{{0, err.Error()}}
	}
	return parseScenario(src)
}

// parseScenario decodes and checks a scenario file's contents.
func parseScenario(src []byte) (*scenario, []problem) {
	var sc scenario
	md, err := toml.Decode(string(src), &sc)
	if err != nil {
		if m := tomlLineError.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			msg := m[3]
			if m[2] != "" {
				msg += " (key " + m[2] + ")"
			}
			return nil, []problem{{line, msg}}
		}
		return nil, []problem{{0, err.Error()}}
	}
	lines := scanTOMLLines(string(src))
	var problems []problem
	reported := map[string]bool{} // unknown keys and tables: what is inside them is not reported
undecoded:
	for _, k := range md.Undecoded() {
		// config and expect_json hold free-form tables, decoded as a whole.
		if k[0] == "config" || (len(k) > 2 && k[0] == "step" && (k[1] == "expect_json" || k[1] == "expect_kv")) {
			continue
		}
		for i := 1; i <= len(k); i++ {
			if reported[k[:i].String()] {
				continue undecoded
			}
		}
		reported[k.String()] = true
		table, key := strings.Join(k[:len(k)-1], "."), k[len(k)-1]
		where := "at the top level"
		if table != "" {
			where = "in [" + table + "]"
			if table == "step" || table == "conn" {
				where = "in [[" + table + "]]"
			}
		}
		msg := fmt.Sprintf("unknown key %q %s", key, where)
		found := false
		for _, kl := range lines.keys {
			if kl.table == table && kl.key == key {
				problems = append(problems, problem{kl.line, msg})
				found = true
			}
		}
		for _, hl := range lines.headers {
			if hl.table == strings.Join(k, ".") {
				problems = append(problems, problem{hl.line, fmt.Sprintf("unknown table [%s]", hl.table)})
				found = true
			}
		}
		if !found {
			problems = append(problems, problem{0, msg})
		}
	}
	problems = append(problems, sc.check(lines)...)
	slices.SortStableFunc(problems, func(a, b problem) int { return a.line - b.line })
	problems = slices.Compact(problems)
	return &sc, problems
}

// check finds what is wrong with the scenario's contents.
func (sc *scenario) check(lines tomlLines) []problem {
	var problems []problem
	if sc.Module == "" {
		problems = append(problems, problem{1, "no module: give the plugin with module = \"path.wasm\""})
	}
	if sc.Instances < 0 {
		problems = append(problems, problem{lines.keyLine("", -1, "instances"), "instances must be at least 1"})
	}
	declared := map[string]bool{}
	for i := range sc.Conns {
		c := &sc.Conns[i]
		c.line = lines.headerLine("conn", i)
		line := c.line
		switch {
		case c.Name == "":
			problems = append(problems, problem{line, "a [[conn]] without a name"})
		case declared[c.Name]:
			problems = append(problems, problem{line, fmt.Sprintf("conn %q is declared twice", c.Name)})
		}
		declared[c.Name] = true
	}
	connected := map[string]bool{}
	for i := range sc.Steps {
		st := &sc.Steps[i]
		st.line = lines.headerLine("step", i)
		bad := func(f string, a ...any) { problems = append(problems, problem{st.line, fmt.Sprintf(f, a...)}) }
		names := map[string]string{"conn": st.Conn, "on": st.On, "connect": st.Connect}
		for _, key := range []string{"conn", "on", "connect"} {
			if n := names[key]; n != "" && !declared[n] {
				bad("%s = %q: no [[conn]] has that name", key, n)
			}
		}
		for _, n := range st.ExpectNone {
			if !declared[n] {
				bad("expect_none: no [[conn]] is named %q", n)
			}
		}
		actions := 0
		for _, set := range []bool{st.Connect != "", st.Send != nil, st.SendBinary != nil, st.Close != nil, st.Reload != "", st.Advance != ""} {
			if set {
				actions++
			}
		}
		expectations := 0
		for _, set := range []bool{st.Expect != nil, st.ExpectJSON != nil, st.ExpectBinary != nil} {
			if set {
				expectations++
			}
		}
		switch {
		case actions > 1:
			bad("a step has one action at most (connect, send, send_binary, close, reload, advance)")
		case actions == 0 && expectations == 0 && st.ExpectClosed == nil && st.ExpectReject == nil && len(st.ExpectNone) == 0 && st.ExpectAttach == nil && st.ExpectTimers == nil && st.ExpectKV == nil:
			bad("the step does nothing: give it an action or an expectation")
		case (st.Send != nil || st.SendBinary != nil || st.Close != nil) && st.Conn == "":
			bad("send, send_binary and close need conn = \"name\"")
		case expectations > 1:
			bad("a step checks one message at most (expect, expect_json, expect_binary)")
		case (expectations > 0 || st.ExpectClosed != nil || st.ExpectAttach != nil) && st.target() == "":
			bad("whose message? give conn = \"name\" or on = \"name\"")
		case st.ExpectReject != nil && st.Connect == "":
			bad("expect_reject goes with connect = \"name\"")
		case st.ExpectReject != nil && (expectations > 0 || st.ExpectClosed != nil):
			bad("a refused connection has no messages and no close to check")
		case st.ExpectReason != nil && st.ExpectClosed == nil:
			bad("expect_reason goes with expect_closed")
		case st.Reason != "" && st.Close == nil:
			bad("reason goes with close")
		}
		if st.Connect != "" {
			if connected[st.Connect] {
				bad("conn %q is connected twice", st.Connect)
			}
			connected[st.Connect] = true
		}
		var err error
		if st.Advance != "" {
			if st.advance, err = time.ParseDuration(st.Advance); err != nil || st.advance < 0 {
				bad("advance = %q: not a duration such as \"1500ms\" or \"2m\"", st.Advance)
			}
		}
		if st.SendBinary != nil {
			if st.binary, err = hex.DecodeString(*st.SendBinary); err != nil {
				bad("send_binary: not hex: %v", err)
			}
		}
		if st.ExpectBinary != nil {
			if st.wantBin, err = hex.DecodeString(*st.ExpectBinary); err != nil {
				bad("expect_binary: not hex: %v", err)
			}
		}
		keys := make([]string, 0, len(st.ExpectKV))
		for k := range st.ExpectKV {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !kv.ValidKey([]byte(k)) {
				bad("expect_kv: %q is not a key of the shared store (1 to %d bytes of A-Z a-z 0-9 - _ / = ., not starting or ending with .)", k, abi.MaxKVKey)
			}
			if b, isBool := st.ExpectKV[k].(bool); isBool && !b || isString(st.ExpectKV[k]) {
				continue
			}
			bad("expect_kv: the value of %q must be a string, or false for no value", k)
		}
	}
	return problems
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// tomlLines says where the tables and keys of a TOML file are. The TOML library keeps no
// positions a caller can use (and every [[step]] shares one key path), so scanTOMLLines finds
// them with a line scanner that is enough for scenario files: it knows table headers, key = value
// lines and multi-line strings (whose lines it skips).
type tomlLines struct {
	headers []keyLine // [table] and [[array]] headers; index counts the array's tables
	keys    []keyLine // the first key of every key = value line
}

type keyLine struct {
	table string // the table's path, "" for the top level
	index int    // which table of an array of tables, -1 for a plain table
	key   string // for keys
	line  int
}

// headerLine is the line of the i-th [[name]] table, or 0.
func (l tomlLines) headerLine(name string, i int) int {
	for _, h := range l.headers {
		if h.table == name && h.index == i {
			return h.line
		}
	}
	return 0
}

// keyLine is the line of key in the i-th table of table (i = -1: a plain table), or 0.
func (l tomlLines) keyLine(table string, i int, key string) int {
	for _, k := range l.keys {
		if k.table == table && k.index == i && k.key == key {
			return k.line
		}
	}
	return 0
}

var (
	tomlHeader = regexp.MustCompile(`^\[(\[?)\s*([A-Za-z0-9_.\-" ]+?)\s*\]`)
	tomlKey    = regexp.MustCompile(`^("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*[.=]`)
)

func scanTOMLLines(src string) tomlLines {
	var l tomlLines
	table, index := "", -1
	counts := map[string]int{}
	var inString string // the delimiter of the multi-line string we are in, if any
	for n, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if inString == "" {
			if m := tomlHeader.FindStringSubmatch(trimmed); m != nil {
				table, index = strings.ReplaceAll(m[2], " ", ""), -1
				if m[1] == "[" {
					index = counts[table]
					counts[table]++
				}
				l.headers = append(l.headers, keyLine{table: table, index: index, line: n + 1})
				continue
			}
			if m := tomlKey.FindStringSubmatch(trimmed); m != nil {
				key := strings.Trim(m[1], `"'`)
				l.keys = append(l.keys, keyLine{table: table, index: index, key: key, line: n + 1})
			}
		}
		// Multi-line strings: an odd number of delimiters on a line opens or closes one.
		for _, d := range []string{`"""`, `'''`} {
			if (inString == "" || inString == d) && strings.Count(line, d)%2 == 1 {
				if inString == "" {
					inString = d
				} else {
					inString = ""
				}
			}
		}
	}
	return l
}
