package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/wasmsock/wasmsock/host/config"
)

// State is the state of a node's NATS connection.
type State int32

const (
	Connecting   State = iota // not connected yet
	Connected                 // connected: publications reach the other nodes
	Reconnecting              // lost: local delivery goes on, publications to other nodes are lost (and counted) until NATS is back
	Closed                    // the node has stopped
)

func (s State) String() string {
	switch s {
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	case Closed:
		return "closed"
	}
	return "connecting"
}

// Node is this host's membership in a cluster: its NATS connection, its node id and, when the
// config says so, the NATS server it embeds. Start makes one; Close ends it.
type Node struct {
	cfg      *config.Cluster
	log      *slog.Logger
	id       int
	instance uint64 // random, tells two processes that claim the same id apart
	embedded *server.Server
	nc       *nats.Conn
	state    atomic.Int32
	started  time.Time

	claim *nats.Subscription  // answers other nodes asking whether id is taken
	js    jetstream.JetStream // kv = "jetstream": the shared stores' JetStream; else nil

	mu         sync.Mutex
	peers      map[int]peer // the other nodes, from their heartbeats
	onState    []func(State)
	onError    []func(error)
	urls       []string // the servers to connect to: the embedded one first
	stop       chan struct{}
	stopped    sync.WaitGroup
	Duplicates atomic.Int64 // heartbeats from another process with this node's id
	Reconnects atomic.Int64 // times the connection came back after a loss
}

type peer struct {
	instance uint64
	seen     time.Time
	started  time.Time
}

// Peer is another node of the cluster, as its heartbeats describe it.
type Peer struct {
	ID       int       `json:"id"`
	Started  time.Time `json:"started"`
	LastSeen time.Time `json:"last_seen"`
}

// heartbeat is how often a node says it is alive; a node not heard of for peerTimeout is gone.
const (
	heartbeat   = time.Second
	peerTimeout = 3 * heartbeat
)

// Start connects this node to the cluster: it starts the embedded NATS server if configured,
// connects to NATS within connect_timeout (an error says which server and why), claims a node id
// and starts the heartbeat. The node then reconnects by itself, forever, whenever the connection
// is lost.
func Start(ctx context.Context, cfg *config.Cluster, log *slog.Logger) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: log.With("component", "cluster"), peers: map[int]peer{}, stop: make(chan struct{}), started: time.Now()}
	n.instance = randUint64()
	if cfg.Embedded {
		s, err := startEmbedded(cfg, n.log)
		if err != nil {
			return nil, err
		}
		n.embedded = s
		n.urls = append(n.urls, s.ClientURL())
	}
	n.urls = append(n.urls, cfg.URLs...)
	nc, err := n.connect()
	if err != nil {
		n.shutdownEmbedded()
		return nil, err
	}
	n.nc = nc
	n.setState(Connected)
	if cfg.KV == config.KVJetStream {
		if err := n.checkJetStream(ctx); err != nil {
			nc.Close()
			n.shutdownEmbedded()
			return nil, err
		}
	}
	if err := n.claimID(ctx); err != nil {
		nc.Close()
		n.shutdownEmbedded()
		return nil, err
	}
	if err := n.startHeartbeat(); err != nil {
		n.Close()
		return nil, err
	}
	n.log.Info("cluster node started", "node", n.id, "cluster", cfg.Name, "nats", nc.ConnectedUrlRedacted(), "embedded", cfg.Embedded)
	return n, nil
}

// Check does what Start does, to report a problem before serving (wasmsock check): the embedded
// server's address is free, the credentials parse, NATS is reachable and accepts this node.
func Check(ctx context.Context, cfg *config.Cluster) error {
	n, err := Start(ctx, cfg, nil)
	if err != nil {
		return err
	}
	n.Close()
	return nil
}

// errorf prefixes cluster errors so that serve and check say where the problem is.
func errorf(key, format string, args ...any) error {
	return fmt.Errorf("cluster."+key+": "+format, args...)
}

