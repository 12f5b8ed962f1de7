package loadgen

// Benchmarks of the host against plain Go servers, with the same client load for each (the
// load generator's client and histogram).
//
//	go test -run '^$' -bench '^Benchmark(Echo|Broadcast)$' ./cmd/wasmsock/internal/loadgen/
//
// BenchmarkEcho: round trips of a 64-byte text message, through the Go echo plugin, the WAT echo
// plugin, and a plain gobwas/ws echo server with no plugin (the baseline: what a WebSocket server
// in Go does on this machine without the host). conns=64 runs 64 connections at once
// (b.RunParallel, one connection per goroutine); conns=1 is one connection doing one round trip
// at a time (the latency of a round trip).
//
// BenchmarkBroadcast: 1000 clients in one group, one of them sending, the 999 others receiving
// every message. wasmsock-plugin goes through the real host with testdata/wasm/fanout.wasm (the
// frame is built once and queued to each member; a writer per connection writes its queue with
// one writev); naive is a plain Go server whose sender's read loop writes the frame to each
// member in turn with conn.Write. The clients and the load are the same for both: the sender
// keeps at most bcastWindow messages in flight (a message is in flight until every receiver has
// it), which keeps each member's queue well below the host's default bound of 256 messages.
// An op is one message; the window's worth sent before b.Loop starts is measured too, so
// deliveries = (b.N + window) × 999, and ns/op is the time per message from the first send to
// the last receipt. p50-ms, p99-ms and max-ms are over every delivery, from the send to the
// receipt. slow-closes counts receivers the server closed with 1008 (a healthy run has none).
//
// Server and clients run in the same process, on the same cores: the clients' CPU time is part
// of what is measured, for every design alike. The host is the one TestMain starts (startHost),
// with the per-client limits off.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

const (
	benchMessageSize = 64               // bytes per message, echo and broadcast
	benchEchoConns   = 64               // connections of BenchmarkEcho's parallel variant
	bcastClients     = 1000             // clients of BenchmarkBroadcast, the sender included
	bcastWarmup      = 64               // messages sent before the measurement starts
	benchIOTimeout   = 10 * time.Second // a read or write that takes longer fails the benchmark
)

// bcastWindow is the largest number of broadcast messages in flight: sent, and not yet received
// by every receiver. It bounds what is queued for one connection; 64 is a quarter of the host's
// default queue bound (256 messages). A larger window lets the host coalesce more frames per
// write (more deliveries per second) at the price of latency (Little's law: latency ≈ window /
// message rate). Change it with: go test -run '^$' -bench '^BenchmarkBroadcast$'
// ./cmd/wasmsock/internal/loadgen/ -args -bcast-window=128
var bcastWindow = flag.Int64("bcast-window", 64, "BenchmarkBroadcast: messages in flight at most")

// dialBench opens n connections to url, 32 at a time, and fails tb unless all of them open. The
// run it returns has no load of its own: it is what closes the clients (closeAll) and stamps
// the broadcast payloads.
func dialBench(tb testing.TB, url string, n int) (*run, []*client) {
	tb.Helper()
	r := &run{
		cfg:        Config{URL: url, Conns: n, Timeout: benchIOTimeout, DialConcurrency: 32},
		base:       time.Now(),
		errors:     map[string]int64{},
		closeCodes: map[int]int64{},
	}
	clients := r.dialAll(context.Background())
	if len(clients) != n {
		r.closeAll(clients, nil)
		tb.Fatalf("%s: %d of %d connections opened: %v", url, len(clients), n, r.errors)
	}
	return r, clients
}

// ---- BenchmarkEcho ----

