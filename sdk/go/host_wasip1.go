//go:build wasip1

package wasmsock

import "unsafe"

// The host functions themselves are declared in imports_wasip1.go, generated from abi/abi.json.

// bytesArg returns the (pointer, length) pair for b. An empty range is valid for any pointer
// into the guest's memory (ABI.md, "Pointers"), so an empty slice needs no special case, and the
// host-call wrappers below stay small enough for the compiler to inline.
func bytesArg(b []byte) (unsafe.Pointer, int32) {
	return unsafe.Pointer(unsafe.SliceData(b)), int32(len(b))
}

// stringArg returns the (pointer, length) pair for s.
func stringArg(s string) (unsafe.Pointer, int32) {
	return unsafe.Pointer(unsafe.StringData(s)), int32(len(s))
}

func hostMsgRead(dst []byte) int32 {
	p, n := bytesArg(dst)
	return wasmMsgRead(p, n)
}

func hostSend(conn uint64, kind int32, data []byte) int32 {
	p, n := bytesArg(data)
	return wasmSend(conn, kind, p, n)
}

func hostSendString(conn uint64, kind int32, data string) int32 {
	p, n := stringArg(data)
	return wasmSend(conn, kind, p, n)
}

func hostBroadcast(group string, kind int32, data []byte, except uint64) int32 {
	gp, gn := stringArg(group)
	p, n := bytesArg(data)
	return wasmBroadcast(gp, gn, kind, p, n, except)
}

func hostJoin(conn uint64, group string) int32 {
	p, n := stringArg(group)
	return wasmJoin(conn, p, n)
}

func hostLeave(conn uint64, group string) int32 {
	p, n := stringArg(group)
	return wasmLeave(conn, p, n)
}

func hostClose(conn uint64, code int32, reason string) int32 {
	p, n := stringArg(reason)
	return wasmClose(conn, code, p, n)
}

func hostConnGet(conn uint64, key string, dst []byte) int32 {
	kp, kn := stringArg(key)
	p, n := bytesArg(dst)
	return wasmConnGet(conn, kp, kn, p, n)
}

func hostLog(level int32, msg string) int32 {
	p, n := stringArg(msg)
	return wasmLog(level, p, n)
}

func hostPublish(subject string, data []byte) int32 {
	sp, sn := stringArg(subject)
	p, n := bytesArg(data)
	return wasmPublish(sp, sn, p, n)
}

func hostSubscribe(subject, queue string) int32 {
	sp, sn := stringArg(subject)
	qp, qn := stringArg(queue)
	return wasmSubscribe(sp, sn, qp, qn)
}

func hostUnsubscribe(id int32) int32 { return wasmUnsubscribe(id) }

func hostRequest(subject string, data []byte, timeoutMS int32) int32 {
	sp, sn := stringArg(subject)
	p, n := bytesArg(data)
	return wasmRequest(sp, sn, p, n, timeoutMS)
}

func hostTimerSet(conn uint64, name string, delay, every int32) int32 {
	p, n := stringArg(name)
	return wasmTimerSet(conn, p, n, delay, every)
}

func hostTimerCancel(conn uint64, name string) int32 {
	p, n := stringArg(name)
	return wasmTimerCancel(conn, p, n)
}

func hostAttachSet(conn uint64, data []byte) int32 {
	p, n := bytesArg(data)
	return wasmAttachSet(conn, p, n)
}

func hostAttachGet(conn uint64, dst []byte) int32 {
	p, n := bytesArg(dst)
	return wasmAttachGet(conn, p, n)
}

func hostGroupSize(group string) int32 {
	p, n := stringArg(group)
	return wasmGroupSize(p, n)
}

func hostGroupMembers(group string, dst []byte) int32 {
	gp, gn := stringArg(group)
	p, n := bytesArg(dst)
	return wasmGroupMembers(gp, gn, p, n)
}

func hostKVGet(key string, dst []byte) int32 {
	kp, kn := stringArg(key)
	p, n := bytesArg(dst)
	return wasmKVGet(kp, kn, p, n)
}

func hostKVSet(key string, value []byte, ttlMS int32) int32 {
	kp, kn := stringArg(key)
	p, n := bytesArg(value)
	return wasmKVSet(kp, kn, p, n, ttlMS)
}

func hostKVCAS(key string, expect []byte, value []byte, ttlMS int32) int32 {
	kp, kn := stringArg(key)
	ep, en := bytesArg(expect)
	if expect == nil {
		en = -1
	}
	p, n := bytesArg(value)
	return wasmKVCAS(kp, kn, ep, en, p, n, ttlMS)
}

func hostKVDelete(key string) int32 {
	kp, kn := stringArg(key)
	return wasmKVDelete(kp, kn)
}
