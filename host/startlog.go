package host

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// captureHandler passes records on to the server's log and keeps the messages of the first few,
// until stop: what a plugin logs while it starts, so that a plugin refusing to start explains
// itself in the error (wasmsock check shows it; it logs nothing else).
type captureHandler struct {
	next slog.Handler
	buf  *captured
}

type captured struct {
	done    atomic.Bool // stopped, read without the lock
	mu      sync.Mutex
	stopped bool
	msgs    []string
}

const (
	maxCapturedLines = 8
	maxCapturedBytes = 512
)

func newCaptureHandler(next slog.Handler) *captureHandler {
	return &captureHandler{next: next, buf: &captured{}}
}

func (h *captureHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.buf.done.Load() || h.next.Enabled(ctx, l)
}

func (h *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	h.buf.mu.Lock()
	if !h.buf.stopped && len(h.buf.msgs) < maxCapturedLines {
		msg := r.Message
		if len(msg) > maxCapturedBytes {
			msg = msg[:maxCapturedBytes] + "..."
		}
		h.buf.msgs = append(h.buf.msgs, strconv.Quote(msg))
	}
	h.buf.mu.Unlock()
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &captureHandler{next: h.next.WithAttrs(attrs), buf: h.buf}
}

func (h *captureHandler) WithGroup(name string) slog.Handler {
	return &captureHandler{next: h.next.WithGroup(name), buf: h.buf}
}

// stop ends the capture: later records only pass through.
func (h *captureHandler) stop() {
	h.buf.mu.Lock()
	h.buf.stopped = true
	h.buf.done.Store(true)
	h.buf.msgs = slices.Clip(h.buf.msgs)
	h.buf.mu.Unlock()
}

// resume captures again, from nothing (a reload starting new instances): what the plugin's
// instances log meanwhile is kept too.
func (h *captureHandler) resume() {
	h.buf.mu.Lock()
	h.buf.stopped = false
	h.buf.done.Store(false)
	h.buf.msgs = nil
	h.buf.mu.Unlock()
}

// lines returns the captured messages, quoted.
func (h *captureHandler) lines() []string {
	h.buf.mu.Lock()
	defer h.buf.mu.Unlock()
	return h.buf.msgs
}
