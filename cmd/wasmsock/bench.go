package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wasmsock/wasmsock/cmd/wasmsock/internal/loadgen"
)

const benchSummary = `Opens -conns WebSocket connections to -url and sends messages for -duration, then
closes every connection with 1000 and prints what it measured: connections opened and
failed, messages sent and received, the rate, latency percentiles, errors and close codes.

  -mode echo       every connection does round trips (send, wait for the echo); the rate is
                   round trips per second (msgs/s)
  -mode broadcast  the first connection sends, every other one receives each message (a route
                   that relays every message to the others, such as testdata/wasm/fanout.wasm);
                   the rate is deliveries per second. At most -window messages are in flight.

Messages are text, -size bytes (at least 32: a sequence number and a timestamp). The exit
status is 0 for a clean run, 1 when a connection failed, an error occurred, a message was
lost or the server closed a connection with a code other than 1000, 2 for bad flags.

A tcp://HOST:PORT URL loads a plain TCP echo (echo mode only): the same messages without
WebSocket framing, the floor under any WebSocket server.

  -serve gobwas    instead of loading a server, run a reference one on -listen until SIGINT,
  -serve tcp       to compare with wasmsock side by side on the same machine: a plain gobwas/ws
                   server (an echo on ws://ADDR/, and on ws://ADDR/fanout a broadcast of every
                   message to every other client, the queue-and-coalesce design: the frame built
                   once, a bounded queue and a writer per client, one writev per batch), or a
                   plain TCP echo (tcp://ADDR).`

// cmdBench runs "wasmsock bench".
func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", benchSummary, stderr)
	url := fs.String("url", "ws://127.0.0.1:8080/echo", "the `URL` of the route to load")
	conns := fs.Int("conns", 100, "connections to open")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	mode := fs.String("mode", loadgen.ModeEcho, "echo or broadcast")
	size := fs.Int("size", 64, "bytes per message")
	rate := fs.Float64("rate", 0, "messages per second in total (echo: shared by the connections; broadcast: the sender's); 0 is as fast as possible")
	window := fs.Int("window", loadgen.DefaultWindow, "broadcast: messages in flight at most")
	timeout := fs.Duration("timeout", loadgen.DefaultTimeout, "longest wait for a dial, a write or a frame")
	dialRate := fs.Float64("dial-rate", 0, "connections opened per second; 0 is as fast as possible (a server limiting new connections per IP answers 429 beyond its limit)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	serve := fs.String("serve", "", "run a reference server instead: gobwas or tcp")
	listen := fs.String("listen", "127.0.0.1:9001", "with -serve: the `address` to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wasmsock bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *serve != "" {
		return serveReference(*serve, *listen, stdout, stderr)
	}
	cfg := loadgen.Config{
		URL:      *url,
		Conns:    *conns,
		Duration: *duration,
		Mode:     *mode,
		Size:     *size,
		Rate:     *rate,
		Window:   *window,
		Timeout:  *timeout,
		DialRate: *dialRate,
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "wasmsock bench: %v\n", err)
		return 2
	}
	// SIGINT or SIGTERM ends the run early, still closing every connection cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wasmsock bench: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "wasmsock bench: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprint(stdout, res.Text())
	}
	if !res.OK() {
		fmt.Fprintln(stderr, "wasmsock bench: the run was not clean (exit status 1):")
		for _, why := range res.Why() {
			fmt.Fprintln(stderr, "  - "+why)
		}
		return 1
	}
	return 0
}

// serveReference runs "wasmsock bench -serve": a reference server until SIGINT or SIGTERM.
func serveReference(kind, addr string, stdout, stderr io.Writer) int {
	scheme := "ws://"
	switch kind {
	case loadgen.ServeGobwas:
	case loadgen.ServeTCP:
		scheme = "tcp://"
	default:
		fmt.Fprintf(stderr, "wasmsock bench: -serve %q: must be %s or %s\n", kind, loadgen.ServeGobwas, loadgen.ServeTCP)
		return 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "wasmsock bench: %v\n", err)
		return 1
	}
	if kind == loadgen.ServeGobwas {
		fmt.Fprintf(stdout, "wasmsock bench: serving a plain gobwas echo on ws://%s/ and broadcast on ws://%s%s\n", ln.Addr(), ln.Addr(), loadgen.FanoutPath)
	} else {
		fmt.Fprintf(stdout, "wasmsock bench: serving a plain %s echo on %s%s\n", kind, scheme, ln.Addr())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = ln.Close() }()
	_ = loadgen.Serve(ln, kind)
	return 0
}
