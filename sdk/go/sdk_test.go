//go:build !wasip1

package wasmsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// fakeHost plays the host: it serves the current event's payload in small chunks, answers
// conn_get from vals and records what the plugin sends and logs.
type fakeHost struct {
	payload []byte
	chunk   int   // most bytes one msg_read returns
	fail    int32 // what msg_read returns once the payload is used up, instead of 0
	vals    map[string]string
	calls   []string
	logs    []string
	attach  []byte
	members []Member
	kv      map[string][]byte
}

func (h *fakeHost) msgRead(dst []byte) int32 {
	if len(h.payload) == 0 && h.fail != 0 {
		return h.fail
	}
	n := copy(dst[:min(len(dst), h.chunk)], h.payload)
	h.payload = h.payload[n:]
	return int32(n)
}

func (h *fakeHost) send(conn uint64, kind int32, data []byte) int32 {
	h.calls = append(h.calls, "send "+Kind(kind).String()+" "+string(data))
	return 0
}

func (h *fakeHost) broadcast(group string, kind int32, data []byte, except uint64) int32 {
	h.calls = append(h.calls, "broadcast "+group+" "+string(data))
	return 2
}

func (h *fakeHost) join(conn uint64, group string) int32 { return int32(abi.ErrUnknownConn) }

func (h *fakeHost) leave(conn uint64, group string) int32 { return 0 }

func (h *fakeHost) close(conn uint64, code int32, reason string) int32 {
	h.calls = append(h.calls, "close "+reason)
	return 0
}

func (h *fakeHost) connGet(conn uint64, key string, dst []byte) int32 {
	v, ok := h.vals[key]
	if !ok {
		return int32(abi.ErrNotFound)
	}
	copy(dst, v)
	return int32(len(v))
}

func (h *fakeHost) log(level int32, msg string) int32 {
	h.logs = append(h.logs, msg)
	return 0
}

func (h *fakeHost) publish(subject string, data []byte) int32 {
	h.calls = append(h.calls, "publish "+subject+" "+string(data))
	return 0
}

func (h *fakeHost) subscribe(subject, queue string) int32 {
	h.calls = append(h.calls, "subscribe "+subject+" "+queue)
	return 7
}

func (h *fakeHost) unsubscribe(id int32) int32 {
	if id != 7 {
		return int32(abi.ErrNotFound)
	}
	return 0
}

func (h *fakeHost) request(subject string, data []byte, timeoutMS int32) int32 {
	h.calls = append(h.calls, "request "+subject+" "+string(data)+" "+strconv.Itoa(int(timeoutMS)))
	return 9
}

func (h *fakeHost) timerSet(conn uint64, name string, delay, every int32) int32 {
	h.calls = append(h.calls, fmt.Sprintf("timer_set %d %s %d %d", conn, name, delay, every))
	return 0
}

func (h *fakeHost) timerCancel(conn uint64, name string) int32 {
	h.calls = append(h.calls, fmt.Sprintf("timer_cancel %d %s", conn, name))
	return int32(abi.ErrNotFound)
}

func (h *fakeHost) attachSet(conn uint64, data []byte) int32 {
	if len(data) > abi.MaxAttachment {
		return int32(abi.ErrTooLarge)
	}
	h.attach = append([]byte(nil), data...)
	return 0
}

func (h *fakeHost) groupSize(group string) int32 { return int32(len(h.members)) }

func (h *fakeHost) groupMembers(group string, dst []byte) int32 {
	var b []byte
	for _, m := range h.members {
		b = binary.LittleEndian.AppendUint64(b, uint64(m.Conn))
		b = append(b, byte(len(m.User)))
		b = append(b, m.User...)
	}
	copy(dst, b)
	return int32(len(b))
}

func (h *fakeHost) attachGet(conn uint64, dst []byte) int32 {
	copy(dst, h.attach)
	return int32(len(h.attach))
}

func (h *fakeHost) kvGet(key string, dst []byte) int32 {
	v, ok := h.kv[key]
	if !ok {
		return int32(abi.ErrNotFound)
	}
	copy(dst, v)
	return int32(len(v))
}

func (h *fakeHost) kvSet(key string, value []byte, ttlMS int32) int32 {
	h.calls = append(h.calls, fmt.Sprintf("kv_set %s %d", key, ttlMS))
	if h.kv == nil {
		h.kv = map[string][]byte{}
	}
	h.kv[key] = append([]byte{}, value...)
	return 0
}

