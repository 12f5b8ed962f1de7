package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/config"
)

// base is the ws:// URL of the host every test and benchmark loads: the Go echo plugin on /echo,
// the WAT echo plugin on /echo-wat and the fanout plugin on /fanout. One host for the package:
// starting one compiles the Go plugin, which is slow under -race.
var base string

func TestMain(m *testing.M) {
	srv, url, err := startHost()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	base = url
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(ctx)
	cancel()
	os.Exit(code)
}

func startHost() (*host.Server, string, error) {
	echo, err := filepath.Abs("../../../../plugins/echo/echo.wasm")
	if err != nil {
		return nil, "", err
	}
	echoWAT, err := filepath.Abs("../../../../testdata/wasm/echo.wasm")
	if err != nil {
		return nil, "", err
	}
	fanout, err := filepath.Abs("../../../../testdata/wasm/fanout.wasm")
	if err != nil {
		return nil, "", err
	}
	return serveHost(fmt.Sprintf(`[plugin.echo]
module = %q
[plugin.echo-wat]
module = %q
[plugin.fanout]
module = %q
[[route]]
path = "/echo"
plugin = "echo"
[[route]]
path = "/echo-wat"
plugin = "echo-wat"
[[route]]
path = "/fanout"
plugin = "fanout"
[[route]]
path = "/echo-pinged"
plugin = "echo-wat"
ping_interval = "100ms"
pong_timeout = "1s"
`, echo, echoWAT, fanout))
}

