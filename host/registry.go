package host

import "sync"

const registryShards = 64

// registry holds the open connections by id, sharded so that lookups from many instances and
// readers rarely contend.
type registry struct {
	shards [registryShards]struct {
		sync.RWMutex
		m map[uint64]*Conn
	}
}

func newRegistry() *registry {
	r := &registry{}
	for i := range r.shards {
		r.shards[i].m = map[uint64]*Conn{}
	}
	return r
}

func (r *registry) add(c *Conn) {
	s := &r.shards[c.id%registryShards]
	s.Lock()
	s.m[c.id] = c
	s.Unlock()
}

func (r *registry) remove(c *Conn) {
	s := &r.shards[c.id%registryShards]
	s.Lock()
	delete(s.m, c.id)
	s.Unlock()
}

func (r *registry) get(id uint64) *Conn {
	s := &r.shards[id%registryShards]
	s.RLock()
	c := s.m[id]
	s.RUnlock()
	return c
}

// all returns a snapshot of the open connections.
func (r *registry) all() []*Conn {
	var out []*Conn
	for i := range r.shards {
		s := &r.shards[i]
		s.RLock()
		for _, c := range s.m {
			out = append(out, c)
		}
		s.RUnlock()
	}
	return out
}

func (r *registry) len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.RLock()
		n += len(s.m)
		s.RUnlock()
	}
	return n
}
