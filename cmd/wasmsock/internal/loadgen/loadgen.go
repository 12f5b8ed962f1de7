// Package loadgen is the load generator behind "wasmsock bench": it opens many WebSocket
// connections to a route and measures how many messages the server carries, and how fast.
//
// Two modes:
//
//   - echo: every connection does round trips: it sends a message and waits for the same bytes
//     to come back before it sends the next. The rate is round trips per second; the latency is
//     that of a round trip.
//   - broadcast: the first connection sends, every other connection receives each message (a
//     route that relays each message unchanged to every other connection, such as
//     testdata/wasm/fanout.wasm). The rate is deliveries per second (one message reaching one
//     receiver); the latency is from the send to each receipt. At most Window messages are in
//     flight (sent but not yet received by every receiver), so a healthy server never has more
//     than Window messages queued for one connection.
//
// Messages are text: a sequence number and the send time, as hexadecimal, padded to Size bytes;
// the client and the latencies are in the same process, so no clock has to be synchronised.
//
// Run stops sending after Duration (or when ctx is done), waits for the messages in flight,
// then closes every connection with 1000 and waits for the server's answer.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Modes.
const (
	ModeEcho      = "echo"
	ModeBroadcast = "broadcast"
)

// Defaults of Config's optional fields.
const (
	DefaultWindow          = 64
	DefaultTimeout         = 10 * time.Second
	DefaultDialConcurrency = 64
	// MinSize is the smallest message: a sequence number and a timestamp, 16 hex digits each.
	MinSize = 32
)

// Config is one load run.
type Config struct {
	URL      string        // ws:// or wss:// URL of the route; tcp://host:port for a plain TCP echo (the baseline)
	Conns    int           // connections to open
	Duration time.Duration // how long to send
	Mode     string        // ModeEcho or ModeBroadcast
	Size     int           // bytes per message, at least MinSize
	// Rate is the number of messages sent per second, in total: in echo mode it is shared
	// evenly by the connections, in broadcast mode it is the sender's. 0 sends as fast as the
	// round trips (echo) or the window (broadcast) allow.
	Rate float64
	// Window is, in broadcast mode, the largest number of messages in flight; 0 is
	// DefaultWindow.
	Window int
	// Timeout bounds a dial, a write, and a wait for a frame; 0 is DefaultTimeout. A broadcast
	// that makes no progress for this long stops.
	Timeout         time.Duration
	DialConcurrency int // handshakes in progress at once; 0 is DefaultDialConcurrency
	// DialRate is the number of connections opened per second, 0 for as fast as
	// DialConcurrency allows: a server that limits new connections per client IP (wasmsock's
	// limits.connections_per_second_per_ip) answers HTTP 429 beyond it.
	DialRate float64
}

// Result is what a run measured.
type Result struct {
	Mode     string  `json:"mode"`
	URL      string  `json:"url"`
	Size     int     `json:"size"`
	Duration float64 `json:"duration_seconds"` // as configured

	ConnsOpened int `json:"conns_opened"`
	ConnsFailed int `json:"conns_failed"`

	// Sent counts messages sent. Received counts echoes (echo mode) or deliveries (broadcast
	// mode); Expected is what a healthy server delivers for Sent: Sent in echo mode,
	// Sent × receivers in broadcast mode.
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	Expected int64 `json:"expected"`
	// Receivers is the number of receiving connections in broadcast mode.
	Receivers int `json:"receivers,omitempty"`

	// Elapsed is from the first send to the last receipt, in seconds; Rate is Received over
	// Elapsed, in RateUnit (msgs/s for echo, deliveries/s for broadcast).
	Elapsed  float64 `json:"elapsed_seconds"`
	Rate     float64 `json:"rate"`
	RateUnit string  `json:"rate_unit"`

	Latency Latency `json:"latency_ms"`

	// Errors counts failures by kind ("closed by the server: 1008", "timeout", ...).
	Errors map[string]int64 `json:"errors"`
	// CloseCodes counts the codes of the close frames the server sent: 1000 answering our close
	// in a clean run, anything else means the server closed a connection itself.
	CloseCodes map[int]int64 `json:"close_codes"`
	// CloseReasons is the reason of the first close frame seen with each code ("" when none).
	CloseReasons map[int]string `json:"close_reasons,omitempty"`
	// Conns is the number of connections the run was to open (-conns).
	Conns int `json:"conns"`
}