func (h *fakeHost) kvCAS(key string, expect, value []byte, ttlMS int32) int32 {
	v, ok := h.kv[key]
	switch {
	case expect == nil && ok, expect != nil && ok && string(v) != string(expect):
		return int32(abi.ErrMismatch)
	case expect != nil && !ok:
		return int32(abi.ErrNotFound)
	}
	return h.kvSet(key, value, ttlMS)
}

func (h *fakeHost) kvDelete(key string) int32 {
	if _, ok := h.kv[key]; !ok {
		return int32(abi.ErrNotFound)
	}
	delete(h.kv, key)
	return 0
}

// useFake installs a fresh fake host and clears the handlers for the length of the test.
func useFake(t *testing.T) *fakeHost {
	h := &fakeHost{chunk: 3, vals: map[string]string{}}
	host = h
	t.Cleanup(func() {
		host = noHost{}
		OnConnect(nil)
		OnMessage(nil)
		OnClose(nil)
		OnEvent(nil)
		OnStart(nil)
		OnTimer(nil)
	})
	return h
}

func TestDefaults(t *testing.T) {
	useFake(t)
	if got := dispatchConnect(1, 0); got != 0 {
		t.Errorf("on_connect without a handler = %d, want 0", got)
	}
	if got := dispatchStart(0); got != 0 {
		t.Errorf("on_start without a handler = %d, want 0", got)
	}
	dispatchMessage(1, abi.KindText, 0)
	dispatchClose(1, 1000, 0)
}

func TestMessage(t *testing.T) {
	h := useFake(t)
	var got []Message
	OnMessage(func(c Conn, m Message) {
		if c != 42 {
			t.Errorf("conn = %d, want 42", c)
		}
		got = append(got, Message{m.Kind, []byte(m.Text())})
		if err := c.Send(m.Kind, m.Data); err != nil {
			t.Errorf("Send: %v", err)
		}
	})
	for _, m := range []Message{{Text, []byte("hello, world")}, {Binary, []byte{0, 1}}, {Text, nil}} {
		h.payload = m.Data
		dispatchMessage(42, int32(m.Kind), int32(len(m.Data)))
	}
	if len(got) != 3 || got[0].Text() != "hello, world" || got[1].Kind != Binary || string(got[1].Data) != "\x00\x01" || len(got[2].Data) != 0 {
		t.Errorf("handler got %q", got)
	}
	want := "send text hello, world|send binary \x00\x01|send text "
	if s := strings.Join(h.calls, "|"); s != want {
		t.Errorf("host calls %q, want %q", s, want)
	}
}

// TestMessageRead covers how the SDK reads a message's payload: in one msg_read when it fits, in
// several when the host hands out less at a time, short when the host has fewer bytes than the
// event declared, and not at all (the message dropped, the error logged) when msg_read fails.
func TestMessageRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		n       int32 // the length on_message declares
		chunk   int
		fail    int32
		want    string // what the handler gets; "-" when it is not called
		wantLog bool
	}{
		{name: "one read", payload: "hello, world", n: 12, chunk: 1 << 20, want: "hello, world"},
		{name: "chunks", payload: "hello, world", n: 12, chunk: 5, want: "hello, world"},
		{name: "byte by byte", payload: "hello", n: 5, chunk: 1, want: "hello"},
		{name: "host has fewer", payload: "hel", n: 5, chunk: 2, want: "hel"},
		{name: "empty", payload: "", n: 0, chunk: 3, want: ""},
		{name: "fails at once", payload: "", n: 5, chunk: 3, fail: int32(abi.ErrNoMessage), want: "-", wantLog: true},
		{name: "fails midway", payload: "hel", n: 5, chunk: 2, fail: int32(abi.ErrNoMessage), want: "-", wantLog: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := useFake(t)
			h.payload, h.chunk, h.fail = []byte(tc.payload), tc.chunk, tc.fail
			got := "-"
			OnMessage(func(_ Conn, m Message) { got = string(m.Data) })
			dispatchMessage(1, abi.KindText, tc.n)
			if got != tc.want {
				t.Errorf("handler got %q, want %q", got, tc.want)
			}
			if logged := len(h.logs) > 0; logged != tc.wantLog {
				t.Errorf("logs %q, want a log: %v", h.logs, tc.wantLog)
			}
		})
	}
}