func startEmbedded(cfg *config.Cluster, log *slog.Logger) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.EmbeddedListen)
	if err != nil {
		return nil, errorf("embedded_listen", "%q: %v", cfg.EmbeddedListen, err)
	}
	port, _ := strconv.Atoi(portStr)
	// Say "address in use" plainly: the server itself would only time out.
	if ln, err := net.Listen("tcp", cfg.EmbeddedListen); err != nil {
		return nil, errorf("embedded_listen", "cannot run the embedded NATS server: %v", err)
	} else if port == 0 {
		port = ln.Addr().(*net.TCPAddr).Port // a random port, kept for the server (tests)
		_ = ln.Close()
	} else {
		_ = ln.Close()
	}
	opts := &server.Options{
		ServerName: "wasmsock-" + cfg.Name,
		Host:       host,
		Port:       port,
		NoSigs:     true,
		MaxPayload: EmbeddedMaxPayload,
	}
	if cfg.KV == config.KVJetStream && cfg.JetStreamDir != "" {
		// The shared stores live in this server's JetStream.
		opts.JetStream = true
		opts.StoreDir = cfg.JetStreamDir
	}
	if cfg.TokenFile != "" || cfg.TokenEnv != "" {
		tok, err := token(cfg)
		if err != nil {
			return nil, err
		}
		opts.Authorization = tok
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, errorf("embedded", "%v", err)
	}
	s.SetLoggerV2(natsLog{log}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(cfg.ConnectTimeout.D) {
		s.Shutdown()
		return nil, errorf("embedded_listen", "the embedded NATS server did not start on %s within %s", cfg.EmbeddedListen, cfg.ConnectTimeout.D)
	}
	log.Info("embedded NATS server listening", "addr", s.Addr().String())
	return s, nil
}

// EmbeddedMaxPayload is the largest message the embedded NATS server carries (NATS's default is
// 1 MiB; a route may allow larger messages). An external server has its own max_payload.
const EmbeddedMaxPayload = 8 << 20

func token(cfg *config.Cluster) (string, error) {
	switch {
	case cfg.TokenEnv != "":
		t := os.Getenv(cfg.TokenEnv)
		if t == "" {
			return "", errorf("token_env", "environment variable %s is not set", cfg.TokenEnv)
		}
		return t, nil
	case cfg.TokenFile != "":
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return "", errorf("token_file", "%v", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", errorf("token_file", "%s is empty", cfg.TokenFile)
		}
		return t, nil
	}
	return "", nil
}

// checkCredentials reads a credentials file as NATS would, to name the problem if it is not one.
func checkCredentials(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return errorf("credentials_file", "%v", err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return errorf("credentials_file", "%s is not a NATS credentials file: no user nkey seed in it (%v)", file, err)
	}
	if jwt, err := nkeys.ParseDecoratedJWT(b); err != nil || !strings.HasPrefix(jwt, "eyJ") {
		kp.Wipe()
		return errorf("credentials_file", "%s is not a NATS credentials file: no user JWT in it", file)
	}
	kp.Wipe()
	return nil
}

func (n *Node) connect() (*nats.Conn, error) {
	cfg := n.cfg
	opts := []nats.Option{
		nats.Name(fmt.Sprintf("wasmsock %s", cfg.Name)),
		nats.Timeout(cfg.ConnectTimeout.D),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		// No buffering while disconnected: a publication either reaches NATS now or is lost and
		// counted (at most once; a late burst of stale chat after an outage helps nobody).
		nats.ReconnectBufSize(-1),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if n.State() == Closed {
				return
			}
			n.setState(Reconnecting)
			n.log.Warn("NATS connection lost: local delivery goes on, other nodes are unreachable until it is back", "error", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.Reconnects.Add(1)
			n.setState(Connected)
			n.log.Info("NATS connection back", "nats", c.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) { n.setState(Closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			n.log.Warn("NATS error", "error", err, "subject", subj)
			n.mu.Lock()
			hooks := n.onError
			n.mu.Unlock()
			for _, h := range hooks {
				h(err)
			}
		}),
	}
	if cfg.CredentialsFile != "" {
		if err := checkCredentials(cfg.CredentialsFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	if cfg.TokenEnv != "" || cfg.TokenFile != "" {
		t, err := token(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(t))
	}
	if cfg.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCAFile))
	}
	if cfg.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
	}
	nc, err := nats.Connect(strings.Join(n.urls, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster.urls: cannot connect to NATS at %s: %w", strings.Join(redact(n.urls), ", "), err)
	}
	return nc, nil
}

// checkJetStream makes sure the NATS servers run JetStream for this node's account (kv =
// "jetstream"), within connect_timeout, and keeps the node's JetStream context.
func (n *Node) checkJetStream(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return errorf("kv", "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ConnectTimeout.D)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount), errors.Is(err, nats.ErrNoResponders):
		return errorf("kv", `JetStream is not enabled on the NATS server %s (for this account): kv = "jetstream" keeps the shared stores there; run nats-server with JetStream (-js), or use the embedded server with jetstream_dir, or kv = "node"`, n.nc.ConnectedUrlRedacted())
	default:
		return errorf("kv", "JetStream on %s did not answer: %v", n.nc.ConnectedUrlRedacted(), err)
	}
	n.js = js
	return nil
}