// Why explains a run that is not OK: one line per cause, saying what the server did, which of its
// limits (or the run's flags) made it, and what to change. It is empty for a clean run.
func (r *Result) Why() []string {
	var why []string
	for _, code := range slices.Sorted(maps.Keys(r.CloseCodes)) {
		if code == 1000 {
			continue
		}
		n, reason := r.CloseCodes[code], r.CloseReasons[code]
		what := fmt.Sprintf("the server closed %d connection(s) with %d", n, code)
		if reason != "" {
			what += fmt.Sprintf(" (%q)", reason)
		}
		switch {
		case code == 1008 && strings.Contains(reason, "rate limit"):
			perConn := 500
			why = append(why, what+": the route's message rate limit, [limits] messages_per_second in the "+
				"server's config (default 1000 per connection, burst 2x), is below what this run sends per connection. "+
				fmt.Sprintf("Pace the run under it with -rate (messages per second for all connections; e.g. -rate %d is %d per connection), ", perConn*max(r.Conns, 1), perConn)+
				"or serve the benchmark with messages_per_second = 0 under [limits] (no limit).")
		case code == 1008 && strings.Contains(reason, "slow consumer"):
			why = append(why, what+": a connection's outbound queue on the server filled up (the route's queue_messages / queue_bytes). "+
				"Read faster or send less: lower -rate or -window, or raise the route's queues.")
		case code == 1009:
			why = append(why, what+": -size is over the route's max_message_bytes; use a smaller -size or raise max_message_bytes.")
		case code == 1001:
			why = append(why, what+": the server was shutting down or reloading its config.")
		default:
			why = append(why, what+".")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		if strings.HasPrefix(k, "closed by the server") {
			continue // explained above
		}
		n := r.Errors[k]
		switch {
		case strings.HasSuffix(k, "HTTP 429"):
			why = append(why, fmt.Sprintf("%d connection(s) refused with HTTP 429: the server's [limits] connections_per_second_per_ip "+
				"(default 200 per second, burst 2x) or max_connections_per_ip (default 1000). Open them slower with -dial-rate "+
				"(e.g. -dial-rate 100), or raise or turn off (0) those limits for the benchmark.", n))
		case strings.HasSuffix(k, "HTTP 503"):
			why = append(why, fmt.Sprintf("%d connection(s) refused with HTTP 503: the server is full ([limits] max_connections) or its plugin is disabled.", n))
		case strings.HasSuffix(k, "HTTP 401"), strings.HasSuffix(k, "HTTP 403"):
			why = append(why, fmt.Sprintf("%d connection(s) refused with %s: the route authenticates or checks the Origin; bench sends no token and no Origin.", n, k[strings.LastIndex(k, "HTTP"):]))
		case strings.HasSuffix(k, "HTTP 404"):
			why = append(why, fmt.Sprintf("%d connection(s) refused with HTTP 404: no route at %s.", n, r.URL))
		case strings.Contains(k, "connection refused"):
			why = append(why, fmt.Sprintf("%d connection(s) could not connect: is a server listening at %s?", n, r.URL))
		default:
			why = append(why, fmt.Sprintf("%d × %s.", n, k))
		}
	}
	if len(why) == 0 && r.Received != r.Expected {
		why = append(why, fmt.Sprintf("%d of %d messages were not received.", r.Expected-r.Received, r.Expected))
	}
	if len(why) == 0 && r.ConnsOpened == 0 {
		why = append(why, "no connection opened.")
	}
	return why
}

// Latency percentiles, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// OK reports whether the run was clean: every connection opened, no error, every message
// delivered, and every connection closed with 1000.
func (r *Result) OK() bool {
	if r.ConnsFailed > 0 || len(r.Errors) > 0 || r.Received != r.Expected || r.ConnsOpened == 0 {
		return false
	}
	for code := range r.CloseCodes {
		if code != 1000 {
			return false
		}
	}
	return true
}

// Text writes the result for a person to read.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wasmsock bench: %s mode, %s, %d-byte messages, %s\n", r.Mode, r.URL, r.Size, time.Duration(r.Duration*float64(time.Second)))
	fmt.Fprintf(&b, "connections  %d opened, %d failed\n", r.ConnsOpened, r.ConnsFailed)
	if r.Mode == ModeBroadcast {
		fmt.Fprintf(&b, "messages     %d sent, %d deliveries to %d receivers (%d expected)\n", r.Sent, r.Received, r.Receivers, r.Expected)
	} else {
		fmt.Fprintf(&b, "messages     %d sent, %d received (%d expected)\n", r.Sent, r.Received, r.Expected)
	}
	fmt.Fprintf(&b, "throughput   %.0f %s over %.3fs\n", r.Rate, r.RateUnit, r.Elapsed)
	fmt.Fprintf(&b, "latency      p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if len(r.Errors) == 0 {
		fmt.Fprintf(&b, "errors       none\n")
	} else {
		kinds := slices.Sorted(maps.Keys(r.Errors))
		for i, k := range kinds {
			label := "errors      "
			if i > 0 {
				label = "            "
			}
			fmt.Fprintf(&b, "%s %d × %s\n", label, r.Errors[k], k)
		}
	}
	codes := slices.Sorted(maps.Keys(r.CloseCodes))
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d × %d", r.CloseCodes[c], c))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	fmt.Fprintf(&b, "close codes  %s\n", strings.Join(parts, ", "))
	return b.String()
}

