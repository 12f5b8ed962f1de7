//! A small JSON reader and writer, for plugins that speak JSON without pulling in serde.
//!
//! **Reading** checks a whole text once ([`Raw::parse`]), then walks it without building a
//! tree: a [`Raw`] is the text of one valid value, and its methods decode what they are asked
//! for (a string with its escapes, a number, the entries of an object, the elements of an
//! array). Nothing is allocated except the strings decoded, and no recursion is involved, so
//! deeply nested input cannot overflow the stack.
//!
//! The grammar is RFC 8259's, strictly: no comments, no trailing commas, no leading zeros, no
//! control characters in strings; whitespace is space, tab, CR and LF. Nesting deeper than
//! [`MAX_DEPTH`] is an error. Decoding follows Go's `encoding/json`, so a plugin ported from Go
//! reads the same values: `\uXXXX` escapes, UTF-16 surrogate pairs combined into one character,
//! and a surrogate that is not part of a valid pair decoded as U+FFFD.
//!
//! **Writing**: [`write_str`] and [`quote`] escape a string the way Go's `encoding/json` does
//! with HTML escaping off (`"`, `\`, control characters, U+2028, U+2029); [`Object`] and
//! [`Array`] build compact JSON text in order.
//!
//! ```
//! use wasmsock::json::{Object, Raw, Type};
//!
//! let msg = Raw::parse(r#"{"action":"join","room":"caf\u00e9","n":[1,2.5e3]}"#).unwrap();
//! assert_eq!(msg.get("room").and_then(|r| r.as_str()).as_deref(), Some("café"));
//! assert_eq!(msg.get("n").unwrap().kind(), Type::Array);
//! let sum: f64 = msg.get("n").unwrap().elements().filter_map(|v| v.as_f64()).sum();
//! assert_eq!(sum, 2501.0);
//!
//! let reply = Object::new().str("action", "joined").str("room", "café").finish();
//! assert_eq!(reply, r#"{"action":"joined","room":"café"}"#);
//! ```

use core::fmt;

/// The deepest nesting of arrays and objects [`Raw::parse`] accepts (the same as Go's
/// `encoding/json`).
pub const MAX_DEPTH: usize = 10000;

/// Why a text is not valid JSON, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The byte offset where the problem is.
    pub offset: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// The type of a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl fmt::Display for Type {
    /// Writes `null`, `bool`, `number`, `string`, `array` or `object`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Null => "null",
            Type::Bool => "bool",
            Type::Number => "number",
            Type::String => "string",
            Type::Array => "array",
            Type::Object => "object",
        })
    }
}

/// The text of one valid JSON value, without surrounding whitespace.
///
/// Made by [`Raw::parse`], which checks the whole text; the values reached from it (object
/// entries, array elements) are `Raw` too, and need no further check.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    text: &'a str,
}

impl fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Raw({})", self.text)
    }
}

impl fmt::Display for Raw<'_> {
    /// Writes the value's JSON text as it was.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    i
}

fn err<T>(offset: usize, reason: &'static str) -> Result<T, ParseError> {
    Err(ParseError { offset, reason })
}

/// Checks the string token starting at `b[i] == '"'` and returns the offset after it.
fn scan_string(b: &[u8], mut i: usize) -> Result<usize, ParseError> {
    i += 1;
    loop {
        match b.get(i) {
            None => return err(i, "unexpected end of input in a string"),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    for k in 2..6 {
                        match b.get(i + k) {
                            Some(c) if c.is_ascii_hexdigit() => {}
                            None => return err(i + k, "unexpected end of input in a string"),
                            Some(_) => return err(i + k, "invalid character in \\u escape"),
                        }
                    }
                    i += 6;
                }
                None => return err(i + 1, "unexpected end of input in a string"),
                Some(_) => return err(i + 1, "invalid escape in a string"),
            },
            Some(&c) if c < 0x20 => return err(i, "control character in a string"),
            Some(_) => i += 1,
        }
    }
}

