package plugintest_test

import (
	"fmt"

	"github.com/wasmsock/wasmsock/sdk/go/plugintest"
)

// Load the echo plugin, open a fake connection, and talk to it. Each Send returns once the
// plugin has handled the message, so its replies are already there.
func Example() {
	h, err := plugintest.LoadFile("../../../plugins/echo/echo.wasm", plugintest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	c, err := h.Connect(plugintest.ConnInfo{User: "alice", Query: "room=lobby"})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.SendText("hello")
	_ = c.SendBinary([]byte{0xca, 0xfe})
	for _, m := range c.Received() {
		fmt.Println(m)
	}
	fmt.Println(c.Groups())

	_ = c.Close(1000, "bye")
	code, reason, closed := c.Closed()
	fmt.Println(code, reason, closed)
	// Output:
	// text "hello"
	// binary cafe
	// [user:alice]
	// 1000 bye true
}
