package main

import (
	"bytes"
	"sync"
)

// syncLog is a bytes.Buffer for a log that other goroutines write to (a server's logger, or the
// goroutine os/exec copies a child's stderr with) while the test reads it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