fn scan_digits(b: &[u8], mut i: usize) -> Result<usize, ParseError> {
    match b.get(i) {
        Some(c) if c.is_ascii_digit() => {}
        None => return err(i, "unexpected end of input in a number"),
        Some(_) => return err(i, "invalid character in a number"),
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    Ok(i)
}

/// Checks the number starting at `b[i]` and returns the offset after it.
fn scan_number(b: &[u8], mut i: usize) -> Result<usize, ParseError> {
    if b[i] == b'-' {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        _ => i = scan_digits(b, i)?,
    }
    if b.get(i) == Some(&b'.') {
        i = scan_digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = scan_digits(b, i)?;
    }
    Ok(i)
}

fn scan_literal(b: &[u8], i: usize, lit: &[u8]) -> Result<usize, ParseError> {
    for (k, &c) in lit.iter().enumerate() {
        match b.get(i + k) {
            Some(&x) if x == c => {}
            None => return err(i + k, "unexpected end of input in a literal"),
            Some(_) => return err(i + k, "invalid character in a literal"),
        }
    }
    Ok(i + lit.len())
}

/// Checks an object key and the colon after it, starting at `b[i]` (after whitespace), and
/// returns the offset after the colon.
fn scan_key(b: &[u8], i: usize) -> Result<usize, ParseError> {
    let i = skip_space(b, i);
    match b.get(i) {
        Some(b'"') => {}
        None => return err(i, "unexpected end of input, expecting an object key"),
        Some(_) => return err(i, "invalid character, expecting an object key"),
    }
    let i = skip_space(b, scan_string(b, i)?);
    match b.get(i) {
        Some(b':') => Ok(i + 1),
        None => err(i, "unexpected end of input, expecting ':'"),
        Some(_) => err(i, "invalid character after an object key"),
    }
}

/// Checks that `b` is exactly one JSON value with optional whitespace around it, and returns
/// where the value starts and ends.
fn validate(b: &[u8]) -> Result<(usize, usize), ParseError> {
    // One entry per open container: true for an object, false for an array.
    let mut stack: Vec<bool> = Vec::new();
    let start = skip_space(b, 0);
    let mut i = start;
    loop {
        // A value starts at b[i] (after whitespace).
        i = skip_space(b, i);
        match b.get(i) {
            None => return err(i, "unexpected end of input, expecting a value"),
            Some(&open @ (b'{' | b'[')) => {
                if stack.len() >= MAX_DEPTH {
                    return err(i, "nested too deeply");
                }
                let is_object = open == b'{';
                let close = if is_object { b'}' } else { b']' };
                let j = skip_space(b, i + 1);
                if b.get(j) == Some(&close) {
                    i = j + 1;
                } else {
                    stack.push(is_object);
                    i = if is_object { scan_key(b, j)? } else { j };
                    continue;
                }
            }
            Some(b'"') => i = scan_string(b, i)?,
            Some(b't') => i = scan_literal(b, i, b"true")?,
            Some(b'f') => i = scan_literal(b, i, b"false")?,
            Some(b'n') => i = scan_literal(b, i, b"null")?,
            Some(b'-' | b'0'..=b'9') => i = scan_number(b, i)?,
            Some(_) => return err(i, "invalid character, expecting a value"),
        }
        // A value ended at i: close containers until one expects another value.
        loop {
            let is_object = match stack.last() {
                Some(&o) => o,
                None => {
                    let after = skip_space(b, i);
                    if after != b.len() {
                        return err(after, "invalid character after the top-level value");
                    }
                    return Ok((start, i));
                }
            };
            i = skip_space(b, i);
            match b.get(i) {
                Some(b',') => {
                    i = if is_object { scan_key(b, i + 1)? } else { i + 1 };
                    break;
                }
                Some(b'}') if is_object => {
                    stack.pop();
                    i += 1;
                }
                Some(b']') if !is_object => {
                    stack.pop();
                    i += 1;
                }
                None => return err(i, "unexpected end of input"),
                Some(_) if is_object => return err(i, "invalid character, expecting ',' or '}'"),
                Some(_) => return err(i, "invalid character, expecting ',' or ']'"),
            }
        }
    }
}

/// Returns the offset after the valid value that starts at `b[i]`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while j < b.len()
                && matches!(b[j], b'a'..=b'z' | b'0'..=b'9' | b'-' | b'+' | b'.' | b'E')
            {
                j += 1;
            }
            j
        }
    }
}

