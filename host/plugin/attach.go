package plugin

import (
	"sync"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/kv"
)

// attachments are the connections' attachments: a few bytes per connection that the host keeps
// for the plugin (abi.MaxAttachment at most), so that a guest that replaces another (after a
// reload or a fault) gets each connection's state back with on_connect(RESUMED). A connection's
// attachment ends with it.
type attachments struct {
	mu    sync.Mutex
	m     map[uint64][]byte
	bytes int // the sum of the attachments' lengths
}

// set stores a copy of b as conn's attachment; an empty b removes it.
func (a *attachments) set(conn uint64, b []byte) abi.Status {
	if len(b) > abi.MaxAttachment {
		return abi.ErrTooLarge
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[uint64][]byte{}
	}
	a.bytes -= len(a.m[conn])
	if len(b) == 0 {
		delete(a.m, conn)
		return abi.OK
	}
	a.m[conn] = append([]byte(nil), b...)
	a.bytes += len(b)
	return abi.OK
}

// get returns conn's attachment (nil for none). The caller must not modify it.
func (a *attachments) get(conn uint64) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[conn]
}

func (a *attachments) drop(conn uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bytes -= len(a.m[conn])
	delete(a.m, conn)
}

// Attachment returns a copy of conn's attachment, nil if it has none.
func (p *Plugin) Attachment(conn uint64) []byte {
	b := p.attach.get(conn)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// AttachmentBytes is the total size of the plugin's attachments.
func (p *Plugin) AttachmentBytes() int {
	p.attach.mu.Lock()
	defer p.attach.mu.Unlock()
	return p.attach.bytes
}

// forget drops what the plugin keeps for conn, which has ended (or was never accepted): its
// attachment and its timers.
func (p *Plugin) forget(conn uint64) {
	p.attach.drop(conn)
	p.timers.dropConn(conn)
}

// release forgets conn and tells the host the plugin is done with it.
func (p *Plugin) release(conn uint64) {
	p.forget(conn)
	p.host.Released(conn)
}

// KV returns the plugin's shared store (kv_get, kv_set, kv_cas, kv_delete).
func (p *Plugin) KV() kv.Store { return p.kv }