func TestBigMessageBufferDropped(t *testing.T) {
	h := useFake(t)
	h.chunk = 1 << 20
	OnMessage(func(Conn, Message) {})
	h.payload = make([]byte, keepBuffer+1)
	dispatchMessage(1, abi.KindBinary, keepBuffer+1)
	if msgBuf != nil {
		t.Errorf("kept a %d-byte buffer", cap(msgBuf))
	}
	h.payload = []byte("small")
	dispatchMessage(1, abi.KindText, 5)
	if cap(msgBuf) < 5 {
		t.Errorf("small buffer not kept")
	}
}

func TestConnect(t *testing.T) {
	h := useFake(t)
	h.vals["query.room"] = "lobby"
	OnConnect(func(c Conn, resumed bool) Verdict {
		switch {
		case resumed:
			return RejectHTTP(403) // ignored by the host, visible here
		case c.Query("room") == "":
			return RejectClose(4001)
		case c == 13:
			panic("unlucky")
		}
		return Accept
	})
	if got := dispatchConnect(1, 0); got != 0 {
		t.Errorf("accept: got %d", got)
	}
	if got := dispatchConnect(1, abi.FlagResumed); got != 403 {
		t.Errorf("resumed flag not seen: got %d", got)
	}
	if got := dispatchConnect(13, 0); got != 500 {
		t.Errorf("panic: got %d, want 500", got)
	}
	if len(h.logs) != 1 || !strings.Contains(h.logs[0], "panic in OnConnect handler: unlucky") {
		t.Errorf("panic log: %q", h.logs)
	}
	delete(h.vals, "query.room")
	if got := dispatchConnect(1, 0); got != 4001 {
		t.Errorf("RejectClose: got %d", got)
	}
}

func TestVerdicts(t *testing.T) {
	for _, tc := range []struct {
		v    Verdict
		want int32
	}{
		{Accept, 0}, {RejectHTTP(400), 400}, {RejectHTTP(599), 599}, {RejectHTTP(200), 500},
		{RejectHTTP(600), 500}, {RejectClose(4999), 4999}, {RejectClose(1000), 4000}, {RejectClose(5000), 4000},
	} {
		if int32(tc.v) != tc.want {
			t.Errorf("verdict %d, want %d", tc.v, tc.want)
		}
	}
}

func TestCloseAndStart(t *testing.T) {
	h := useFake(t)
	var reason string
	OnClose(func(c Conn, code int, r string) { reason = r })
	h.payload = []byte("going away")
	dispatchClose(1, 1001, 10)
	if reason != "going away" {
		t.Errorf("reason %q", reason)
	}

	var config []byte
	OnStart(func(c []byte) error { config = c; return nil })
	h.payload = []byte(`{"a":1}`)
	if got := dispatchStart(7); got != 0 || string(config) != `{"a":1}` {
		t.Errorf("on_start = %d with config %q", got, config)
	}
	OnStart(func([]byte) error { return errors.New("bad config") })
	if got := dispatchStart(0); got != 1 {
		t.Errorf("failing on_start = %d, want 1", got)
	}
	if last := h.logs[len(h.logs)-1]; !strings.Contains(last, "bad config") {
		t.Errorf("refusal not logged: %q", last)
	}
}

func TestConnMethods(t *testing.T) {
	h := useFake(t)
	long := strings.Repeat("x", 300)
	h.vals["header.Cookie"] = long
	h.vals["user"] = "ann"
	h.vals["query.empty"] = ""
	c := Conn(9)
	if got := c.Header("Cookie"); got != long {
		t.Errorf("long value: got %d bytes", len(got))
	}
	if c.User() != "ann" || c.ID() != 9 {
		t.Errorf("User %q, ID %d", c.User(), c.ID())
	}
	if v, ok := c.Get("query.empty"); !ok || v != "" {
		t.Errorf("empty value: %q %v", v, ok)
	}
	if v, ok := c.Get("subprotocol"); ok || v != "" {
		t.Errorf("absent key: %q %v", v, ok)
	}
	if err := c.Close(1005, "x"); err != ErrInvalidCode {
		t.Errorf("Close(1005) = %v", err)
	}
	if err := c.Close(1000, "bye"); err != nil {
		t.Errorf("Close(1000) = %v", err)
	}
	if err := c.Send(Kind(3), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Send(kind 3) = %v", err)
	}
	if err := c.Join("room"); !errors.Is(err, ErrUnknownConn) {
		t.Errorf("Join = %v", err)
	}
	if n, err := SendToUser("ann", Text, []byte("hi"), Nobody); n != 2 || err != nil {
		t.Errorf("SendToUser = %d, %v", n, err)
	}
	if got := h.calls[len(h.calls)-1]; got != "broadcast user:ann hi" {
		t.Errorf("SendToUser called %q", got)
	}
}