// Validate checks cfg and fills in the defaults.
func (cfg *Config) Validate() error {
	var errs []error
	tcp := strings.HasPrefix(cfg.URL, "tcp://")
	if !strings.HasPrefix(cfg.URL, "ws://") && !strings.HasPrefix(cfg.URL, "wss://") && !tcp {
		errs = append(errs, fmt.Errorf("url %q: must start with ws://, wss:// or tcp://", cfg.URL))
	}
	if tcp && cfg.Mode != ModeEcho {
		errs = append(errs, fmt.Errorf("url %q: a tcp:// URL (plain TCP echo) is for echo mode only", cfg.URL))
	}
	switch cfg.Mode {
	case ModeEcho:
		if cfg.Conns < 1 {
			errs = append(errs, errors.New("conns: at least 1 in echo mode"))
		}
	case ModeBroadcast:
		if cfg.Conns < 2 {
			errs = append(errs, errors.New("conns: at least 2 in broadcast mode (one sender, one receiver)"))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: must be %s or %s", cfg.Mode, ModeEcho, ModeBroadcast))
	}
	if cfg.Duration <= 0 {
		errs = append(errs, errors.New("duration: must be positive"))
	}
	if cfg.Size < MinSize || cfg.Size > maxMessage {
		errs = append(errs, fmt.Errorf("size: must be between %d and %d bytes", MinSize, maxMessage))
	}
	if cfg.Rate < 0 {
		errs = append(errs, errors.New("rate: must not be negative"))
	}
	if cfg.Window < 0 || cfg.Timeout < 0 || cfg.DialConcurrency < 0 || cfg.DialRate < 0 {
		errs = append(errs, errors.New("window, timeout, dial concurrency and dial rate must not be negative"))
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DialConcurrency == 0 {
		cfg.DialConcurrency = DefaultDialConcurrency
	}
	return errors.Join(errs...)
}

// run is the state of one Run.
type run struct {
	cfg  Config
	base time.Time // timestamps in payloads are nanoseconds since base (monotonic)

	sent, received atomic.Int64
	lastRecv       atomic.Int64 // ns since base of the latest receipt

	mu         sync.Mutex
	errors     map[string]int64
	closeCodes map[int]int64
	// closeReasons: the first reason seen with each code
	closeReasons map[int]string
	hists        []*histogram
}

func (r *run) addError(err error) {
	r.mu.Lock()
	r.errors[classify(err)]++
	r.mu.Unlock()
}

func (r *run) addCloseCode(code int, reason string) {
	r.mu.Lock()
	r.closeCodes[code]++
	if _, ok := r.closeReasons[code]; !ok {
		r.closeReasons[code] = reason
	}
	r.mu.Unlock()
}

// Run runs the load described by cfg. The error is for an invalid config only: everything
// that goes wrong with the server is in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, base: time.Now(), errors: map[string]int64{}, closeCodes: map[int]int64{}, closeReasons: map[int]string{}}
	clients := r.dialAll(ctx)
	res := &Result{
		Mode:        cfg.Mode,
		URL:         cfg.URL,
		Size:        cfg.Size,
		Duration:    cfg.Duration.Seconds(),
		ConnsOpened: len(clients),
		ConnsFailed: cfg.Conns - len(clients),
		RateUnit:    "msgs/s",
	}
	var start time.Duration
	switch {
	case len(clients) == 0:
	case cfg.Mode == ModeEcho:
		start = r.echo(ctx, clients)
		res.Expected = r.sent.Load()
	default:
		if len(clients) < 2 {
			r.closeAll(clients, nil)
			break
		}
		start = r.broadcast(ctx, clients)
		res.Receivers = len(clients) - 1
		res.Expected = r.sent.Load() * int64(res.Receivers)
		res.RateUnit = "deliveries/s"
	}
	res.Sent, res.Received = r.sent.Load(), r.received.Load()
	if last := time.Duration(r.lastRecv.Load()); last > start {
		res.Elapsed = (last - start).Seconds()
		res.Rate = float64(res.Received) / res.Elapsed
	}
	var h histogram
	for _, x := range r.hists {
		h.merge(x)
	}
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 } // µs precision
	res.Latency = Latency{P50: ms(h.quantile(0.50)), P90: ms(h.quantile(0.90)), P99: ms(h.quantile(0.99)), Max: ms(h.max)}
	res.Errors, res.CloseCodes, res.CloseReasons, res.Conns = r.errors, r.closeCodes, r.closeReasons, r.cfg.Conns
	return res, nil
}

