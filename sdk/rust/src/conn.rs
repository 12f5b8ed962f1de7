use core::fmt;

use crate::errors::{check, Error, Result};
use crate::sys;

/// The type of a WebSocket message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// UTF-8 text (opcode 1).
    Text,
    /// Arbitrary bytes (opcode 2).
    Binary,
}

impl Kind {
    /// Returns the kind for an ABI kind number (`1` text, `2` binary), or `None` for any other.
    pub fn from_raw(kind: i32) -> Option<Kind> {
        match kind {
            sys::KIND_TEXT => Some(Kind::Text),
            sys::KIND_BINARY => Some(Kind::Binary),
            _ => None,
        }
    }

    /// Returns the ABI kind number: `1` for text, `2` for binary (the RFC 6455 opcodes).
    pub fn raw(self) -> i32 {
        match self {
            Kind::Text => sys::KIND_TEXT,
            Kind::Binary => sys::KIND_BINARY,
        }
    }
}

impl fmt::Display for Kind {
    /// Writes `text` or `binary`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Text => "text",
            Kind::Binary => "binary",
        })
    }
}

/// One complete WebSocket message from a client, as [`Plugin::on_message`](crate::Plugin::on_message)
/// receives it.
///
/// The host has reassembled fragments and decompressed it. `data` borrows the SDK's message
/// buffer, which is reused for the next message, so the borrow checker keeps a handler from
/// holding on to it: copy what you keep (`data.to_vec()`, `text.to_owned()`). Handing `data` to
/// [`Conn::send`], [`broadcast`] or [`send_to_user`] is fine: the host copies it.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// Text or binary.
    pub kind: Kind,
    /// The message's bytes; for [`Kind::Text`] always valid UTF-8 (the host closes a connection
    /// that sends anything else with 1007).
    pub data: &'a [u8],
}

impl<'a> Message<'a> {
    /// Returns the text of a text message, or `None` for a binary message.
    pub fn text(&self) -> Option<&'a str> {
        match self.kind {
            Kind::Text => core::str::from_utf8(self.data).ok(),
            Kind::Binary => None,
        }
    }
}

/// What [`Plugin::on_connect`](crate::Plugin::on_connect) answers a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Completes the WebSocket handshake.
    Accept,
    /// Refuses the handshake with this HTTP status, which must be 400-599 (anything else
    /// becomes 500, so a mistake still refuses the connection). The client never gets a
    /// WebSocket.
    RejectHttp(u16),
    /// Completes the handshake and closes the connection at once with this close code, which
    /// must be 4000-4999 (anything else becomes 4000). Browsers show scripts close codes but not
    /// HTTP statuses, so this is how to tell a browser client why.
    RejectClose(u16),
}

impl Verdict {
    /// Returns the `on_connect` result the verdict stands for: `0`, an HTTP status or a close
    /// code, out-of-range values replaced as described on each variant.
    pub fn raw(self) -> i32 {
        match self {
            Verdict::Accept => 0,
            Verdict::RejectHttp(s) if (400..=599).contains(&s) => i32::from(s),
            Verdict::RejectHttp(_) => 500,
            Verdict::RejectClose(c) if (4000..=4999).contains(&c) => i32::from(c),
            Verdict::RejectClose(_) => 4000,
        }
    }
}

/// Reports whether an endpoint may send `code` in a close frame (RFC 6455 §7.4): 1000-1003,
/// 1007-1014 and 3000-4999.
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A WebSocket connection, identified by the id the host gave it.
///
/// A `Conn` is only an id (`Copy`, 8 bytes): it can be stored, used as a map key and used
/// later, from any handler. Ids are non-zero and never reused, so once the connection has gone
/// (its `on_close` has returned) its methods return [`Error::UnknownConn`] and never reach
/// another connection. A connection of another namespace than the one being handled is also
/// unknown to the plugin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Conn(u64);

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Conn({})", self.0)
    }
}

impl fmt::Display for Conn {
    /// Writes the id in decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The length of a buffer as the ABI's `i32`, which the host reads as unsigned.
#[inline]
pub(crate) fn len32(n: usize) -> i32 {
    n as u32 as i32
}

impl Conn {
    /// Returns the connection with id `id`. Any id can be made into a `Conn`; the host answers
    /// [`Error::UnknownConn`] for one that is not open.
    pub const fn from_id(id: u64) -> Conn {
        Conn(id)
    }

    /// Returns the connection's id: non-zero, unique for the life of the host process.
    pub const fn id(self) -> u64 {
        self.0
    }

