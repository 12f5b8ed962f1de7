package plugintest

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// LogLine is one line of the plugin's log: a log call, a line of its stdout (info) or stderr
// (warn), or a report of the runtime about the plugin (a fault, an instance replaced).
type LogLine struct {
	Level   slog.Level
	Message string
	// Conn is the connection whose event the plugin was handling, 0 for none (on_start).
	Conn uint64
}

func (l LogLine) String() string {
	s := l.Level.String() + " " + l.Message
	if l.Conn != 0 {
		s += " (conn " + strconv.FormatUint(l.Conn, 10) + ")"
	}
	return s
}

// logStore collects log lines from every instance.
type logStore struct {
	mu  sync.Mutex
	all []LogLine
}

func (s *logStore) add(l LogLine) {
	s.mu.Lock()
	s.all = append(s.all, l)
	s.mu.Unlock()
}

func (s *logStore) lines() []LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogLine(nil), s.all...)
}

// text returns the lines, one a line, for error messages.
func (s *logStore) text() string {
	var b strings.Builder
	for _, l := range s.lines() {
		b.WriteString("  " + l.String() + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// logHandler is the slog.Handler of the plugin's logger: it keeps every record in a logStore and
// passes it on to next, if any. The runtime tags records with "conn" when a connection's event is
// being handled, through With or on the record.
type logHandler struct {
	store *logStore
	conn  uint64
	next  slog.Handler
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	l := LogLine{Level: r.Level, Message: r.Message, Conn: h.conn}
	r.Attrs(func(a slog.Attr) bool {
		if c, ok := connAttr(a); ok {
			l.Conn = c
		}
		return true
	})
	h.store.add(l)
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	for _, a := range attrs {
		if c, ok := connAttr(a); ok {
			h2.conn = c
		}
	}
	if h.next != nil {
		h2.next = h.next.WithAttrs(attrs)
	}
	return &h2
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	h2 := *h
	if h.next != nil {
		h2.next = h.next.WithGroup(name)
	}
	return &h2
}

func connAttr(a slog.Attr) (uint64, bool) {
	if a.Key != "conn" {
		return 0, false
	}
	switch v := a.Value.Resolve(); v.Kind() {
	case slog.KindUint64:
		return v.Uint64(), true
	case slog.KindInt64:
		return uint64(v.Int64()), true
	}
	return 0, false
}
