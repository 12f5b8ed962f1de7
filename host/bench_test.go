package host_test

// Benchmarks of the host against plain Go servers, with the same client load for each.
//
//	go test -run '^$' -bench '^Benchmark(Echo|Broadcast)$' ./host/
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
// of what is measured, for every design alike.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
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
// message rate). Change it with: go test -run '^$' -bench '^BenchmarkBroadcast$' ./host/ -args
// -bcast-window=128
var bcastWindow = flag.Int64("bcast-window", 64, "BenchmarkBroadcast: messages in flight at most")

// benchLimits turns off the per-client limits: a benchmark's load comes from one IP and is far
// over them on purpose (thousands of messages per second on one connection, a thousand
// connections opened at once). The queue bounds keep their defaults.
const benchLimits = `[limits]
max_connections_per_ip = 0
connections_per_second_per_ip = 0
messages_per_second = 0
`

// startBenchServer serves module on /ws with benchLimits and returns the route's URL.
func startBenchServer(b *testing.B, module string) string {
	b.Helper()
	_, base := startConfigTop(b, benchLimits, module, "[[route]]\npath = \"/ws\"\nplugin = \"p\"\n")
	return base + "/ws"
}

// ---- BenchmarkEcho ----

func BenchmarkEcho(b *testing.B) {
	goURL := startBenchServer(b, "../plugins/echo/echo.wasm")
	watURL := startBenchServer(b, "../testdata/wasm/echo.wasm")
	targets := []struct{ name, url string }{
		{"plugin-go", goURL},
		{"plugin-wat", watURL},
		{"gobwas-plain", startPlainEcho(b)},
	}

	// RunParallel runs parallelism × GOMAXPROCS goroutines; each takes a connection of its own.
	procs := runtime.GOMAXPROCS(0)
	parallelism := max(1, benchEchoConns/procs)
	nconns := parallelism * procs
	pools := map[string]chan *benchClient{}
	for _, tg := range targets {
		clients, err := dialBenchClients(tg.url, nconns)
		if err != nil {
			b.Fatalf("%s: %v", tg.name, err)
		}
		b.Cleanup(func() { closeBenchClients(clients) })
		pool := make(chan *benchClient, nconns)
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
			var h latencyHist
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
func (c *benchClient) roundTrip(p []byte) error {
	if err := c.send(ws.OpText, p); err != nil {
		return err
	}
	op, got, err := c.nextData()
	if err != nil {
		return err
	}
	if op != ws.OpText || !bytes.Equal(got, p) {
		return fmt.Errorf("echo: got op %v %q, want text %q", op, got, p)
	}
	return nil
}

// startPlainEcho serves a plain Go echo server, with no plugin: gobwas/ws's ws.Upgrade on the
// raw connection, then wsutil's read and write helpers, one goroutine per connection. Messages
// are written through a bufio.Writer flushed after each: wsutil.WriteServerMessage writes the
// header and the payload separately, which is two syscalls on a bare net.Conn.
func startPlainEcho(tb testing.TB) string {
	return startPlainServer(tb, func(nc net.Conn, _ *plainServer) {
		bw := bufio.NewWriter(nc)
		rw := struct {
			io.Reader
			io.Writer // ReadClientData answers pings and close frames here
		}{bufio.NewReader(nc), nc}
		for {
			data, op, err := wsutil.ReadClientData(rw)
			if err != nil {
				return
			}
			if err := wsutil.WriteServerMessage(bw, op, data); err != nil {
				return
			}
			if err := bw.Flush(); err != nil {
				return
			}
		}
	})
}

// ---- BenchmarkBroadcast ----

func BenchmarkBroadcast(b *testing.B) {
	b.Run("wasmsock-plugin", func(b *testing.B) {
		runBroadcast(b, startBenchServer(b, "../testdata/wasm/fanout.wasm"))
	})
	b.Run("naive", func(b *testing.B) {
		runBroadcast(b, startNaiveBroadcast(b))
	})
}

// runBroadcast connects bcastClients clients to url (a route where a message from one client
// reaches every other), sends from the first and measures the deliveries to the others.
func runBroadcast(b *testing.B, url string) {
	clients, err := dialBenchClients(url, bcastClients)
	if err != nil {
		b.Fatal(err)
	}
	defer closeBenchClients(clients)
	st := newBcastState(clients)
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
	elapsed := time.Duration(st.lastDone.Load()) - time.Duration(start.Sub(st.base))
	if elapsed <= 0 {
		elapsed = time.Since(start)
	}
	msgs := st.sent - st.measureFrom.Load()
	deliveries := msgs * int64(st.receivers)
	h := st.mergedHist()
	if h.total() != uint64(deliveries) {
		b.Errorf("latency samples = %d, want %d", h.total(), deliveries)
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(msgs), "ns/op")
	b.ReportMetric(float64(deliveries)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(h.quantile(0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(h.quantile(0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(h.max)/1e6, "max-ms")
	b.ReportMetric(float64(st.slowCloses.Load()), "slow-closes")
}

// bcastState is the sender's and the receivers' shared bookkeeping.
//
// Message seq is complete once every receiver has it. Each connection delivers in order, so
// messages complete in order, and the sender only needs a count: it sends message seq when
// fewer than bcastWindow messages are incomplete.
type bcastState struct {
	clients   []*benchClient
	sender    *benchClient
	receivers int
	base      time.Time // payload timestamps are nanoseconds since base (monotonic)

	sent        int64        // sender goroutine only
	measureFrom atomic.Int64 // first seq whose latency is recorded
	pending     []atomic.Int32
	completed   atomic.Int64
	lastDone    atomic.Int64 // when the latest message completed, in ns since base
	wake        chan struct{}
	timer       *time.Timer
	payload     []byte

	failed     chan struct{}
	failOnce   sync.Once
	failErr    error
	stopping   atomic.Bool
	slowCloses atomic.Int64
	readers    sync.WaitGroup
	hists      []*latencyHist
}

func newBcastState(clients []*benchClient) *bcastState {
	st := &bcastState{
		clients:   clients,
		sender:    clients[0],
		receivers: len(clients) - 1,
		base:      time.Now(),
		pending:   make([]atomic.Int32, 2*max(*bcastWindow, 512)), // slots are reused: > window
		wake:      make(chan struct{}, 1),
		timer:     time.NewTimer(time.Hour),
		payload:   make([]byte, benchMessageSize),
		failed:    make(chan struct{}),
		hists:     make([]*latencyHist, len(clients)),
	}
	st.measureFrom.Store(math.MaxInt64) // until the warm-up is over
	for i, c := range clients {
		st.hists[i] = new(latencyHist)
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

// send sends the next message once the window allows it. The payload is text: the sequence
// number and the send time as 16 hex digits each, padded to benchMessageSize.
func (st *bcastState) send() error {
	if err := st.waitWindow(*bcastWindow); err != nil {
		return err
	}
	p := st.payload[:0]
	p = appendHex16(p, uint64(st.sent))
	p = appendHex16(p, uint64(time.Since(st.base)))
	for len(p) < benchMessageSize {
		p = append(p, '.')
	}
	if err := st.sender.send(ws.OpText, p); err != nil {
		return err
	}
	st.sent++
	return nil
}

// drain waits until every message sent has reached every receiver.
func (st *bcastState) drain() error { return st.waitWindow(1) }

func (st *bcastState) read(c *benchClient, h *latencyHist, isSender bool) {
	defer st.readers.Done()
	for {
		op, p, err := c.nextData()
		if err != nil {
			if st.stopping.Load() {
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() && isSender {
				continue // the sender receives nothing: being idle is its normal state
			}
			var ce closedError
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
		if op != ws.OpText || len(p) != benchMessageSize {
			st.fail(fmt.Errorf("client %d: unexpected message op %v %q", c.id, op, p))
			return
		}
		seq, ok1 := parseHex16(p[0:16])
		ts, ok2 := parseHex16(p[16:32])
		if !ok1 || !ok2 {
			st.fail(fmt.Errorf("client %d: bad payload %q", c.id, p))
			return
		}
		now := c.recvAt.Sub(st.base)
		if int64(seq) >= st.measureFrom.Load() {
			h.record(now - time.Duration(ts))
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
	closeBenchClients(st.clients)
	st.readers.Wait()
}

func (st *bcastState) mergedHist() *latencyHist {
	var m latencyHist
	for _, h := range st.hists {
		m.merge(h)
	}
	return &m
}

// naiveServer is the design queue-and-coalesce replaces: the read loop of the connection that
// sent a message writes it to every other member in turn, synchronously, before it reads the
// next message.
type naiveServer struct {
	mu      sync.Mutex
	members []*naiveMember // copy on write
}

type naiveMember struct {
	nc net.Conn
	mu sync.Mutex // one writer at a time, should several clients send
}

func startNaiveBroadcast(tb testing.TB) string {
	ns := &naiveServer{}
	return startPlainServer(tb, func(nc net.Conn, _ *plainServer) {
		me := &naiveMember{nc: nc}
		ns.mu.Lock()
		ns.members = append(ns.members[:len(ns.members):len(ns.members)], me)
		ns.mu.Unlock()
		defer func() {
			ns.mu.Lock()
			out := make([]*naiveMember, 0, len(ns.members))
			for _, m := range ns.members {
				if m != me {
					out = append(out, m)
				}
			}
			ns.members = out
			ns.mu.Unlock()
		}()
		rw := struct {
			io.Reader
			io.Writer
		}{bufio.NewReader(nc), nc}
		for {
			data, op, err := wsutil.ReadClientData(rw)
			if err != nil {
				return
			}
			frame, err := ws.CompileFrame(ws.NewFrame(op, true, data))
			if err != nil {
				return
			}
			ns.mu.Lock()
			members := ns.members
			ns.mu.Unlock()
			for _, m := range members {
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
		}
	})
}

// ---- plain servers ----

// plainServer is a gobwas/ws server with no plugin: each accepted connection is upgraded with
// ws.Upgrade on the raw net.Conn and handed to serve on its own goroutine.
type plainServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startPlainServer(tb testing.TB, serve func(net.Conn, *plainServer)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &plainServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[nc] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					_ = nc.Close()
					s.mu.Lock()
					delete(s.conns, nc)
					s.mu.Unlock()
				}()
				_ = nc.SetDeadline(time.Now().Add(benchIOTimeout))
				if _, err := ws.Upgrade(nc); err != nil {
					return
				}
				_ = nc.SetDeadline(time.Time{})
				serve(nc, s)
			}()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for nc := range s.conns {
			_ = nc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return "ws://" + ln.Addr().String() + "/ws"
}

// ---- client ----

// benchClient is a lean WebSocket client for the benchmarks: it writes masked frames from one
// reused buffer and reads server frames from a bufio.Reader, allocating nothing per message.
// One goroutine sends and one reads (they may be the same).
type benchClient struct {
	id int
	nc net.Conn
	br *bufio.Reader

	wbuf          []byte
	rbuf          []byte
	recvAt        time.Time // when the bytes being parsed were read from the socket
	readDeadline  time.Time // the deadline is moved forward at most once a second
	writeDeadline time.Time
	closeOnce     sync.Once
}

// closedError is a close frame from the server.
type closedError struct {
	code   int
	reason string
}

func (e closedError) Error() string {
	return fmt.Sprintf("closed by the server: %d %q", e.code, e.reason)
}

func dialBenchClient(id int, url string) (*benchClient, error) {
	d := ws.Dialer{Timeout: benchIOTimeout}
	ctx, cancel := context.WithTimeout(context.Background(), benchIOTimeout)
	defer cancel()
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	var src io.Reader = nc
	if br != nil {
		// Bytes the dialer read past the handshake come first.
		pre, _ := br.Peek(br.Buffered())
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pre)), nc)
		ws.PutReader(br)
	}
	return &benchClient{id: id, nc: nc, br: bufio.NewReaderSize(src, 32<<10)}, nil
}

// dialBenchClients opens n connections, a few at a time.
func dialBenchClients(url string, n int) ([]*benchClient, error) {
	clients := make([]*benchClient, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			clients[i], errs[i] = dialBenchClient(i, url)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range clients {
			if c != nil {
				_ = c.nc.Close()
			}
		}
		return nil, err
	}
	return clients, nil
}

// closeBenchClients sends close 1000 on every connection and closes them: the server sees a
// clean close. It does not wait for the server's answer: a reader may still be running.
func closeBenchClients(clients []*benchClient) {
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close()
		}()
	}
	wg.Wait()
}

func (c *benchClient) close() {
	c.closeOnce.Do(func() {
		body := make([]byte, 2)
		binary.BigEndian.PutUint16(body, 1000)
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_ = c.writeFrame(ws.OpClose, body)
		// Let the server answer and close its side before we drop ours.
		_ = c.nc.(*net.TCPConn).CloseWrite()
		time.AfterFunc(2*time.Second, func() { _ = c.nc.Close() })
	})
}

// send writes one masked message in one frame.
func (c *benchClient) send(op ws.OpCode, p []byte) error {
	if now := time.Now(); now.After(c.writeDeadline.Add(-benchIOTimeout + time.Second)) {
		c.writeDeadline = now.Add(benchIOTimeout)
		_ = c.nc.SetWriteDeadline(c.writeDeadline)
	}
	return c.writeFrame(op, p)
}

func (c *benchClient) writeFrame(op ws.OpCode, p []byte) error {
	b := append(c.wbuf[:0], 0x80|byte(op))
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, p...)
	ws.Cipher(b[start:], key, 0)
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

// nextData returns the next data message; its bytes are valid until the next call. Pings are
// answered; a close frame is returned as a closedError.
func (c *benchClient) nextData() (ws.OpCode, []byte, error) {
	for {
		if c.br.Buffered() == 0 {
			// About to wait for the socket: move the deadline (at most once a second), and
			// note when the bytes arrived (the receive time of every frame in this read).
			if now := time.Now(); now.After(c.readDeadline.Add(-benchIOTimeout + time.Second)) {
				c.readDeadline = now.Add(benchIOTimeout)
				_ = c.nc.SetReadDeadline(c.readDeadline)
			}
			if _, err := c.br.Peek(1); err != nil {
				return 0, nil, err
			}
			c.recvAt = time.Now()
		}
		b0, err := c.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		b1, err := c.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		if b1&0x80 != 0 {
			return 0, nil, errors.New("server frame is masked")
		}
		if b0&0x80 == 0 {
			return 0, nil, errors.New("server sent a fragmented message")
		}
		n := uint64(b1 & 0x7f)
		switch n {
		case 126, 127:
			var ext [8]byte
			k := 2
			if n == 127 {
				k = 8
			}
			if _, err := io.ReadFull(c.br, ext[:k]); err != nil {
				return 0, nil, err
			}
			if k == 2 {
				n = uint64(binary.BigEndian.Uint16(ext[:2]))
			} else {
				n = binary.BigEndian.Uint64(ext[:8])
			}
		}
		if n > 16<<20 {
			return 0, nil, fmt.Errorf("server frame of %d bytes", n)
		}
		if uint64(cap(c.rbuf)) < n {
			c.rbuf = make([]byte, n)
		}
		p := c.rbuf[:n]
		if _, err := io.ReadFull(c.br, p); err != nil {
			return 0, nil, err
		}
		switch op := ws.OpCode(b0 & 0x0f); op {
		case ws.OpText, ws.OpBinary:
			return op, p, nil
		case ws.OpPing:
			if err := c.writeFrame(ws.OpPong, p); err != nil {
				return 0, nil, err
			}
		case ws.OpPong:
		case ws.OpClose:
			code := 1005
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			return 0, nil, closedError{code: code, reason: string(p[min(2, len(p)):])}
		default:
			return 0, nil, fmt.Errorf("unexpected opcode %v", op)
		}
	}
}

// ---- helpers ----

func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[(v>>uint(i))&0xf])
	}
	return b
}

func parseHex16(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b[:16] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// latencyHist is a log-linear histogram of durations in microseconds: exact below 64 µs, then 32
// buckets per power of two (a relative error under 3.2%). Not safe for concurrent use.
type latencyHist struct {
	counts [64 * 32]uint64
	n      uint64
	max    time.Duration
}

func histIndex(us uint64) int {
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 6 // us >> e is in [32, 64)
	return min(64+(e-1)*32+int(us>>uint(e))-32, 64*32-1)
}

// histUpper is the largest value, in microseconds, that lands in bucket i.
func histUpper(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i-64)/32 + 1
	sub := uint64((i-64)%32 + 32)
	return (sub+1)<<uint(e) - 1
}

func (h *latencyHist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *latencyHist) total() uint64 { return h.n }

// quantile returns the q-quantile (0 < q <= 1), rounded up to the end of its bucket (or the
// largest value recorded, if smaller).
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i)+1)*time.Microsecond, h.max)
		}
	}
	return h.max
}
