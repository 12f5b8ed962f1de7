package plugin

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/internal/clock"
	"github.com/wasmsock/wasmsock/host/internal/wsproto"
	"github.com/wasmsock/wasmsock/host/kv"
)

// hostFuncs are the implementations of the host functions of abi.HostFunctions (the table in
// abi/abi.json gives their names and signatures), each decoding its arguments from the stack,
// checking every pointer against the guest's memory and writing one i32 status back. A function
// in the table without an implementation here makes instantiateHostModule fail.
var hostFuncs = map[string]func(g *guest, mem api.Memory, stack []uint64) abi.Status{
	abi.FuncMsgRead:   hostMsgRead,
	abi.FuncSend:      hostSend,
	abi.FuncBroadcast: hostBroadcast,
	abi.FuncJoin:      hostJoin,
	abi.FuncLeave:     hostLeave,
	abi.FuncClose:     hostClose,
	abi.FuncConnGet:   hostConnGet,
	abi.FuncLog:       hostLog,

	abi.FuncPublish:     hostPublish,
	abi.FuncSubscribe:   hostSubscribe,
	abi.FuncUnsubscribe: hostUnsubscribe,
	abi.FuncRequest:     hostRequest,

	abi.FuncTimerSet:    hostTimerSet,
	abi.FuncTimerCancel: hostTimerCancel,
	abi.FuncAttachSet:   hostAttachSet,
	abi.FuncAttachGet:   hostAttachGet,

	abi.FuncGroupSize:    hostGroupSize,
	abi.FuncGroupMembers: hostGroupMembers,

	abi.FuncKVGet:    hostKVGet,
	abi.FuncKVSet:    hostKVSet,
	abi.FuncKVCAS:    hostKVCAS,
	abi.FuncKVDelete: hostKVDelete,
}

