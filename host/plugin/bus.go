package plugin

import (
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmsock/wasmsock/abi"
)

// Bus is what the bus host functions (publish, subscribe, unsubscribe, request; ABI.md, "Bus")
// act on: one plugin's side of the event bus. The namespace argument is the namespace the plugin
// acts in; the Bus maps subjects into it, so that tenancy holds (package host/bus).
//
// Implementations must not block: deliver is called from the bus's own goroutines and must
// return at once; Publish and Request queue or refuse (abi.ErrBusy).
type Bus interface {
	// Publish sends data to subject. subject is valid per abi.ValidSubject(subject, false).
	Publish(ns, subject string, data []byte) abi.Status
	// Subscribe delivers every message on subject (a pattern per abi.ValidSubject(subject,
	// true)) to deliver, until the returned function is called. queue, if not empty, is a queue
	// group: one member of the group gets each message.
	Subscribe(ns, subject, queue string, deliver func(BusMsg)) (unsubscribe func(), st abi.Status)
	// Request sends data to subject with a reply subject and calls deliver exactly once with the
	// answer (abi.EventReply) or the failure (abi.EventError), unless the returned function is
	// called first.
	Request(ns, subject string, data []byte, timeout time.Duration, deliver func(BusMsg)) (cancel func(), st abi.Status)
}

// BusMsg is a message from the bus, for on_event.
type BusMsg struct {
	Kind    int32  // abi.EventMessage, abi.EventReply or abi.EventError
	Subject string // as the plugin named it (relative to its namespace)
	Data    []byte
}

// NamespacedHost is implemented by a Host that can act for a namespace when no connection's event
// is being handled (on_event): InNamespace returns the Host as seen from namespace ns, where
// current 0 stands for ns instead of the default namespace.
type NamespacedHost interface {
	InNamespace(ns string) Host
}

// Bus limits per instance (ABI.md, "Bus").
const (
	// MaxSubscriptions is the most subscriptions one instance holds at once.
	MaxSubscriptions = 4096
	// MaxPendingRequests is the most requests one instance waits on at once.
	MaxPendingRequests = 4096
	// DefaultEventQueue is the default number of bus events queued per instance for on_event;
	// beyond it events are dropped and counted (Stats.EventsDropped).
	DefaultEventQueue = 256
)

// busEvent is a bus message on its way to the instance that subscribed or requested.
type busEvent struct {
	guest *guest // the guest that made the subscription or request; another one drops it
	id    int32
	ns    string
	msg   BusMsg
	done  bool // a request's final event: forget the id
}

// busState is a guest's subscriptions and pending requests, touched only by the goroutine that
// runs the guest.
type busState struct {
	next     int32
	subs     map[int32]busSub
	requests map[int32]func()
}

type busSub struct {
	ns     string
	cancel func()
}

func (g *guest) busAlloc() int32 {
	if g.bus.subs == nil {
		g.bus.subs, g.bus.requests = map[int32]busSub{}, map[int32]func(){}
	}
	for {
		g.bus.next++
		if g.bus.next <= 0 {
			g.bus.next = 1
		}
		_, s := g.bus.subs[g.bus.next]
		_, r := g.bus.requests[g.bus.next]
		if !s && !r {
			return g.bus.next
		}
	}
}

// closeBus ends every subscription and request of the guest.
func (g *guest) closeBus() {
	for _, s := range g.bus.subs {
		s.cancel()
	}
	for _, c := range g.bus.requests {
		c()
	}
	g.bus.subs, g.bus.requests = nil, nil
}

// namespace is the namespace the guest acts in now (ABI.md, "Namespaces").
func (g *guest) namespace() string {
	if g.scoped != nil {
		return g.scopedNS
	}
	if g.current == 0 {
		return ""
	}
	ns, _ := g.host().ConnGet(g.current, g.current, "namespace")
	return ns
}

// host is the Host the guest's calls go to: the plugin's, or during on_event its view from the
// event's namespace. Every host function reaches the Host through it, never through
// g.plugin.host, which during on_event would act in the default namespace instead of the
// event's (TestHostFunctionsUseScopedHost).
func (g *guest) host() Host {
	if g.scoped != nil {
		return g.scoped
	}
	return g.plugin.host
}

// queueEvent hands a bus event to the instance that owns the guest, without blocking: when the
// instance already has its share of bus events queued, the event is dropped and counted.
func (g *guest) queueEvent(ev busEvent) {
	p := g.plugin
	in := p.pool[g.index]
	if ev.done {
		// A request's answer: bounded by MaxPendingRequests, never dropped (the guest would wait
		// on the id forever), and never blocking the bus's goroutine: queued whatever the
		// mailbox's bounds.
		in.control(event{kind: evBus, bus: &ev})
		return
	}
	if in.busQueued.Add(1) > int64(p.opts.EventQueue) {
		in.busQueued.Add(-1)
		p.stats.EventsDropped.Add(1)
		return
	}
	if !in.offer(event{kind: evBus, bus: &ev}, nil) {
		in.busQueued.Add(-1)
		p.stats.EventsDropped.Add(1)
	}
}

