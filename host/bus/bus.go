// Package bus connects plugins to NATS: the host side of the ABI's bus functions (publish,
// subscribe, unsubscribe, request and the on_event export; abi/ABI.md, "Bus").
//
// A Bus serves one plugin over a NATS connection it is handed (the cluster's). It maps every
// subject a plugin names into the namespace the plugin acts in, so that a plugin acting for one
// tenant never reaches another's subjects:
//
//	plugin subject S in namespace N  ->  NATS subject <prefix>.<token(N)>.S
//
// where token(N) is cluster.Token(N): the namespace escaped into one literal token. Subjects that match one of the plugin's shared patterns
// (granted by the operator in host.toml) are used as they are, in every namespace.
//
// Only Subscribe waits on the network, boundedly, for the server to confirm the subscription.
// Nothing else blocks a plugin: publications go through a bounded queue drained by the Bus's own
// goroutine (full: abi.ErrBusy, counted), deliveries are handed to a callback that must not
// block, and requests wait on one wildcard inbox subscription with a timer each.
package bus

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// Defaults.
const (
	DefaultQueueMessages = 1024
	DefaultQueueBytes    = 8 << 20
	DefaultSubscribeWait = 500 * time.Millisecond
)

// Options configure a Bus.
type Options struct {
	// Prefix is the first tokens of every namespaced subject, e.g. "wasmsock.bus".
	Prefix string
	// Shared are the subject patterns (NATS wildcards allowed) the operator granted the plugin
	// outside its namespace: a plugin subject within one of them is used as it is, by every
	// namespace.
	Shared []string
	// QueueMessages and QueueBytes bound the publications waiting to be written to NATS.
	QueueMessages int
	QueueBytes    int64
	// SubscribeWait bounds how long Subscribe waits for the NATS server to confirm a new
	// subscription (a PING/PONG round trip after the SUB) before it returns. Default
	// DefaultSubscribeWait; the host passes half the plugin's call_timeout, as Subscribe runs
	// within a guest call.
	SubscribeWait time.Duration
}

// Stats are a Bus's counters.
type Stats struct {
	Published     atomic.Int64 // messages written to NATS (publish and request)
	PublishErrors atomic.Int64 // refused by NATS (e.g. the reconnect buffer was full)
	Dropped       atomic.Int64 // publications refused because the queue was full (ErrBusy)
	TooLarge      atomic.Int64 // publications over NATS's max payload (ErrTooLarge)
	Received      atomic.Int64 // messages delivered to subscriptions
	Replies       atomic.Int64 // answers to requests
	Failed        atomic.Int64 // requests that failed: timeout, no responders or an error answer
}

// Bus is one plugin's side of the event bus. It implements plugin.Bus.
type Bus struct {
	nc     *nats.Conn
	prefix string
	shared [][]string // tokens of each shared pattern

	out      chan *nats.Msg
	outBytes atomic.Int64
	maxBytes int64
	stop     chan struct{}
	stopped  chan struct{}
	once     sync.Once

	subWait time.Duration

	inbox    string
	inboxSub *nats.Subscription
	mu       sync.Mutex
	pending  map[uint64]*request
	nextReq  atomic.Uint64

	stats Stats
}

var _ plugin.Bus = (*Bus)(nil)

type request struct {
	subject string
	deliver func(plugin.BusMsg)
	timer   *time.Timer
}

