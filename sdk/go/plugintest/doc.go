// Package plugintest runs a wasmsock plugin in a test, without a network: it loads any plugin
// module (written in Go, Rust, C, AssemblyScript, ...; whatever implements ABI v1, abi/ABI.md),
// and drives it with fake connections.
//
// A [Harness] is one loaded plugin with a fake host around it. The plugin runs exactly as it
// does in the wasmsock server (the same runtime, package host/plugin: the same instance pool,
// limits, fault handling and hot reload); only the host side is replaced, by a small in-memory
// host with the server's semantics:
//
//   - connections are scoped by namespace: to the plugin, a connection of another namespace does
//     not exist (ErrUnknownConn), and groups with the same name in two namespaces are two groups;
//   - a connection with a user id is in the group "user:<id>" of its namespace from the moment
//     it is accepted; the plugin cannot join or leave such groups, but may broadcast to them;
//   - broadcast skips its except connection and connections that are closing, and counts the
//     others;
//   - groups are the server's own code (host/hub), limits included: a join over 128 groups per
//     connection gets ErrLimit;
//   - once a close has started (by the plugin, by on_connect's verdict, by a fault or by the
//     client), send, close and join return ErrClosed and broadcasts skip the connection; the
//     harness then answers the closing handshake at once, as a prompt client would, the
//     connection leaves its groups, and the plugin gets on_close; after on_close the id is
//     unknown.
//
// What the fake host does not model: route modes (receive-only routes), message size limits,
// outgoing queue limits (slow consumers), heartbeats, compression and time-outs of the closing
// handshake. Use the server's own tests for those.
//
// Every method that delivers an event waits until the plugin has handled it, and everything it
// caused (messages sent, groups joined, connections closed and their on_close) is done, so a
// test can look at the results right away, with no sleeps and no polling.
//
// A typical test:
//
//	func TestEcho(t *testing.T) {
//		h := plugintest.New(t, "echo.wasm", plugintest.Options{})
//		c, err := h.Connect(plugintest.ConnInfo{User: "alice"})
//		if err != nil {
//			t.Fatal(err)
//		}
//		c.SendText("hello")
//		if m, ok := c.Next(); !ok || m.Text() != "hello" {
//			t.Fatalf("got %v, want hello", m)
//		}
//	}
//
// Compiled modules can be kept on disk across test runs (see [CacheEnv]).
//
// The wasmsock command runs scripted conversations with a plugin through this package:
// "wasmsock test scenario.toml" (see "wasmsock test -h").
package plugintest
