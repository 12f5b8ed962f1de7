package hub

import (
	"errors"
	"sync"
)

// Member is what the hub holds: a connection. Its id is unique in the cluster and its namespace
// never changes.
type Member interface {
	comparable
	ID() uint64
	Namespace() string
	// Memberships is the member's own group bookkeeping, which only the hub touches.
	Memberships() *Memberships
}

// Memberships is the groups one member is in. The hub guards it with its lock; a member embeds
// it and hands a pointer out through Member.Memberships.
type Memberships struct {
	names   []string
	counted int  // groups that count against Limits.PerMember (all but the host's own)
	gone    bool // LeaveAll ran: the member may not join anything any more
}

// Key names a group: groups are scoped by namespace, so the same name in two namespaces is two
// groups and nothing crosses between them.
type Key struct{ Namespace, Name string }

// Group is a group's name and size, for status pages and the admin API.
type Group struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Size      int    `json:"size"`
}

// Default limits (the [limits] keys max_groups_per_connection and max_groups).
const (
	DefaultPerMember = 128
	DefaultTotal     = 100000
)

// Limits bound the groups clients can make a plugin create. 0 is no limit.
type Limits struct {
	PerMember int // groups one member may be in (the host's own user: group not counted)
	Total     int // distinct groups on this node
}

// Errors of Join.
var (
	ErrGone             = errors.New("the connection has finished closing")
	ErrMemberLimit      = errors.New("the connection is in too many groups")
	ErrTotalLimit       = errors.New("the host has too many groups")
	errBrokerSubscribed = errors.New("broker")
)

// Hub holds a node's connections and groups, and tells its Broker which groups have local
// members: Subscribe when a group gets its first local member, Unsubscribe when it loses its
// last. Publishing to other nodes goes through the broker; what other nodes publish comes back
// through whatever the broker was built to call.
type Hub[M Member] struct {
	conns  registry[M]
	broker Broker
	limits Limits

	mu     sync.RWMutex
	groups map[Key]*group[M]
}

type group[M Member] struct {
	members map[M]struct{}
	// list is a snapshot of members for broadcasts, rebuilt after a change. Broadcasts share it
	// and never modify it.
	list []M
}

// New returns an empty hub. A nil broker is Local: one node, nothing to carry.
func New[M Member](broker Broker, limits Limits) *Hub[M] {
	if broker == nil {
		broker = Local{}
	}
	h := &Hub[M]{broker: broker, limits: limits, groups: map[Key]*group[M]{}}
	h.conns.init()
	return h
}

// Broker is the hub's broker.
func (h *Hub[M]) Broker() Broker { return h.broker }

// Add registers an open connection.
func (h *Hub[M]) Add(m M) { h.conns.add(m) }

// Remove forgets a connection's id. Its groups are LeaveAll's business.
func (h *Hub[M]) Remove(m M) { h.conns.remove(m) }

// Get returns the connection with that id (the zero M and false if none).
func (h *Hub[M]) Get(id uint64) (M, bool) { return h.conns.get(id) }

// All returns a snapshot of the connections.
func (h *Hub[M]) All() []M { return h.conns.all() }

// Len is the number of connections.
func (h *Hub[M]) Len() int { return h.conns.len() }

// Join adds m to the group name of its namespace; joining twice is not an error. managed marks
// a group the host itself manages (user:<id>), which no limit applies to. It fails with ErrGone
// once LeaveAll has run for m (a join that raced the connection's close), and with
// ErrMemberLimit or ErrTotalLimit over the limits; nothing changes then.
func (h *Hub[M]) Join(m M, name string, managed bool) error {
	k := Key{m.Namespace(), name}
	created, err := h.join(m, name, managed)
	if created && err == nil {
		if s, ok := h.broker.(Syncer); ok {
			s.Sync(k)
		}
	}
	return err
}

func (h *Hub[M]) join(m M, name string, managed bool) (created bool, err error) {
	k := Key{m.Namespace(), name}
	ms := m.Memberships()
	h.mu.Lock()
	defer h.mu.Unlock()
	if ms.gone {
		return false, ErrGone
	}
	g := h.groups[k]
	if g != nil {
		if _, ok := g.members[m]; ok {
			return false, nil
		}
	}
	if !managed {
		if h.limits.PerMember > 0 && ms.counted >= h.limits.PerMember {
			return false, ErrMemberLimit
		}
		if g == nil && h.limits.Total > 0 && len(h.groups) >= h.limits.Total {
			return false, ErrTotalLimit
		}
	}
	if g == nil {
		if err := h.broker.Subscribe(k); err != nil {
			return false, errors.Join(errBrokerSubscribed, err)
		}
		g = &group[M]{members: map[M]struct{}{}}
		h.groups[k] = g
		created = true
	}
	g.members[m] = struct{}{}
	g.list = nil
	ms.names = append(ms.names, name)
	if !managed {
		ms.counted++
	}
	return created, nil
}

// Leave removes m from a group; leaving a group m is not in is not an error.
func (h *Hub[M]) Leave(m M, name string, managed bool) {
	ms := m.Memberships()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, n := range ms.names {
		if n == name {
			ms.names = append(ms.names[:i], ms.names[i+1:]...)
			if !managed {
				ms.counted--
			}
			h.leaveLocked(m, name)
			return
		}
	}
}

func (h *Hub[M]) leaveLocked(m M, name string) {
	k := Key{m.Namespace(), name}
	g := h.groups[k]
	if g == nil {
		return
	}
	if _, ok := g.members[m]; !ok {
		return
	}
	delete(g.members, m)
	g.list = nil
	if len(g.members) == 0 {
		delete(h.groups, k)
		_ = h.broker.Unsubscribe(k) // a failure is the broker's to count: the group is gone here
	}
}

// LeaveAll removes m from every group it is in, for good: from now on Join fails with ErrGone.
func (h *Hub[M]) LeaveAll(m M) {
	ms := m.Memberships()
	h.mu.Lock()
	defer h.mu.Unlock()
	ms.gone = true
	for _, name := range ms.names {
		h.leaveLocked(m, name)
	}
	ms.names, ms.counted = nil, 0
}

// Members returns the local members of a group as a shared, read-only snapshot.
func (h *Hub[M]) Members(ns, name string) []M {
	k := Key{ns, name}
	h.mu.RLock()
	g := h.groups[k]
	if g == nil {
		h.mu.RUnlock()
		return nil
	}
	list := g.list
	h.mu.RUnlock()
	if list != nil {
		return list
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if g = h.groups[k]; g == nil {
		return nil
	}
	if g.list == nil {
		g.list = make([]M, 0, len(g.members))
		for m := range g.members {
			g.list = append(g.list, m)
		}
	}
	return g.list
}

// Groups returns every group with local members, with its local size.
func (h *Hub[M]) Groups() []Group {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]Group, 0, len(h.groups))
	for k, g := range h.groups {
		out = append(out, Group{Namespace: k.Namespace, Name: k.Name, Size: len(g.members)})
	}
	return out
}

// GroupsOf returns the names of the groups m is in, in the order it joined them.
func (h *Hub[M]) GroupsOf(m M) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]string(nil), m.Memberships().names...)
}

// InGroups returns how many groups m is in.
func (h *Hub[M]) InGroups(m M) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(m.Memberships().names)
}

// Publish hands a message for a group to the broker, for the other nodes; the caller delivers
// it to the local members itself (once, with frames built once).
func (h *Hub[M]) Publish(k Key, msg Message) error { return h.broker.Publish(k, msg) }
