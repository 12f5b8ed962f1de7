package hub

import (
	"sync/atomic"
	"time"
)

// Connection ids. A host that is alone numbers its connections 1, 2, 3... A node of a cluster
// puts its node id (1-1023) in bits 43-52, so that ids are unique in the cluster, any node can
// tell which node holds a connection, and every id stays below 2^53 (exact in JavaScript). The
// low 43 bits count up from the node's start time in seconds times 8192, so a restarted node
// does not hand out the ids of its previous life unless that life averaged more than 8192 new
// connections a second.
const (
	nodeShift   = 43
	counterMask = 1<<nodeShift - 1
	// epoch is when the per-node counters start (2026-01-01 UTC).
	epoch = 1767225600
)

// IDs issues connection ids.
type IDs struct {
	base uint64
	next atomic.Uint64
}

// NewIDs returns the ids of node (0 for a host that is alone).
func NewIDs(node int) *IDs {
	ids := &IDs{base: uint64(node) << nodeShift}
	if node != 0 {
		ids.next.Store(uint64(max(time.Now().Unix()-epoch, 0)) << 13 & counterMask)
	}
	return ids
}

// Next returns a new id.
func (ids *IDs) Next() uint64 { return ids.base | ids.next.Add(1)&counterMask }

// Node returns the node id held in a connection id (0 for a host that is alone).
func Node(id uint64) int { return int(id >> nodeShift) }
