package host

// WriterGoroutines is how many writer goroutines (writeLoop) the process has started.
func WriterGoroutines() int64 { return writerGoroutines.Load() }

// ParkedReaders reports how many connections are parked with the poller and how many of those
// still hold a frame reader. A parked connection is nobody's until the poller hands it out, which
// takes the poller's lock: reading it under that lock races with nothing.
func ParkedReaders() (parked, withReader int) {
	p := netpoll()
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		parked++
		if c.rd != nil {
			withReader++
		}
	}
	return parked, withReader
}
