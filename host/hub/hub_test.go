package hub

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

type member struct {
	id uint64
	ns string
	ms Memberships
}

func (m *member) ID() uint64                { return m.id }
func (m *member) Namespace() string         { return m.ns }
func (m *member) Memberships() *Memberships { return &m.ms }

// recorder is a broker that records the hub's calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.calls = append(r.calls, s); r.mu.Unlock() }
func (r *recorder) Subscribe(k Key) error {
	r.add("sub " + k.Namespace + "/" + k.Name)
	return nil
}
func (r *recorder) Unsubscribe(k Key) error {
	r.add("unsub " + k.Namespace + "/" + k.Name)
	return nil
}
func (r *recorder) Publish(k Key, m Message) error {
	r.add("pub " + k.Namespace + "/" + k.Name + " " + string(m.Data))
	return nil
}

func TestBrokerSeesFirstAndLastLocalMember(t *testing.T) {
	r := &recorder{}
	h := New[*member](r, Limits{})
	a, b, c := &member{id: 1, ns: "x"}, &member{id: 2, ns: "x"}, &member{id: 3, ns: "y"}
	for _, m := range []*member{a, b, c} {
		h.Add(m)
		if err := h.Join(m, "g", false); err != nil {
			t.Fatal(err)
		}
	}
	_ = h.Join(a, "g", false) // again: nothing changes
	h.Leave(a, "g", false)
	h.Leave(a, "g", false) // not in it: nothing
	h.LeaveAll(b)
	_ = h.Publish(Key{"y", "g"}, Message{Data: []byte("hi")})
	h.Leave(c, "g", false)
	want := []string{"sub x/g", "sub y/g", "unsub x/g", "pub y/g hi", "unsub y/g"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("calls %q, want %q", r.calls, want)
	}
	if g := h.Groups(); len(g) != 0 {
		t.Fatalf("groups left: %v", g)
	}
}

func TestMembersAndNamespaces(t *testing.T) {
	h := New[*member](nil, Limits{})
	a, b, c := &member{id: 1, ns: "x"}, &member{id: 2, ns: "x"}, &member{id: 3, ns: "y"}
	for _, m := range []*member{a, b, c} {
		_ = h.Join(m, "g", false)
	}
	if got := len(h.Members("x", "g")); got != 2 {
		t.Fatalf("x/g has %d members", got)
	}
	if got := h.Members("y", "g"); len(got) != 1 || got[0] != c {
		t.Fatalf("y/g: %v", got)
	}
	if got := h.Members("", "g"); got != nil {
		t.Fatalf("/g: %v", got)
	}
}

// A join that comes after the connection left everything (its close won the race) fails and
// leaves nothing behind: issue #12 item 11, a closed connection stayed in its group forever.
func TestJoinAfterLeaveAllFails(t *testing.T) {
	r := &recorder{}
	h := New[*member](r, Limits{})
	m := &member{id: 1}
	h.Add(m)
	_ = h.Join(m, "a", false)
	h.LeaveAll(m)
	h.Remove(m)
	for _, managed := range []bool{false, true} {
		if err := h.Join(m, "b", managed); !errors.Is(err, ErrGone) {
			t.Fatalf("join after LeaveAll: %v, want ErrGone", err)
		}
	}
	if g := h.Groups(); len(g) != 0 {
		t.Fatalf("groups: %v", g)
	}
	if _, ok := h.Get(1); ok {
		t.Fatal("still registered")
	}
}

// The race itself, many times over: whatever the order, nothing is left.
func TestJoinRacingLeaveAll(t *testing.T) {
	h := New[*member](nil, Limits{})
	for i := range 2000 {
		m := &member{id: uint64(i + 1)}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = h.Join(m, "g", false) }()
		go func() { defer wg.Done(); h.LeaveAll(m) }()
		wg.Wait()
	}
	if g := h.Groups(); len(g) != 0 {
		t.Fatalf("leaked: %v", g)
	}
}

func TestLimits(t *testing.T) {
	h := New[*member](nil, Limits{PerMember: 2, Total: 3})
	a, b := &member{id: 1}, &member{id: 2}
	steps := []struct {
		m       *member
		group   string
		managed bool
		leave   bool
		want    error
	}{
		{a, "g1", false, false, nil},
		{a, "g2", false, false, nil},
		{a, "g3", false, false, ErrMemberLimit},
		{a, "g1", false, false, nil},           // already in: not a new membership
		{a, "user:a", true, false, nil},        // the host's own group: not counted
		{b, "g3", false, false, ErrTotalLimit}, // g1, g2, user:a exist
		{b, "g1", false, false, nil},           // existing group: no new group
		{a, "g2", false, true, nil},            // a leaves g2: the group goes
		{b, "g3", false, false, nil},
		{a, "g4", false, false, ErrTotalLimit},
		{b, "user:b", true, false, nil}, // managed: over the total, still joined
	}
	for i, s := range steps {
		if s.leave {
			h.Leave(s.m, s.group, s.managed)
			continue
		}
		if err := h.Join(s.m, s.group, s.managed); err != s.want {
			t.Fatalf("step %d: join %d %s: %v, want %v", i, s.m.id, s.group, err, s.want)
		}
	}
	if n := h.InGroups(a); n != 2 {
		t.Fatalf("a in %d groups", n)
	}
}

func TestIDs(t *testing.T) {
	one := NewIDs(0)
	if a, b := one.Next(), one.Next(); a != 1 || b != 2 {
		t.Fatalf("alone: %d %d", a, b)
	}
	n := NewIDs(1023)
	id := n.Next()
	if Node(id) != 1023 || id >= 1<<53 || Node(one.Next()) != 0 {
		t.Fatalf("node ids: %x -> %d", id, Node(id))
	}
}
