package plugin

import (
	"container/heap"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wasmsock/wasmsock/abi"
)

// timerKey names a timer: its connection (0 for a plugin timer) and its name. Arming a name again
// replaces the timer.
type timerKey struct {
	conn uint64
	name string
}

type timer struct {
	key   timerKey
	due   time.Time
	every time.Duration // 0: once
	seq   uint64        // arming order, to break ties between timers due at the same time
	index int           // in the heap
}

// timerHeap orders timers by due time, then by arming order.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

// timers are a plugin's armed timers: host state, so they survive a reload and an instance
// restart (the guest that serves when one is due gets its on_timer). At most abi.MaxTimers are
// armed at once. A connection's timers end with it.
type timers struct {
	p      *Plugin
	now    func() time.Time
	manual bool // fired by fireDue only, never by the clock (plugintest)

	mu     sync.Mutex
	byKey  map[timerKey]*timer
	byConn map[uint64]map[string]*timer // the timers of each connection
	h      timerHeap
	seq    uint64

	wake chan struct{} // the earliest due time may have changed
	stop chan struct{}
	done chan struct{}
}

func newTimers(p *Plugin, now func() time.Time, manual bool) *timers {
	t := &timers{
		p: p, now: now, manual: manual,
		byKey: map[timerKey]*timer{}, byConn: map[uint64]map[string]*timer{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if manual {
		close(t.done)
	} else {
		go t.run()
	}
	return t
}

// validTimerName reports whether b is a valid timer name: 1 to abi.MaxTimerName bytes of valid
// UTF-8.
func validTimerName(b []byte) bool {
	return len(b) > 0 && len(b) <= abi.MaxTimerName && utf8.Valid(b)
}

// set arms (or re-arms) the timer named name of conn.
func (ts *timers) set(conn uint64, name string, delay, every time.Duration) abi.Status {
	ts.mu.Lock()
	key := timerKey{conn, name}
	t, ok := ts.byKey[key]
	if !ok {
		if len(ts.byKey) >= abi.MaxTimers {
			ts.mu.Unlock()
			return abi.ErrLimit
		}
		t = &timer{key: key, index: -1}
		ts.byKey[key] = t
		if ts.byConn[conn] == nil {
			ts.byConn[conn] = map[string]*timer{}
		}
		ts.byConn[conn][name] = t
	}
	ts.seq++
	t.due, t.every, t.seq = ts.now().Add(delay), every, ts.seq
	if t.index >= 0 {
		heap.Fix(&ts.h, t.index)
	} else {
		heap.Push(&ts.h, t)
	}
	ts.mu.Unlock()
	ts.poke()
	return abi.OK
}

// cancel disarms the timer named name of conn.
func (ts *timers) cancel(conn uint64, name string) abi.Status {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.byKey[timerKey{conn, name}]
	if !ok {
		return abi.ErrNotFound
	}
	ts.removeLocked(t)
	return abi.OK
}

func (ts *timers) removeLocked(t *timer) {
	if t.index >= 0 {
		heap.Remove(&ts.h, t.index)
	}
	delete(ts.byKey, t.key)
	m := ts.byConn[t.key.conn]
	delete(m, t.key.name)
	if len(m) == 0 {
		delete(ts.byConn, t.key.conn)
	}
}

// dropConn disarms every timer of conn, which has ended.
func (ts *timers) dropConn(conn uint64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range ts.byConn[conn] {
		ts.removeLocked(t)
	}
}

// poke tells the clock goroutine that the earliest due time may have changed.
func (ts *timers) poke() {
	select {
	case ts.wake <- struct{}{}:
	default:
	}
}

// popDue takes the earliest timer if it is due at now: a one-shot timer is disarmed, a repeating
// one re-armed for its next time (skipping the times it missed).
func (ts *timers) popDue(now time.Time) (timerKey, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.h) == 0 || ts.h[0].due.After(now) {
		return timerKey{}, false
	}
	t := ts.h[0]
	key := t.key
	if t.every > 0 {
		t.due = t.due.Add(t.every)
		if !t.due.After(now) {
			t.due = now.Add(t.every)
		}
		ts.seq++
		t.seq = ts.seq
		heap.Fix(&ts.h, 0)
	} else {
		ts.removeLocked(t)
	}
	return key, true
}

// next returns the earliest due time.
func (ts *timers) next() (time.Time, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.h) == 0 {
		return time.Time{}, false
	}
	return ts.h[0].due, true
}

