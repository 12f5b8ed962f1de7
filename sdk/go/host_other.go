//go:build !wasip1

package wasmsock

import "github.com/wasmsock/wasmsock/abi"

// Outside wasip1 there is no host to import functions from. The package still builds so that
// tools and tests can load it; every host function goes to host, which by default answers
// abi.ErrNotSupported. The package's tests replace it with a fake.

// hostAPI mirrors the wasmsock import module, with slices and strings instead of pointers.
type hostAPI interface {
	msgRead(dst []byte) int32
	send(conn uint64, kind int32, data []byte) int32
	broadcast(group string, kind int32, data []byte, except uint64) int32
	join(conn uint64, group string) int32
	leave(conn uint64, group string) int32
	close(conn uint64, code int32, reason string) int32
	connGet(conn uint64, key string, dst []byte) int32
	log(level int32, msg string) int32
	publish(subject string, data []byte) int32
	subscribe(subject, queue string) int32
	unsubscribe(id int32) int32
	request(subject string, data []byte, timeoutMS int32) int32
	timerSet(conn uint64, name string, delay, every int32) int32
	timerCancel(conn uint64, name string) int32
	attachSet(conn uint64, data []byte) int32
	attachGet(conn uint64, dst []byte) int32
	groupSize(group string) int32
	groupMembers(group string, dst []byte) int32
	kvGet(key string, dst []byte) int32
	kvSet(key string, value []byte, ttlMS int32) int32
	kvCAS(key string, expect, value []byte, ttlMS int32) int32 // expect nil: must not exist
	kvDelete(key string) int32
}

var host hostAPI = noHost{}

// noHost answers every call with abi.ErrNotSupported.
type noHost struct{}

const unsupported = int32(abi.ErrNotSupported)

func (noHost) msgRead([]byte) int32                          { return unsupported }
func (noHost) send(uint64, int32, []byte) int32              { return unsupported }
func (noHost) broadcast(string, int32, []byte, uint64) int32 { return unsupported }
func (noHost) join(uint64, string) int32                     { return unsupported }
func (noHost) leave(uint64, string) int32                    { return unsupported }
func (noHost) close(uint64, int32, string) int32             { return unsupported }
func (noHost) connGet(uint64, string, []byte) int32          { return unsupported }
func (noHost) log(int32, string) int32                       { return unsupported }
func (noHost) publish(string, []byte) int32                  { return unsupported }
func (noHost) subscribe(string, string) int32                { return unsupported }
func (noHost) unsubscribe(int32) int32                       { return unsupported }
func (noHost) request(string, []byte, int32) int32           { return unsupported }
func (noHost) timerSet(uint64, string, int32, int32) int32   { return unsupported }
func (noHost) timerCancel(uint64, string) int32              { return unsupported }
func (noHost) attachSet(uint64, []byte) int32                { return unsupported }
func (noHost) attachGet(uint64, []byte) int32                { return unsupported }
func (noHost) groupSize(string) int32                        { return unsupported }
func (noHost) groupMembers(string, []byte) int32             { return unsupported }
func (noHost) kvGet(string, []byte) int32                    { return unsupported }
func (noHost) kvSet(string, []byte, int32) int32             { return unsupported }
func (noHost) kvCAS(string, []byte, []byte, int32) int32     { return unsupported }
func (noHost) kvDelete(string) int32                         { return unsupported }

func hostMsgRead(dst []byte) int32 { return host.msgRead(dst) }

func hostSend(conn uint64, kind int32, data []byte) int32 { return host.send(conn, kind, data) }

func hostSendString(conn uint64, kind int32, data string) int32 {
	return host.send(conn, kind, []byte(data))
}

func hostBroadcast(group string, kind int32, data []byte, except uint64) int32 {
	return host.broadcast(group, kind, data, except)
}

func hostJoin(conn uint64, group string) int32 { return host.join(conn, group) }

func hostLeave(conn uint64, group string) int32 { return host.leave(conn, group) }

func hostClose(conn uint64, code int32, reason string) int32 {
	return host.close(conn, code, reason)
}

func hostConnGet(conn uint64, key string, dst []byte) int32 { return host.connGet(conn, key, dst) }

func hostLog(level int32, msg string) int32 { return host.log(level, msg) }

func hostPublish(subject string, data []byte) int32 { return host.publish(subject, data) }

func hostSubscribe(subject, queue string) int32 { return host.subscribe(subject, queue) }

func hostUnsubscribe(id int32) int32 { return host.unsubscribe(id) }

func hostRequest(subject string, data []byte, timeoutMS int32) int32 {
	return host.request(subject, data, timeoutMS)
}
func hostTimerSet(conn uint64, name string, delay, every int32) int32 {
	return host.timerSet(conn, name, delay, every)
}

func hostTimerCancel(conn uint64, name string) int32 { return host.timerCancel(conn, name) }

func hostAttachSet(conn uint64, data []byte) int32 { return host.attachSet(conn, data) }

func hostAttachGet(conn uint64, dst []byte) int32 { return host.attachGet(conn, dst) }

func hostGroupSize(group string) int32 { return host.groupSize(group) }

func hostGroupMembers(group string, dst []byte) int32 { return host.groupMembers(group, dst) }

func hostKVGet(key string, dst []byte) int32 { return host.kvGet(key, dst) }

func hostKVSet(key string, value []byte, ttlMS int32) int32 { return host.kvSet(key, value, ttlMS) }

func hostKVCAS(key string, expect, value []byte, ttlMS int32) int32 {
	return host.kvCAS(key, expect, value, ttlMS)
}

func hostKVDelete(key string) int32 { return host.kvDelete(key) }
