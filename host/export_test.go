package host

// WriterGoroutines is how many writer goroutines (writeLoop) the process has started.
func WriterGoroutines() int64 { return writerGoroutines.Load() }