func TestErrors(t *testing.T) {
	err := statusErr(int32(abi.ErrClosed))
	if err != ErrClosed || !errors.Is(err, ErrClosed) || errors.Is(err, ErrNotFound) {
		t.Errorf("status -7 gave %v", err)
	}
	if !errors.Is(err, &Error{abi.ErrClosed}) {
		t.Errorf("errors.Is with *Error target failed")
	}
	var e *Error
	if !errors.As(err, new(Error)) || errors.As(err, &e) {
		t.Errorf("errors.As: value target should match, pointer target should not")
	}
	if statusErr(5) != nil {
		t.Errorf("positive status is an error")
	}
	if err.Error() != "wasmsock: connection closed" {
		t.Errorf("message %q", err.Error())
	}
}

func TestNoHost(t *testing.T) {
	if err := Conn(1).SendText("x"); err != ErrNotSupported {
		t.Errorf("SendText without a host = %v", err)
	}
	if _, ok := Conn(1).Get("user"); ok {
		t.Errorf("Get without a host found something")
	}
}

func TestBus(t *testing.T) {
	h := useFake(t)
	if err := Publish("orders.created", []byte("x")); err != nil {
		t.Fatal(err)
	}
	sub, err := QueueSubscribe("orders.>", "workers")
	if err != nil || sub != 7 {
		t.Fatalf("subscribe: %v %v", sub, err)
	}
	if err := Subscription(8).Unsubscribe(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unsubscribe unknown: %v", err)
	}
	req, err := SendRequest("billing.charge", []byte("{}"), 1500*time.Millisecond)
	if err != nil || req != 9 {
		t.Fatalf("request: %v %v", req, err)
	}
	if _, err := SendRequest("x", nil, 61*time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("request over the longest timeout: %v", err)
	}
	want := []string{"publish orders.created x", "subscribe orders.> workers", "request billing.charge {} 1500"}
	if strings.Join(h.calls, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q", h.calls, want)
	}
	var got Event
	OnEvent(func(e Event) { got = e; got.Data = append([]byte(nil), e.Data...) })
	h.payload = []byte("orders.createdhello")
	dispatchEvent(7, int32(EventMessage), int32(len("orders.created")), int32(len("hello")))
	if got.ID != 7 || got.Kind != EventMessage || got.Subject != "orders.created" || string(got.Data) != "hello" {
		t.Fatalf("event %+v", got)
	}
	if EventError.String() != "error" || EventKind(9).String() != "EventKind(9)" {
		t.Fatal("EventKind.String")
	}
}

func TestTimers(t *testing.T) {
	h := useFake(t)
	c := Conn(7)
	tests := []struct {
		name string
		arm  func() error
		want string // the host call, "" for none
		err  error
	}{
		{"after", func() error { return After(1500*time.Millisecond, "tick") }, "timer_set 0 tick 1500 0", nil},
		{"every", func() error { return Every(time.Second, "beat") }, "timer_set 0 beat 1000 1000", nil},
		{"conn after rounds up", func() error { return c.After(time.Microsecond, "soon") }, "timer_set 7 soon 1 0", nil},
		{"conn every", func() error { return c.Every(2*time.Second, "ping") }, "timer_set 7 ping 2000 2000", nil},
		{"negative", func() error { return After(-time.Second, "x") }, "", ErrInvalidArgument},
		{"too long", func() error { return c.After(30*24*time.Hour, "x") }, "", ErrInvalidArgument},
		{"every zero", func() error { return Every(0, "x") }, "", ErrInvalidArgument},
		{"cancel", func() error { return c.CancelTimer("ping") }, "timer_cancel 7 ping", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.calls = nil
			if err := tt.arm(); err != tt.err {
				t.Errorf("error %v, want %v", err, tt.err)
			}
			got := strings.Join(h.calls, "; ")
			if got != tt.want {
				t.Errorf("host calls %q, want %q", got, tt.want)
			}
		})
	}

	var fired []string
	OnTimer(func(c Conn, name string) { fired = append(fired, fmt.Sprintf("%d %s", c.ID(), name)) })
	h.payload = []byte("heartbeat")
	dispatchTimer(7, int32(len("heartbeat")))
	if len(fired) != 1 || fired[0] != "7 heartbeat" {
		t.Errorf("OnTimer got %q, want [7 heartbeat]", fired)
	}
}

