//go:build !linux

package host

import "time"

// poller is not implemented here: every connection keeps a goroutine parked in its read.
type poller struct{ idle time.Duration }

func netpoll() *poller { return nil }

func (p *poller) park(*Conn) bool { return false }

func (p *poller) wake(uint64) {}