/// Returns the offset after the valid string token that starts at `b[i] == '"'`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    loop {
        match b[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// Decodes the body of a valid string token (between the quotes) into `out`.
fn unescape(body: &str, out: &mut String) {
    let b = body.as_bytes();
    let mut i = 0;
    let mut plain = 0; // start of the run of bytes copied as they are
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&body[plain..i]);
        let c = match b[i + 1] {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let r = hex4(&b[i + 2..]).unwrap_or(0xFFFD);
                i += 6;
                if (0xD800..0xE000).contains(&r) {
                    // A surrogate: valid only as a high one followed by an escaped low one.
                    let lo = if b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u') {
                        hex4(&b[i + 2..])
                    } else {
                        None
                    };
                    match lo {
                        Some(lo) if r < 0xDC00 && (0xDC00..0xE000).contains(&lo) => {
                            i += 6;
                            out.push(
                                char::from_u32(0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00))
                                    .unwrap_or('\u{FFFD}'),
                            );
                        }
                        _ => out.push('\u{FFFD}'),
                    }
                } else {
                    out.push(char::from_u32(r).unwrap_or('\u{FFFD}'));
                }
                plain = i;
                continue;
            }
            other => other as char, // '"', '\\', '/'
        };
        out.push(c);
        i += 2;
        plain = i;
    }
    out.push_str(&body[plain..]);
}

impl<'a> Raw<'a> {
    /// Checks that `text` is one valid JSON value, with optional whitespace around it, and
    /// returns it.
    pub fn parse(text: &'a str) -> Result<Raw<'a>, ParseError> {
        let (start, end) = validate(text.as_bytes())?;
        Ok(Raw { text: &text[start..end] })
    }

    /// Like [`parse`](Raw::parse), for bytes; bytes that are not UTF-8 are an error.
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Raw<'a>, ParseError> {
        match core::str::from_utf8(bytes) {
            Ok(text) => Raw::parse(text),
            Err(e) => err(e.valid_up_to(), "invalid UTF-8"),
        }
    }

    /// Returns the value's JSON text.
    pub fn as_json(&self) -> &'a str {
        self.text
    }

    /// Returns the value's type.
    pub fn kind(&self) -> Type {
        match self.text.as_bytes()[0] {
            b'n' => Type::Null,
            b't' | b'f' => Type::Bool,
            b'"' => Type::String,
            b'[' => Type::Array,
            b'{' => Type::Object,
            _ => Type::Number,
        }
    }

    /// Reports whether the value is `null`.
    pub fn is_null(&self) -> bool {
        self.kind() == Type::Null
    }

    /// Returns the value of a boolean, or `None` for any other type.
    pub fn as_bool(&self) -> Option<bool> {
        match self.text {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Returns a string, its escapes decoded, or `None` for any other type.
    pub fn as_str(&self) -> Option<String> {
        if self.kind() != Type::String {
            return None;
        }
        let mut out = String::with_capacity(self.text.len() - 2);
        unescape(&self.text[1..self.text.len() - 1], &mut out);
        Some(out)
    }

    /// Returns a number as the nearest `f64`, or `None` for any other type (or a number too
    /// large for an `f64`).
    pub fn as_f64(&self) -> Option<f64> {
        if self.kind() != Type::Number {
            return None;
        }
        self.text.parse::<f64>().ok().filter(|x| x.is_finite())
    }

    /// Returns a number written as an integer (no fraction, no exponent) that fits an `i64`, or
    /// `None` otherwise. This is what Go's `encoding/json` accepts for an `int` field.
    pub fn as_i64(&self) -> Option<i64> {
        if self.kind() != Type::Number || self.text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'))
        {
            return None;
        }
        self.text.parse::<i64>().ok()
    }

    /// Returns the entries of an object in the order of the text, keys decoded, duplicates
    /// included; for any other type, no entries.
    pub fn entries(&self) -> Entries<'a> {
        let pos = if self.kind() == Type::Object { 1 } else { self.text.len() };
        Entries { text: self.text, pos }
    }

    /// Returns the elements of an array in order; for any other type, no elements.
    pub fn elements(&self) -> Elements<'a> {
        let pos = if self.kind() == Type::Array { 1 } else { self.text.len() };
        Elements { text: self.text, pos }
    }

    /// Returns the value of the last entry of an object whose key is exactly `key` (as
    /// JavaScript's `JSON.parse` keeps the last of duplicate keys), or `None` when there is none
    /// or the value is not an object.
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        self.entries().filter(|(k, _)| k == key).last().map(|(_, v)| v)
    }
}

