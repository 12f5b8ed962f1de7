package cluster

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/kv"
)

// KV is a kv.Store in a NATS JetStream key-value bucket, shared by every node of a cluster:
// one bucket per plugin (Bucket), its stream created (or brought to this configuration) on first
// use. It follows kv.Memory's semantics exactly where NATS allows:
//
//   - A key of namespace ns is the subject $KV.BUCKET.NS.KEY, both escaped with kvToken, so that no
//     two (namespace, key) pairs share a subject and nothing is a wildcard.
//   - Get reads the key's last message (a direct get); a value whose TTL has run out counts as
//     gone at once, even before the server drops it.
//   - Set publishes; CAS reads the value, compares it, and publishes only if the key's last
//     revision is still the one compared (Nats-Expected-Last-Subject-Sequence), reading again
//     when another writer came first: no lost update, whichever node writes.
//   - Delete removes the key's message (by its revision, so that a newer value is not removed by
//     mistake), so a deleted key leaves no marker that would count against the budget.
//   - TTL: the value carries its TTL in milliseconds (header Wasmsock-TTL), counted from the time
//     the NATS server stored it; the message also has a server TTL (Nats-TTL, whole seconds,
//     rounded up), after which the server drops it.
//   - Budget: the stream holds at most Limits.Entries messages and Limits.Bytes bytes, as
//     JetStream counts them (subject, headers and value), with "discard new": a write beyond is
//     refused (abi.ErrLimit); overwriting a key (one message per subject) is not.
//
// Every operation waits at most the store's timeout, and at most half of what is left of ctx
// (the guest call's deadline); NATS unreachable, JetStream not answering in time, or any other
// failure of the server is abi.ErrUnavailable.
type KV struct {
	js      jetstream.JetStream
	bucket  string
	prefix  string // $KV.BUCKET.
	limits  kv.Limits
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	stream jetstream.Stream // nil until the stream is made (ensure)
}

// errCodeStoreFailed is JetStream's error code for a message the stream did not store; with
// "discard new" its description says which limit ("maximum messages exceeded", "maximum bytes
// exceeded").
const errCodeStoreFailed jetstream.ErrorCode = 10077

// ttlHeader carries a value's TTL in milliseconds.
const ttlHeader = "Wasmsock-TTL"

// NewKV returns the store of bucket (KVBucket) over js (Node.JetStream). Nothing is sent until
// the first operation, or Ensure. The limits are kv.Memory's (zero: the ABI's).
func NewKV(js jetstream.JetStream, bucket string, limits kv.Limits, timeout time.Duration, log *slog.Logger) *KV {
	if limits.Entries <= 0 {
		limits.Entries = abi.MaxKVEntries
	}
	if limits.Bytes <= 0 {
		limits.Bytes = abi.MaxKVBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &KV{js: js, bucket: bucket, prefix: "$KV." + bucket + ".", limits: limits, timeout: timeout, log: log}
}

// KVBucket is the name of the key-value bucket of a plugin of a cluster: the cluster's name,
// length first, then the plugin's ("ws8_wasmsock_chat"), so that no two (cluster, plugin) pairs
// share a bucket. Cluster and plugin names are letters, digits, '-' and '_' (config rules),
// which bucket names allow.
func KVBucket(cluster, plugin string) string {
	return "ws" + strconv.Itoa(len(cluster)) + "_" + cluster + "_" + plugin
}

// kvToken escapes s into a key token JetStream accepts that holds no '.': bytes other than ASCII
// letters, digits, '-' and '_' become =XX (upper-case hex), and the empty string is "=". The
// mapping is one to one (kvUntoken reverses it).
func kvToken(s string) string { return kvTokens.escape(s) }

// kvUntoken reverses kvToken; ok is false for a string kvToken never returns.
func kvUntoken(t string) (string, bool) { return kvTokens.unescape(t) }

var kvTokens = newEscaping('=', func(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
})

// subject is the subject of key in namespace ns.
func (s *KV) subject(ns, key string) string { return s.prefix + kvToken(ns) + "." + kvToken(key) }

// config is the bucket's stream: a key-value bucket of history 1 (as nats kv add makes one),
// with per-message TTLs, deletes by sequence, and this store's budget.
func (s *KV) config() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + s.bucket,
		Description:       "wasmsock shared store (abi/ABI.md, Shared state)",
		Subjects:          []string{s.prefix + ">"},
		MaxMsgsPerSubject: 1,
		MaxMsgs:           int64(s.limits.Entries),
		MaxBytes:          int64(s.limits.Bytes),
		MaxMsgSize:        int32(abi.MaxKVValue + 1024), // the value, its subject and headers
		Discard:           jetstream.DiscardNew,
		Storage:           jetstream.FileStorage,
		Replicas:          1,
		AllowRollup:       true,
		AllowDirect:       true,
		AllowMsgTTL:       true,
		Duplicates:        2 * time.Minute,
	}
}

// Bucket is the store's bucket name.
func (s *KV) Bucket() string { return s.bucket }

// Ensure makes the bucket's stream, or brings an existing one to this store's configuration.
func (s *KV) Ensure(ctx context.Context) error {
	_, err := s.handle(ctx)
	return err
}

func (s *KV) handle(ctx context.Context) (jetstream.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		return s.stream, nil
	}
	st, err := s.js.CreateOrUpdateStream(ctx, s.config())
	if err != nil {
		return nil, err
	}
	s.stream = st
	return st, nil
}

// forget drops the stream handle, so that the next operation makes the stream again (an
// operator deleted it).
func (s *KV) forget() {
	s.mu.Lock()
	s.stream = nil
	s.mu.Unlock()
}

