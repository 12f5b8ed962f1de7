// Replacements for the three functions AssemblyScript's standard library imports from module
// "env", which a wasmsock host refuses to link: abort, trace and seed. The SDK's asconfig.json
// points the compiler at them with
//
//   "use": ["abort=wasmsockAbort", "trace=wasmsockTrace", "seed=wasmsockSeed"]
//
// so a plugin never imports from "env". They are @global so that the compiler finds them by
// these names wherever the SDK is installed.

import * as env from "./env";

/** Size of the static buffer abort composes its message in. */
// @ts-ignore: decorator
@inline const ABORT_BUF_SIZE: usize = 512;

/** The buffer abort writes its log record to: static, so aborting never allocates. */
const abortBuf: usize = memory.data(<i32>ABORT_BUF_SIZE);

/** Appends `s` to the abort buffer at `at`, as UTF-8, as far as it fits; returns the new end. */
function putString(at: usize, s: string | null): usize {
  if (s === null) return putASCII(at, "(no message)");
  let end = abortBuf + ABORT_BUF_SIZE;
  let p = changetype<usize>(s);
  let n = <usize>s.length;
  for (let i: usize = 0; i < n; i++) {
    let c = <u32>load<u16>(p + (i << 1));
    if (c < 0x80) {
      if (at + 1 > end) break;
      store<u8>(at++, <u8>c);
    } else if (c < 0x800) {
      if (at + 2 > end) break;
      store<u8>(at++, <u8>(0xC0 | c >> 6));
      store<u8>(at++, <u8>(0x80 | (c & 0x3F)));
    } else {
      if (c >= 0xD800 && c < 0xDC00 && i + 1 < n) {
        let c2 = <u32>load<u16>(p + ((i + 1) << 1));
        if (c2 >= 0xDC00 && c2 < 0xE000) {
          if (at + 4 > end) break;
          let r = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
          store<u8>(at++, <u8>(0xF0 | r >> 18));
          store<u8>(at++, <u8>(0x80 | (r >> 12 & 0x3F)));
          store<u8>(at++, <u8>(0x80 | (r >> 6 & 0x3F)));
          store<u8>(at++, <u8>(0x80 | (r & 0x3F)));
          i++;
          continue;
        }
      }
      if ((c & 0xF800) == 0xD800) c = 0xFFFD; // an unpaired surrogate
      if (at + 3 > end) break;
      store<u8>(at++, <u8>(0xE0 | c >> 12));
      store<u8>(at++, <u8>(0x80 | (c >> 6 & 0x3F)));
      store<u8>(at++, <u8>(0x80 | (c & 0x3F)));
    }
  }
  return at;
}

/** Like putString, for text known to be ASCII. */
function putASCII(at: usize, s: string): usize {
  let end = abortBuf + ABORT_BUF_SIZE;
  let p = changetype<usize>(s);
  let n = <usize>s.length;
  for (let i: usize = 0; i < n && at < end; i++) {
    store<u8>(at++, <u8>load<u16>(p + (i << 1)));
  }
  return at;
}

/** Appends the decimal form of `v` to the abort buffer. */
function putU32(at: usize, v: u32): usize {
  let digits = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (at + <usize>digits > abortBuf + ABORT_BUF_SIZE) return at;
  for (let k = digits - 1; k >= 0; k--) {
    store<u8>(at + <usize>k, <u8>(0x30 + v % 10));
    v /= 10;
  }
  return at + <usize>digits;
}

/**
 * Called by the standard library when the program cannot go on: a failed assertion, an index
 * out of range, a failed allocation, a `throw` (AssemblyScript has no exceptions). It logs
 * "abort: MESSAGE at FILE:LINE:COLUMN" at error level through the host, then traps. The trap is
 * a fault: the host ends the instance (closing the connection being handled with 1011, see
 * ABI.md) and starts a fresh one. It allocates nothing, so it also works when memory ran out.
 */
// @ts-ignore: decorator
@global
export function wasmsockAbort(message: string | null = null, fileName: string | null = null, lineNumber: u32 = 0, columnNumber: u32 = 0): void {
  let at = putASCII(abortBuf, "abort: ");
  at = putString(at, message);
  if (fileName !== null) {
    at = putASCII(at, " at ");
    at = putString(at, fileName);
    at = putASCII(at, ":");
    at = putU32(at, lineNumber);
    at = putASCII(at, ":");
    at = putU32(at, columnNumber);
  }
  env.log(3, abortBuf, <i32>(at - abortBuf));
  unreachable();
}

/** Called by the standard library's `trace`: logs the message and the numbers at debug level. */
// @ts-ignore: decorator
@global
export function wasmsockTrace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let s = "trace: " + message;
  if (n > 0) s += " " + a0.toString();
  if (n > 1) s += ", " + a1.toString();
  if (n > 2) s += ", " + a2.toString();
  if (n > 3) s += ", " + a3.toString();
  if (n > 4) s += ", " + a4.toString();
  let buf = String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
  env.log(0, changetype<usize>(buf), buf.byteLength);
}

// WASI's random_get. It is imported only by a plugin that uses Math.random, the one user of seed.
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): u16;

/** Called by the standard library to seed Math.random: 8 random bytes from the host (WASI). */
// @ts-ignore: decorator
@global
export function wasmsockSeed(): f64 {
  let buf = memory.data(8);
  store<u64>(buf, 0);
  random_get(buf, 8);
  return reinterpret<f64>(load<u64>(buf));
}
