package wasmsock

import (
	"math"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// Timers and attachments: state the host keeps for the plugin (abi/ABI.md, "Timers" and
// "Attachments"). Both survive a reload and an instance restart, which a plugin's own
// variables do not.

var timerHandler func(c Conn, name string)

// OnTimer registers the handler for timers: it runs when a timer armed with [After], [Every],
// [Conn.After] or [Conn.Every] is due, with the timer's name and its connection ([Conn.ID] is 0
// for a plugin timer). Timers are named rather than given a function because they outlive the
// instance that armed them: after a reload the new module's handler gets them, and tells them
// apart by name. A plugin that arms timers must register it.
func OnTimer(h func(c Conn, name string)) { timerHandler = h }

// After arms the plugin timer name to fire once, after d. Arming a name again replaces its timer.
// Plugin timers fire on the first instance, in the default namespace, as OnStart runs. The
// errors: [ErrInvalidArgument] for a bad name (1-64 bytes of UTF-8) or a d that is negative or
// longer than about 24.8 days, [ErrLimit] when the plugin has abi.MaxTimers timers armed.
func After(d time.Duration, name string) error { return setTimer(0, name, d, 0, false) }

// Every arms the plugin timer name to fire every d, the first time after d.
func Every(d time.Duration, name string) error { return setTimer(0, name, d, d, true) }

// CancelTimer disarms the plugin timer name; [ErrNotFound] if it is not armed.
func CancelTimer(name string) error { return statusErr(hostTimerCancel(0, name)) }

// After arms the timer name of the connection to fire once, after d: OnTimer then runs with c,
// in c's namespace, on c's instance, in order with c's other events. The connection's timers end
// with it. Arming a name again replaces its timer.
func (c Conn) After(d time.Duration, name string) error {
	return setTimer(uint64(c), name, d, 0, false)
}

// Every arms the timer name of the connection to fire every d, the first time after d.
func (c Conn) Every(d time.Duration, name string) error {
	return setTimer(uint64(c), name, d, d, true)
}

// CancelTimer disarms the connection's timer name; [ErrNotFound] if it is not armed.
func (c Conn) CancelTimer(name string) error { return statusErr(hostTimerCancel(uint64(c), name)) }

// millis converts d to whole milliseconds for the host, rounding a positive part of a
// millisecond up, or reports false when it does not fit the ABI's i32.
func millis(d time.Duration) (int32, bool) {
	if d < 0 {
		return 0, false
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		return 0, false
	}
	return int32(ms), true
}

func setTimer(conn uint64, name string, d, every time.Duration, repeat bool) error {
	delay, ok1 := millis(d)
	interval, ok2 := millis(every)
	if !ok1 || !ok2 || (repeat && interval == 0) {
		return ErrInvalidArgument
	}
	return statusErr(hostTimerSet(conn, name, delay, interval))
}

// dispatchTimer handles the on_timer export, and is the export.
//
//go:wasmexport on_timer
func dispatchTimer(conn uint64, nameLen int32) {
	h := timerHandler
	if h == nil {
		Log(LevelWarn, "wasmsock: a timer fired but no OnTimer handler is registered")
		return
	}
	var small [abi.MaxTimerName]byte
	name, err := readPayload(small[:], int(nameLen))
	if err != nil {
		Log(LevelError, "wasmsock: timer dropped: reading its name from the host: "+err.Error())
		return
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic("OnTimer", v)
		}
	}()
	h(Conn(conn), string(name))
}

// SetAttachment stores b (at most abi.MaxAttachment, 2048 bytes) as the connection's attachment:
// the host keeps a copy with the connection until it closes, and a new instance gets it back
// with [Conn.Attachment] when it takes the connection over (in OnConnect with resumed set, after
// a reload or a restart). An empty b removes it. [ErrTooLarge] if b is over the limit.
func (c Conn) SetAttachment(b []byte) error { return statusErr(hostAttachSet(uint64(c), b)) }

// Attachment returns the connection's attachment: nil when it has none.
func (c Conn) Attachment() ([]byte, error) {
	var small [256]byte
	buf := small[:]
	for range 4 {
		n := hostAttachGet(uint64(c), buf)
		if n < 0 {
			return nil, statusErr(n)
		}
		if n == 0 {
			return nil, nil
		}
		if int(n) <= len(buf) {
			return append([]byte(nil), buf[:n]...), nil
		}
		buf = make([]byte, n)
	}
	return nil, ErrTooLarge
}
