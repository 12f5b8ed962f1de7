package plugin

import (
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// sendHost hands every send that reaches Host.Send to the test.
type sendHost struct {
	nopHost
	sends chan string
}

func (h *sendHost) Send(current, conn uint64, _ int32, data []byte) abi.Status {
	if current != 1 || conn != 1 {
		h.sends <- "to another connection"
	}
	h.sends <- string(data)
	return abi.OK
}

// replies is a Caller that records what it is given.
type replies []string

func (r *replies) Reply(_ int32, data []byte) abi.Status {
	*r = append(*r, string(data))
	return abi.OK
}

// TestRepliesGoToTheCaller: a message that its connection's reader delivers (MessageFrom) and
// that runs on the reader's goroutine sends its reply through the reader (Caller.Reply), before
// MessageFrom returns; one that waits for the instance's worker, or that comes without a caller
// (Message), sends it through Host.Send, and the caller is not touched after MessageFrom has
// returned.
func TestRepliesGoToTheCaller(t *testing.T) {
	h := &sendHost{sends: make(chan string, 10)}
	p := connected(t, "../../testdata/wasm/echo.wasm", Options{Host: h})
	sent := func() string {
		t.Helper()
		select {
		case s := <-h.sends:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no send reached the host")
			return ""
		}
	}
	noSend := func() {
		t.Helper()
		select {
		case s := <-h.sends:
			t.Fatalf("Host.Send got %q", s)
		default:
		}
	}

	// The instance is idle: the reader runs the message and gets the reply.
	var inline replies
	p.MessageFrom(1, abi.KindText, []byte("inline"), &inline)
	if len(inline) != 1 || inline[0] != "inline" {
		t.Fatalf("caller got %q, want the reply", inline)
	}
	noSend()

	// The instance is busy: the message is queued, and its reply is a send like any other.
	started, gate := make(chan struct{}), make(chan struct{})
	go p.AfterEvents(1, func() { close(started); <-gate })
	<-started
	var queued replies
	p.MessageFrom(1, abi.KindText, []byte("queued"), &queued)
	close(gate)
	if s := sent(); s != "queued" {
		t.Fatalf("Host.Send got %q, want the queued message's reply", s)
	}
	if len(queued) != 0 {
		t.Fatalf("the caller of a queued message got %q", queued)
	}

	// Without a caller.
	p.Message(1, abi.KindText, []byte("plain"))
	if s := sent(); s != "plain" {
		t.Fatalf("Host.Send got %q", s)
	}
}