// JetStream is the node's JetStream context when the shared stores live in JetStream (kv =
// "jetstream"), else nil.
func (n *Node) JetStream() jetstream.JetStream { return n.js }

// redact drops passwords from URLs for messages.
func redact(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				u = u[:s+3] + "***" + u[at:]
			}
		}
		out[i] = u
	}
	return out
}

// claimID takes the configured node id, or picks a free one: a node answers requests on its
// claim subject, so a request that finds no responder means the id is free.
func (n *Node) claimID(ctx context.Context) error {
	try := func(id int) (bool, error) {
		_, err := n.nc.Request(n.Subject("claim", strconv.Itoa(id)), nil, n.cfg.RequestTimeout.D)
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			sub, err := n.nc.Subscribe(n.Subject("claim", strconv.Itoa(id)), func(m *nats.Msg) { _ = m.Respond([]byte("taken")) })
			if err != nil {
				return false, err
			}
			n.claim, n.id = sub, id
			return true, nil
		case err == nil:
			return false, nil // taken
		case errors.Is(err, nats.ErrTimeout):
			return false, fmt.Errorf("cluster: NATS did not answer within request_timeout (%s): %w", n.cfg.RequestTimeout.D, err)
		default:
			return false, fmt.Errorf("cluster: claiming node id %d: %w", id, err)
		}
	}
	if n.cfg.NodeID != 0 {
		ok, err := try(n.cfg.NodeID)
		if err != nil {
			return err
		}
		if !ok {
			return errorf("node_id", "node id %d is taken by another node of cluster %q", n.cfg.NodeID, n.cfg.Name)
		}
		return nil
	}
	for range 32 {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, _ := rand.Int(rand.Reader, big.NewInt(config.MaxNodeID))
		ok, err := try(int(id.Int64()) + 1)
		if err != nil || ok {
			return err
		}
	}
	return errorf("node_id", "found no free node id in 32 tries: set node_id")
}

// A heartbeat is the node id (2 bytes), its instance (8) and its start time in unix nanoseconds
// (8); a node that leaves says so with the same 18 bytes and a last byte of 1 (byeFlag), so the
// others drop it at once rather than after peerTimeout. Anything else on the subject is ignored
// (a node of a later version may say more).
const (
	beatSize = 18
	byeFlag  = 1
)

type beat struct {
	id       int
	instance uint64
	started  time.Time
	bye      bool
}

func (b beat) encode() []byte {
	out := make([]byte, beatSize, beatSize+1)
	binary.BigEndian.PutUint16(out, uint16(b.id))
	binary.BigEndian.PutUint64(out[2:], b.instance)
	binary.BigEndian.PutUint64(out[10:], uint64(b.started.UnixNano()))
	if b.bye {
		out = append(out, byeFlag)
	}
	return out
}

// decodeBeat reads a heartbeat or a bye; ok is false for anything else.
func decodeBeat(data []byte) (b beat, ok bool) {
	switch {
	case len(data) == beatSize:
	case len(data) == beatSize+1 && data[beatSize] == byeFlag:
		b.bye = true
	default:
		return beat{}, false
	}
	b.id = int(binary.BigEndian.Uint16(data))
	if b.id < 1 || b.id > config.MaxNodeID {
		return beat{}, false
	}
	b.instance = binary.BigEndian.Uint64(data[2:])
	b.started = time.Unix(0, int64(binary.BigEndian.Uint64(data[10:])))
	return b, true
}