// dialAll opens the connections, DialConcurrency at a time, and returns those that opened.
func (r *run) dialAll(ctx context.Context) []*client {
	out := make([]*client, r.cfg.Conns)
	sem := make(chan struct{}, r.cfg.DialConcurrency)
	var wg sync.WaitGroup
	release := make(chan struct{}) // the end of dialing: the connections' holders stop
	start := time.Now()
	for i := range r.cfg.Conns {
		if r.cfg.DialRate > 0 {
			due := start.Add(time.Duration(float64(i) / r.cfg.DialRate * float64(time.Second)))
			if !pace(ctx, due, due.Add(time.Second)) {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(ctx, i, r.cfg.URL, r.cfg.Timeout, r.cfg.Size)
			if err != nil {
				r.addError(step("dial", err))
				return
			}
			out[i] = c
			if !c.raw {
				c.held = make(chan struct{})
				go r.hold(ctx, c, release)
			}
		}()
	}
	wg.Wait()
	close(release)
	for _, c := range out {
		if c == nil || c.held == nil {
			continue
		}
		// Wake the holder from its read (a deadline in the past) until it has seen release:
		// a holder left waiting out its second would not answer the pings meanwhile.
		for stopped := false; !stopped; {
			_ = c.nc.SetReadDeadline(time.Now())
			select {
			case <-c.held:
				stopped = true
				c.readDeadline = time.Time{} // not the one set here: the next read sets its own
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	// A connection lost while the others were opening (its error is recorded) counts as failed.
	clients := slices.DeleteFunc(out, func(c *client) bool { return c == nil || c.lost.Load() })
	for i, c := range clients {
		c.id = i
	}
	return clients
}

// hold reads c, answering the server's pings, while the other connections are still being
// opened: a server drops a peer that stays silent after its ping, and 19,000 connections at
// -dial-rate 100 take over three minutes to open. It returns when release is closed (dialAll
// then wakes it from its read with a deadline in the past) or when the connection is lost.
func (r *run) hold(ctx context.Context, c *client, release <-chan struct{}) {
	defer close(c.held)
	defer func() { c.until = time.Time{} }()
	for {
		select {
		case <-release:
			return
		case <-ctx.Done():
			return
		default:
		}
		c.until = time.Now().Add(time.Second)
		if !r.idleRead(c) {
			return
		}
	}
}

// payload writes the message seq, stamped with the time now, into p (len(p) == Size).
func (r *run) payload(p []byte, seq uint64) {
	putHex16(p[0:16], seq)
	putHex16(p[16:32], uint64(time.Since(r.base)))
}

// parsePayload returns the sequence number and send time of a message of ours.
func parsePayload(p []byte) (seq uint64, sent time.Duration, ok bool) {
	if len(p) < MinSize {
		return 0, 0, false
	}
	seq, ok1 := parseHex16(p[0:16])
	ts, ok2 := parseHex16(p[16:32])
	return seq, time.Duration(ts), ok1 && ok2
}

func newPayload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = '.'
	}
	return p
}

// pace sleeps until due, unless ctx is done or stop comes first; it reports whether to go on.
func pace(ctx context.Context, due, stop time.Time) bool {
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	if !due.Before(stop) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// echo runs the round trips of every connection until Duration is over, then closes them. It
// returns when the sending started.
func (r *run) echo(ctx context.Context, clients []*client) time.Duration {
	start := time.Since(r.base)
	stop := r.base.Add(start + r.cfg.Duration)
	var interval time.Duration // between two sends of one connection
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(len(clients)) / r.cfg.Rate * float64(time.Second))
	}
	r.hists = make([]*histogram, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		h := new(histogram)
		r.hists[i] = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.echoConn(ctx, c, h, stop, interval, i)
		}()
	}
	wg.Wait()
	return start
}