// deliver hands the on_timer of key to the instance that serves its connection (instance 0 for
// a plugin timer), in order with its other events; like Message, it may run the guest on this
// goroutine when the instance is idle, and waits while the instance's mailbox is full. It
// reports false when the timers are stopping.
func (ts *timers) deliver(key timerKey, done chan<- struct{}) bool {
	select {
	case <-ts.stop:
		return false
	default:
	}
	ts.p.pick(key.conn).deliver(event{kind: evTimer, conn: key.conn, data: []byte(key.name), done: done})
	return true
}

// run fires timers by the clock until close.
func (ts *timers) run() {
	defer close(ts.done)
	clock := time.NewTimer(time.Hour)
	defer clock.Stop()
	for {
		for {
			key, ok := ts.popDue(ts.now())
			if !ok {
				break
			}
			if !ts.deliver(key, nil) {
				return
			}
		}
		wait := time.Hour
		if due, ok := ts.next(); ok {
			wait = max(due.Sub(ts.now()), 0)
		}
		clock.Reset(wait)
		select {
		case <-ts.stop:
			return
		case <-ts.wake:
		case <-clock.C:
		}
		if !clock.Stop() {
			select {
			case <-clock.C:
			default:
			}
		}
	}
}

// fireDue delivers every timer due now (by the plugin's clock) and returns how many; with wait,
// it returns once the instances have handled them. For ManualTimers.
func (ts *timers) fireDue(wait bool) int {
	now := ts.now()
	n := 0
	var dones []chan struct{}
	for {
		key, ok := ts.popDue(now)
		if !ok {
			break
		}
		var done chan struct{}
		if wait {
			done = make(chan struct{})
			dones = append(dones, done)
		}
		if !ts.deliver(key, done) {
			break
		}
		n++
	}
	for _, d := range dones {
		<-d
	}
	return n
}

func (ts *timers) close() {
	select {
	case <-ts.stop:
	default:
		close(ts.stop)
	}
	<-ts.done
}

// list returns the armed timers, earliest first.
func (ts *timers) list() []TimerInfo {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]TimerInfo, 0, len(ts.h))
	for _, t := range ts.h {
		out = append(out, TimerInfo{Conn: t.key.conn, Name: t.key.name, Due: t.due, Every: t.every})
	}
	slices.SortFunc(out, func(a, b TimerInfo) int { return a.Due.Compare(b.Due) })
	return out
}

func (ts *timers) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.byKey)
}

// TimerInfo describes an armed timer.
type TimerInfo struct {
	Conn  uint64        // 0 for a plugin timer
	Name  string        // its name
	Due   time.Time     // when it fires next, by the plugin's clock
	Every time.Duration // its interval; 0 for a timer that fires once
}

// Timers returns the plugin's armed timers, earliest first.
func (p *Plugin) Timers() []TimerInfo { return p.timers.list() }

// TimerCount is how many timers the plugin has armed.
func (p *Plugin) TimerCount() int { return p.timers.count() }

// NextTimer returns when the earliest armed timer is due.
func (p *Plugin) NextTimer() (time.Time, bool) { return p.timers.next() }

// FireTimers delivers the on_timer of every timer due by the plugin's clock (Options.Clock) and
// waits until the plugin has handled them; it returns how many fired. With Options.ManualTimers
// this is the only way timers fire (plugintest drives time this way).
func (p *Plugin) FireTimers() int { return p.timers.fireDue(true) }