func (n *Node) startHeartbeat() error {
	subj := n.Subject("nodes")
	_, err := n.nc.Subscribe(subj, func(m *nats.Msg) {
		b, ok := decodeBeat(m.Data)
		if !ok {
			return
		}
		if b.id == n.id {
			if b.instance != n.instance {
				n.Duplicates.Add(1)
				n.log.Error("another process uses this node's id: connection ids may collide; give the nodes distinct node_id", "node", b.id)
			}
			return
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if b.bye {
			if p, ok := n.peers[b.id]; ok && p.instance == b.instance {
				delete(n.peers, b.id)
				n.log.Info("node left", "node", b.id)
			}
			return
		}
		n.peers[b.id] = peer{instance: b.instance, seen: time.Now(), started: b.started}
	})
	if err != nil {
		return err
	}
	hb := beat{id: n.id, instance: n.instance, started: n.started}.encode()
	_ = n.nc.Publish(subj, hb)
	n.stopped.Add(1)
	go func() {
		defer n.stopped.Done()
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		for {
			select {
			case <-n.stop:
				return
			case <-t.C:
				_ = n.nc.Publish(subj, hb)
				n.mu.Lock()
				for id, p := range n.peers {
					if time.Since(p.seen) > peerTimeout {
						delete(n.peers, id)
						n.log.Info("node gone", "node", id)
					}
				}
				n.mu.Unlock()
			}
		}
	}()
	return nil
}

// Peers returns the other nodes heard from within the last few seconds, by id.
func (n *Node) Peers() []Peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Peer, 0, len(n.peers))
	for id, p := range n.peers {
		if time.Since(p.seen) <= peerTimeout {
			out = append(out, Peer{ID: id, Started: p.started, LastSeen: p.seen})
		}
	}
	return out
}

// ID is this node's id, 1-1023.
func (n *Node) ID() int { return n.id }

// Name is the cluster's name, the first token of every subject.
func (n *Node) Name() string { return n.cfg.Name }

// Conn is the node's NATS connection, for packages that carry their own traffic over the
// cluster (the plugin bus). It reconnects by itself; while disconnected, Publish fails rather
// than buffers. Subjects must start with Subject's prefix. Do not Close it: Node.Close does.
func (n *Node) Conn() *nats.Conn { return n.nc }

// RequestTimeout is how long a request to the other nodes waits for answers.
func (n *Node) RequestTimeout() time.Duration { return n.cfg.RequestTimeout.D }

// State is the state of the NATS connection.
func (n *Node) State() State { return State(n.state.Load()) }

func (n *Node) setState(s State) {
	if State(n.state.Swap(int32(s))) == s {
		return
	}
	n.mu.Lock()
	hooks := n.onState
	n.mu.Unlock()
	for _, h := range hooks {
		h(s)
	}
}

// OnState registers a function called when the connection state changes.
func (n *Node) OnState(f func(State)) {
	n.mu.Lock()
	n.onState = append(n.onState, f)
	n.mu.Unlock()
}

// OnError registers a function called with asynchronous NATS errors (a subscription that fell
// behind and dropped messages: nats.ErrSlowConsumer).
func (n *Node) OnError(f func(error)) {
	n.mu.Lock()
	n.onError = append(n.onError, f)
	n.mu.Unlock()
}

// Embedded is the embedded NATS server's client URL, or "" when this node embeds none.
func (n *Node) Embedded() string {
	if n.embedded == nil {
		return ""
	}
	return n.embedded.ClientURL()
}

// Close leaves the cluster: it drains the node's subscriptions, closes the connection and stops
// the embedded server (the other nodes lose their NATS server with it, and reconnect to another
// one of their urls if they have one).
func (n *Node) Close() {
	select {
	case <-n.stop:
		return
	default:
	}
	close(n.stop)
	n.stopped.Wait()
	n.setState(Closed)
	if n.nc != nil {
		if n.id != 0 { // say goodbye: the others stop counting on this node's answers at once
			_ = n.nc.Publish(n.Subject("nodes"), beat{id: n.id, instance: n.instance, started: n.started, bye: true}.encode())
		}
		_ = n.nc.FlushTimeout(time.Second)
		n.nc.Close()
	}
	n.shutdownEmbedded()
}

func (n *Node) shutdownEmbedded() {
	if n.embedded != nil {
		n.embedded.Shutdown()
		n.embedded.WaitForShutdown()
	}
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// natsLog sends the embedded server's log to the host's: warnings and errors as such, the rest
// at debug level.
type natsLog struct{ l *slog.Logger }

func (l natsLog) Noticef(f string, v ...any) { l.l.Debug("nats: " + fmt.Sprintf(f, v...)) }
func (l natsLog) Warnf(f string, v ...any)   { l.l.Warn("nats: " + fmt.Sprintf(f, v...)) }
func (l natsLog) Fatalf(f string, v ...any)  { l.l.Error("nats: " + fmt.Sprintf(f, v...)) }
func (l natsLog) Errorf(f string, v ...any)  { l.l.Error("nats: " + fmt.Sprintf(f, v...)) }
func (l natsLog) Debugf(f string, v ...any)  { l.l.Debug("nats: " + fmt.Sprintf(f, v...)) }
func (l natsLog) Tracef(f string, v ...any)  {}