    /// Sends a message of the given kind. It returns once the host has queued the message, not
    /// when the client has it. Text must be valid UTF-8 (it is, when it comes from a `&str`).
    ///
    /// Errors: [`Error::Closed`] when the connection is closing (also when the client does not
    /// keep up and the host closes it for that), [`Error::TooLarge`] over the route's
    /// `max_message_bytes`, [`Error::Forbidden`] on a receive-only route,
    /// [`Error::UnknownConn`].
    pub fn send(self, kind: Kind, data: &[u8]) -> Result<()> {
        // SAFETY: (ptr, len) is a live slice of this module's memory.
        check(unsafe { sys::send(self.0, kind.raw(), data.as_ptr(), len32(data.len())) }).map(drop)
    }

    /// Sends `text` as a text message. See [`send`](Conn::send).
    pub fn send_text(self, text: &str) -> Result<()> {
        self.send(Kind::Text, text.as_bytes())
    }

    /// Sends `data` as a binary message. See [`send`](Conn::send).
    pub fn send_binary(self, data: &[u8]) -> Result<()> {
        self.send(Kind::Binary, data)
    }

    /// Starts the closing handshake with a close code and a reason.
    ///
    /// The code must be one an endpoint may send (1000-1003, 1007-1014, 3000-4999, see
    /// [`valid_close_code`]), else the result is [`Error::InvalidCode`]; the host cuts the reason
    /// to 123 bytes on a character boundary. Messages already sent go out first. From then on
    /// `send` returns [`Error::Closed`] and no more messages arrive from the connection;
    /// [`Plugin::on_close`](crate::Plugin::on_close) follows with this code and reason.
    /// Closing a connection that is already closing gives [`Error::Closed`].
    pub fn close(self, code: u16, reason: &str) -> Result<()> {
        if !valid_close_code(code) {
            return Err(Error::InvalidCode);
        }
        // SAFETY: (ptr, len) is a live slice of this module's memory.
        check(unsafe { sys::close(self.0, i32::from(code), reason.as_ptr(), len32(reason.len())) })
            .map(drop)
    }

    /// Copies the value the host has for `key` about the connection into `dst` and returns the
    /// value's **full** length: if it is larger than `dst.len()`, only `dst.len()` bytes were
    /// written; call again with a larger buffer. This is `conn_get` as it is; [`get`](Conn::get)
    /// and [`get_bytes`](Conn::get_bytes) are easier to use.
    pub fn get_into(self, key: &str, dst: &mut [u8]) -> Result<usize> {
        // SAFETY: both ranges are live slices of this module's memory, dst is writable.
        let n = check(unsafe {
            sys::conn_get(
                self.0,
                key.as_ptr(),
                len32(key.len()),
                dst.as_mut_ptr(),
                len32(dst.len()),
            )
        })?;
        Ok(n as usize)
    }

    /// Returns the value the host has for `key` about the connection, as bytes.
    ///
    /// The keys (`abi/ABI.md`, "conn_get keys") are:
    ///
    /// | key | value |
    /// |-----|-------|
    /// | `id` | the connection id in decimal ([`id`](Conn::id) has it without asking) |
    /// | `route` | the `path` of the route that accepted the connection |
    /// | `path` | the request's URL path, percent-encoding kept, without the query |
    /// | `query` | the raw query string, without `?` |
    /// | `query.NAME` | the first value of query parameter `NAME`, percent-decoded |
    /// | `header.NAME` | the first value of request header `NAME` (any case), as sent |
    /// | `remote_addr` | the peer's address, `host:port` |
    /// | `subprotocol` | the subprotocol the host selected |
    /// | `user` | the authenticated user id |
    /// | `namespace` | the connection's namespace (empty for the default one) |
    ///
    /// Errors: [`Error::NotFound`] for a key without a value (no such parameter, header, user,
    /// or not a key above), [`Error::UnknownConn`], [`Error::InvalidArgument`] for a key over
    /// 256 bytes.
    pub fn get_bytes(self, key: &str) -> Result<Vec<u8>> {
        let mut small = [0u8; 128];
        let n = self.get_into(key, &mut small)?;
        if n <= small.len() {
            return Ok(small[..n].to_vec());
        }
        // The full length came back: one more call with a buffer that size gets it all. Values
        // never change, but a bounded loop guards against a host whose answer does.
        let mut buf = vec![0u8; n];
        for _ in 0..4 {
            let m = self.get_into(key, &mut buf)?;
            if m <= buf.len() {
                buf.truncate(m);
                return Ok(buf);
            }
            buf.resize(m, 0);
        }
        Err(Error::TooLarge)
    }

