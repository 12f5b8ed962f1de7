// Handler registration, and the dispatch from the guest exports (exports.ts) to the handlers.

import * as env from "./env";
import { Conn, Message, log, errorText } from "./conn";
import { Kind, Level, FLAG_RESUMED } from "./abi";
import { decodeUTF8 } from "./utf8";
import { Event } from "./bus";

/**
 * An `onConnect` handler's answer to a new connection: `ACCEPT`, or a rejection made by
 * `rejectHTTP` or `rejectClose`. It is the value `on_connect` returns to the host.
 */
export type Verdict = i32;

/** Completes the WebSocket handshake. */
export const ACCEPT: Verdict = 0;

/**
 * Refuses the handshake with HTTP status `status`, which must be 400-599; the client never gets
 * a WebSocket. A status outside that range becomes 500, so a mistake still refuses.
 */
export function rejectHTTP(status: i32): Verdict {
  return status >= 400 && status <= 599 ? status : 500;
}

/**
 * Completes the handshake and closes the connection at once with close code `code`, which must
 * be 4000-4999 (the range RFC 6455 leaves to applications). Browsers show scripts a close code
 * but not an HTTP status, so this is how to tell a browser client why. A code outside that range
 * becomes 4000.
 */
export function rejectClose(code: i32): Verdict {
  return code >= 4000 && code <= 4999 ? code : 4000;
}

let connectHandler: ((c: Conn, resumed: bool) => Verdict) | null = null;
let messageHandler: ((c: Conn, m: Message) => void) | null = null;
let closeHandler: ((c: Conn, code: i32, reason: string) => void) | null = null;
let startHandler: ((config: Uint8Array) => string | null) | null = null;
let eventHandler: ((e: Event) => void) | null = null;

/**
 * Sets the handler for bus events: messages on the plugin's subscriptions and the answers to its
 * requests (see bus.ts). There is no current connection: the plugin acts in the namespace of the
 * subscription or request, so `broadcast` and `Conn` methods reach that namespace's connections.
 * Without a handler events are dropped.
 */
export function onEvent(handler: (e: Event) => void): void {
  eventHandler = handler;
}

let timerHandler: ((c: Conn | null, name: string) => void) | null = null;

/**
 * Sets the handler for new connections; its `Verdict` decides whether to accept each one.
 *
 * `resumed` is true when the connection was already open and the host is replaying it to a fresh
 * instance (after a reload, or after an instance faulted). The handler then rebuilds its state
 * for the connection but must not greet the client again; its verdict is ignored.
 *
 * Without a handler every connection is accepted. Register handlers in the plugin's top-level
 * code, which runs once per instance before any event. AssemblyScript has no closures: pass a
 * top-level function (or an arrow function that uses no local of an enclosing function).
 */
export function onConnect(handler: (c: Conn, resumed: bool) => Verdict): void {
  connectHandler = handler;
}

/** Sets the handler for messages from clients. Without a handler messages are dropped. */
export function onMessage(handler: (c: Conn, m: Message) => void): void {
  messageHandler = handler;
}

/**
 * Sets the handler called once a connection has closed, whoever closed it, with the close code
 * and reason of the first close frame (1005: the peer's frame had no code; 1006: no close frame
 * at all). The connection can no longer be sent to, but `get` still works and it can be the
 * `except` of a `broadcast` (to tell the rest of a group it left). The handler must ignore a
 * connection it does not know: after a fault, a fresh instance gets `onClose` for connections
 * its predecessor saw open.
 */
export function onClose(handler: (c: Conn, code: i32, reason: string) => void): void {
  closeHandler = handler;
}

/**
 * Sets the handler called once when the host starts an instance, before any connection, with
 * the plugin's `config` table from host.toml encoded as a JSON object (`{}` when there is none).
 * The handler returns null to start, or an error message: the SDK logs it at error level and the
 * host refuses to start the instance (at startup the plugin is not served; at a reload the old
 * module keeps serving).
 */
export function onStart(handler: (config: Uint8Array) => string | null): void {
  startHandler = handler;
}

/**
 * Sets the handler for timers armed with `after`, `every`, `Conn.after` or `Conn.every`: it runs
 * when one is due, with its connection (null for a plugin timer) and its name. Timers are named
 * rather than given a function because they outlive the instance that armed them: after a
 * reload the new module's handler gets them and tells them apart by name.
 */
export function onTimer(handler: (c: Conn | null, name: string) => void): void {
  timerHandler = handler;
}

/**
 * Reads the current event's payload of `n` bytes from the host into a new array. Returns null
 * (after logging why) if the host fails.
 */
function readPayload(n: i32): Uint8Array | null {
  let buf = new Uint8Array(n > 0 ? n : 0);
  let off = 0;
  while (off < n) {
    let r = env.msg_read(buf.dataStart + <usize>off, n - off);
    if (r < 0) {
      log(Level.Error, "wasmsock: reading the payload from the host: " + errorText(r));
      return null;
    }
    if (r == 0) break; // the host has fewer bytes than it announced
    off += r;
  }
  return off == n ? buf : buf.subarray(0, off);
}

// The dispatch functions below are called by the exports in exports.ts; plugins do not call them.

/** Handles `on_connect`. */
export function dispatchConnect(conn: u64, flags: i32): i32 {
  let h = connectHandler;
  if (h === null) return ACCEPT;
  return h(new Conn(conn), (flags & FLAG_RESUMED) != 0);
}

/** Handles `on_message`. */
export function dispatchMessage(conn: u64, kind: i32, len: i32): void {
  let h = messageHandler;
  if (h === null) return; // the host discards the unread payload
  let data = readPayload(len);
  if (data === null) return;
  h(new Conn(conn), new Message(<Kind>kind, data));
}

/** Handles `on_close`. */
export function dispatchClose(conn: u64, code: i32, reasonLen: i32): void {
  let h = closeHandler;
  if (h === null) return;
  let reason = "";
  if (reasonLen > 0) {
    let b = readPayload(reasonLen);
    if (b !== null) reason = decodeUTF8(b.dataStart, b.length);
  }
  h(new Conn(conn), code, reason);
}

/** Handles `on_start`. */
export function dispatchStart(configLen: i32): i32 {
  let h = startHandler;
  if (h === null) return 0;
  let config = readPayload(configLen);
  if (config === null) return 1;
  let err = h(config);
  if (err !== null) {
    log(Level.Error, "wasmsock: plugin refused to start: " + err);
    return 1;
  }
  return 0;
}

/** Handles `on_event`: the payload is the subject, then the data. */
export function dispatchEvent(id: i32, kind: i32, subjectLen: i32, dataLen: i32): void {
  let h = eventHandler;
  if (h === null) return;
  let b = readPayload(subjectLen + dataLen);
  if (b === null || b.length < subjectLen) return;
  let subject = decodeUTF8(b.dataStart, subjectLen);
  h(new Event(id, kind, subject, b.subarray(subjectLen)));
}

/** Handles `on_timer`. */
export function dispatchTimer(conn: u64, nameLen: i32): void {
  let h = timerHandler;
  if (h === null) {
    log(Level.Warn, "wasmsock: a timer fired but no onTimer handler is set");
    return;
  }
  let b = readPayload(nameLen);
  if (b === null) return;
  h(conn == 0 ? null : new Conn(conn), decodeUTF8(b.dataStart, b.length));
}
