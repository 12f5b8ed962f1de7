package plugintest_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

// say sends a probe command and returns the plugin's reply.
func say(t *testing.T, c *plugintest.Conn, cmd string) string {
	t.Helper()
	if err := c.SendText(cmd); err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	m, ok := c.Next()
	if !ok {
		t.Fatalf("no reply to %q", cmd)
	}
	return m.Text()
}

func advance(t *testing.T, h *plugintest.Harness, d time.Duration) int {
	t.Helper()
	n, err := h.Advance(d)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// drain returns the texts of the messages c has not read yet.
func drain(c *plugintest.Conn) []string {
	var out []string
	for m, ok := c.Next(); ok; m, ok = c.Next() {
		out = append(out, m.Text())
	}
	return out
}

func TestTimersFireByTheHarnessClock(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	c := connect(t, h, plugintest.ConnInfo{})
	if got := say(t, c, "timer once 1000"); got != "ok" {
		t.Fatalf("timer: %q", got)
	}
	if got := say(t, c, "timer beat 100 100"); got != "ok" {
		t.Fatalf("timer: %q", got)
	}
	if n := advance(t, h, 999*time.Millisecond); n != 9 {
		t.Errorf("999ms: %d timers fired, want 9 beats", n)
	}
	if got := drain(c); len(got) != 9 || got[0] != "timer beat" {
		t.Errorf("messages %q, want 9 x timer beat", got)
	}
	if n := advance(t, h, time.Millisecond); n != 2 {
		t.Errorf("1000ms: %d fired, want the beat and once", n)
	}
	if got := strings.Join(drain(c), ","); got != "timer once,timer beat" {
		t.Errorf("at 1s: %q, want once (armed before the beat was re-armed at 900ms), then the beat", got)
	}
	if got := h.Now().Sub(plugintest.Epoch); got != time.Second {
		t.Errorf("clock at %s, want 1s", got)
	}
	// The one-shot timer is gone; the beat is armed for 1.1s.
	if ts := h.Timers(); len(ts) != 1 || ts[0].Name != "beat" || ts[0].In != 100*time.Millisecond || ts[0].Every != 100*time.Millisecond || ts[0].Conn != c.ID() {
		t.Errorf("timers %+v", ts)
	}
	if got := say(t, c, "cancel beat"); got != "ok" {
		t.Errorf("cancel: %q", got)
	}
	if got := say(t, c, "cancel beat"); got != "ERR -5" {
		t.Errorf("cancel again: %q, want ERR -5 (not found)", got)
	}
	if n := advance(t, h, time.Hour); n != 0 {
		t.Errorf("%d fired after cancel", n)
	}
}

func TestTimerBadInput(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	c := connect(t, h, plugintest.ConnInfo{})
	for _, tt := range []struct{ cmd, want string }{
		{"timer neg -5", "ERR -6"},
		{"timer " + strings.Repeat("n", abi.MaxTimerName+1) + " 10", "ERR -6"},
		{"timer " + strings.Repeat("n", abi.MaxTimerName) + " 10", "ok"},
		{"cancel nope", "ERR -5"},
		{"attachlen 2049", "ERR -10"},
		{"attachlen 2048", "ok"},
	} {
		if got := say(t, c, tt.cmd); got != tt.want {
			t.Errorf("%.40s: %q, want %q", tt.cmd, got, tt.want)
		}
	}
}

// TestTimerStorm arms timers until the plugin's limit: the one over it gets ErrLimit, nothing
// else is affected, and the connection's timers end with it.
func TestTimerStorm(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	c := connect(t, h, plugintest.ConnInfo{})
	other := connect(t, h, plugintest.ConnInfo{})
	if got, want := say(t, c, "timers 10001"), "armed 10000 ERR -13"; got != want {
		t.Fatalf("storm: %q, want %q", got, want)
	}
	if n := len(h.Timers()); n != abi.MaxTimers {
		t.Fatalf("%d timers armed, want %d", n, abi.MaxTimers)
	}
	if got := say(t, other, "echo still fine"); got != "still fine" {
		t.Errorf("other connection: %q", got)
	}
	if err := c.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	if n := len(h.Timers()); n != 0 {
		t.Errorf("%d timers left after the connection closed", n)
	}
	if got := say(t, other, "timer t 5"); got != "ok" {
		t.Errorf("after the storm: %q", got)
	}
}

// TestStateSurvivesReload: a reload keeps timers armed (the new module's on_timer gets them) and
// hands each connection's attachment to the new module with on_connect(RESUMED).
func TestStateSurvivesReload(t *testing.T) {
	h := plugintest.New(t, probeWasm, plugintest.Options{})
	obs := connect(t, h, plugintest.ConnInfo{Query: "observe=1"})
	c := connect(t, h, plugintest.ConnInfo{})
	drain(obs)
	for _, cmd := range []string{"attach room=lobby;name=ada", "timer later 500", "ptimer plugin-beat 250 250"} {
		if got := say(t, c, cmd); got != "ok" {
			t.Fatalf("%q: %q", cmd, got)
		}
	}
	if string(c.Attachment()) != "room=lobby;name=ada" {
		t.Fatalf("attachment %q", c.Attachment())
	}
	if err := h.ReloadFile(probeWasm); err != nil {
		t.Fatal(err)
	}
	resumed := drain(obs)
	want := "resumed " + itoa(c.ID()) + " room=lobby;name=ada"
	if !contains(resumed, want) {
		t.Errorf("observer saw %q, want %q", resumed, want)
	}
	if n := advance(t, h, 500*time.Millisecond); n != 3 {
		t.Errorf("%d fired, want plugin-beat twice and later", n)
	}
	if got := drain(c); len(got) != 1 || got[0] != "timer later" {
		t.Errorf("connection got %q, want [timer later]", got)
	}
	if got := drain(obs); len(got) != 2 || got[0] != "ptimer plugin-beat" {
		t.Errorf("observer got %q, want 2 x ptimer plugin-beat", got)
	}
	if got := say(t, c, "attachment"); got != "attachment room=lobby;name=ada" {
		t.Errorf("after reload: %q", got)
	}
	if err := c.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	if a := c.Attachment(); a != nil {
		t.Errorf("attachment %q kept after close", a)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