func (r *run) echoConn(ctx context.Context, c *client, h *histogram, stop time.Time, interval time.Duration, i int) {
	p := newPayload(r.cfg.Size)
	// Spread the connections' sends over the interval.
	due := time.Now().Add(interval * time.Duration(i) / time.Duration(max(1, r.cfg.Conns)))
	for seq := uint64(0); ctx.Err() == nil && time.Now().Before(stop); seq++ {
		if interval > 0 {
			// Until the next message is due the connection waits reading, so that it answers the
			// server's pings (one that stopped reading would be dropped as dead). When nothing
			// more is due before the end it stays open, idle, until then (with -rate under one
			// message per connection, most connections are only open and idle: what an
			// idle-memory measurement needs).
			last, until := !due.Before(stop), due
			if last {
				until = stop
			}
			if !r.idleUntil(ctx, c, until) {
				return
			}
			if last || ctx.Err() != nil {
				break
			}
			due = due.Add(interval)
		}
		r.payload(p, seq)
		if err := c.writeFrame(ws.OpText, p); err != nil {
			r.addError(step("send", err))
			r.closeConn(c, false)
			return
		}
		r.sent.Add(1)
		op, got, err := c.next()
		if err != nil {
			r.connLost(c, err)
			return
		}
		gotSeq, sentAt, ok := parsePayload(got)
		if op != ws.OpText || !ok || gotSeq != seq || len(got) != len(p) {
			r.addError(errors.New("echo: the reply is not the message sent"))
			r.closeConn(c, true)
			return
		}
		now := c.recvAt.Sub(r.base)
		h.record(now - sentAt)
		r.received.Add(1)
		storeMax(&r.lastRecv, int64(now))
	}
	r.closeConn(c, true)
}

