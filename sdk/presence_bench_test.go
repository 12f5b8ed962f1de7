package sdk_test

import (
	"strconv"
	"testing"

	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

// BenchmarkPresence measures a presence lookup from a plugin (the probe test plugin, Go SDK) in a
// room of 10, 100 and 1000 members, side by side with an echo in the same run: one message in,
// the plugin calls group_size or group_members (the host builds, sorts and encodes the list, the
// SDK decodes it, the plugin formats a reply), one message out.
func BenchmarkPresence(b *testing.B) {
	for _, size := range []int{10, 100, 1000} {
		h, err := plugintest.LoadFile("../testdata/plugins/probe/probe.wasm", plugintest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var c *plugintest.Conn
		for i := 0; i < size; i++ {
			m, err := h.Connect(plugintest.ConnInfo{User: "user" + strconv.Itoa(i)})
			if err != nil {
				b.Fatal(err)
			}
			if err := m.SendText("join room"); err != nil {
				b.Fatal(err)
			}
			m.Next()
			c = m
		}
		for _, cmd := range []string{"echo x", "size room", "members room"} {
			b.Run(strconv.Itoa(size)+"/"+cmd, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if err := c.SendText(cmd); err != nil {
						b.Fatal(err)
					}
					if _, ok := c.Next(); !ok {
						b.Fatal("no reply")
					}
				}
			})
		}
		h.Close()
	}
}
