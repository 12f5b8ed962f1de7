// A small JSON reader and writer, enough for the chat protocol, that sees JSON the way Go's
// encoding/json does in plugins/chat: the same documents are valid, the same object keys match a
// field (case-insensitively, after unescaping), the same values are type errors, and strings
// come out byte for byte as json.Encoder with SetEscapeHTML(false) writes them. All input is
// UTF-8 bytes in memory.

import { decodeUTF8, validSequence } from "../../assembly";
import { PRINT16, PRINT16_PAIRS, PRINT32, PRINT32_PAIRS } from "./isprint";

/** Go's limit on nesting: a document nested deeper is not valid JSON. */
// @ts-ignore: decorator
@inline const MAX_DEPTH: i32 = 10000;

// @ts-ignore: decorator
@inline const IN_OBJECT: u8 = 1;
// @ts-ignore: decorator
@inline const IN_ARRAY: u8 = 2;

/** What each open container is, by depth (1-based); static, so validating never allocates. */
const containers: usize = memory.data(MAX_DEPTH + 1);

// @ts-ignore: decorator
@inline function isSpace(c: u32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D;
}

// @ts-ignore: decorator
@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

function hexValue(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  let l = c | 0x20;
  if (l - 0x61 < 6) return <i32>(l - 0x61 + 10);
  return -1;
}

/** Returns the offset of the first byte at or after `i` that is not JSON whitespace. */
export function skipSpace(p: usize, n: i32, i: i32): i32 {
  while (i < n && isSpace(<u32>load<u8>(p + <usize>i))) i++;
  return i;
}

/** Scans a string starting at its opening quote at `i`; returns the offset after the closing quote, or -1. */
function scanString(p: usize, n: i32, i: i32): i32 {
  i++;
  while (i < n) {
    let c = <u32>load<u8>(p + <usize>i);
    if (c == 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c == 0x5C) {
      if (i + 1 >= n) return -1;
      let e = <u32>load<u8>(p + <usize>(i + 1));
      if (e == 0x75) { // \uXXXX
        if (i + 6 > n) return -1;
        for (let k = 2; k < 6; k++) {
          if (hexValue(<u32>load<u8>(p + <usize>(i + k))) < 0) return -1;
        }
        i += 6;
        continue;
      }
      if (e != 0x22 && e != 0x5C && e != 0x2F && e != 0x62 && e != 0x66 && e != 0x6E && e != 0x72 && e != 0x74) return -1;
      i += 2;
      continue;
    }
    i++;
  }
  return -1;
}

/** Scans a number starting at `i`; returns the offset after it, or -1. */
function scanNumber(p: usize, n: i32, i: i32): i32 {
  if (i < n && load<u8>(p + <usize>i) == 0x2D) i++;
  if (i >= n) return -1;
  let c = <u32>load<u8>(p + <usize>i);
  if (c == 0x30) {
    i++;
  } else if (c >= 0x31 && c <= 0x39) {
    while (i < n && isDigit(<u32>load<u8>(p + <usize>i))) i++;
  } else {
    return -1;
  }
  if (i < n && load<u8>(p + <usize>i) == 0x2E) {
    i++;
    if (i >= n || !isDigit(<u32>load<u8>(p + <usize>i))) return -1;
    while (i < n && isDigit(<u32>load<u8>(p + <usize>i))) i++;
  }
  if (i < n && (load<u8>(p + <usize>i) | 0x20) == 0x65) {
    i++;
    if (i < n && (load<u8>(p + <usize>i) == 0x2B || load<u8>(p + <usize>i) == 0x2D)) i++;
    if (i >= n || !isDigit(<u32>load<u8>(p + <usize>i))) return -1;
    while (i < n && isDigit(<u32>load<u8>(p + <usize>i))) i++;
  }
  return i;
}

/** Reports whether the bytes at `i` spell `word` (ASCII). */
function hasWord(p: usize, n: i32, i: i32, word: string): bool {
  let len = word.length;
  if (i + len > n) return false;
  for (let k = 0; k < len; k++) {
    if (<u32>load<u8>(p + <usize>(i + k)) != <u32>word.charCodeAt(k)) return false;
  }
  return true;
}