/// The entries of a JSON object, from [`Raw::entries`]: `(key, value)` pairs, keys decoded.
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (String, Raw<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        let i = skip_space(b, self.pos);
        if i >= b.len() || b[i] != b'"' {
            self.pos = b.len();
            return None;
        }
        let key_end = string_end(b, i);
        let mut key = String::new();
        unescape(&self.text[i + 1..key_end - 1], &mut key);
        let v = skip_space(b, skip_space(b, key_end) + 1); // after the ':'
        let end = value_end(b, v);
        let after = skip_space(b, end);
        self.pos = if b[after] == b',' { after + 1 } else { b.len() };
        Some((key, Raw { text: &self.text[v..end] }))
    }
}

/// The elements of a JSON array, from [`Raw::elements`].
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Raw<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        let v = skip_space(b, self.pos);
        if v >= b.len() || b[v] == b']' {
            self.pos = b.len();
            return None;
        }
        let end = value_end(b, v);
        let after = skip_space(b, end);
        self.pos = if b[after] == b',' { after + 1 } else { b.len() };
        Some(Raw { text: &self.text[v..end] })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` to `out` as a JSON string, quotes included, escaped as Go's `encoding/json`
/// escapes with HTML escaping off: `"` and `\` with a backslash; `\b`, `\f`, `\n`, `\r`, `\t`;
/// the other control characters below U+0020 as `\u00XX`; U+2028 and U+2029 as `\u2028` and
/// `\u2029` (they end lines in JavaScript). Everything else is written as it is.
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if short.is_empty() {
            let v = c as u32 as usize;
            out.push_str("\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[(v >> shift) & 15] as char);
            }
        } else {
            out.push_str(short);
        }
        plain = i + c.len_utf8();
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// Returns `s` as a JSON string, quotes included (see [`write_str`]).
pub fn quote(s: &str) -> String {
    let mut out = String::new();
    write_str(&mut out, s);
    out
}

fn write_f64(out: &mut String, v: f64) {
    use fmt::Write;
    if v.is_finite() {
        let _ = write!(out, "{}", v);
    } else {
        out.push_str("null"); // JSON has no NaN or infinity
    }
}

/// Builds the text of a JSON object, entries in the order they are added.
///
/// ```
/// let payload = wasmsock::json::Object::new().str("message", "no").finish();
/// let reply = wasmsock::json::Object::new()
///     .str("type", "error")
///     .raw("payload", &payload)
///     .str_nonempty("action", "")
///     .finish();
/// assert_eq!(reply, r#"{"type":"error","payload":{"message":"no"}}"#);
/// ```
#[derive(Clone, Debug)]
pub struct Object {
    buf: String,
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

impl Object {
    /// Starts an empty object.
    pub fn new() -> Object {
        Object { buf: String::from("{") }
    }

    fn key(mut self, key: &str) -> Self {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        write_str(&mut self.buf, key);
        self.buf.push(':');
        self
    }

    /// Adds a string entry.
    pub fn str(self, key: &str, value: &str) -> Self {
        let mut o = self.key(key);
        write_str(&mut o.buf, value);
        o
    }