// idleUntil keeps c open and idle until stop (or ctx is done: within a second), answering the
// server's pings. It reports false when the connection was lost (or the server sent a message),
// which it has recorded.
func (r *run) idleUntil(ctx context.Context, c *client, stop time.Time) bool {
	defer func() { c.until = time.Time{} }()
	for ctx.Err() == nil && time.Now().Before(stop) {
		c.until = time.Now().Add(time.Second) // a second at a time, to see ctx
		if stop.Before(c.until) {
			c.until = stop
		}
		if !r.idleRead(c) {
			return false
		}
	}
	return true
}

// idleRead waits until c.until for a frame on a connection that sent nothing, answering the
// server's pings. It reports true when none came, false when the connection was lost or the
// server sent a message (recorded, the connection closed and marked lost).
func (r *run) idleRead(c *client) bool {
	_, _, err := c.next()
	var idle idleError
	switch {
	case errors.As(err, &idle):
		return true
	case err != nil:
		r.connLost(c, err)
	default:
		r.addError(errors.New("a message came while the connection sent nothing"))
		r.closeConn(c, true)
		c.lost.Store(true)
	}
	return false
}

// connLost records why a connection stopped: an error, and the close code if the server sent a
// close frame (it is answered, and the connection closed).
func (r *run) connLost(c *client, err error) {
	c.lost.Store(true)
	r.addError(err)
	var ce closeFrameError
	if errors.As(err, &ce) {
		r.addCloseCode(ce.code, ce.reason)
		_ = c.sendClose()
	}
	_ = c.nc.Close()
}

// closeConn closes c cleanly: close 1000, then wait for the server's close frame (its code is
// recorded) and for the end of the TCP connection. With wait false, it only closes the socket.
func (r *run) closeConn(c *client, wait bool) {
	defer c.nc.Close()
	if !wait || c.raw {
		return
	}
	if err := c.sendClose(); err != nil {
		r.addError(step("close", err))
		return
	}
	r.awaitClose(c)
}

// awaitClose reads until the server's close frame, within the timeout; data still arriving is
// discarded.
func (r *run) awaitClose(c *client) {
	c.readDeadline = time.Time{}
	_ = c.nc.SetReadDeadline(time.Now().Add(r.cfg.Timeout))
	for {
		_, _, err := c.next()
		if err == nil {
			continue
		}
		var ce closeFrameError
		if errors.As(err, &ce) {
			r.addCloseCode(ce.code, ce.reason)
			return
		}
		r.addError(step("close", err))
		return
	}
}

// closeAll closes every client concurrently; readers, when given, is waited for as well.
func (r *run) closeAll(clients []*client, readers *sync.WaitGroup) {
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.lost.Load() {
				return
			}
			if readers != nil {
				// The reader goroutine sees the server's answer: only send.
				if err := c.sendClose(); err != nil {
					r.addError(step("close", err))
					_ = c.nc.Close()
				}
				return
			}
			r.closeConn(c, true)
		}()
	}
	wg.Wait()
	if readers != nil {
		readers.Wait()
		for _, c := range clients {
			_ = c.nc.Close()
		}
	}
}

// broadcast sends from clients[0] until Duration is over, with clients[1:] receiving, then
// closes them all. It returns when the sending started.
func (r *run) broadcast(ctx context.Context, clients []*client) time.Duration {
	b := &bcast{
		run:       r,
		receivers: int32(len(clients) - 1),
		pending:   make([]atomic.Int32, ringSize(r.cfg.Window)),
		wake:      make(chan struct{}, 1),
		failed:    make(chan struct{}),
	}
	r.hists = make([]*histogram, len(clients))
	var readers sync.WaitGroup
	for i, c := range clients {
		h := new(histogram)
		r.hists[i] = h
		readers.Add(1)
		go func() {
			defer readers.Done()
			b.read(c, h, i == 0)
		}()
	}
	start := time.Since(r.base)
	b.send(ctx, clients[0], r.base.Add(start+r.cfg.Duration))
	b.stopping.Store(true)
	r.closeAll(clients, &readers)
	return start
}

func ringSize(window int) int {
	n := 1024
	for n <= 2*window {
		n *= 2
	}
	return n
}