/** Scans a string, number or literal at `i`; returns the offset after it, or -1. */
function scanScalar(p: usize, n: i32, i: i32): i32 {
  let c = <u32>load<u8>(p + <usize>i);
  if (c == 0x22) return scanString(p, n, i);
  if (c == 0x2D || isDigit(c)) return scanNumber(p, n, i);
  if (c == 0x74) return hasWord(p, n, i, "true") ? i + 4 : -1;
  if (c == 0x66) return hasWord(p, n, i, "false") ? i + 5 : -1;
  if (c == 0x6E) return hasWord(p, n, i, "null") ? i + 4 : -1;
  return -1;
}

/**
 * Scans the JSON value that starts at or after offset `i` (after whitespace) and returns the
 * offset just after it, or -1 if it is not valid JSON. It nests no deeper than Go allows, and
 * it uses no recursion, so no input can exhaust the stack.
 */
export function scanValue(p: usize, n: i32, i: i32): i32 {
  let depth = 0;
  i = skipSpace(p, n, i);
  while (true) {
    // A value is expected at i.
    if (i >= n) return -1;
    let c = <u32>load<u8>(p + <usize>i);
    let closed = false;
    if (c == 0x7B || c == 0x5B) {
      if (++depth > MAX_DEPTH) return -1;
      store<u8>(containers + <usize>depth, c == 0x7B ? IN_OBJECT : IN_ARRAY);
      i = skipSpace(p, n, i + 1);
      if (i >= n) return -1;
      let d = <u32>load<u8>(p + <usize>i);
      if ((c == 0x7B && d == 0x7D) || (c == 0x5B && d == 0x5D)) {
        i++;
        depth--;
        closed = true;
      } else if (c == 0x7B) {
        i = scanKey(p, n, i);
        if (i < 0) return -1;
        continue;
      } else {
        continue;
      }
    }
    if (!closed) {
      i = scanScalar(p, n, i);
      if (i < 0) return -1;
    }
    // A value ended at i: close containers, or move to the next element.
    while (true) {
      if (depth == 0) return i;
      i = skipSpace(p, n, i);
      if (i >= n) return -1;
      let d = <u32>load<u8>(p + <usize>i);
      let kind = load<u8>(containers + <usize>depth);
      if (d == 0x2C) {
        i = skipSpace(p, n, i + 1);
        if (kind == IN_OBJECT) {
          i = scanKey(p, n, i);
          if (i < 0) return -1;
        }
        break;
      }
      if ((kind == IN_OBJECT && d == 0x7D) || (kind == IN_ARRAY && d == 0x5D)) {
        i++;
        depth--;
        continue;
      }
      return -1;
    }
  }
  return -1; // not reached
}

/** Scans an object key and its colon at `i`; returns the offset after the colon and whitespace, or -1. */
function scanKey(p: usize, n: i32, i: i32): i32 {
  if (i >= n || load<u8>(p + <usize>i) != 0x22) return -1;
  i = scanString(p, n, i);
  if (i < 0) return -1;
  i = skipSpace(p, n, i);
  if (i >= n || load<u8>(p + <usize>i) != 0x3A) return -1;
  return skipSpace(p, n, i + 1);
}

/** Reports whether the `n` bytes at `p` are one valid JSON document, as json.Unmarshal requires. */
export function valid(p: usize, n: i32): bool {
  let end = scanValue(p, n, 0);
  return end >= 0 && skipSpace(p, n, end) == n;
}

/** Returns the end of the valid value at `i` (known valid); scanValue does the work. */
export function skipValue(p: usize, n: i32, i: i32): i32 {
  return scanValue(p, n, i);
}

/** Reads the 4 hex digits of a \u escape whose backslash is at `i`, or -1 if there is none. */
function u4(p: usize, n: i32, i: i32): i32 {
  if (i + 6 > n || load<u8>(p + <usize>i) != 0x5C || load<u8>(p + <usize>(i + 1)) != 0x75) return -1;
  let v = 0;
  for (let k = 2; k < 6; k++) {
    let h = hexValue(<u32>load<u8>(p + <usize>(i + k)));
    if (h < 0) return -1;
    v = v << 4 | h;
  }
  return v;
}