func TestAttachment(t *testing.T) {
	h := useFake(t)
	c := Conn(3)
	if b, err := c.Attachment(); b != nil || err != nil {
		t.Fatalf("no attachment: %q, %v", b, err)
	}
	long := strings.Repeat("x", 1000) // over the first buffer: a second call gets it all
	if err := c.SetAttachment([]byte(long)); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Attachment(); string(b) != long || err != nil {
		t.Fatalf("attachment %d bytes, %v; want %d bytes", len(b), err, len(long))
	}
	if err := c.SetAttachment(make([]byte, abi.MaxAttachment+1)); err != ErrTooLarge {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
	_ = h
}

func TestPresence(t *testing.T) {
	h := useFake(t)
	if n, err := GroupSize("room:a"); n != 0 || err != nil {
		t.Fatalf("empty: %d %v", n, err)
	}
	for i := 1; i <= 100; i++ { // over the first buffer: Members asks again with the full length
		h.members = append(h.members, Member{Conn: Conn(i), User: strings.Repeat("u", i%20)})
	}
	h.members = append(h.members, Member{Conn: Nobody, User: "remote"})
	got, err := Members("room:a")
	if err != nil || len(got) != 101 || got[99] != (Member{Conn: 100, User: strings.Repeat("u", 0)}) || got[100].User != "remote" {
		t.Fatalf("members: %d %v, last two %+v", len(got), err, got[len(got)-2:])
	}
	if n, _ := GroupSize("room:a"); n != 101 {
		t.Errorf("size %d", n)
	}
}

// TestKV checks the shared store's wrappers: a value longer than the first buffer is read whole,
// an empty value is not a missing one, nil asks CAS for "must not exist", TTLs round up to a
// millisecond and a TTL the ABI cannot carry is refused before the call.
func TestKV(t *testing.T) {
	h := useFake(t)
	if _, err := KV.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	big := []byte(strings.Repeat("v", 1000))
	if err := KV.Set("k", big, 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	if got, err := KV.Get("k"); err != nil || string(got) != string(big) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if err := KV.CAS("k", nil, []byte("x"), 0); !errors.Is(err, ErrMismatch) {
		t.Errorf("create over a value: %v", err)
	}
	if err := KV.CAS("k", []byte("other"), []byte("x"), 0); !errors.Is(err, ErrMismatch) {
		t.Errorf("cas mismatch: %v", err)
	}
	if err := KV.CAS("k", big, []byte{}, 0); err != nil {
		t.Errorf("cas: %v", err)
	}
	if got, err := KV.Get("k"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("empty value: %q %v (want empty, not nil)", got, err)
	}
	if err := KV.CAS("k", []byte{}, []byte("y"), 0); err != nil {
		t.Errorf("cas on the empty value: %v", err)
	}
	if err := KV.CAS("new", []byte("x"), []byte("y"), 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("cas on a missing key: %v", err)
	}
	if err := KV.CAS("new", nil, []byte("y"), time.Second); err != nil {
		t.Errorf("create: %v", err)
	}
	if err := KV.Set("k", nil, -time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative ttl: %v", err)
	}
	if err := KV.Set("k", nil, 25*24*time.Hour); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ttl over an i32 of ms: %v", err)
	}
	if err := KV.Delete("new"); err != nil {
		t.Errorf("delete: %v", err)
	}
	if err := KV.Delete("new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
	want := []string{"kv_set k 2", "kv_set k 0", "kv_set k 0", "kv_set new 1000"}
	if fmt.Sprint(h.calls) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", h.calls, want)
	}
}
