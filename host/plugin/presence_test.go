package plugin

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// presenceHost answers presence with a fixed list, counts the calls, and keeps what the plugin
// sends.
type presenceHost struct {
	nopHost
	members []Member

	mu       sync.Mutex
	calls    int
	deadline bool // every call had a deadline within the call timeout
	sent     chan string
}

func (h *presenceHost) Presence(ctx context.Context, _ uint64, _ string, members bool) (int, []Member, abi.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	dl, ok := ctx.Deadline()
	h.deadline = ok && time.Until(dl) <= time.Minute
	if !members {
		return len(h.members), nil, abi.OK
	}
	return len(h.members), append([]Member(nil), h.members...), abi.OK
}

func (h *presenceHost) Send(_, _ uint64, _ int32, data []byte) abi.Status {
	h.sent <- string(data)
	return abi.OK
}

// TestPresenceOncePerCall: the SDK's usual two group_members calls (the length, then the list
// with room enough) ask the host once per guest call, under the call's deadline (the probe
// plugin, Go SDK); the next call asks again.
func TestPresenceOncePerCall(t *testing.T) {
	h := &presenceHost{sent: make(chan string, 16)}
	for i := range 200 { // 200 records of 9+6 bytes: more than the SDK's first 1 KiB buffer
		h.members = append(h.members, Member{Conn: uint64(i + 1), User: "user" + strconv.Itoa(i%100)})
	}
	p := connected(t, "../../testdata/plugins/probe/probe.wasm", Options{Host: h})
	for _, tc := range []struct {
		cmd   string
		calls int
	}{
		{"members room", 1},
		{"size room", 1},
		{"members room", 1},
	} {
		h.mu.Lock()
		h.calls = 0
		h.mu.Unlock()
		p.Message(1, abi.KindText, []byte(tc.cmd))
		select {
		case reply := <-h.sent:
			if want := strings.Fields(tc.cmd)[0]; !strings.HasPrefix(reply, want) {
				t.Fatalf("%s: %.80q", tc.cmd, reply)
			}
			if tc.cmd == "members room" && strings.Count(reply, ":") != len(h.members) {
				t.Fatalf("%s: %d members in the reply", tc.cmd, strings.Count(reply, ":"))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no reply", tc.cmd)
		}
		h.mu.Lock()
		calls, deadline := h.calls, h.deadline
		h.mu.Unlock()
		if calls != tc.calls || !deadline {
			t.Errorf("%s: %d host calls (deadline %v), want %d with a deadline", tc.cmd, calls, deadline, tc.calls)
		}
	}
}

// memberHost keeps one group's members: join and leave change it, presence answers from it.
type memberHost struct {
	presenceHost
	in map[uint64]bool
}

func (h *memberHost) Join(_, conn uint64, _ string) abi.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.in[conn] = true
	return abi.OK
}

func (h *memberHost) Leave(_, conn uint64, _ string) abi.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.in, conn)
	return abi.OK
}

// Broadcast to "room" stands for another guest call that joined connection 2 meanwhile, which
// the broadcast reaches and counts (the probe's reports to "observers" go nowhere).
func (h *memberHost) Broadcast(_ uint64, group string, _ int32, _ []byte, except uint64) (int, abi.Status) {
	if group != "room" {
		return 0, abi.OK
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.in[2] = true
	n := len(h.in)
	if h.in[except] {
		n--
	}
	return n, abi.OK
}

func (h *memberHost) Presence(_ context.Context, _ uint64, _ string, members bool) (int, []Member, abi.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	var list []Member
	if members {
		for conn := range h.in {
			list = append(list, Member{Conn: conn})
		}
	}
	return len(h.in), list, abi.OK
}

// TestPresenceAfterMembershipChange: the presence answer a guest call keeps (so that
// group_members' two calls cost one lookup) is forgotten when the call joins or leaves, or calls
// any other host function (here a broadcast that counted a member another call added meanwhile):
// asked again in the same call, group_size and group_members see the change (the probe plugin's
// "do" runs several commands in one call).
func TestPresenceAfterMembershipChange(t *testing.T) {
	h := &memberHost{presenceHost: presenceHost{sent: make(chan string, 16)}, in: map[uint64]bool{}}
	p := connected(t, "../../testdata/plugins/probe/probe.wasm", Options{Host: h})
	for _, tc := range []struct{ cmd, want string }{
		{"do size room; join room; size room", "size 0 | ok | size 1"},
		{"do members room; leave room; members room", "members 1: | ok | members"},
		{"do size room; join room; members room", "size 0 | ok | members 1:"},
		{"do members room; leave room; size room", "members 1: | ok | size 0"},
		{"do size room; size room", "size 0 | size 0"}, // unchanged: asked once
		{"do size room; bcast room hi; size room", "size 0 | sent 1 | size 1"},
	} {
		p.Message(1, abi.KindText, []byte(tc.cmd))
		select {
		case reply := <-h.sent:
			if reply != tc.want {
				t.Errorf("%s: %q, want %q", tc.cmd, reply, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no reply", tc.cmd)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calls != 4*2+1+2 {
		t.Errorf("%d presence lookups, want 11 (two per call with another host function between, one for \"size; size\")", h.calls)
	}
}
