package host

import "sync"

// groupKey names a group: groups are scoped by namespace, so the same name in two namespaces is
// two groups and nothing crosses between them.
type groupKey struct{ ns, name string }

// groupSet holds every group of the server.
type groupSet struct {
	mu sync.RWMutex
	m  map[groupKey]*group
}

type group struct {
	members map[*Conn]struct{}
	// list is a snapshot of members for broadcasts, rebuilt after a change. Broadcasts share it
	// and never modify it.
	list []*Conn
}

func newGroupSet() *groupSet { return &groupSet{m: map[groupKey]*group{}} }

// join adds c to the group name of its namespace. Joining twice is not an error.
func (gs *groupSet) join(c *Conn, name string) {
	k := groupKey{c.namespace, name}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.m[k]
	if g == nil {
		g = &group{members: map[*Conn]struct{}{}}
		gs.m[k] = g
	}
	if _, ok := g.members[c]; ok {
		return
	}
	g.members[c] = struct{}{}
	g.list = nil
	c.groups = append(c.groups, name)
}

// leave removes c from a group; leaving a group c is not in is not an error.
func (gs *groupSet) leave(c *Conn, name string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	gs.leaveLocked(c, name)
	for i, n := range c.groups {
		if n == name {
			c.groups = append(c.groups[:i], c.groups[i+1:]...)
			break
		}
	}
}

func (gs *groupSet) leaveLocked(c *Conn, name string) {
	k := groupKey{c.namespace, name}
	g := gs.m[k]
	if g == nil {
		return
	}
	if _, ok := g.members[c]; !ok {
		return
	}
	delete(g.members, c)
	g.list = nil
	if len(g.members) == 0 {
		delete(gs.m, k)
	}
}

// leaveAll removes c from every group it is in (when it closes).
func (gs *groupSet) leaveAll(c *Conn) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for _, name := range c.groups {
		gs.leaveLocked(c, name)
	}
	c.groups = nil
}

// members returns the members of a group as a shared, read-only snapshot.
func (gs *groupSet) members(ns, name string) []*Conn {
	k := groupKey{ns, name}
	gs.mu.RLock()
	g := gs.m[k]
	if g == nil {
		gs.mu.RUnlock()
		return nil
	}
	list := g.list
	gs.mu.RUnlock()
	if list != nil {
		return list
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g = gs.m[k]; g == nil {
		return nil
	}
	if g.list == nil {
		g.list = make([]*Conn, 0, len(g.members))
		for m := range g.members {
			g.list = append(g.list, m)
		}
	}
	return g.list
}

// Group is a group's name and size, for status pages and the admin API.
type Group struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Size      int    `json:"size"`
}

// list returns every group with its size.
func (gs *groupSet) list() []Group {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	out := make([]Group, 0, len(gs.m))
	for k, g := range gs.m {
		out = append(out, Group{Namespace: k.ns, Name: k.name, Size: len(g.members)})
	}
	return out
}
