// Package hub holds a node's connections and groups: the registry of open connections by id,
// the groups of each namespace with their members, the limits on groups, and the seam to the
// other nodes of a cluster, a Broker.
//
// The hub calls its Broker's Subscribe when a group gets its first member on this node and
// Unsubscribe when it loses its last, so a node hears only about groups it has members of.
// Publish hands a group message to the broker for the other nodes; the publishing node delivers
// to its own members itself (once, building each frame once), and a broker never gives a node its
// own publication back. What other nodes publish, the broker delivers through a function it was
// built with. Local, the default, is the broker of a host that is alone: it carries nothing, and
// a host without a [cluster] table behaves exactly as a single process. package host/cluster has
// the NATS broker.
//
// A member's groups end with LeaveAll, when its connection has finished closing; from then on
// Join fails with ErrGone, so a join that races the close cannot leave a closed connection in a
// group. The package knows nothing of WebSockets or plugins: a Member is anything with an id, a
// namespace and a Memberships to hold.
package hub