func BenchmarkEcho(b *testing.B) {
	targets := []struct{ name, url string }{
		{"plugin-go", base + "/echo"},
		{"plugin-wat", base + "/echo-wat"},
		{"gobwas-plain", startPlainEcho(b)},
	}

	// RunParallel runs parallelism × GOMAXPROCS goroutines; each takes a connection of its own.
	procs := runtime.GOMAXPROCS(0)
	parallelism := max(1, benchEchoConns/procs)
	nconns := parallelism * procs
	pools := map[string]chan *client{}
	for _, tg := range targets {
		r, clients := dialBench(b, tg.url, nconns)
		b.Cleanup(func() { r.closeAll(clients, nil) })
		pool := make(chan *client, nconns)
		for _, c := range clients {
			pool <- c
		}
		pools[tg.name] = pool
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), benchMessageSize/16)

	for _, tg := range targets {
		b.Run(fmt.Sprintf("conns=%d/%s", nconns, tg.name), func(b *testing.B) {
			pool := pools[tg.name]
			b.SetParallelism(parallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := <-pool
				defer func() { pool <- c }()
				for pb.Next() {
					if err := c.roundTrip(payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	for _, tg := range targets {
		b.Run("conns=1/"+tg.name, func(b *testing.B) {
			c := <-pools[tg.name]
			defer func() { pools[tg.name] <- c }()
			var h histogram
			for b.Loop() {
				t0 := time.Now()
				if err := c.roundTrip(payload); err != nil {
					b.Fatal(err)
				}
				h.record(time.Since(t0))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(h.quantile(0.99))/1e3, "p99-us")
		})
	}
}

// roundTrip sends p as a text message and waits for the same bytes to come back.
func (c *client) roundTrip(p []byte) error {
	if err := c.writeFrame(ws.OpText, p); err != nil {
		return err
	}
	op, got, err := c.next()
	if err != nil {
		return err
	}
	if op != ws.OpText || !bytes.Equal(got, p) {
		return fmt.Errorf("echo: got op %v %q, want text %q", op, got, p)
	}
	return nil
}

// startPlainEcho serves the plain gobwas/ws echo server of "wasmsock bench -serve gobwas"
// (plainEcho).
func startPlainEcho(tb testing.TB) string {
	return startPlainServer(tb, plainEcho)
}

// ---- BenchmarkBroadcast ----

func BenchmarkBroadcast(b *testing.B) {
	b.Run("wasmsock-plugin", func(b *testing.B) {
		runBroadcast(b, base+"/fanout")
	})
	b.Run("naive", func(b *testing.B) {
		runBroadcast(b, startNaiveBroadcast(b))
	})
}

// runBroadcast connects bcastClients clients to url (a route where a message from one client
// reaches every other), sends from the first and measures the deliveries to the others.
func runBroadcast(b *testing.B, url string) {
	r, clients := dialBench(b, url, bcastClients)
	measureBroadcast(b, r, clients)
}

// measureBroadcast runs the broadcast load on clients, whose first one sends.
func measureBroadcast(b *testing.B, r *run, clients []*client) {
	st := newBcastState(r, clients)
	defer st.stopReaders()

	// Warm up (and check that everyone is in the group) before measuring.
	for range bcastWarmup {
		if err := st.send(); err != nil {
			st.fatal(b, err)
		}
	}
	if err := st.drain(); err != nil {
		st.fatal(b, err)
	}
	// Measured: every message from here on, until the last one has reached every receiver.
	st.measureFrom.Store(st.sent)
	start := time.Now()
	// Fill the window before b.Loop starts its clock: in the loop, every send then waits for a
	// slot, so an op costs what it costs in the steady state from the first one (otherwise the
	// first window of sends is free and b.Loop's ramp-up overshoots, by minutes for the naive
	// server).
	for range *bcastWindow {
		if err := st.send(); err != nil {
			st.fatal(b, err)
		}
	}
	for b.Loop() {
		if err := st.send(); err != nil {
			st.fatal(b, err)
		}
	}
	if err := st.drain(); err != nil {
		st.fatal(b, err)
	}
	elapsed := time.Duration(st.lastDone.Load()) - time.Duration(start.Sub(r.base))
	if elapsed <= 0 {
		elapsed = time.Since(start)
	}
	msgs := st.sent - st.measureFrom.Load()
	deliveries := msgs * int64(st.receivers)
	h := st.mergedHist()
	if h.n != uint64(deliveries) {
		b.Errorf("latency samples = %d, want %d", h.n, deliveries)
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(msgs), "ns/op")
	b.ReportMetric(float64(deliveries)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(h.quantile(0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(h.quantile(0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(h.max)/1e6, "max-ms")
	b.ReportMetric(float64(st.slowCloses.Load()), "slow-closes")
}

// bcastState is the sender's and the receivers' shared bookkeeping. Payload timestamps are
// nanoseconds since run.base (run.payload, parsePayload).
//
// Message seq is complete once every receiver has it. Each connection delivers in order, so
// messages complete in order, and the sender only needs a count: it sends message seq when
// fewer than bcastWindow messages are incomplete.
type bcastState struct {
	run       *run
	clients   []*client
	sender    *client
	receivers int

	sent        int64        // sender goroutine only
	measureFrom atomic.Int64 // first seq whose latency is recorded
	pending     []atomic.Int32
	completed   atomic.Int64
	lastDone    atomic.Int64 // when the latest message completed, in ns since run.base
	wake        chan struct{}
	timer       *time.Timer
	payload     []byte

	failed     chan struct{}
	failOnce   sync.Once
	failErr    error
	stopping   atomic.Bool
	slowCloses atomic.Int64
	readers    sync.WaitGroup
	hists      []*histogram
}

func newBcastState(r *run, clients []*client) *bcastState {
	st := &bcastState{
		run:       r,
		clients:   clients,
		sender:    clients[0],
		receivers: len(clients) - 1,
		pending:   make([]atomic.Int32, 2*max(*bcastWindow, 512)), // slots are reused: > window
		wake:      make(chan struct{}, 1),
		timer:     time.NewTimer(time.Hour),
		payload:   newPayload(benchMessageSize),
		failed:    make(chan struct{}),
		hists:     make([]*histogram, len(clients)),
	}
	st.measureFrom.Store(math.MaxInt64) // until the warm-up is over
	for i, c := range clients {
		st.hists[i] = new(histogram)
		st.readers.Add(1)
		go st.read(c, st.hists[i], i == 0)
	}
	return st
}

// fatal ends the benchmark with err, saying how many receivers the server closed as slow
// consumers (1008): a healthy run has none.
func (st *bcastState) fatal(b *testing.B, err error) {
	b.Helper()
	if n := st.slowCloses.Load(); n > 0 {
		b.Fatalf("%v; %d receivers closed by the server with 1008 (slow consumer: outbound queue full)", err, n)
	}
	b.Fatal(err)
}

func (st *bcastState) fail(err error) {
	st.failOnce.Do(func() {
		st.failErr = err
		close(st.failed)
	})
}

// waitWindow blocks until fewer than n messages are in flight.
func (st *bcastState) waitWindow(n int64) error {
	for st.sent-st.completed.Load() >= n {
		st.timer.Reset(benchIOTimeout)
		select {
		case <-st.wake:
		case <-st.failed:
			return st.failErr
		case <-st.timer.C:
			return fmt.Errorf("broadcast stalled: %d of %d messages complete after %v without progress",
				st.completed.Load(), st.sent, benchIOTimeout)
		}
	}
	return nil
}

// send sends the next message once the window allows it: the sequence number and the send
// time, padded to benchMessageSize.
func (st *bcastState) send() error {
	if err := st.waitWindow(*bcastWindow); err != nil {
		return err
	}
	st.run.payload(st.payload, uint64(st.sent))
	if err := st.sender.writeFrame(ws.OpText, st.payload); err != nil {
		return err
	}
	st.sent++
	return nil
}

// drain waits until every message sent has reached every receiver.
func (st *bcastState) drain() error { return st.waitWindow(1) }

func (st *bcastState) read(c *client, h *histogram, isSender bool) {
	defer st.readers.Done()
	for {
		op, p, err := c.next()
		if err != nil {
			if st.stopping.Load() {
				return
			}
			if errors.Is(err, errIdle) && isSender {
				continue // the sender receives nothing: being idle is its normal state
			}
			var ce closeFrameError
			if errors.As(err, &ce) && ce.code == 1008 {
				st.slowCloses.Add(1)
			}
			st.fail(fmt.Errorf("client %d: %w", c.id, err))
			return
		}
		if isSender {
			st.fail(fmt.Errorf("the sender received a message: %q", p))
			return
		}
		seq, sentAt, ok := parsePayload(p)
		if op != ws.OpText || len(p) != benchMessageSize || !ok {
			st.fail(fmt.Errorf("client %d: unexpected message op %v %q", c.id, op, p))
			return
		}
		now := c.recvAt.Sub(st.run.base)
		if int64(seq) >= st.measureFrom.Load() {
			h.record(now - sentAt)
		}
		slot := &st.pending[seq%uint64(len(st.pending))]
		if slot.Add(1) == int32(st.receivers) {
			slot.Store(0)
			st.lastDone.Store(int64(now))
			st.completed.Add(1)
			select {
			case st.wake <- struct{}{}:
			default:
			}
		}
	}
}

// stopReaders closes every client (close 1000, answered by the server) and waits for the
// readers to see it.
func (st *bcastState) stopReaders() {
	st.stopping.Store(true)
	st.timer.Stop()
	st.run.closeAll(st.clients, &st.readers)
}

func (st *bcastState) mergedHist() *histogram {
	var m histogram
	for _, h := range st.hists {
		m.merge(h)
	}
	return &m
}

// startNaiveBroadcast serves the design queue-and-coalesce replaces: the read loop of the
// connection that sent a message writes it to every other member in turn, synchronously, before
// it reads the next message.
func startNaiveBroadcast(tb testing.TB) string {
	var g group[*naiveMember]
	return startPlainServer(tb, func(nc net.Conn) {
		me := &naiveMember{nc: nc}
		g.join(me)
		defer g.leave(me)
		readFrames(bufio.NewReader(nc), nc, func(frame []byte) {
			for _, m := range g.snapshot() {
				if m == me {
					continue
				}
				m.mu.Lock()
				_ = m.nc.SetWriteDeadline(time.Now().Add(benchIOTimeout))
				_, err := m.nc.Write(frame)
				m.mu.Unlock()
				if err != nil {
					_ = m.nc.Close()
				}
			}
		})
	})
}

type naiveMember struct {
	nc net.Conn
	mu sync.Mutex // one writer at a time, should several clients send
}

// ---- plain servers ----

// startPlainServer serves a gobwas/ws server with no plugin: each accepted connection is
// upgraded with ws.Upgrade on the raw net.Conn and handed to serve on its own goroutine. It
// returns the server's ws:// URL; the server stops when tb's test ends.
func startPlainServer(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					_ = nc.Close()
					mu.Lock()
					delete(conns, nc)
					mu.Unlock()
				}()
				_ = nc.SetDeadline(time.Now().Add(benchIOTimeout))
				if _, err := ws.Upgrade(nc); err != nil {
					return
				}
				_ = nc.SetDeadline(time.Time{})
				serve(nc)
			}()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for nc := range conns {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "ws://" + ln.Addr().String() + "/ws"
}
