// The event bus (abi/ABI.md, "Bus"): publish to NATS subjects, subscribe to them, and send
// requests whose answers come back to the onEvent handler. Subjects are relative to the namespace
// the plugin acts in (that of the connection being handled, of the subscription or request in
// onEvent, "" in onStart); without a [cluster] in host.toml the bus is off and every call returns
// Status.Unavailable.

import * as env from "./env";
import { encodeUTF8 } from "./utf8";

/**
 * A bus event: `kind` is EVENT_MESSAGE (a message on subscription `id`), EVENT_REPLY (the reply
 * to request `id`) or EVENT_ERROR (request `id` failed; `data` says why). `subject` is as the
 * plugin names it (for a reply or an error: the request's). `data` belongs to the handler.
 */
export class Event {
  constructor(
    public id: i32,
    public kind: i32,
    public subject: string,
    public data: Uint8Array,
  ) {}
}

/** Publishes `data` to `subject` (no wildcards); returns 0 or a negative Status. */
export function publish(subject: string, data: Uint8Array): i32 {
  let s = encodeUTF8(subject);
  return env.publish(changetype<usize>(s), s.byteLength, data.dataStart, data.length);
}

/** Publishes `text` (UTF-8) to `subject`; see `publish`. */
export function publishText(subject: string, text: string): i32 {
  let s = encodeUTF8(subject);
  let b = encodeUTF8(text);
  return env.publish(changetype<usize>(s), s.byteLength, changetype<usize>(b), b.byteLength);
}

/**
 * Subscribes to `subject` (the wildcards `*` and a final `>` allowed), in the queue group `queue`
 * unless it is empty. Returns the subscription's id (> 0), whose messages come to onEvent, or a
 * negative Status.
 */
export function subscribe(subject: string, queue: string = ""): i32 {
  let s = encodeUTF8(subject);
  let q = encodeUTF8(queue);
  return env.subscribe(changetype<usize>(s), s.byteLength, changetype<usize>(q), q.byteLength);
}

/** Ends subscription `id`; returns 0 or a negative Status (NotFound). */
export function unsubscribe(id: i32): i32 {
  return env.unsubscribe(id);
}

/**
 * Sends `data` to `subject` with a reply subject; returns the request's id (> 0) or a negative
 * Status. The reply, or the failure after `timeoutMs` (0: 5000, at most 60000), comes to onEvent
 * with that id, exactly once.
 */
export function request(subject: string, data: Uint8Array, timeoutMs: i32 = 0): i32 {
  let s = encodeUTF8(subject);
  return env.request(changetype<usize>(s), s.byteLength, data.dataStart, data.length, timeoutMs);
}

/** Sends `text` (UTF-8) as a request; see `request`. */
export function requestText(subject: string, text: string, timeoutMs: i32 = 0): i32 {
  let s = encodeUTF8(subject);
  let b = encodeUTF8(text);
  return env.request(changetype<usize>(s), s.byteLength, changetype<usize>(b), b.byteLength, timeoutMs);
}
