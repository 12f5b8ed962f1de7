package wsproto

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestReaderIdle: with an idle timeout, Next returns ErrIdle when no frame starts arriving, and the
// Reader goes on afterwards (ErrIdle is not final); a frame in progress, or a fragmented message
// between its fragments, is never cut by the idle deadline, also when frames have no deadline of
// their own.
func TestReaderIdle(t *testing.T) {
	const idle = 30 * time.Millisecond
	msg := frame(true, 0, OpText, []byte("hello"), true)
	frag1 := frame(false, 0, OpText, []byte("hel"), true)
	frag2 := frame(true, 0, OpContinuation, []byte("lo"), true)
	tests := []struct {
		name         string
		frameTimeout time.Duration
		chunks       [][]byte // written with a pause of 3*idle before each
	}{
		{"whole frame after idle", 0, [][]byte{msg}},
		{"frame split mid-header, no frame timeout", 0, [][]byte{msg[:3], msg[3:]}},
		{"frame split mid-payload, no frame timeout", 0, [][]byte{msg[:8], msg[8:]}},
		{"frame split mid-payload, long frame timeout", time.Minute, [][]byte{msg[:8], msg[8:]}},
		{"fragments apart, no frame timeout", 0, [][]byte{frag1, frag2}},
		{"fragments apart, long frame timeout", time.Minute, [][]byte{frag1, frag2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := net.Pipe()
			defer server.Close()
			defer client.Close()
			r := NewReader(server, 1<<20)
			r.SetFrameTimeout(tt.frameTimeout)
			r.SetIdleTimeout(idle)
			if _, err := r.Next(); !errors.Is(err, ErrIdle) {
				t.Fatalf("nothing sent: got %v, want ErrIdle", err)
			}
			go func() {
				for _, c := range tt.chunks {
					time.Sleep(3 * idle)
					if _, err := client.Write(c); err != nil {
						return
					}
				}
			}()
			// Bytes arrive only after the idle timeout: the first Next may see ErrIdle again,
			// never another error.
			var m Message
			var err error
			for {
				if m, err = r.Next(); !errors.Is(err, ErrIdle) {
					break
				}
				if r.Buffered() != 0 || r.fragOp != 0 {
					t.Fatal("ErrIdle with a frame in progress")
				}
			}
			if err != nil || m.Op != OpText || string(m.Payload) != "hello" {
				t.Fatalf("got %v %q %v, want the text message", m.Op, m.Payload, err)
			}
		})
	}
}
