package hub

// Message is a data message published to a group.
type Message struct {
	Kind   int32
	Data   []byte
	Except uint64 // a connection not to deliver to (the sender), or 0
}

// Broker carries group messages between the nodes of a cluster. The hub calls Subscribe when a
// group gets its first member on this node and Unsubscribe when it loses its last, with the
// hub's lock held (so calls for one group come in order; they must not block on the network).
// Publish sends a message to the other nodes that have members of the group; a broker never
// hands a node's own publication back to it, since the publisher delivered to its local members
// already. What arrives from other nodes the broker delivers through the function it was built
// with.
type Broker interface {
	Subscribe(k Key) error
	Unsubscribe(k Key) error
	Publish(k Key, msg Message) error
}

// Syncer is a Broker that can wait until a new subscription is in force. Join calls Sync, without
// the hub's lock, after it subscribed to a group; when Join returns, publications of every node
// reach the new member.
type Syncer interface {
	Sync(k Key)
}

// Local is the broker of a host that is alone: there is no other node to carry anything to.
type Local struct{}

func (Local) Subscribe(Key) error        { return nil }
func (Local) Unsubscribe(Key) error      { return nil }
func (Local) Publish(Key, Message) error { return nil }
