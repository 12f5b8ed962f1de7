// Conversions between AssemblyScript strings (UTF-16) and the UTF-8 bytes the host speaks.

/**
 * Decodes `len` bytes of UTF-8 at `ptr` into a string. Each byte that does not start a valid
 * UTF-8 sequence (a stray continuation byte, a sequence cut short, an overlong form, a surrogate,
 * a code point above U+10FFFF) becomes one U+FFFD, the rule Go's `for range` over a string and
 * `utf8.DecodeRune` follow; valid input decodes exactly.
 */
export function decodeUTF8(ptr: usize, len: i32): string {
  if (len <= 0) return "";
  // At most one UTF-16 code unit per byte: a 4-byte sequence gives two units.
  let str = __new(<usize>len << 1, idof<string>());
  let out = str;
  let i: usize = 0;
  let n = <usize>len;
  while (i < n) {
    let b0 = <u32>load<u8>(ptr + i);
    if (b0 < 0x80) {
      store<u16>(out, <u16>b0);
      out += 2;
      i++;
      continue;
    }
    let width = validSequence(ptr + i, n - i);
    if (width == 0) {
      store<u16>(out, 0xFFFD);
      out += 2;
      i++;
      continue;
    }
    let cp: u32;
    if (width == 2) {
      cp = (b0 & 0x1F) << 6 | (<u32>load<u8>(ptr + i + 1) & 0x3F);
    } else if (width == 3) {
      cp = (b0 & 0x0F) << 12 | (<u32>load<u8>(ptr + i + 1) & 0x3F) << 6 | (<u32>load<u8>(ptr + i + 2) & 0x3F);
    } else {
      cp = (b0 & 0x07) << 18 | (<u32>load<u8>(ptr + i + 1) & 0x3F) << 12 |
        (<u32>load<u8>(ptr + i + 2) & 0x3F) << 6 | (<u32>load<u8>(ptr + i + 3) & 0x3F);
    }
    if (cp < 0x10000) {
      store<u16>(out, <u16>cp);
      out += 2;
    } else {
      cp -= 0x10000;
      store<u16>(out, <u16>(0xD800 | (cp >> 10)));
      store<u16>(out, <u16>(0xDC00 | (cp & 0x3FF)), 2);
      out += 4;
    }
    i += width;
  }
  return changetype<string>(__renew(str, out - str));
}

/**
 * Returns the length (2, 3 or 4) of the valid multi-byte UTF-8 sequence at `p`, which has `avail`
 * bytes after it, or 0 if the byte at `p` does not start one. The byte at `p` is not ASCII.
 */
export function validSequence(p: usize, avail: usize): i32 {
  let b0 = <u32>load<u8>(p);
  let lo: u32 = 0x80, hi: u32 = 0xBF, width: i32;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    width = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    width = 3;
    if (b0 == 0xE0) lo = 0xA0;       // no overlong forms
    else if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    width = 4;
    if (b0 == 0xF0) lo = 0x90;       // no overlong forms
    else if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (avail < <usize>width) return 0;
  let b1 = <u32>load<u8>(p, 1);
  if (b1 < lo || b1 > hi) return 0;
  for (let k = 2; k < width; k++) {
    let b = <u32>load<u8>(p + <usize>k);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return width;
}

/** Decodes a byte array as by `decodeUTF8`. */
export function bytesToString(b: Uint8Array): string {
  return decodeUTF8(b.dataStart, b.length);
}

/**
 * Encodes `s` as UTF-8. An unpaired surrogate, which has no UTF-8 form, becomes U+FFFD (as the
 * web's TextEncoder does), so the result is always valid UTF-8.
 */
export function encodeUTF8(s: string): ArrayBuffer {
  return String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
}

/** Encodes `s` as UTF-8 into a new byte array, as by `encodeUTF8`. */
export function stringToBytes(s: string): Uint8Array {
  return Uint8Array.wrap(encodeUTF8(s));
}