// handleBus runs on_event for a bus event, in the instance's goroutine.
func (in *instance) handleBus(ev *busEvent) error {
	if !ev.done {
		in.busQueued.Add(-1)
	}
	g, p := in.g, in.plugin
	if g == nil || g != ev.guest {
		p.stats.EventsDropped.Add(1) // the guest that asked is gone (fault or reload)
		return nil
	}
	if ev.done {
		if _, ok := g.bus.requests[ev.id]; !ok {
			return nil // cancelled
		}
		delete(g.bus.requests, ev.id)
	} else if _, ok := g.bus.subs[ev.id]; !ok {
		return nil // unsubscribed while the message was queued
	}
	if g.fns.onEvent == nil {
		return nil
	}
	payload := make([]byte, 0, len(ev.msg.Subject)+len(ev.msg.Data))
	payload = append(append(payload, ev.msg.Subject...), ev.msg.Data...)
	g.setPayload(payload)
	if nh, ok := p.host.(NamespacedHost); ok {
		g.scoped, g.scopedNS = nh.InNamespace(ev.ns), ev.ns
	}
	g.stack[0], g.stack[1] = uint64(uint32(ev.id)), uint64(uint32(ev.msg.Kind))
	g.stack[2], g.stack[3] = uint64(len(ev.msg.Subject)), uint64(len(ev.msg.Data))
	err := p.timed(evBus, g, g.fns.onEvent, 0)
	g.scoped, g.scopedNS = nil, ""
	g.clearPayload()
	p.stats.Events.Add(1)
	return err
}

func hostPublish(g *guest, mem api.Memory, stack []uint64) abi.Status {
	b, subject, data, st := busMessageArgs(g, mem, stack)
	if st != abi.OK {
		return st
	}
	return b.Publish(g.namespace(), subject, data)
}

// busMessageArgs reads the subject (stack[0], stack[1]) and the data (stack[2], stack[3]) of
// publish and request, checks them and finds the bus, with the statuses in ABI.md's order of
// precedence: ErrBadPointer, ErrInvalidArgument (a bad subject), ErrUnavailable (no bus).
func busMessageArgs(g *guest, mem api.Memory, stack []uint64) (b Bus, subject string, data []byte, st abi.Status) {
	sub, sok := read(mem, uint64(api.DecodeU32(stack[0])), uint64(api.DecodeU32(stack[1])))
	data, dok := read(mem, uint64(api.DecodeU32(stack[2])), uint64(api.DecodeU32(stack[3])))
	if !sok || !dok {
		return nil, "", nil, abi.ErrBadPointer
	}
	if !abi.ValidSubject(string(sub), false) {
		return nil, "", nil, abi.ErrInvalidArgument
	}
	if b = g.plugin.opts.Bus; b == nil {
		return nil, "", nil, abi.ErrUnavailable
	}
	return b, string(sub), data, abi.OK
}

func hostSubscribe(g *guest, mem api.Memory, stack []uint64) abi.Status {
	subject, sok := read(mem, uint64(api.DecodeU32(stack[0])), uint64(api.DecodeU32(stack[1])))
	queue, qok := read(mem, uint64(api.DecodeU32(stack[2])), uint64(api.DecodeU32(stack[3])))
	if !sok || !qok {
		return abi.ErrBadPointer
	}
	if !abi.ValidSubject(string(subject), true) || (len(queue) > 0 && !abi.ValidQueueName(string(queue))) {
		return abi.ErrInvalidArgument
	}
	b := g.plugin.opts.Bus
	if b == nil {
		return abi.ErrUnavailable
	}
	if len(g.bus.subs) >= MaxSubscriptions {
		return abi.ErrBusy
	}
	id := g.busAlloc()
	ns := g.namespace()
	cancel, st := b.Subscribe(ns, string(subject), string(queue), func(m BusMsg) {
		g.queueEvent(busEvent{guest: g, id: id, ns: ns, msg: m})
	})
	if st != abi.OK {
		return st
	}
	g.bus.subs[id] = busSub{ns: ns, cancel: cancel}
	return abi.Status(id)
}

func hostUnsubscribe(g *guest, _ api.Memory, stack []uint64) abi.Status {
	id := api.DecodeI32(stack[0])
	s, ok := g.bus.subs[id]
	if !ok || s.ns != g.namespace() {
		return abi.ErrNotFound
	}
	s.cancel()
	delete(g.bus.subs, id)
	return abi.OK
}

func hostRequest(g *guest, mem api.Memory, stack []uint64) abi.Status {
	timeoutMS := api.DecodeI32(stack[4])
	if timeoutMS < 0 || timeoutMS > abi.MaxRequestTimeoutMS {
		return abi.ErrInvalidArgument
	}
	if timeoutMS == 0 {
		timeoutMS = abi.DefaultRequestTimeoutMS
	}
	b, subject, data, st := busMessageArgs(g, mem, stack)
	if st != abi.OK {
		return st
	}
	if len(g.bus.requests) >= MaxPendingRequests {
		return abi.ErrBusy
	}
	id := g.busAlloc()
	ns := g.namespace()
	cancel, st := b.Request(ns, subject, data, time.Duration(timeoutMS)*time.Millisecond, func(m BusMsg) {
		g.queueEvent(busEvent{guest: g, id: id, ns: ns, msg: m, done: true})
	})
	if st != abi.OK {
		return st
	}
	g.bus.requests[id] = cancel
	return abi.Status(id)
}
