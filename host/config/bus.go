package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wasmsock/wasmsock/abi"
)

// PluginBus is a plugin's [plugin.NAME.bus] table: what the operator grants it on the event bus
// (abi/ABI.md, "Bus"). Without it the plugin still has the bus, within its namespaces only.
type PluginBus struct {
	// Shared are subject patterns (NATS wildcards allowed) the plugin may publish, subscribe and
	// request outside its namespace: a subject within one of them is used as it is, so every
	// namespace the plugin acts for shares it. This is the one way across tenants.
	Shared []string `toml:"shared"`
	// EventQueue bounds the bus messages waiting per instance for on_event (default 256); more
	// are dropped and counted.
	EventQueue int `toml:"event_queue"`
	// QueueMessages and QueueBytes bound the publications waiting to be written to NATS (default
	// 1024 messages, 8MiB); a publish beyond them gets ErrBusy and is counted.
	QueueMessages int      `toml:"queue_messages"`
	QueueBytes    ByteSize `toml:"queue_bytes"`
}

func (c *Config) validatePluginBus(v *validator, key string, b *PluginBus) {
	if b == nil {
		return
	}
	for i, p := range b.Shared {
		if err := ValidSharedPattern(p); err != nil {
			v.add(fmt.Sprintf("%s.bus.shared[%d]", key, i), err.Error())
		}
	}
	// A key left out is 0 here and takes the bus's default; a 0 written is refused (README, "One
	// rule for 0").
	for _, q := range []struct {
		key      string
		n, limit int64
		msg      string
	}{
		{key + ".bus.event_queue", int64(b.EventQueue), 65536, "must be between 1 and 65536 (default 256)"},
		{key + ".bus.queue_messages", int64(b.QueueMessages), 1 << 20, "must be between 1 and 1048576 (default 1024)"},
		{key + ".bus.queue_bytes", int64(b.QueueBytes), 1 << 30, "must be between 1 byte and 1GiB (default 8MiB)"},
	} {
		if q.n < 0 || q.n > q.limit || q.n == 0 && v.set[q.key] {
			v.add(q.key, q.msg)
		}
	}
}

// ValidSharedPattern checks a pattern of [plugin.NAME.bus] shared.
func ValidSharedPattern(p string) error {
	if !abi.ValidSubject(p, true) {
		return errors.New(strconv.Quote(p) + " is not a NATS subject pattern (tokens separated by '.', no spaces, '*' or a final '>' as wildcards, at most 256 bytes)")
	}
	if strings.HasPrefix(p, "_INBOX") || strings.HasPrefix(p, "$") || p == ">" || strings.HasPrefix(p, "*.") || p == "*" {
		return errors.New(strconv.Quote(p) + " would share system, reply or every subject: grant a pattern that starts with a literal token of your own")
	}
	return nil
}