/** Appends code point `r` to `out` as UTF-8; returns the new end. */
function putRune(out: usize, r: u32): usize {
  if (r < 0x80) {
    store<u8>(out, <u8>r);
    return out + 1;
  }
  if (r < 0x800) {
    store<u8>(out, <u8>(0xC0 | r >> 6));
    store<u8>(out, <u8>(0x80 | (r & 0x3F)), 1);
    return out + 2;
  }
  if (r < 0x10000) {
    store<u8>(out, <u8>(0xE0 | r >> 12));
    store<u8>(out, <u8>(0x80 | (r >> 6 & 0x3F)), 1);
    store<u8>(out, <u8>(0x80 | (r & 0x3F)), 2);
    return out + 3;
  }
  store<u8>(out, <u8>(0xF0 | r >> 18));
  store<u8>(out, <u8>(0x80 | (r >> 12 & 0x3F)), 1);
  store<u8>(out, <u8>(0x80 | (r >> 6 & 0x3F)), 2);
  store<u8>(out, <u8>(0x80 | (r & 0x3F)), 3);
  return out + 4;
}

/**
 * Decodes the (valid) JSON string whose opening quote is at `i` and returns it, as Go does: a
 * \u escape of a lone surrogate becomes U+FFFD, and so does each byte that is not UTF-8.
 */
export function readString(p: usize, n: i32, i: i32): string {
  let end = scanString(p, n, i) - 1; // the closing quote
  // Unescaped, the string is never longer than its escaped form: a 6-byte \uXXXX escape gives
  // at most 3 bytes, and a 12-byte surrogate pair gives 4.
  let buf = new ArrayBuffer(end - i - 1);
  let base = changetype<usize>(buf);
  let out = base;
  let j = i + 1;
  while (j < end) {
    let c = <u32>load<u8>(p + <usize>j);
    if (c != 0x5C) {
      store<u8>(out++, <u8>c);
      j++;
      continue;
    }
    let e = <u32>load<u8>(p + <usize>(j + 1));
    if (e == 0x75) {
      let r = <u32>u4(p, n, j);
      j += 6;
      if (r >= 0xD800 && r < 0xE000) {
        let r2 = u4(p, n, j);
        if (r < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000) {
          r = 0x10000 + ((r - 0xD800) << 10) + (<u32>r2 - 0xDC00);
          j += 6;
        } else {
          r = 0xFFFD;
        }
      }
      out = putRune(out, r);
      continue;
    }
    let b: u32 = e; // \" \\ \/
    if (e == 0x62) b = 0x08;
    else if (e == 0x66) b = 0x0C;
    else if (e == 0x6E) b = 0x0A;
    else if (e == 0x72) b = 0x0D;
    else if (e == 0x74) b = 0x09;
    store<u8>(out++, <u8>b);
    j += 2;
  }
  return decodeUTF8(base, <i32>(out - base));
}

/**
 * Reports whether object key `key` selects the field named `field` (ASCII, no 'k' or 's'
 * subtleties assumed) as encoding/json matches them: exactly, or equal under Unicode simple case
 * folding, where the only non-ASCII letters that fold to ASCII ones are U+017F (ſ, to S) and
 * U+212A (Kelvin sign, to K).
 */
export function keyMatches(key: string, field: string): bool {
  let n = key.length;
  if (n != field.length) return false;
  for (let k = 0; k < n; k++) {
    let c = <u32>key.charCodeAt(k);
    let f = <u32>field.charCodeAt(k);
    if (c == 0x17F) c = 0x53;
    else if (c == 0x212A) c = 0x4B;
    if (c - 0x61 < 26) c -= 0x20;
    if (f - 0x61 < 26) f -= 0x20;
    if (c != f) return false;
  }
  return true;
}

/** The kind of the JSON value starting at `i` (known valid). */
export enum ValueKind { Object, Array, String, Number, True, False, Null }

export function kindAt(p: usize, i: i32): ValueKind {
  let c = <u32>load<u8>(p + <usize>i);
  switch (c) {
    case 0x7B: return ValueKind.Object;
    case 0x5B: return ValueKind.Array;
    case 0x22: return ValueKind.String;
    case 0x74: return ValueKind.True;
    case 0x66: return ValueKind.False;
    case 0x6E: return ValueKind.Null;
  }
  return ValueKind.Number;
}

