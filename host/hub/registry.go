package hub

import "sync"

const registryShards = 64

// registry holds the open connections by id, sharded so that lookups from many instances and
// readers rarely contend.
type registry[M Member] struct {
	shards [registryShards]struct {
		sync.RWMutex
		m map[uint64]M
	}
}

func (r *registry[M]) init() {
	for i := range r.shards {
		r.shards[i].m = map[uint64]M{}
	}
}

func (r *registry[M]) add(m M) {
	s := &r.shards[m.ID()%registryShards]
	s.Lock()
	s.m[m.ID()] = m
	s.Unlock()
}

func (r *registry[M]) remove(m M) {
	s := &r.shards[m.ID()%registryShards]
	s.Lock()
	if cur, ok := s.m[m.ID()]; ok && cur == m {
		delete(s.m, m.ID())
	}
	s.Unlock()
}

func (r *registry[M]) get(id uint64) (M, bool) {
	s := &r.shards[id%registryShards]
	s.RLock()
	m, ok := s.m[id]
	s.RUnlock()
	return m, ok
}

func (r *registry[M]) all() []M {
	var out []M
	for i := range r.shards {
		s := &r.shards[i]
		s.RLock()
		for _, m := range s.m {
			out = append(out, m)
		}
		s.RUnlock()
	}
	return out
}

func (r *registry[M]) len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.RLock()
		n += len(s.m)
		s.RUnlock()
	}
	return n
}