    /// Adds a string entry unless `value` is empty (Go's `omitempty`).
    pub fn str_nonempty(self, key: &str, value: &str) -> Self {
        if value.is_empty() {
            self
        } else {
            self.str(key, value)
        }
    }

    /// Adds an integer entry.
    pub fn i64(self, key: &str, value: i64) -> Self {
        let mut o = self.key(key);
        o.buf.push_str(&value.to_string());
        o
    }

    /// Adds a number entry (`null` for NaN and the infinities, which JSON cannot write).
    pub fn f64(self, key: &str, value: f64) -> Self {
        let mut o = self.key(key);
        write_f64(&mut o.buf, value);
        o
    }

    /// Adds a boolean entry.
    pub fn bool(self, key: &str, value: bool) -> Self {
        let mut o = self.key(key);
        o.buf.push_str(if value { "true" } else { "false" });
        o
    }

    /// Adds a `null` entry.
    pub fn null(self, key: &str) -> Self {
        let mut o = self.key(key);
        o.buf.push_str("null");
        o
    }

    /// Adds an entry whose value is JSON text written elsewhere (a nested [`Object`] or
    /// [`Array`], a [`Raw`]); the text is not checked.
    pub fn raw(self, key: &str, json: &str) -> Self {
        let mut o = self.key(key);
        o.buf.push_str(json);
        o
    }

    /// Closes the object and returns its text.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Builds the text of a JSON array, elements in the order they are added.
///
/// ```
/// let a = wasmsock::json::Array::new().str("a").i64(2).null().finish();
/// assert_eq!(a, r#"["a",2,null]"#);
/// ```
#[derive(Clone, Debug)]
pub struct Array {
    buf: String,
}

impl Default for Array {
    fn default() -> Self {
        Array::new()
    }
}

impl Array {
    /// Starts an empty array.
    pub fn new() -> Array {
        Array { buf: String::from("[") }
    }

    fn next(mut self) -> Self {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        self
    }

    /// Adds a string.
    pub fn str(self, value: &str) -> Self {
        let mut a = self.next();
        write_str(&mut a.buf, value);
        a
    }

    /// Adds an integer.
    pub fn i64(self, value: i64) -> Self {
        let mut a = self.next();
        a.buf.push_str(&value.to_string());
        a
    }

    /// Adds a number (`null` for NaN and the infinities).
    pub fn f64(self, value: f64) -> Self {
        let mut a = self.next();
        write_f64(&mut a.buf, value);
        a
    }

    /// Adds a boolean.
    pub fn bool(self, value: bool) -> Self {
        let mut a = self.next();
        a.buf.push_str(if value { "true" } else { "false" });
        a
    }

    /// Adds `null`.
    pub fn null(self) -> Self {
        let mut a = self.next();
        a.buf.push_str("null");
        a
    }

    /// Adds JSON text written elsewhere; the text is not checked.
    pub fn raw(self, json: &str) -> Self {
        let mut a = self.next();
        a.buf.push_str(json);
        a
    }

