package host_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// Issue #12 item 10: clients cannot make a plugin hold unbounded groups. Over a limit, join gets
// ErrLimit and the refusal is counted.
func TestGroupLimits(t *testing.T) {
	_, url := startConfigTop(t, "[limits]\nmax_groups_per_connection = 3\nmax_groups = 5", probe, "[[route]]\npath = \"/ws\"\nplugin = \"p\"\nuser_from = \"query:user\"")
	a := wstest.Dial(t, url+"/ws?user=a", nil) // user:a is the host's: counted in no limit
	b := wstest.Dial(t, url+"/ws", nil)
	limit := fmt.Sprintf("ERR %d", abi.ErrLimit)
	steps := []struct {
		c         *wstest.Client
		cmd, want string
	}{
		{a, "join g1", "ok"},
		{a, "join g2", "ok"},
		{a, "join g3", "ok"},
		{a, "join g4", limit}, // a is in 3 groups
		{a, "join g1", "ok"},  // already in it
		{a, "leave g1", "ok"},
		{a, "join g4", "ok"},
		{b, "join g5", "ok"}, // user:a, g2, g3, g4, g5: 5 groups
		{b, "join g6", limit},
		{b, "join g2", "ok"}, // an existing group makes no new one
	}
	for i, s := range steps {
		if got := command(t, s.c, s.cmd); got != s.want {
			t.Fatalf("step %d %q: %q, want %q", i, s.cmd, got, s.want)
		}
	}
	fams := scrape(t, url)
	if n := metric(fams, "wasmsock_group_limit_refusals_total", "limit", "per_connection"); n != 1 {
		t.Errorf("per_connection refusals: %v", n)
	}
	if n := metric(fams, "wasmsock_group_limit_refusals_total", "limit", "total"); n != 1 {
		t.Errorf("total refusals: %v", n)
	}
}

// Issue #12 item 11: a join racing the connection's close must not leave a closed connection
// in its group. Each client asks to join and closes at once, many at a time; once every
// connection is gone, no group is left.
func TestJoinRacingCloseLeavesNoMember(t *testing.T) {
	srv, base := startServer(t, probe, "instances = 4", "")
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := wstest.TryDial(t, base, nil)
			if err != nil {
				t.Error(err)
				return
			}
			c.Send(ws.OpText, []byte(fmt.Sprintf("join g%d", i%7)))
			if i%2 == 0 {
				c.Close(1000, "")
			}
			_ = c.Conn.Close()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Connections() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", srv.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := srv.Status().Groups; len(g) != 0 {
		t.Fatalf("groups left with members after every connection closed: %v", g)
	}
}