// instantiateHostModule defines the "wasmsock" module in rt: every function of abi.HostFunctions,
// with the signature the table gives it.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range abi.HostFunctions {
		fn, ok := hostFuncs[f.Name]
		if !ok {
			return fmt.Errorf("host function %s.%s of the ABI table has no implementation", abi.ImportModule, f.Name)
		}
		presence := f.Name == abi.FuncGroupSize || f.Name == abi.FuncGroupMembers
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			g := guestOf(ctx)
			if g == nil {
				stack[0] = api.EncodeI32(int32(abi.ErrNotSupported))
				return
			}
			if g.ctx.Err() != nil {
				// The call was interrupted (call_timeout, shutdown) while the guest slept or ran:
				// it has no business acting any more. End it now, as proc_exit does.
				panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
			}
			if !presence && g.lastPresence.call != 0 {
				// Any other host function forgets the call's kept presence answer (presenceAnswer):
				// it may change the membership (join, leave) or tell the guest of a change made
				// meanwhile (broadcast's count, the shared store).
				g.lastPresence = presenceAnswer{}
			}
			stack[0] = api.EncodeI32(int32(fn(g, mod.Memory(), stack)))
		}), valueTypes(f.ParamTypes()), valueTypes(f.Results)).Export(f.Name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// read returns the guest bytes [ptr, ptr+n) as a view into its memory (no copy), or false when
// the range is outside it.
func read(mem api.Memory, ptr, n uint64) ([]byte, bool) {
	if mem == nil {
		return nil, false
	}
	return mem.Read(uint32(ptr), uint32(n))
}

// Each host function checks, in this order (ABI.md, "Status codes"): scalar arguments (kind,
// level, close code), pointer ranges, the content of buffers, and only then asks the Host, which
// answers for the connection (unknown, forbidden, closed, too large).

func hostMsgRead(g *guest, mem api.Memory, stack []uint64) abi.Status {
	dst, capacity := uint64(api.DecodeU32(stack[0])), uint64(api.DecodeU32(stack[1]))
	buf, ok := read(mem, dst, capacity)
	if !ok {
		return abi.ErrBadPointer
	}
	if !g.hasPayload {
		return abi.ErrNoMessage
	}
	n := copy(buf, g.payload[g.cursor:])
	g.cursor += n
	return abi.Status(n)
}

func hostSend(g *guest, mem api.Memory, stack []uint64) abi.Status {
	conn, kind := stack[0], int32(api.DecodeI32(stack[1]))
	if kind != abi.KindText && kind != abi.KindBinary {
		return abi.ErrInvalidArgument
	}
	data, ok := read(mem, uint64(api.DecodeU32(stack[2])), uint64(api.DecodeU32(stack[3])))
	if !ok {
		return abi.ErrBadPointer
	}
	if kind == abi.KindText && !utf8.Valid(data) {
		return abi.ErrInvalidArgument
	}
	if g.caller != nil && conn == g.current {
		return g.caller.Reply(kind, data) // a reply, written by the reader after the call
	}
	return g.host().Send(g.current, conn, kind, data)
}

func hostBroadcast(g *guest, mem api.Memory, stack []uint64) abi.Status {
	kind := int32(api.DecodeI32(stack[2]))
	if kind != abi.KindText && kind != abi.KindBinary {
		return abi.ErrInvalidArgument
	}
	group, gok := read(mem, uint64(api.DecodeU32(stack[0])), uint64(api.DecodeU32(stack[1])))
	data, dok := read(mem, uint64(api.DecodeU32(stack[3])), uint64(api.DecodeU32(stack[4])))
	if !gok || !dok {
		return abi.ErrBadPointer
	}
	if !ValidGroupName(group) || (kind == abi.KindText && !utf8.Valid(data)) {
		return abi.ErrInvalidArgument
	}
	n, st := g.host().Broadcast(g.current, string(group), kind, data, stack[5])
	if st != abi.OK {
		return st
	}
	return abi.Status(n)
}

func hostJoin(g *guest, mem api.Memory, stack []uint64) abi.Status {
	return changeMembership(g, mem, stack, Host.Join)
}

func hostLeave(g *guest, mem api.Memory, stack []uint64) abi.Status {
	return changeMembership(g, mem, stack, Host.Leave)
}

// changeMembership is join or leave (op) of connection stack[0] and the group at stack[1],
// stack[2]: a valid name that is not one of the host-managed "user:" groups. (The call's kept
// presence answer, which the change may make stale, is forgotten before any host function but
// the presence ones runs: instantiateHostModule.)
func changeMembership(g *guest, mem api.Memory, stack []uint64, op func(h Host, current, conn uint64, group string) abi.Status) abi.Status {
	b, ok := read(mem, uint64(api.DecodeU32(stack[1])), uint64(api.DecodeU32(stack[2])))
	if !ok {
		return abi.ErrBadPointer
	}
	if !ValidGroupName(b) || bytes.HasPrefix(b, []byte(UserGroupPrefix)) {
		return abi.ErrInvalidArgument
	}
	return op(g.host(), g.current, stack[0], string(b))
}

func hostClose(g *guest, mem api.Memory, stack []uint64) abi.Status {
	conn, code := stack[0], int(api.DecodeI32(stack[1]))
	if !abi.ValidCloseCode(code) {
		return abi.ErrInvalidCode
	}
	reason, ok := read(mem, uint64(api.DecodeU32(stack[2])), uint64(api.DecodeU32(stack[3])))
	if !ok {
		return abi.ErrBadPointer
	}
	if !utf8.Valid(reason) {
		return abi.ErrInvalidArgument
	}
	return g.host().Close(g.current, conn, code, wsproto.TruncateReason(string(reason)))
}

func hostConnGet(g *guest, mem api.Memory, stack []uint64) abi.Status {
	conn := stack[0]
	key, kok := read(mem, uint64(api.DecodeU32(stack[1])), uint64(api.DecodeU32(stack[2])))
	dst, dok := read(mem, uint64(api.DecodeU32(stack[3])), uint64(api.DecodeU32(stack[4])))
	if !kok || !dok {
		return abi.ErrBadPointer
	}
	if len(key) > abi.MaxConnGetKey {
		return abi.ErrInvalidArgument
	}
	var value string
	var st abi.Status
	if string(key) == "id" {
		// Answered here; the host still says whether the connection exists.
		if _, st = g.host().ConnGet(g.current, conn, "path"); st == abi.OK {
			value = strconv.FormatUint(conn, 10)
		}
	} else {
		value, st = g.host().ConnGet(g.current, conn, string(key))
	}
	if st != abi.OK {
		return st
	}
	copy(dst, value)
	return abi.Status(len(value))
}

var logLevels = [...]slog.Level{abi.LogDebug: slog.LevelDebug, abi.LogInfo: slog.LevelInfo, abi.LogWarn: slog.LevelWarn, abi.LogError: slog.LevelError}

func hostLog(g *guest, mem api.Memory, stack []uint64) abi.Status {
	level := api.DecodeI32(stack[0])
	if level < 0 || int(level) >= len(logLevels) {
		return abi.ErrInvalidArgument
	}
	msg, ok := read(mem, uint64(api.DecodeU32(stack[1])), uint64(api.DecodeU32(stack[2])))
	if !ok {
		return abi.ErrBadPointer
	}
	g.guestLog(logLevels[level], msg, 0)
	return abi.OK
}

// ownConn checks that conn is a connection the guest may name: open, of this plugin, in the
// current namespace (the host answers ErrUnknownConn otherwise; during on_event the current
// namespace is the event's).
func ownConn(g *guest, conn uint64) abi.Status {
	_, st := g.host().ConnGet(g.current, conn, "path")
	return st
}

func hostTimerSet(g *guest, mem api.Memory, stack []uint64) abi.Status {
	conn := stack[0]
	delay, every := int32(api.DecodeI32(stack[3])), int32(api.DecodeI32(stack[4]))
	if delay < 0 || every < 0 {
		return abi.ErrInvalidArgument
	}
	name, st := timerArgs(g, mem, stack)
	if st != abi.OK {
		return st
	}
	return g.plugin.timers.set(conn, name, time.Duration(delay)*time.Millisecond, time.Duration(every)*time.Millisecond)
}

func hostTimerCancel(g *guest, mem api.Memory, stack []uint64) abi.Status {
	name, st := timerArgs(g, mem, stack)
	if st != abi.OK {
		return st
	}
	return g.plugin.timers.cancel(stack[0], name)
}

// timerArgs reads and checks the timer's name (stack[1], stack[2]) and connection (stack[0], 0
// for the plugin's own timers) of timer_set and timer_cancel, in ABI.md's order of precedence:
// ErrBadPointer, ErrInvalidArgument (a bad name), then ownConn's statuses.
func timerArgs(g *guest, mem api.Memory, stack []uint64) (string, abi.Status) {
	name, ok := read(mem, uint64(api.DecodeU32(stack[1])), uint64(api.DecodeU32(stack[2])))
	if !ok {
		return "", abi.ErrBadPointer
	}
	if !validTimerName(name) {
		return "", abi.ErrInvalidArgument
	}
	if conn := stack[0]; conn != 0 {
		if st := ownConn(g, conn); st != abi.OK {
			return "", st
		}
	}
	return string(name), abi.OK
}

func hostAttachSet(g *guest, mem api.Memory, stack []uint64) abi.Status {
	conn := stack[0]
	data, ok := read(mem, uint64(api.DecodeU32(stack[1])), uint64(api.DecodeU32(stack[2])))
	if !ok {
		return abi.ErrBadPointer
	}
	if st := ownConn(g, conn); st != abi.OK {
		return st
	}
	return g.plugin.attach.set(conn, data)
}

func hostAttachGet(g *guest, mem api.Memory, stack []uint64) abi.Status {
	conn := stack[0]
	dst, ok := read(mem, uint64(api.DecodeU32(stack[1])), uint64(api.DecodeU32(stack[2])))
	if !ok {
		return abi.ErrBadPointer
	}
	if st := ownConn(g, conn); st != abi.OK {
		return st
	}
	b := g.plugin.attach.get(conn)
	copy(dst, b)
	return abi.Status(len(b))
}

func hostGroupSize(g *guest, mem api.Memory, stack []uint64) abi.Status {
	group, ok := read(mem, uint64(api.DecodeU32(stack[0])), uint64(api.DecodeU32(stack[1])))
	if !ok {
		return abi.ErrBadPointer
	}
	if !ValidGroupName(group) {
		return abi.ErrInvalidArgument
	}
	n, _, st := g.presence(string(group), false)
	if st != abi.OK {
		return st
	}
	return abi.Status(min(n, math.MaxInt32))
}

func hostGroupMembers(g *guest, mem api.Memory, stack []uint64) abi.Status {
	group, gok := read(mem, uint64(api.DecodeU32(stack[0])), uint64(api.DecodeU32(stack[1])))
	dst, dok := read(mem, uint64(api.DecodeU32(stack[2])), uint64(api.DecodeU32(stack[3])))
	if !gok || !dok {
		return abi.ErrBadPointer
	}
	if !ValidGroupName(group) {
		return abi.ErrInvalidArgument
	}
	_, members, st := g.presence(string(group), true)
	if st != abi.OK {
		return st
	}
	return abi.Status(EncodeMembers(dst, members))
}

// callContext is the context of a host function that may wait on the network (presence and the
// shared store in a cluster): the guest's, which the watchdog cancels at call_timeout, saying the
// running call's deadline, so that the host can keep its wait well inside it. It arms no timer
// (an in-memory store never waits; one that does bounds itself by the deadline).
func (g *guest) callContext() (context.Context, context.CancelFunc) {
	if start := g.callStart.Load(); start != 0 {
		left := g.plugin.opts.CallTimeout - time.Duration(clock.Now()-start)
		return callDeadline{g.ctx, time.Now().Add(left)}, func() {}
	}
	return g.ctx, func() {}
}

// callDeadline is a context whose deadline is its guest call's.
type callDeadline struct {
	context.Context
	deadline time.Time
}

func (c callDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

// presenceAnswer is the last presence answer of a guest call, so that the usual two calls of
// group_members (one for the length, one with room enough) cost one lookup (in a cluster, one
// round trip to the other nodes) and agree. It holds only until the guest calls any other host
// function (instantiateHostModule): a join or leave of the call itself, or a change the guest
// learnt of meanwhile (a broadcast's count, a value of the shared store), is seen by its next
// presence call, as ABI.md's "read your writes" promises.
type presenceAnswer struct {
	call    int64 // the call's start (guest.callStart), 0: none
	group   string
	members bool // list holds the members, not only the size
	size    int
	list    []Member
}

// presence asks the host for a group's size (and members) in the current namespace (during
// on_event the event's), within the guest call's deadline (the host may wait on the other nodes
// of a cluster).
func (g *guest) presence(group string, members bool) (int, []Member, abi.Status) {
	start := g.callStart.Load()
	if a := &g.lastPresence; start != 0 && a.call == start && a.group == group && (a.members || !members) {
		return a.size, a.list, abi.OK
	}
	ctx, cancel := g.callContext()
	defer cancel()
	n, list, st := g.host().Presence(ctx, g.current, group, members)
	if st == abi.OK && start != 0 {
		g.lastPresence = presenceAnswer{call: start, group: group, members: members, size: n, list: list}
	}
	return n, list, st
}

// EncodeMembers writes the group_members encoding of members into dst, as much as fits, and
// returns its full length (at most math.MaxInt32: what does not fit an i32 is left out). A user
// id over abi.MaxUser bytes is cut.
func EncodeMembers(dst []byte, members []Member) int {
	n := 0
	var rec [9 + abi.MaxUser]byte
	for _, m := range members {
		user := m.User[:min(len(m.User), abi.MaxUser)]
		binary.LittleEndian.PutUint64(rec[:8], m.Conn)
		rec[8] = byte(len(user))
		size := 9 + copy(rec[9:], user)
		if n+size > math.MaxInt32 {
			break
		}
		if n < len(dst) {
			copy(dst[n:], rec[:size])
		}
		n += size
	}
	return n
}

// DecodeMembers reads the group_members encoding (EncodeMembers) back: an error for a record cut
// short or a user id that is not valid UTF-8.
func DecodeMembers(b []byte) ([]Member, error) {
	var out []Member
	for len(b) > 0 {
		if len(b) < 9 {
			return nil, fmt.Errorf("member record cut short: %d bytes", len(b))
		}
		u := int(b[8])
		if u > abi.MaxUser || len(b) < 9+u {
			return nil, fmt.Errorf("member record: user id of %d bytes in %d", u, len(b)-9)
		}
		user := b[9 : 9+u]
		if !utf8.Valid(user) {
			return nil, fmt.Errorf("member record: user id is not UTF-8")
		}
		out = append(out, Member{Conn: binary.LittleEndian.Uint64(b), User: string(user)})
		b = b[9+u:]
	}
	return out, nil
}

// UserGroupPrefix starts the names of the groups the host manages: every connection with a user
// id is in "user:<id>".
const UserGroupPrefix = "user:"

// ValidGroupName reports whether b is a valid group name: 1 to abi.MaxGroupName bytes of valid
// UTF-8 with no control characters.
func ValidGroupName(b []byte) bool {
	if len(b) == 0 || len(b) > abi.MaxGroupName || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// readKVKey reads a shared-store key (kv.ValidKey).
func readKVKey(mem api.Memory, ptr, n uint64) (string, abi.Status) {
	b, ok := read(mem, uint64(api.DecodeU32(ptr)), uint64(api.DecodeU32(n)))
	if !ok {
		return "", abi.ErrBadPointer
	}
	if !kv.ValidKey(b) {
		return "", abi.ErrInvalidArgument
	}
	return string(b), abi.OK
}

func hostKVGet(g *guest, mem api.Memory, stack []uint64) abi.Status {
	if _, ok := read(mem, uint64(api.DecodeU32(stack[0])), uint64(api.DecodeU32(stack[1]))); !ok {
		return abi.ErrBadPointer
	}
	dst, ok := read(mem, uint64(api.DecodeU32(stack[2])), uint64(api.DecodeU32(stack[3])))
	if !ok {
		return abi.ErrBadPointer
	}
	ns, key, st := kvKeyArgs(g, mem, stack[0], stack[1])
	if st != abi.OK {
		return st
	}
	ctx, cancel := g.callContext()
	defer cancel()
	v, st := g.plugin.kv.Get(ctx, ns, key)
	if st != abi.OK {
		return st
	}
	copy(dst, v)
	return abi.Status(len(v))
}

// kvKeyArgs reads the key of kv_get and kv_delete and checks it, and finds the namespace it acts
// in.
func kvKeyArgs(g *guest, mem api.Memory, keyPtr, keyLen uint64) (ns, key string, st abi.Status) {
	if key, st = readKVKey(mem, keyPtr, keyLen); st != abi.OK {
		return "", "", st
	}
	if ns, st = kvNamespace(g); st != abi.OK {
		return "", "", st
	}
	return ns, key, abi.OK
}

// kvNamespace is the namespace the guest's store operations act in: that of the connection whose
// event it handles (which must still be known: never the default namespace by mistake), of the
// bus event, or the default namespace in on_start and plugin timers.
func kvNamespace(g *guest) (string, abi.Status) {
	if g.scoped != nil || g.current == 0 {
		return g.namespace(), abi.OK
	}
	return g.host().ConnGet(g.current, g.current, "namespace")
}

// kvTTL decodes a ttl_ms argument (ErrInvalidArgument when negative).
func kvTTL(arg uint64) (time.Duration, abi.Status) {
	ms := api.DecodeI32(arg)
	if ms < 0 {
		return 0, abi.ErrInvalidArgument
	}
	return time.Duration(ms) * time.Millisecond, abi.OK
}

func hostKVSet(g *guest, mem api.Memory, stack []uint64) abi.Status {
	ttl, st := kvTTL(stack[4])
	if st != abi.OK {
		return st
	}
	ns, key, value, st := kvWriteArgs(g, mem, stack[0], stack[1], stack[2], stack[3])
	if st != abi.OK {
		return st
	}
	ctx, cancel := g.callContext()
	defer cancel()
	return g.plugin.kv.Set(ctx, ns, key, value, ttl)
}

// kvWriteArgs reads the key and the value of kv_set and kv_cas and checks them, and finds the
// namespace they act in.
func kvWriteArgs(g *guest, mem api.Memory, keyPtr, keyLen, valuePtr, valueLen uint64) (ns, key string, value []byte, st abi.Status) {
	value, ok := read(mem, uint64(api.DecodeU32(valuePtr)), uint64(api.DecodeU32(valueLen)))
	if !ok {
		return "", "", nil, abi.ErrBadPointer
	}
	if key, st = readKVKey(mem, keyPtr, keyLen); st != abi.OK {
		return "", "", nil, st
	}
	if len(value) > abi.MaxKVValue {
		return "", "", nil, abi.ErrTooLarge
	}
	if ns, st = kvNamespace(g); st != abi.OK {
		return "", "", nil, st
	}
	return ns, key, value, abi.OK
}

func hostKVCAS(g *guest, mem api.Memory, stack []uint64) abi.Status {
	ttl, st := kvTTL(stack[6])
	if st != abi.OK {
		return st
	}
	expectLen := api.DecodeI32(stack[3])
	if expectLen < -1 {
		return abi.ErrInvalidArgument
	}
	var expect []byte // nil: the key must not exist
	if expectLen >= 0 {
		b, ok := read(mem, uint64(api.DecodeU32(stack[2])), uint64(expectLen))
		if !ok {
			return abi.ErrBadPointer
		}
		expect = append([]byte{}, b...) // not nil, even when empty
	}
	ns, key, value, st := kvWriteArgs(g, mem, stack[0], stack[1], stack[4], stack[5])
	if st != abi.OK {
		return st
	}
	ctx, cancel := g.callContext()
	defer cancel()
	return g.plugin.kv.CAS(ctx, ns, key, expect, value, ttl)
}

func hostKVDelete(g *guest, mem api.Memory, stack []uint64) abi.Status {
	ns, key, st := kvKeyArgs(g, mem, stack[0], stack[1])
	if st != abi.OK {
		return st
	}
	ctx, cancel := g.callContext()
	defer cancel()
	return g.plugin.kv.Delete(ctx, ns, key)
}