/**
 * Steps through the members of a (valid) JSON object:
 *
 *     let it = new Members(p, n, start);
 *     while (it.next()) { ... it.key ... kindAt(p, it.valueAt) ... }
 */
export class Members {
  /** The current member's key, unescaped. */
  key: string = "";
  /** The offset of the current member's value. */
  valueAt: i32 = -1;
  private at: i32;

  /** Starts at the object whose '{' is at offset `start` of the `n` bytes at `p`. */
  constructor(private p: usize, private n: i32, start: i32) {
    this.at = skipSpace(p, n, start + 1);
  }

  /** Moves to the next member; false at the end of the object. */
  next(): bool {
    let p = this.p, n = this.n, i = this.at;
    if (this.valueAt >= 0) { // skip the previous value and the comma after it
      i = skipSpace(p, n, skipValue(p, n, this.valueAt));
      if (load<u8>(p + <usize>i) == 0x2C) i = skipSpace(p, n, i + 1);
    }
    if (i >= n || load<u8>(p + <usize>i) != 0x22) {
      this.at = i;
      return false;
    }
    this.key = readString(p, n, i);
    this.valueAt = scanKey(p, n, i);
    this.at = this.valueAt;
    return true;
  }
}

/**
 * A growing byte buffer that writes JSON the way Go's json.Encoder does with SetEscapeHTML(false).
 */
export class Writer {
  private buf: ArrayBuffer = new ArrayBuffer(128);
  private len: i32 = 0;

  private reserve(extra: i32): void {
    let need = this.len + extra;
    let cap = this.buf.byteLength;
    if (need <= cap) return;
    while (cap < need) cap <<= 1;
    let bigger = new ArrayBuffer(cap);
    memory.copy(changetype<usize>(bigger), changetype<usize>(this.buf), <usize>this.len);
    this.buf = bigger;
  }

  /** Appends one byte. */
  byte(b: u32): Writer {
    this.reserve(1);
    store<u8>(changetype<usize>(this.buf) + <usize>this.len, <u8>b);
    this.len++;
    return this;
  }

  /** Appends an ASCII string as it is (for punctuation and key names). */
  raw(s: string): Writer {
    let n = s.length;
    this.reserve(n);
    let at = changetype<usize>(this.buf) + <usize>this.len;
    for (let k = 0; k < n; k++) store<u8>(at + <usize>k, <u8>s.charCodeAt(k));
    this.len += n;
    return this;
  }

  /** Appends bytes as they are. */
  private bytes(p: usize, n: i32): void {
    this.reserve(n);
    memory.copy(changetype<usize>(this.buf) + <usize>this.len, p, <usize>n);
    this.len += n;
  }

  /**
   * Appends the `n` bytes at `p` as a JSON string: `"` and `\` escaped, control characters as
   * \b \f \n \r \t or \u00XX, U+2028 and U+2029 as \u2028 and \u2029, and each byte that is not
   * UTF-8 as \ufffd. Everything else, including <, > and &, as it is.
   */
  stringBytes(p: usize, n: i32): Writer {
    this.byte(0x22);
    let start = 0;
    let i = 0;
    while (i < n) {
      let b = <u32>load<u8>(p + <usize>i);
      if (b < 0x80) {
        if (b >= 0x20 && b != 0x22 && b != 0x5C) {
          i++;
          continue;
        }
        this.bytes(p + <usize>start, i - start);
        if (b == 0x22 || b == 0x5C) { this.byte(0x5C); this.byte(b); }
        else if (b == 0x08) this.raw("\\b");
        else if (b == 0x0C) this.raw("\\f");
        else if (b == 0x0A) this.raw("\\n");
        else if (b == 0x0D) this.raw("\\r");
        else if (b == 0x09) this.raw("\\t");
        else { this.raw("\\u00"); this.byte(HEX.charCodeAt(b >> 4)); this.byte(HEX.charCodeAt(b & 0xF)); }
        i++;
        start = i;
        continue;
      }
      let w = validSequence(p + <usize>i, <usize>(n - i));
      if (w == 0) {
        this.bytes(p + <usize>start, i - start);
        this.raw("\\ufffd");
        i++;
        start = i;
        continue;
      }
      // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
      if (w == 3 && b == 0xE2 && load<u8>(p + <usize>(i + 1)) == 0x80 && (load<u8>(p + <usize>(i + 2)) & 0xFE) == 0xA8) {
        this.bytes(p + <usize>start, i - start);
        this.raw(load<u8>(p + <usize>(i + 2)) == 0xA8 ? "\\u2028" : "\\u2029");
        i += 3;
        start = i;
        continue;
      }
      i += w;
    }
    this.bytes(p + <usize>start, n - start);
    this.byte(0x22);
    return this;
  }

