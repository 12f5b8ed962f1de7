// The plugin's shared key-value store (abi/ABI.md, "Shared state"): a small store the host
// keeps for the plugin, shared by all its instances and scoped by the namespace of the event
// being handled. Keys are 1 to MAX_KV_KEY (128) bytes of A-Z a-z 0-9 - _ / = . (not starting or
// ending with .: InvalidArgument); values at most MAX_KV_VALUE bytes (TooLarge); a plugin's store
// holds at most MAX_KV_ENTRIES entries and MAX_KV_BYTES bytes (Limit). ttlMs 0: no expiry. In a
// cluster, each node has its own store (DRAFT).

import * as env from "./env";
import { Status } from "./abi";
import { decodeUTF8, encodeUTF8 } from "./utf8";

let lastStatus: i32 = 0;

/** The status of the last `kvGet`: `Status.OK`, `Status.NotFound` (no value), or the error. */
export function kvStatus(): i32 {
  return lastStatus;
}

/** Returns the value of `key`; null when it has none or the host refuses (see `kvStatus`). */
export function kvGet(key: string): Uint8Array | null {
  let k = encodeUTF8(key);
  let buf = new Uint8Array(256);
  for (let i = 0; i < 4; i++) {
    let n = env.kv_get(changetype<usize>(k), k.byteLength, buf.dataStart, buf.length);
    lastStatus = n < 0 ? n : Status.OK;
    if (n < 0) return null;
    if (n <= buf.length) return buf.subarray(0, n);
    buf = new Uint8Array(n);
  }
  lastStatus = Status.TooLarge;
  return null;
}

/**
 * Returns the value of `key` decoded as UTF-8; null when it has none or the host refuses (see
 * `kvStatus`).
 */
export function kvGetText(key: string): string | null {
  let v = kvGet(key);
  return v === null ? null : decodeUTF8(v.dataStart, v.length);
}

/** Stores `value` under `key`, expiring after `ttlMs` milliseconds (0: never). */
export function kvSet(key: string, value: Uint8Array, ttlMs: i32 = 0): Status {
  let k = encodeUTF8(key);
  return <Status>env.kv_set(changetype<usize>(k), k.byteLength, value.dataStart, value.length, ttlMs);
}

/** Stores the UTF-8 of `value` under `key`, expiring after `ttlMs` milliseconds (0: never). */
export function kvSetText(key: string, value: string, ttlMs: i32 = 0): Status {
  let k = encodeUTF8(key);
  let v = encodeUTF8(value);
  return <Status>env.kv_set(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength, ttlMs);
}

/**
 * Compare-and-swap: stores `value` under `key` only if its value is `expect` (null: only if
 * `key` has no value). `Mismatch` when the value differs (or exists), `NotFound` when a value is
 * expected and `key` has none; nothing is stored then.
 */
export function kvCas(key: string, expect: Uint8Array | null, value: Uint8Array, ttlMs: i32 = 0): Status {
  let k = encodeUTF8(key);
  let ep: usize = 0;
  let el: i32 = -1;
  if (expect !== null) {
    ep = expect.dataStart;
    el = expect.length;
  }
  return <Status>env.kv_cas(changetype<usize>(k), k.byteLength, ep, el, value.dataStart, value.length, ttlMs);
}

/** Removes `key`; `NotFound` when it had no value. */
export function kvDelete(key: string): Status {
  let k = encodeUTF8(key);
  return <Status>env.kv_delete(changetype<usize>(k), k.byteLength);
}

/** `kvCas` with text: the UTF-8 of `expect` (null: the key must have no value) and `value`. */
export function kvCasText(key: string, expect: string | null, value: string, ttlMs: i32 = 0): Status {
  let k = encodeUTF8(key);
  let v = encodeUTF8(value);
  let e: ArrayBuffer | null = expect === null ? null : encodeUTF8(expect);
  let ep: usize = 0;
  let el: i32 = -1;
  if (e !== null) {
    ep = changetype<usize>(e);
    el = e.byteLength;
  }
  return <Status>env.kv_cas(changetype<usize>(k), k.byteLength, ep, el, changetype<usize>(v), v.byteLength, ttlMs);
}