// serveHost serves a host with the config rest (tables: [cluster], plugins, routes) on
// 127.0.0.1, its log at level error and its per-client limits off: all the load comes from one
// IP, far over them on purpose. It returns the server and its ws:// base URL; the server runs
// until the caller shuts it down (or the process exits).
func serveHost(rest string) (*host.Server, string, error) {
	src := `listen = "127.0.0.1:0"
[limits]
max_connections_per_ip = 0
connections_per_second_per_ip = 0
messages_per_second = 0
[log]
level = "error"
` + rest
	cfg, err := config.Parse("host.toml", []byte(src))
	if err != nil {
		return nil, "", fmt.Errorf("config: %w", err)
	}
	srv, err := host.New(context.Background(), cfg, nil)
	if err != nil {
		return nil, "", fmt.Errorf("host.New: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, "ws://" + ln.Addr().String(), nil
}

// checkClean asserts what every clean run has: all connections opened, no error, and each
// closed with 1000.
func checkClean(t *testing.T, res *Result, conns int) {
	t.Helper()
	if res.ConnsOpened != conns || res.ConnsFailed != 0 {
		t.Errorf("connections: %d opened, %d failed; want %d, 0", res.ConnsOpened, res.ConnsFailed, conns)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	if len(res.CloseCodes) != 1 || res.CloseCodes[1000] != int64(conns) {
		t.Errorf("close codes: %v, want %d × 1000", res.CloseCodes, conns)
	}
	if res.Sent == 0 {
		t.Error("nothing sent")
	}
	if res.Rate <= 0 || res.Elapsed <= 0 {
		t.Errorf("rate %v over %vs: want positive", res.Rate, res.Elapsed)
	}
	if !(0 < res.Latency.P50 && res.Latency.P50 <= res.Latency.P90 && res.Latency.P90 <= res.Latency.P99 && res.Latency.P99 <= res.Latency.Max) {
		t.Errorf("latency percentiles out of order: %+v", res.Latency)
	}
	if !res.OK() {
		t.Errorf("OK() = false for:\n%s", res.Text())
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("json: %v", err)
	}
}

func TestEcho(t *testing.T) {
	const conns = 20
	res, err := Run(context.Background(), Config{URL: base + "/echo", Conns: conns, Duration: 500 * time.Millisecond, Mode: ModeEcho, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Text())
	checkClean(t, res, conns)
	if res.Received != res.Sent || res.Expected != res.Sent {
		t.Errorf("received %d, expected %d, sent %d: want all equal", res.Received, res.Expected, res.Sent)
	}
	if res.RateUnit != "msgs/s" {
		t.Errorf("rate unit %q", res.RateUnit)
	}
}

func TestEchoRate(t *testing.T) {
	// 200 msgs/s over 10 connections for 500ms: about 100 messages.
	res, err := Run(context.Background(), Config{URL: base + "/echo", Conns: 10, Duration: 500 * time.Millisecond, Mode: ModeEcho, Size: 100, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res, 10)
	if res.Sent < 60 || res.Sent > 120 {
		t.Errorf("sent %d at 200 msgs/s for 500ms, want about 100", res.Sent)
	}
}

func TestBroadcast(t *testing.T) {
	const conns = 20
	res, err := Run(context.Background(), Config{URL: base + "/fanout", Conns: conns, Duration: 500 * time.Millisecond, Mode: ModeBroadcast, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Text())
	checkClean(t, res, conns)
	if res.Receivers != conns-1 {
		t.Errorf("receivers = %d, want %d", res.Receivers, conns-1)
	}
	if want := res.Sent * (conns - 1); res.Received != want || res.Expected != want {
		t.Errorf("deliveries %d, expected %d; want sent × receivers = %d", res.Received, res.Expected, want)
	}
	if res.RateUnit != "deliveries/s" {
		t.Errorf("rate unit %q", res.RateUnit)
	}
}

func TestBroadcastRate(t *testing.T) {
	res, err := Run(context.Background(), Config{URL: base + "/fanout", Conns: 5, Duration: 500 * time.Millisecond, Mode: ModeBroadcast, Size: 32, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res, 5)
	if res.Sent < 30 || res.Sent > 60 || res.Received != res.Sent*4 {
		t.Errorf("sent %d (want about 50 at 100 msgs/s), delivered %d (want 4×)", res.Sent, res.Received)
	}
}

func TestDialRate(t *testing.T) {
	start := time.Now()
	res, err := Run(context.Background(), Config{URL: base + "/echo", Conns: 6, Duration: 50 * time.Millisecond, Mode: ModeEcho, Size: 64, DialRate: 20})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res, 6)
	// The sixth connection is opened 250ms after the first.
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("6 connections at 20/s opened and ran in %v, want at least 250ms", took)
	}
}

// A server that refuses the handshake: every connection fails, and the run says so.
func TestDialFailures(t *testing.T) {
	res, err := Run(context.Background(), Config{URL: base + "/nope", Conns: 3, Duration: 100 * time.Millisecond, Mode: ModeEcho, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	if res.ConnsOpened != 0 || res.ConnsFailed != 3 || res.OK() {
		t.Errorf("opened %d, failed %d, OK %v; want 0, 3, false", res.ConnsOpened, res.ConnsFailed, res.OK())
	}
	if n := res.Errors["dial: handshake refused: HTTP 404"]; n != 3 {
		t.Errorf("errors = %v, want 3 × HTTP 404", res.Errors)
	}
}

// Echo mode against a route that does not echo (fanout with a single connection): the missing
// replies are a timeout, not a hang.
func TestEchoWithoutReplies(t *testing.T) {
	start := time.Now()
	res, err := Run(context.Background(), Config{URL: base + "/fanout", Conns: 1, Duration: 100 * time.Millisecond, Mode: ModeEcho, Size: 64, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if res.OK() || res.Errors["timeout"] != 1 || res.Received != 0 || res.Sent != 1 {
		t.Errorf("got sent %d received %d errors %v", res.Sent, res.Received, res.Errors)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://x", Conns: 1, Duration: time.Second, Mode: ModeEcho, Size: 64}, "ws://"},
		{Config{URL: "ws://x", Conns: 1, Duration: time.Second, Mode: ModeBroadcast, Size: 64}, "at least 2"},
		{Config{URL: "ws://x", Conns: 1, Duration: time.Second, Mode: "fanout", Size: 64}, "mode"},
		{Config{URL: "ws://x", Conns: 1, Duration: time.Second, Mode: ModeEcho, Size: 8}, "size"},
		{Config{URL: "ws://x", Conns: 1, Duration: 0, Mode: ModeEcho, Size: 64}, "duration"},
		{Config{URL: "ws://x", Conns: 1, Duration: time.Second, Mode: ModeEcho, Size: 64, Rate: -1}, "rate"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
	ok := Config{URL: "ws://x", Conns: 1, Duration: time.Second, Mode: ModeEcho, Size: 64}
	if err := ok.Validate(); err != nil || ok.Window != DefaultWindow || ok.Timeout != DefaultTimeout {
		t.Errorf("Validate(ok) = %v, window %d, timeout %v", err, ok.Window, ok.Timeout)
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * 100 * time.Microsecond) // 0.1ms .. 100ms
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.04 {
			t.Errorf("quantile(%v) = %v, want %v (+4%%)", tc.q, got, tc.want)
		}
	}
	for us := uint64(0); us < 1<<30; us = us*5/4 + 1 {
		i := histIndex(us)
		if us > histUpper(i) || (i > 0 && us <= histUpper(i-1)) {
			t.Fatalf("%d µs in bucket %d, which covers (%d, %d]", us, i, histUpper(i-1), histUpper(i))
		}
	}
}

// The reference servers of "wasmsock bench -serve", loaded as the host is: the gobwas echo on any
// path, its queue-and-coalesce broadcast on FanoutPath, and the plain TCP echo.
func TestReferenceServers(t *testing.T) {
	serve := func(kind string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = Serve(ln, kind); close(done) }()
		t.Cleanup(func() { _ = ln.Close(); <-done })
		return ln.Addr().String()
	}
	gobwas, tcp := serve(ServeGobwas), serve(ServeTCP)
	tests := []struct {
		name, url, mode string
		conns           int
	}{
		{"gobwas echo", "ws://" + gobwas + "/", ModeEcho, 10},
		{"gobwas fanout", "ws://" + gobwas + FanoutPath, ModeBroadcast, 20},
		{"gobwas fanout, query", "ws://" + gobwas + FanoutPath + "?x=1", ModeBroadcast, 5},
		{"tcp echo", "tcp://" + tcp, ModeEcho, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{URL: tc.url, Conns: tc.conns, Duration: 300 * time.Millisecond, Mode: tc.mode, Size: 64})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() || res.Sent == 0 {
				t.Fatalf("not clean:\n%s", res.Text())
			}
			want := res.Sent
			if tc.mode == ModeBroadcast {
				want *= int64(tc.conns - 1)
			}
			if res.Received != want {
				t.Errorf("received %d, want %d", res.Received, want)
			}
		})
	}
}

// refFanout serves the reference broadcast (afterUpgrade as serve has it) until the test ends,
// and returns a dial of its members, closed when the test ends.
func refFanout(t *testing.T, afterUpgrade func()) (dial func() net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = serve(ln, ServeGobwas, afterUpgrade); close(done) }()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	url := "ws://" + ln.Addr().String() + FanoutPath
	return func() net.Conn {
		nc, _, _, err := ws.Dial(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		return nc
	}
}

// A reference broadcast member that never reads is dropped once its queue is over the bound (as
// the host closes a slow consumer), and the others keep receiving.
func TestReferenceFanoutDropsSlowConsumer(t *testing.T) {
	dial := refFanout(t, nil)
	sender, slow, fast := dial(), dial(), dial()
	// 400 messages of 64 KiB: 25 MiB for slow, which reads nothing until the end, far over the
	// 4 MiB queue bound plus what the socket buffers take.
	// The sender keeps at most 8 messages ahead of fast (512 KiB, under the bound however slowly
	// this test's reader runs), so only slow, which never reads, can go over it.
	const n, window = 400, 8
	big := make([]byte, 64<<10)
	sent := make(chan error, 1)
	credit := make(chan struct{}, window)
	for range window {
		credit <- struct{}{}
	}
	go func() {
		for range n + 1 {
			<-credit
			if err := wsutil.WriteClientBinary(sender, big); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// When fast has the last message, the server has queued every earlier one to slow.
	_ = fast.SetReadDeadline(time.Now().Add(time.Minute)) // a hang guard, not a timed assertion
	for i := range n + 1 {
		if _, _, err := wsutil.ReadServerData(fast); err != nil {
			t.Fatalf("fast member, message %d: %v", i, err)
		}
		select {
		case credit <- struct{}{}:
		default: // the sender is done
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(time.Minute))
	got := 0
	for {
		if _, _, err := wsutil.ReadServerData(slow); err != nil {
			break
		}
		got++
	}
	if got >= n {
		t.Fatalf("the slow member got all %d messages: not dropped", got)
	}
}

// With -rate under one message per connection in the run, the connections with nothing due stay
// open, idle, until the end of the run, answering the server's pings (they closed at once before:
// an idle-memory measurement with "-conns 19000 -rate 1" measured closed connections). The route
// pings every 100ms and drops a peer silent for 1s after a ping.
func TestEchoRateKeepsIdleConnectionsOpen(t *testing.T) {
	const conns = 5
	dur := time.Second
	start := time.Now()
	// 1 message/s over 5 connections: only the first one's first message is due within the run.
	res, err := Run(context.Background(), Config{URL: base + "/echo-pinged", Conns: conns, Duration: dur, Mode: ModeEcho, Size: 64, Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res, conns)
	if res.Sent != 1 {
		t.Errorf("sent %d, want 1", res.Sent)
	}
	if took := time.Since(start); took < dur {
		t.Errorf("the run ended after %v, before its duration %v: idle connections closed early", took, dur)
	}
}

// A connection keeps answering the server's pings while it waits: for the other connections to
// open (-dial-rate), and for its next message to be due (-rate). Before, it read nothing then, and
// a server that pings dropped it as dead (an idle-memory run of 19,000 connections lost hundreds:
// each connection's one message was due seconds to minutes after its ping). The route pings every
// 100ms and drops a peer silent for 1s after a ping; every wait below is longer.
func TestWaitingConnectionsAnswerPings(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		sent int64 // at least
	}{
		// The first connection opens about 2 s before the last.
		{"while the others open", Config{Conns: 5, DialRate: 2.5, Duration: 300 * time.Millisecond}, 5},
		// 2.5 messages/s over 5 connections: each sends every 2 s, the first three twice.
		{"between its messages", Config{Conns: 5, Rate: 2.5, Duration: 3 * time.Second}, 8},
		{"longer than the timeout", Config{Conns: 5, Rate: 2.5, Duration: 3 * time.Second, Timeout: 300 * time.Millisecond}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.URL, cfg.Mode, cfg.Size = base+"/echo-pinged", ModeEcho, 64
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, res, cfg.Conns)
			if res.Sent < tc.sent {
				t.Errorf("sent %d, want at least %d", res.Sent, tc.sent)
			}
		})
	}
}

// A reference broadcast member receives every message sent once its client has the 101, however
// late the server's goroutine gets to serving it (it joins before the 101 is written; it joined
// after, and a loaded machine lost the first messages sent to a member that had just connected).
func TestReferenceFanoutMemberJoinsBeforeItsAnswer(t *testing.T) {
	var upgraded atomic.Int32
	slowSecond := func() { // the second connection (the member) is slow to be served
		if upgraded.Add(1) == 2 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	dial := refFanout(t, slowSecond)
	sender := dial()
	member := dial()
	if err := wsutil.WriteClientText(sender, []byte("first")); err != nil {
		t.Fatal(err)
	}
	_ = member.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang guard, not a timed assertion
	data, _, err := wsutil.ReadServerData(member)
	if err != nil || string(data) != "first" {
		t.Fatalf("member got %q, %v; want the message sent after it connected", data, err)
	}
}