    /// Closes the array and returns its text.
    pub fn finish(mut self) -> String {
        self.buf.push(']');
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid() {
        for t in [
            "0",
            "-0",
            "1.5",
            "-1e10",
            "2E+3",
            "3e-2",
            "true",
            "false",
            "null",
            "\"\"",
            " \"a\\\"b\" ",
            "[]",
            "{}",
            "[1,[2,{}],{\"a\":[]}]",
            "{\"a\":1,\"a\":2}",
            "\t\r\n[ 1 , 2 ]\n",
            "\"\\u00e9\\/\"",
        ] {
            assert!(Raw::parse(t).is_ok(), "{:?}", t);
        }
    }

    #[test]
    fn invalid() {
        for t in [
            "",
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "tru",
            "nul",
            "True",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\"}",
            "{\"a\" 1}",
            "[1 2]",
            "\"a",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a\u{1}\"",
            "1 2",
            "[",
            "]",
            "{",
            "[}",
            "{]",
            "\u{feff}1",
            "//",
            "[1]x",
            "NaN",
            "-Infinity",
            "0x1",
            "1e+",
            "[\"\\u123\"]",
        ] {
            assert!(Raw::parse(t).is_err(), "{:?}", t);
        }
    }

    #[test]
    fn depth() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Raw::parse(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(Raw::parse(&deep).is_err());
        let deep_obj = "{\"a\":".repeat(MAX_DEPTH) + "{}" + &"}".repeat(MAX_DEPTH);
        assert!(Raw::parse(&deep_obj).is_err());
    }

    #[test]
    fn strings() {
        let cases = [
            (r#""plain""#, "plain"),
            (r#""a\"b\\c\/d\be\ff\ng\rh\ti""#, "a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti"),
            (r#""\u00e9\u20AC""#, "é€"),
            (r#""\ud83d\ude00""#, "😀"),
            (r#""\ud83d""#, "\u{FFFD}"),
            (r#""\ude00""#, "\u{FFFD}"),
            (r#""\ud83dx""#, "\u{FFFD}x"),
            (r#""\ud83d\u0041""#, "\u{FFFD}A"),
            (r#""\ud83d\ud83d\ude00""#, "\u{FFFD}😀"),
            (r#""\u0000""#, "\u{0}"),
            ("\"é😀\"", "é😀"),
        ];
        for (json, want) in cases {
            assert_eq!(Raw::parse(json).unwrap().as_str().as_deref(), Some(want), "{}", json);
        }
    }

    #[test]
    fn walk() {
        let v = Raw::parse(r#" { "a" : [1, "x", {"b": null}] , "c":true, "a": -2.5e1 } "#).unwrap();
        assert_eq!(v.kind(), Type::Object);
        let e: Vec<_> = v.entries().collect();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].0, "a");
        assert_eq!(e[0].1.as_json(), r#"[1, "x", {"b": null}]"#);
        let els: Vec<_> = e[0].1.elements().collect();
        assert_eq!(els.len(), 3);
        assert_eq!(els[0].as_i64(), Some(1));
        assert_eq!(els[1].as_str().as_deref(), Some("x"));
        assert!(els[2].get("b").unwrap().is_null());
        assert_eq!(v.get("c").unwrap().as_bool(), Some(true));
        assert_eq!(v.get("a").unwrap().as_f64(), Some(-25.0));
        assert_eq!(v.get("a").unwrap().as_i64(), None);
        assert!(v.get("zz").is_none());
        assert_eq!(Raw::parse("[]").unwrap().elements().count(), 0);
        assert_eq!(Raw::parse("{}").unwrap().entries().count(), 0);
        assert_eq!(Raw::parse("7").unwrap().entries().count(), 0);
        assert_eq!(Raw::parse("9223372036854775807").unwrap().as_i64(), Some(i64::MAX));
        assert_eq!(Raw::parse("9223372036854775808").unwrap().as_i64(), None);
        assert_eq!(
            Raw::parse(r#"{"k\u0065y":"v"}"#).unwrap().get("key").unwrap().as_str().as_deref(),
            Some("v")
        );
    }

    #[test]
    fn write() {
        assert_eq!(
            quote("a\"\\\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}<>&é\u{2028}\u{2029}😀"),
            "\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}<>&é\\u2028\\u2029😀\""
        );
        assert_eq!(Object::new().finish(), "{}");
        assert_eq!(Array::new().finish(), "[]");
        let o = Object::new()
            .str("a", "b")
            .i64("n", -3)
            .bool("t", true)
            .null("z")
            .f64("f", 0.5)
            .raw("r", "[1]")
            .finish();
        assert_eq!(o, r#"{"a":"b","n":-3,"t":true,"z":null,"f":0.5,"r":[1]}"#);
        // What is written reads back the same.
        for s in ["", "x\u{0}y", "\u{2028}", "\"\\"] {
            assert_eq!(Raw::parse(&quote(s)).unwrap().as_str().as_deref(), Some(s));
        }
    }
}
