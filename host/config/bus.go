package config

import (
	"fmt"

	"github.com/wasmsock/wasmsock/host/bus"
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
		if err := bus.ValidPattern(p); err != nil {
			v.add(fmt.Sprintf("%s.bus.shared[%d]", key, i), err.Error())
		}
	}
	if b.EventQueue < 0 || b.EventQueue > 65536 {
		v.add(key+".bus.event_queue", "must be between 1 and 65536 (0: the default, 256)")
	}
	if b.QueueMessages < 0 || b.QueueMessages > 1<<20 {
		v.add(key+".bus.queue_messages", "must be between 1 and 1048576 (0: the default, 1024)")
	}
	if b.QueueBytes < 0 || b.QueueBytes > 1<<30 {
		v.add(key+".bus.queue_bytes", "must be at most 1GiB (0: the default, 8MiB)")
	}
}
