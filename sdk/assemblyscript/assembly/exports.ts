// The guest exports of wasmsock ABI v1. A plugin's entry file re-exports them with
//
//   export * from "@wasmsock/sdk/assembly/exports";
//
// (AssemblyScript turns only the entry file's exports into the module's exports). Each hands its
// event to the handler the plugin registered with onConnect, onMessage, onClose or onStart.

import { Runtime } from "~lib/shared/runtime";
import { dispatchConnect, dispatchMessage, dispatchClose, dispatchStart, dispatchEvent, dispatchTimer } from "./handlers";

/**
 * Ends an event. With --runtime minimal the garbage collector runs only when called, and only
 * where no reference is held on the stack: here, after the handler has returned.
 */
// @ts-ignore: decorator
@inline function endEvent(): void {
  if (ASC_RUNTIME == Runtime.Minimal) __collect();
}

/** The marker: its presence declares ABI version 1. The host never calls it. */
export function wasmsock_abi_v1(): void {}

/** A connection asks to open (flags bit 0: RESUMED); the result accepts or rejects it. */
export function on_connect(conn: u64, flags: i32): i32 {
  let verdict = dispatchConnect(conn, flags);
  endEvent();
  return verdict;
}

/** A message of `len` bytes arrived; its bytes are read with msg_read. */
export function on_message(conn: u64, kind: i32, len: i32): void {
  dispatchMessage(conn, kind, len);
  endEvent();
}

/** A connection closed; the reason's `reasonLen` bytes are read with msg_read. */
export function on_close(conn: u64, code: i32, reasonLen: i32): void {
  dispatchClose(conn, code, reasonLen);
  endEvent();
}

/** The instance starts; the config's `configLen` bytes are read with msg_read. Non-zero refuses. */
export function on_start(configLen: i32): i32 {
  let result = dispatchStart(configLen);
  endEvent();
  return result;
}

/** A bus event for subscription or request `id`; the subject and the data are read with msg_read. */
export function on_event(id: i32, kind: i32, subjectLen: i32, dataLen: i32): void {
  dispatchEvent(id, kind, subjectLen, dataLen);
  endEvent();
}

/** A timer is due; its name's `nameLen` bytes are read with msg_read. */
export function on_timer(conn: u64, nameLen: i32): void {
  dispatchTimer(conn, nameLen);
  endEvent();
}