    /// Returns the value for `key` as a string (see [`get_bytes`](Conn::get_bytes) for the
    /// keys), or `None` when there is none or the connection is gone. Bytes that are not UTF-8
    /// (a header may hold some) become U+FFFD.
    pub fn get(self, key: &str) -> Option<String> {
        self.get_bytes(key).ok().map(|v| match String::from_utf8(v) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    fn get_or_empty(self, key: &str) -> String {
        self.get(key).unwrap_or_default()
    }

    /// Returns the `path` of the route (from the host configuration) that accepted the
    /// connection.
    pub fn route(self) -> String {
        self.get_or_empty("route")
    }

    /// Returns the URL path of the handshake request, as the client sent it.
    pub fn path(self) -> String {
        self.get_or_empty("path")
    }

    /// Returns the raw query string of the handshake request, without `?` (empty if none).
    pub fn raw_query(self) -> String {
        self.get_or_empty("query")
    }

    /// Returns the first value of query parameter `name`, percent-decoded, or `None` when the
    /// request has no such parameter (`?name` and `?name=` give `Some("")`).
    pub fn query(self, name: &str) -> Option<String> {
        self.get(&format!("query.{}", name))
    }

    /// Returns the first value of request header `name` (matched in any case), or `None`.
    pub fn header(self, name: &str) -> Option<String> {
        self.get(&format!("header.{}", name))
    }

    /// Returns the user id the host authenticated the connection as, or `None` for an
    /// anonymous connection.
    pub fn user(self) -> Option<String> {
        self.get("user")
    }

    /// Returns the connection's namespace; empty for the default namespace.
    pub fn namespace(self) -> String {
        self.get_or_empty("namespace")
    }

    /// Returns the peer's address as `host:port` (`[v6]:port` for IPv6).
    pub fn remote_addr(self) -> String {
        self.get_or_empty("remote_addr")
    }

    /// Returns the subprotocol the host selected in the handshake, or `None` when there is
    /// none (an empty value counts as none).
    pub fn subprotocol(self) -> Option<String> {
        self.get("subprotocol").filter(|s| !s.is_empty())
    }

    /// Adds the connection to `group` in its namespace. Joining a group again is not an error.
    ///
    /// Membership is host state: it survives reloads and instance replacements and ends when
    /// the connection starts closing. Errors: [`Error::InvalidArgument`] for a bad group name
    /// (1-128 bytes, no control characters) or one starting with `user:` (those are the host's,
    /// see [`send_to_user`]), [`Error::Closed`] when the connection is closing,
    /// [`Error::UnknownConn`].
    pub fn join(self, group: &str) -> Result<()> {
        // SAFETY: (ptr, len) is a live slice of this module's memory.
        check(unsafe { sys::join(self.0, group.as_ptr(), len32(group.len())) }).map(drop)
    }

    /// Removes the connection from `group`. Leaving a group the connection is not in, or leaving
    /// while it closes, is not an error. Errors as for [`join`](Conn::join), except
    /// [`Error::Closed`].
    pub fn leave(self, group: &str) -> Result<()> {
        // SAFETY: (ptr, len) is a live slice of this module's memory.
        check(unsafe { sys::leave(self.0, group.as_ptr(), len32(group.len())) }).map(drop)
    }
}

/// Sends a message to every member of `group` except `except` and returns how many connections
/// the host queued it for (members that are closing, on a receive-only route or whose route
/// does not take a message this large are skipped and not counted). An empty or unknown group
/// reaches nobody, and that is not an error.
///
/// The group is looked up in **the namespace of the connection whose event is being handled**
/// (the default namespace in `on_start`); nothing crosses namespaces. `except` is typically
/// the sender; it must be a connection of that namespace, else the result is
/// [`Error::UnknownConn`]. During `on_close` the closing connection may still be named as
/// `except` (the usual "X has left" message).
///
/// Errors: [`Error::InvalidArgument`] for a bad group name or text that is not UTF-8,
/// [`Error::UnknownConn`] for `except`.
pub fn broadcast(group: &str, kind: Kind, data: &[u8], except: Option<Conn>) -> Result<usize> {
    let except = except.map_or(0, Conn::id);
    // SAFETY: both ranges are live slices of this module's memory.
    let n = check(unsafe {
        sys::broadcast(
            group.as_ptr(),
            len32(group.len()),
            kind.raw(),
            data.as_ptr(),
            len32(data.len()),
            except,
        )
    })?;
    Ok(n as usize)
}

/// Sends a message to every connection of user `user` (in the namespace of the connection
/// being handled) except `except`, and returns how many connections the host queued it for.
///
/// The host puts every connection that has a user id into the group `user:<id>` by itself, so
/// this is [`broadcast`] to that group; nothing needs joining. Anonymous connections are in no
/// such group. In a cluster the count covers this host only.
pub fn send_to_user(user: &str, kind: Kind, data: &[u8], except: Option<Conn>) -> Result<usize> {
    broadcast(&format!("user:{}", user), kind, data, except)
}