// bound returns the context of one operation: at most the store's timeout, and at most half of
// what is left of ctx.
func (s *KV) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	wait := s.timeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	return context.WithTimeout(ctx, wait)
}

// jsEntry is a key's last message: its value and revision, or none (rev 0) when the key has no
// live value; expired tells a message that is still stored but whose TTL has run out (a create
// must name its revision).
type jsEntry struct {
	value   []byte
	rev     uint64
	live    bool
	expired bool
}

func (s *KV) read(ctx context.Context, st jetstream.Stream, subj string) (jsEntry, error) {
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return jsEntry{}, nil
	}
	if err != nil {
		return jsEntry{}, err
	}
	e := jsEntry{value: m.Data, rev: m.Sequence, live: true}
	if ttl := m.Header.Get(ttlHeader); ttl != "" {
		ms, err := strconv.ParseInt(ttl, 10, 64)
		if err == nil && !time.Now().Before(m.Time.Add(time.Duration(ms)*time.Millisecond)) {
			e.live, e.expired = false, true
		}
	}
	if e.value == nil {
		e.value = []byte{}
	}
	return e, nil
}

// publish stores value under subj; rev: the key's last revision must be this one (0: the key
// must have no message), or -1: whatever it is.
func (s *KV) publish(ctx context.Context, subj string, value []byte, ttl time.Duration, rev int64) error {
	msg := &nats.Msg{Subject: subj, Data: value, Header: nats.Header{}}
	var opts []jetstream.PublishOpt
	if ttl > 0 {
		msg.Header.Set(ttlHeader, strconv.FormatInt(ttl.Milliseconds(), 10))
		// The server's TTL is in whole seconds, at least one: rounded up, so that the server never
		// drops a value that is still live (reads check the exact TTL).
		opts = append(opts, jetstream.WithMsgTTL(max((ttl+time.Second-1).Truncate(time.Second), time.Second)))
	}
	if rev >= 0 {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(uint64(rev)))
	}
	_, err := s.js.PublishMsg(ctx, msg, opts...)
	return err
}

// status turns an error of NATS into the ABI's status: a stream full is ErrLimit, anything else
// ErrUnavailable (and logged, unless it is only NATS being away or slow).
func (s *KV) status(op string, err error) abi.Status {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == errCodeStoreFailed && strings.Contains(api.Description, "maximum") {
		return abi.ErrLimit
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s.forget()
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrConnectionClosed) &&
		!errors.Is(err, nats.ErrConnectionReconnecting) && !errors.Is(err, nats.ErrNoResponders) {
		s.log.Warn("shared store: JetStream failed", "bucket", s.bucket, "op", op, "error", err)
	}
	return abi.ErrUnavailable
}

// wrongRevision reports whether err is JetStream refusing a write whose expected revision is no
// longer the key's last: another writer came first.
func wrongRevision(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Get implements kv.Store.
func (s *KV) Get(ctx context.Context, ns, key string) ([]byte, abi.Status) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	st, err := s.handle(ctx)
	if err != nil {
		return nil, s.status("get", err)
	}
	e, err := s.read(ctx, st, s.subject(ns, key))
	if err != nil {
		return nil, s.status("get", err)
	}
	if !e.live {
		return nil, abi.ErrNotFound
	}
	return e.value, abi.OK
}

// Set implements kv.Store.
func (s *KV) Set(ctx context.Context, ns, key string, value []byte, ttl time.Duration) abi.Status {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.handle(ctx); err != nil {
		return s.status("set", err)
	}
	if err := s.publish(ctx, s.subject(ns, key), value, ttl, -1); err != nil {
		return s.status("set", err)
	}
	return abi.OK
}

// CAS implements kv.Store: read, compare, and write only over the revision compared; when another
// writer came first, read again.
func (s *KV) CAS(ctx context.Context, ns, key string, expect, value []byte, ttl time.Duration) abi.Status {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	st, err := s.handle(ctx)
	if err != nil {
		return s.status("cas", err)
	}
	subj := s.subject(ns, key)
	for {
		e, err := s.read(ctx, st, subj)
		if err != nil {
			return s.status("cas", err)
		}
		switch {
		case expect == nil && e.live:
			return abi.ErrMismatch
		case expect != nil && !e.live:
			return abi.ErrNotFound
		case expect != nil && !bytes.Equal(e.value, expect):
			return abi.ErrMismatch
		}
		err = s.publish(ctx, subj, value, ttl, int64(e.rev))
		if err == nil {
			return abi.OK
		}
		if !wrongRevision(err) {
			return s.status("cas", err)
		}
	}
}

// Delete implements kv.Store: the key's message goes, by its revision (a newer value is read
// again, and deleted).
func (s *KV) Delete(ctx context.Context, ns, key string) abi.Status {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	st, err := s.handle(ctx)
	if err != nil {
		return s.status("delete", err)
	}
	subj := s.subject(ns, key)
	var failed uint64 // a revision whose delete failed
	for {
		e, err := s.read(ctx, st, subj)
		if err != nil {
			return s.status("delete", err)
		}
		if !e.live {
			return abi.ErrNotFound
		}
		if e.rev == failed {
			return s.status("delete", errors.New("the server refuses to delete the key's message"))
		}
		err = st.DeleteMsg(ctx, e.rev)
		if err == nil {
			return abi.OK
		}
		if !errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
			return s.status("delete", err)
		}
		// Not deleted: a newer value replaced that revision (or it expired); read again, and
		// give up if the same revision is still there.
		failed = e.rev
	}
}
