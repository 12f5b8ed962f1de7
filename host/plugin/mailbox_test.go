package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/abi"
)

// gateHost holds every send until the test opens the gate, so the guest (echo.wat, which sends
// each message back) stalls inside on_message for as long as the test wants.
type gateHost struct {
	nopHost
	gate chan struct{}
	got  chan string
}

func (h *gateHost) Send(_, _ uint64, _ int32, data []byte) abi.Status {
	<-h.gate
	h.got <- string(data)
	return abi.OK
}

// TestOfferNeverBlocks checks the non-blocking delivery an event loop uses: with the guest stalled,
// Offer queues until the mailbox's byte bound, then refuses without blocking; once the guest
// moves, ready is called and the refused message is taken, and every message runs in order.
func TestOfferNeverBlocks(t *testing.T) {
	h := &gateHost{gate: make(chan struct{}), got: make(chan string, 100)}
	p := connected(t, "../../testdata/wasm/echo.wasm", Options{Host: h, MailboxBytes: 1000})
	msg := func(i int) []byte { return []byte(fmt.Sprintf("%03d", i) + string(bytes.Repeat([]byte("."), 97))) }
	ready := make(chan struct{}, 1)
	notify := func() { ready <- struct{}{} }
	sent := 0
	for ; sent < 100; sent++ {
		if !p.Offer(1, abi.KindText, msg(sent), notify) {
			break
		}
		if _, b := p.Queued(); b > 1000 {
			t.Fatalf("%d bytes queued, over MailboxBytes = 1000", b)
		}
	}
	if sent == 100 {
		t.Fatal("Offer never refused a message with the guest stalled")
	}
	if sent < 10 {
		t.Fatalf("Offer refused after %d messages of 100 bytes with room for 10", sent)
	}
	select {
	case <-ready:
		t.Fatal("ready called while the guest is still stalled")
	default:
	}
	close(h.gate) // the guest moves
	for ; sent < 30; sent++ {
		for !p.Offer(1, abi.KindText, msg(sent), notify) {
			select {
			case <-ready:
			case <-time.After(10 * time.Second):
				t.Fatal("ready never called after space freed")
			}
		}
	}
	for i := 0; i < 30; i++ {
		select {
		case got := <-h.got:
			if got != string(msg(i)) {
				t.Fatalf("message %d: got %.3s", i, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d never ran", i)
		}
	}
	if peak := p.Stats().PeakQueuedBytes.Load(); peak > 1000 {
		t.Errorf("peak queued bytes %d > 1000", peak)
	}
}

// TestShutdownInterruptsAStalledGuest: a guest stuck in a call (here, in a host function held by
// the test) with events queued behind it is stopped by Shutdown's context: the queued events are
// dropped and counted, the running call interrupted.
func TestShutdownInterruptsAStalledGuest(t *testing.T) {
	wasm, err := os.ReadFile("../../testdata/wasm/loop.wasm")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), Options{Wasm: wasm, Host: nopHost{}, CallTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.Connect(1, 0)
	for i := 0; i < 5; i++ {
		if !p.Offer(1, abi.KindText, []byte("spin"), func() {}) {
			t.Fatal("offer refused")
		}
	}
	for p.pool[0].callStart.Load() == 0 { // wait for the loop to start
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan ShutdownReport, 1)
	go func() { done <- p.Shutdown(ctx) }()
	select {
	case rep := <-done:
		if rep.Interrupted != 1 || rep.Dropped != 4 {
			t.Errorf("report %+v, want 1 interrupted, 4 dropped", rep)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return after its context was done")
	}
}