  /** Appends a string as a JSON string (see stringBytes). */
  string(s: string): Writer {
    let b = String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
    return this.stringBytes(changetype<usize>(b), b.byteLength);
  }

  /** Appends `,"key":` (without the comma for the first member) and the value as a JSON string. */
  member(first: bool, key: string, value: string): Writer {
    if (!first) this.byte(0x2C);
    this.byte(0x22).raw(key).byte(0x22).byte(0x3A);
    return this.string(value);
  }

  /** The JSON written so far, as a new byte array. */
  toBytes(): Uint8Array {
    let out = new Uint8Array(this.len);
    memory.copy(out.dataStart, changetype<usize>(this.buf), <usize>this.len);
    return out;
  }
}

const HEX = "0123456789abcdef";

/** Reports whether Go's strconv.IsPrint holds for code point `r`. */
export function isPrint(r: u32): bool {
  let lo = 0, hi: i32;
  if (r < 0x10000) {
    hi = PRINT16_PAIRS - 1;
    while (lo <= hi) {
      let mid = (lo + hi) >>> 1;
      let first = <u32>load<u16>(PRINT16 + (<usize>mid << 2));
      let last = <u32>load<u16>(PRINT16 + (<usize>mid << 2) + 2);
      if (r < first) hi = mid - 1;
      else if (r > last) lo = mid + 1;
      else return true;
    }
    return false;
  }
  hi = PRINT32_PAIRS - 1;
  while (lo <= hi) {
    let mid = (lo + hi) >>> 1;
    let first = load<u32>(PRINT32 + (<usize>mid << 3));
    let last = load<u32>(PRINT32 + (<usize>mid << 3) + 4);
    if (r < first) hi = mid - 1;
    else if (r > last) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * Quotes `s` as Go's strconv.Quote does: in double quotes, with `"` and `\` escaped, printable
 * characters as they are, \a \b \f \n \r \t \v, other characters below U+0020 and U+007F as \xHH,
 * and other non-printable ones as \uHHHH or \UHHHHHHHH. `s` holds no unpaired surrogate (strings
 * from readString never do).
 */
export function goQuote(s: string): string {
  let out = "\"";
  let n = s.length;
  let run = 0; // start of the pending run of characters kept as they are
  for (let k = 0; k < n; k++) {
    let c = <u32>s.charCodeAt(k);
    let r = c;
    let width = 1;
    if (c >= 0xD800 && c < 0xDC00 && k + 1 < n) {
      let c2 = <u32>s.charCodeAt(k + 1);
      if (c2 >= 0xDC00 && c2 < 0xE000) {
        r = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
        width = 2;
      }
    }
    if (r != 0x22 && r != 0x5C && isPrint(r)) {
      k += width - 1;
      continue;
    }
    out += s.substring(run, k);
    if (r == 0x22) out += "\\\"";
    else if (r == 0x5C) out += "\\\\";
    else if (r == 0x07) out += "\\a";
    else if (r == 0x08) out += "\\b";
    else if (r == 0x0C) out += "\\f";
    else if (r == 0x0A) out += "\\n";
    else if (r == 0x0D) out += "\\r";
    else if (r == 0x09) out += "\\t";
    else if (r == 0x0B) out += "\\v";
    else if (r < 0x20 || r == 0x7F) out += "\\x" + hex(r, 2);
    else if (r < 0x10000) out += "\\u" + hex(r, 4);
    else out += "\\U" + hex(r, 8);
    k += width - 1;
    run = k + 1;
  }
  out += s.substring(run);
  return out + "\"";
}

/** Formats `v` as `digits` lowercase hex digits. */
function hex(v: u32, digits: i32): string {
  let s = "";
  for (let shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    s += String.fromCharCode(HEX.charCodeAt((v >> shift) & 0xF));
  }
  return s;
}
