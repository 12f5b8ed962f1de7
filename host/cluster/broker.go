package cluster

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host/hub"
)

// ErrTooLarge is what Publish returns for a message over the NATS servers' max_payload: it goes
// to no node, and the caller says so rather than deliver it to some members only.
var ErrTooLarge = errors.New("message over the NATS max_payload")

// Broker is the hub.Broker of a cluster node: a group's publications travel on the subject
// NAME.g.NAMESPACE.GROUP (both escaped with Token), and a node subscribes to a group's subject
// while the group has members on it.
type Broker struct {
	n       *Node
	deliver func(hub.Key, hub.Message)

	mu      sync.Mutex
	subs    map[hub.Key]*nats.Subscription
	dropped int64 // messages dropped by subscriptions since closed

	Stats BrokerStats
}

// BrokerStats count a node's group traffic over NATS.
type BrokerStats struct {
	Published, PublishedBytes atomic.Int64 // publications sent to NATS, and their bytes
	Received, ReceivedBytes   atomic.Int64 // publications of other nodes received
	Lost                      atomic.Int64 // publications that did not reach NATS (disconnected, or an error)
	TooLarge                  atomic.Int64 // publications refused for being over max_payload
	SubscribeErrors           atomic.Int64
}

// envelope: version (1 byte), origin node (2), except connection (8), kind (1), then the data.
const (
	envVersion = 1
	envHeader  = 12
)

// NewBroker returns the broker of node n; deliver is called, on a goroutine of the group's
// subscription (one at a time per group, in the order of each publisher), with every publication
// of another node to a group that has members here.
func NewBroker(n *Node, deliver func(hub.Key, hub.Message)) *Broker {
	return &Broker{n: n, deliver: deliver, subs: map[hub.Key]*nats.Subscription{}}
}

func (b *Broker) subject(k hub.Key) string { return b.n.Subject("g", k.Namespace, k.Name) }

// Subscribe implements hub.Broker.
func (b *Broker) Subscribe(k hub.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[k] != nil {
		return nil
	}
	sub, err := b.n.nc.Subscribe(b.subject(k), func(m *nats.Msg) { b.receive(k, m.Data) })
	if err != nil {
		b.Stats.SubscribeErrors.Add(1)
		return err
	}
	// Room for bursts: a subscription that falls further behind drops (and the drop is
	// counted through Node.OnError).
	_ = sub.SetPendingLimits(1<<16, 256<<20)
	b.subs[k] = sub
	return nil
}

// Sync implements hub.Syncer: a round trip to the NATS server, which has then registered the
// subscription (bounded by request_timeout; while disconnected it returns at once, and the
// subscription is renewed on reconnection).
func (b *Broker) Sync(hub.Key) {
	if b.n.nc.IsConnected() { // else the subscription is made when NATS is back: nothing to wait for
		_ = b.n.nc.FlushTimeout(b.n.cfg.RequestTimeout.D)
	}
}

// Unsubscribe implements hub.Broker.
func (b *Broker) Unsubscribe(k hub.Key) error {
	b.mu.Lock()
	sub := b.subs[k]
	delete(b.subs, k)
	b.mu.Unlock()
	if sub == nil {
		return nil
	}
	if d, err := sub.Dropped(); err == nil && d > 0 {
		b.mu.Lock()
		b.dropped += int64(d)
		b.mu.Unlock()
	}
	return sub.Unsubscribe()
}

// Dropped is the number of publications of other nodes that this node's subscriptions dropped
// for falling behind (NATS slow consumers).
func (b *Broker) Dropped() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.dropped
	for _, sub := range b.subs {
		if d, err := sub.Dropped(); err == nil {
			n += int64(d)
		}
	}
	return n
}

// Subscriptions is the number of group subjects this node listens to.
func (b *Broker) Subscriptions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Publish implements hub.Broker. It never blocks on the network: while NATS is unreachable the
// publication is lost at once and counted.
func (b *Broker) Publish(k hub.Key, msg hub.Message) error {
	nc := b.n.nc
	size := envHeader + len(msg.Data)
	if max := nc.MaxPayload(); max > 0 && int64(size)+int64(len(b.subject(k))) > max {
		b.Stats.TooLarge.Add(1)
		return ErrTooLarge
	}
	env := encodeEnvelope(b.n.id, msg)
	if err := nc.Publish(b.subject(k), env); err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			b.Stats.TooLarge.Add(1)
			return ErrTooLarge
		}
		b.Stats.Lost.Add(1)
		return err
	}
	b.Stats.Published.Add(1)
	b.Stats.PublishedBytes.Add(int64(size))
	return nil
}

func (b *Broker) receive(k hub.Key, env []byte) {
	origin, msg, ok := decodeEnvelope(env)
	if !ok || origin == b.n.id {
		return // not ours to read, or our own: delivered locally when it was published
	}
	b.Stats.Received.Add(1)
	b.Stats.ReceivedBytes.Add(int64(len(env)))
	b.deliver(k, msg)
}

func encodeEnvelope(origin int, msg hub.Message) []byte {
	env := make([]byte, envHeader+len(msg.Data))
	env[0] = envVersion
	binary.BigEndian.PutUint16(env[1:], uint16(origin))
	binary.BigEndian.PutUint64(env[3:], msg.Except)
	env[11] = byte(msg.Kind)
	copy(env[envHeader:], msg.Data)
	return env
}

// decodeEnvelope reads a publication; ok is false for anything that is not a version 1
// envelope of a text or binary message (another version's node, or not a node at all).
func decodeEnvelope(env []byte) (origin int, msg hub.Message, ok bool) {
	if len(env) < envHeader || env[0] != envVersion || (env[11] != 1 && env[11] != 2) {
		return 0, hub.Message{}, false
	}
	msg = hub.Message{Kind: int32(env[11]), Except: binary.BigEndian.Uint64(env[3:]), Data: env[envHeader:]}
	return int(binary.BigEndian.Uint16(env[1:])), msg, true
}