// New starts a Bus on nc.
func New(nc *nats.Conn, opts Options) (*Bus, error) {
	if nc == nil {
		return nil, errors.New("bus: no NATS connection")
	}
	if !abi.ValidSubject(opts.Prefix, false) {
		return nil, errors.New("bus: invalid subject prefix " + strconv.Quote(opts.Prefix))
	}
	if opts.QueueMessages <= 0 {
		opts.QueueMessages = DefaultQueueMessages
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	if opts.SubscribeWait <= 0 {
		opts.SubscribeWait = DefaultSubscribeWait
	}
	b := &Bus{
		nc:       nc,
		prefix:   opts.Prefix,
		out:      make(chan *nats.Msg, opts.QueueMessages),
		maxBytes: opts.QueueBytes,
		subWait:  opts.SubscribeWait,
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		pending:  map[uint64]*request{},
		inbox:    nc.NewRespInbox(),
	}
	for _, p := range opts.Shared {
		if err := config.ValidSharedPattern(p); err != nil {
			return nil, err
		}
		b.shared = append(b.shared, strings.Split(p, "."))
	}
	// Replies arrive on <inbox>.<request id>: one subscription for every request.
	sub, err := nc.Subscribe(b.inbox+".*", b.onReply)
	if err != nil {
		return nil, err
	}
	b.inboxSub = sub
	go b.publisher()
	return b, nil
}

// Close stops the Bus: pending requests are dropped (without an answer), the queue is flushed.
func (b *Bus) Close() {
	b.once.Do(func() {
		_ = b.inboxSub.Unsubscribe()
		close(b.stop)
		<-b.stopped
		b.mu.Lock()
		for id, r := range b.pending {
			r.timer.Stop()
			delete(b.pending, id)
		}
		b.mu.Unlock()
	})
}

// Stats returns the Bus's counters.
func (b *Bus) Stats() *Stats { return &b.stats }

// isShared reports whether every subject matching pattern (tokens) also matches a shared grant.
func (b *Bus) isShared(tokens []string) bool {
	for _, g := range b.shared {
		if within(tokens, g) {
			return true
		}
	}
	return false
}

// within reports whether pattern p is contained in pattern g.
func within(p, g []string) bool {
	for i, gt := range g {
		if gt == ">" {
			return len(p) > i
		}
		if i >= len(p) {
			return false
		}
		switch {
		case p[i] == ">":
			return false
		case gt == "*":
		case p[i] != gt:
			return false
		}
	}
	return len(p) == len(g)
}

// Subject returns the NATS subject for a plugin's subject in namespace ns, and whether it is a
// shared one.
func (b *Bus) Subject(ns, subject string) (string, bool) {
	if len(b.shared) > 0 && b.isShared(strings.Split(subject, ".")) {
		return subject, true
	}
	return b.prefix + "." + cluster.Token(ns) + "." + subject, false
}

// Publish implements plugin.Bus.
func (b *Bus) Publish(ns, subject string, data []byte) abi.Status {
	s, _ := b.Subject(ns, subject)
	return b.enqueue(&nats.Msg{Subject: s, Data: data})
}

func (b *Bus) enqueue(m *nats.Msg) abi.Status {
	if b.nc.IsClosed() {
		return abi.ErrUnavailable
	}
	if int64(len(m.Data)) > b.nc.MaxPayload()-int64(len(m.Subject)+len(m.Reply)) {
		b.stats.TooLarge.Add(1)
		return abi.ErrTooLarge
	}
	n := int64(len(m.Data))
	if b.outBytes.Add(n) > b.maxBytes {
		b.outBytes.Add(-n)
		b.stats.Dropped.Add(1)
		return abi.ErrBusy
	}
	// The data is the guest's memory: copy it before the call returns.
	m.Data = append([]byte(nil), m.Data...)
	select {
	case b.out <- m:
		return abi.OK
	default:
		b.outBytes.Add(-n)
		b.stats.Dropped.Add(1)
		return abi.ErrBusy
	}
}

// publisher writes queued publications to NATS, in order.
func (b *Bus) publisher() {
	defer close(b.stopped)
	for {
		select {
		case m := <-b.out:
			b.write(m)
		case <-b.stop:
			for {
				select {
				case m := <-b.out:
					b.write(m)
				default:
					return
				}
			}
		}
	}
}

func (b *Bus) write(m *nats.Msg) {
	b.outBytes.Add(-int64(len(m.Data)))
	if err := b.nc.PublishMsg(m); err != nil {
		b.stats.PublishErrors.Add(1)
		return
	}
	b.stats.Published.Add(1)
}

// Subscribe implements plugin.Bus.
func (b *Bus) Subscribe(ns, subject, queue string, deliver func(plugin.BusMsg)) (func(), abi.Status) {
	if b.nc.IsClosed() {
		return nil, abi.ErrUnavailable
	}
	s, shared := b.Subject(ns, subject)
	strip := len(s) - len(subject) // the prefix and namespace token to cut from what arrives
	if shared {
		strip = 0
	}
	handler := func(m *nats.Msg) {
		b.stats.Received.Add(1)
		deliver(plugin.BusMsg{Kind: abi.EventMessage, Subject: m.Subject[min(strip, len(m.Subject)):], Data: m.Data})
	}
	var sub *nats.Subscription
	var err error
	if queue != "" {
		sub, err = b.nc.QueueSubscribe(s, queue, handler)
	} else {
		sub, err = b.nc.Subscribe(s, handler)
	}
	if err != nil {
		return nil, abi.ErrUnavailable
	}
	// A flood on one subscription is bounded here too: past these, NATS drops (slow consumer).
	_ = sub.SetPendingLimits(65536, 64<<20)
	// nats.go writes the SUB asynchronously. Wait for the server's PONG to a PING sent after it
	// (the server handles a connection's protocol in order), so that when the plugin hears OK the
	// subscription is in place on the server, and a message anyone publishes through that server
	// afterwards reaches it (abi/ABI.md, "Bus"). When disconnected, or when the server does not
	// answer within subWait, the subscription still stands: nats.go sends it on (re)connecting.
	if b.nc.IsConnected() {
		_ = b.nc.FlushTimeout(b.subWait)
	}
	return func() { _ = sub.Unsubscribe() }, abi.OK
}

// Request implements plugin.Bus: the request goes out with the reply subject <inbox>.<id>; the
// first answer, a timeout or NATS's "no responders" status ends it.
func (b *Bus) Request(ns, subject string, data []byte, timeout time.Duration, deliver func(plugin.BusMsg)) (func(), abi.Status) {
	s, _ := b.Subject(ns, subject)
	id := b.nextReq.Add(1)
	r := &request{subject: subject, deliver: deliver}
	b.mu.Lock()
	b.pending[id] = r
	r.timer = time.AfterFunc(timeout, func() {
		if b.take(id) != nil {
			b.stats.Failed.Add(1)
			deliver(plugin.BusMsg{Kind: abi.EventError, Subject: subject, Data: []byte("timeout")})
		}
	})
	b.mu.Unlock()
	if st := b.enqueue(&nats.Msg{Subject: s, Reply: b.inbox + "." + strconv.FormatUint(id, 10), Data: data}); st != abi.OK {
		b.take(id)
		return nil, st
	}
	return func() { b.take(id) }, abi.OK
}

// take removes a pending request and returns it, or nil when it has already ended.
func (b *Bus) take(id uint64) *request {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.pending[id]
	if r != nil {
		delete(b.pending, id)
		r.timer.Stop()
	}
	return r
}

// onReply handles a message on the inbox.
func (b *Bus) onReply(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	id, err := strconv.ParseUint(m.Subject[i+1:], 10, 64)
	if err != nil {
		return
	}
	r := b.take(id)
	if r == nil {
		return // late: timed out or cancelled
	}
	if why, failed := failure(m); failed {
		b.stats.Failed.Add(1)
		r.deliver(plugin.BusMsg{Kind: abi.EventError, Subject: r.subject, Data: why})
		return
	}
	b.stats.Replies.Add(1)
	r.deliver(plugin.BusMsg{Kind: abi.EventReply, Subject: r.subject, Data: m.Data})
}

// Headers of an error answer, as NATS services (the nats.go micro package) send them.
const (
	HeaderServiceError     = "Nats-Service-Error"
	HeaderServiceErrorCode = "Nats-Service-Error-Code"
)

// failure tells whether an answer is a failure, and what the plugin gets as its data: the
// server's "no responders" status, or a service error (HeaderServiceError or
// HeaderServiceErrorCode set), whose data is the answer's body, or else its description.
func failure(m *nats.Msg) ([]byte, bool) {
	if m.Header == nil {
		return nil, false
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return []byte("no responders"), true
	}
	desc, code := m.Header.Get(HeaderServiceError), m.Header.Get(HeaderServiceErrorCode)
	if desc == "" && code == "" {
		return nil, false
	}
	if len(m.Data) > 0 {
		return m.Data, true
	}
	if desc == "" {
		desc = "error " + code
	}
	return []byte(desc), true
}
