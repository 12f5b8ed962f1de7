// echo: sends every message back to the client that sent it, with the same kind: text comes back
// as text, binary as binary. The AssemblyScript twin of plugins/echo.
//
// Build it with "make wasm" at the top of the repository (see ../../README.md).

import { Conn, Message, onMessage } from "../../assembly";

// The guest exports the host calls (on_connect, on_message, ...); every plugin re-exports them.
export * from "../../assembly/exports";

/**
 * Sends the message back. Sending fails only when the connection is going away or the route does
 * not allow sending; echo has nothing better to do then than to drop the message.
 */
function echo(c: Conn, m: Message): void {
  c.send(m.kind, m.data);
}

onMessage(echo);