// bcast is the bookkeeping of a broadcast run.
//
// Message seq is complete once every receiver has it. Each connection delivers in order, so
// messages complete in order, and the sender only needs a count: it sends when fewer than
// Window messages are incomplete.
type bcast struct {
	run       *run
	receivers int32
	sent      int64 // sender goroutine only
	pending   []atomic.Int32
	completed atomic.Int64
	wake      chan struct{}

	failed   chan struct{}
	failOnce sync.Once
	stopping atomic.Bool // the sender is done: errors from now on are part of closing
}

func (b *bcast) fail() { b.failOnce.Do(func() { close(b.failed) }) }

// send sends until stop, then waits for the messages in flight.
func (b *bcast) send(ctx context.Context, c *client, stop time.Time) {
	r := b.run
	p := newPayload(r.cfg.Size)
	var interval time.Duration
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / r.cfg.Rate)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	due := time.Now()
	for ctx.Err() == nil && time.Now().Before(stop) {
		if interval > 0 {
			if !pace(ctx, due, stop) {
				break
			}
			due = due.Add(interval)
		}
		if !b.wait(ctx, timer, int64(r.cfg.Window), stop) {
			break
		}
		r.payload(p, uint64(b.sent))
		if err := c.writeFrame(ws.OpText, p); err != nil {
			r.addError(step("send", err))
			b.fail()
			break
		}
		b.sent++
		r.sent.Add(1)
	}
	// Let the messages in flight arrive (not beyond the timeout, nor after a failure).
	b.wait(context.Background(), timer, 1, time.Now().Add(r.cfg.Timeout))
}

// wait blocks until fewer than n messages are in flight and reports whether it got there
// before ctx is done, a connection fails, stop comes, or the timeout passes without progress.
func (b *bcast) wait(ctx context.Context, timer *time.Timer, n int64, stop time.Time) bool {
	for b.sent-b.completed.Load() >= n {
		d := min(b.run.cfg.Timeout, time.Until(stop))
		if d <= 0 {
			return false
		}
		before := b.completed.Load()
		timer.Reset(d)
		select {
		case <-b.wake:
		case <-b.failed:
			return false
		case <-ctx.Done():
			return false
		case <-timer.C:
			if b.completed.Load() == before && d == b.run.cfg.Timeout {
				b.run.addError(fmt.Errorf("broadcast stalled: no message reached every receiver for %v", d))
				b.fail()
				return false
			}
		}
	}
	return true
}

// read receives on c until it closes. The sender's connection receives nothing but control
// frames.
func (b *bcast) read(c *client, h *histogram, isSender bool) {
	r := b.run
	for {
		op, p, err := c.next()
		if err != nil {
			var ce closeFrameError
			isClose := errors.As(err, &ce)
			if b.stopping.Load() && isClose {
				r.addCloseCode(ce.code, ce.reason) // the answer to our close
				return
			}
			if errors.Is(err, errIdle) && !b.stopping.Load() {
				// Nothing to read for a while: normal for the sender, and for receivers at a
				// low rate. A server that stops delivering is caught by the sender's wait.
				continue
			}
			if b.stopping.Load() {
				r.addError(step("close", err))
				return
			}
			r.connLost(c, err)
			b.fail()
			return
		}
		if isSender {
			r.addError(errors.New("broadcast: the sender received a message"))
			continue
		}
		seq, sentAt, ok := parsePayload(p)
		if op != ws.OpText || !ok || len(p) != r.cfg.Size {
			r.addError(errors.New("broadcast: a message that is not one of ours"))
			continue
		}
		now := c.recvAt.Sub(r.base)
		h.record(now - sentAt)
		r.received.Add(1)
		slot := &b.pending[seq%uint64(len(b.pending))]
		if slot.Add(1) == b.receivers {
			slot.Store(0)
			storeMax(&r.lastRecv, int64(now))
			b.completed.Add(1)
			select {
			case b.wake <- struct{}{}:
			default:
			}
		}
	}
}

func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

func putHex16(b []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
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
