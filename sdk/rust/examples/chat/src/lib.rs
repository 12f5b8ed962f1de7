//! The chat plugin, written with the wasmsock Rust SDK: multi-room chat with private messages,
//! spoken in JSON over WebSocket. It speaks exactly the protocol of `plugins/chat` (Go), whose
//! README.md describes it message by message: the same requests, the same replies byte for
//! byte, the same error messages, the same configuration (`max_text`).
//!
//! Rooms are host groups named `room:<room>`, so membership survives a reload or an instance
//! replacement; private messages go to the host-managed group `user:<id>`. The plugin keeps, per
//! connection, the name it uses in messages and the rooms it joined (to announce the user's
//! departure when the connection closes).
//!
//! Requests are read with `wasmsock::json` the way Go's `encoding/json` reads them into the Go
//! plugin's struct: field names match in any case, the last of duplicate fields wins, `null`
//! leaves a field empty, and the first field that is not a string is the one reported.
//!
//! Build it with `make wasm` at the top of the repository (the rule is in `sdk/rust/wasm.mk`),
//! or from `sdk/rust` with
//!
//! ```sh
//! cargo build --release --target wasm32-wasi -p wasmsock-example-chat
//! ```

#![warn(missing_docs)]

use std::collections::{BTreeSet, HashMap};

use wasmsock::json::{Array, Object, Raw, Type};
use wasmsock::{Conn, Error, Kind, Level, Message, Plugin, Verdict};

mod isprint;

/// The longest room name, in bytes.
const MAX_ROOM: usize = 64;
/// The group of a room is this prefix and the room's name.
const ROOM_GROUP_PREFIX: &str = "room:";
/// The host's group of a user is this prefix and the user id.
const USER_GROUP_PREFIX: &str = "user:";
/// The longest user name a private message may be addressed to: the longest that still makes a
/// valid group name `user:<name>`.
const MAX_USER: usize = wasmsock::sys::MAX_GROUP_NAME - USER_GROUP_PREFIX.len();
/// The longest message text, in bytes, unless the config says otherwise.
const DEFAULT_MAX_TEXT: i64 = 4096;

/// What the plugin knows about one open connection.
struct Session {
    /// The sender name used in messages: the host's user id, or `anon-<conn id>`.
    name: String,
    /// The rooms the connection joined through this instance, in byte order.
    rooms: BTreeSet<String>,
    /// Set when the session was rebuilt after a reload or restart (a RESUMED connect, or a
    /// message from a connection this instance has not seen connect). The host kept the
    /// connection's groups but this instance lost its list of rooms, so a room missing from
    /// `rooms` may still be one the connection is in.
    restored: bool,
}

impl Session {
    fn new(c: Conn, restored: bool) -> Session {
        let name = match c.user() {
            Some(user) if !user.is_empty() => user,
            _ => format!("anon-{}", c.id()),
        };
        Session { name, rooms: BTreeSet::new(), restored }
    }
}

/// The plugin: the configuration and the session of every connection this instance handles.
pub struct Chat {
    /// The longest message text accepted, in bytes (`max_text` in the config).
    max_text: i64,
    sessions: HashMap<Conn, Session>,
}

impl Default for Chat {
    fn default() -> Chat {
        Chat { max_text: DEFAULT_MAX_TEXT, sessions: HashMap::new() }
    }
}

wasmsock::plugin!(Chat);

/// A message from a client. Fields a given action does not use are ignored.
#[derive(Default)]
struct Request {
    action: String,
    room: String,
    user: String,
    text: String,
}

/// The request fields, by their JSON names.
const FIELDS: [&str; 4] = ["action", "room", "user", "text"];

impl Request {
    fn field(&mut self, i: usize) -> &mut String {
        match i {
            0 => &mut self.action,
            1 => &mut self.room,
            2 => &mut self.user,
            _ => &mut self.text,
        }
    }
}

/// A message to a client; empty fields are left out.
#[derive(Default)]
struct Event<'a> {
    action: &'a str,
    room: &'a str,
    user: &'a str,
    from: &'a str,
    to: &'a str,
    text: &'a str,
}

impl Event<'_> {
    fn encode(&self) -> String {
        Object::new()
            .str("action", self.action)
            .str_nonempty("room", self.room)
            .str_nonempty("user", self.user)
            .str_nonempty("from", self.from)
            .str_nonempty("to", self.to)
            .str_nonempty("text", self.text)
            .finish()
    }
}

/// Reports whether a JSON key names `field` (lower-case ASCII) the way Go's `encoding/json`
/// matches struct fields: ASCII letters in any case, and the two non-ASCII characters that fold
/// to ASCII letters, U+017F (long s) and U+212A (Kelvin sign).
fn key_matches(key: &str, field: &str) -> bool {
    let mut chars = key.chars();
    for want in field.chars() {
        let c = match chars.next() {
            Some('\u{17F}') => 's',
            Some('\u{212A}') => 'k',
            Some(c) => c.to_ascii_lowercase(),
            None => return false,
        };
        if c != want {
            return false;
        }
    }
    chars.next().is_none()
}

/// Quotes `s` as Go's `strconv.Quote` does: double quotes, `\"` and `\\`, printable characters
/// as they are, `\a \b \f \n \r \t \v`, other characters below U+0080 as `\xXX`, and other
/// non-printable characters as `\uXXXX` or `\UXXXXXXXX`.
fn go_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        let _ = match c {
            '"' | '\\' => write!(out, "\\{}", c),
            c if is_print(c) => write!(out, "{}", c),
            '\u{7}' => write!(out, "\\a"),
            '\u{8}' => write!(out, "\\b"),
            '\u{c}' => write!(out, "\\f"),
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            '\t' => write!(out, "\\t"),
            '\u{b}' => write!(out, "\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32),
            c if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32),
            c => write!(out, "\\U{:08x}", c as u32),
        };
    }
    out.push('"');
    out
}

/// Reports whether Go's `strconv.IsPrint` says `c` is printable.
fn is_print(c: char) -> bool {
    let c = c as u32;
    let i = isprint::PRINT.partition_point(|&(_, hi)| hi < c);
    i < isprint::PRINT.len() && isprint::PRINT[i].0 <= c
}

/// Reports whether `s` holds a control character (U+0000-U+001F, U+007F-U+009F), which a group
/// name may not contain.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| c < '\u{20}' || ('\u{7f}'..='\u{9f}').contains(&c))
}

/// Parses a request and checks that it names an action. The request has the action filled in
/// whenever it could be read, also when there is an error.
fn decode(data: &[u8]) -> (Request, Result<(), String>) {
    let mut req = Request::default();
    let text = String::from_utf8_lossy(data); // text messages are UTF-8: the host checks
    let msg = match Raw::parse(&text) {
        Ok(msg) => msg,
        Err(_) => return (req, Err("message is not valid JSON".into())),
    };
    match msg.kind() {
        Type::Object | Type::Null => {}
        _ => return (req, Err("message must be a JSON object".into())),
    }
    let mut wrong_type = None;
    for (key, value) in msg.entries() {
        let i = match FIELDS.iter().position(|f| key_matches(&key, f)) {
            Some(i) => i,
            None => continue, // unknown fields are ignored
        };
        match value.as_str() {
            Some(s) => *req.field(i) = s,
            None if value.is_null() => {}
            None => {
                wrong_type.get_or_insert(FIELDS[i]);
            }
        }
    }
    if let Some(field) = wrong_type {
        return (req, Err(format!("field {} must be a string", go_quote(field))));
    }
    if req.action.is_empty() {
        return (req, Err("missing action".into()));
    }
    (req, Ok(()))
}

fn check_room(room: &str) -> Result<(), String> {
    if room.is_empty() {
        Err("missing room".into())
    } else if room.len() > MAX_ROOM {
        Err(format!("room name longer than {} bytes", MAX_ROOM))
    } else if has_control(room) {
        Err("room name contains control characters".into())
    } else {
        Ok(())
    }
}

fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        Err("missing user".into())
    } else if user.len() > MAX_USER {
        Err(format!("user name longer than {} bytes", MAX_USER))
    } else if has_control(user) {
        Err("user name contains control characters".into())
    } else {
        Ok(())
    }
}

fn check_text(text: &str, max_text: i64) -> Result<(), String> {
    if text.is_empty() {
        Err("missing text".into())
    } else if text.len() as u64 > max_text as u64 {
        Err(format!("text longer than {} bytes", max_text))
    } else {
        Ok(())
    }
}

/// The client's error for a host call that failed.
fn host_error(what: &str, err: Error) -> String {
    wasmsock::log(Level::Warn, &format!("chat: {}: {}", what, err));
    if err == Error::NotSupported {
        return format!("{} failed: the host does not support groups", what);
    }
    format!("{} failed: {}", what, err)
}

/// Sends a message to c. A failure means c is going away; it is only logged.
fn send(c: Conn, msg: &str) {
    if let Err(e) = c.send_text(msg) {
        wasmsock::log(Level::Debug, &format!("chat: send to {}: {}", c, e));
    }
}

/// Sends an error reply to c; action is "" when the request had none.
fn send_error(c: Conn, action: &str, msg: &str) {
    let payload = Object::new().str("message", msg).str_nonempty("action", action).finish();
    send(c, &Object::new().str("type", "error").raw("payload", &payload).finish());
}

/// Sends a message to the members of a room, except the connection `except` (the one being
/// handled, whose namespace the room is looked up in).
fn broadcast(room: &str, ev: Event, except: Conn) {
    let group = format!("{}{}", ROOM_GROUP_PREFIX, room);
    if let Err(e) = wasmsock::broadcast(&group, Kind::Text, ev.encode().as_bytes(), Some(except)) {
        wasmsock::log(Level::Warn, &format!("chat: broadcast to room {}: {}", room, e));
    }
}

/// Joins c to a room, answers "joined" and tells the other members. Joining a room again
/// answers "joined" again but announces nothing.
fn join(c: Conn, s: &mut Session, req: &Request) -> Result<(), String> {
    check_room(&req.room)?;
    let joined = Event { action: "joined", room: &req.room, user: &s.name, ..Event::default() };
    if s.rooms.contains(&req.room) {
        send(c, &joined.encode());
        return Ok(());
    }
    c.join(&format!("{}{}", ROOM_GROUP_PREFIX, req.room)).map_err(|e| host_error("join", e))?;
    s.rooms.insert(req.room.clone());
    send(c, &joined.encode());
    broadcast(
        &req.room,
        Event { action: "user_joined", room: &req.room, user: &s.name, ..Event::default() },
        c,
    );
    Ok(())
}

/// Removes c from a room, answers "left" and tells the remaining members.
fn leave(c: Conn, s: &mut Session, req: &Request) -> Result<(), String> {
    check_room(&req.room)?;
    if !s.rooms.contains(&req.room) && !s.restored {
        return Err(format!("not in room {}", go_quote(&req.room)));
    }
    c.leave(&format!("{}{}", ROOM_GROUP_PREFIX, req.room)).map_err(|e| host_error("leave", e))?;
    s.rooms.remove(&req.room);
    send(c, &Event { action: "left", room: &req.room, ..Event::default() }.encode());
    broadcast(
        &req.room,
        Event { action: "user_left", room: &req.room, user: &s.name, ..Event::default() },
        c,
    );
    Ok(())
}

/// Relays a message to the other members of a room the sender is in. The sender gets no copy.
fn send_message(c: Conn, s: &mut Session, req: &Request, max_text: i64) -> Result<(), String> {
    check_room(&req.room)?;
    check_text(&req.text, max_text)?;
    if !s.rooms.contains(&req.room) {
        if !s.restored {
            return Err(format!("not in room {}: join it first", go_quote(&req.room)));
        }
        // After a reload or restart the host still has the connection in the room's group, but
        // this instance forgot it. Joining again is harmless and restores the list.
        c.join(&format!("{}{}", ROOM_GROUP_PREFIX, req.room)).map_err(|e| host_error("join", e))?;
        s.rooms.insert(req.room.clone());
    }
    let ev = Event {
        action: "receive_message",
        room: &req.room,
        from: &s.name,
        text: &req.text,
        ..Event::default()
    };
    broadcast(&req.room, ev, c);
    Ok(())
}

/// Sends a private message to every connection of a user (in the sender's namespace), except
/// the sending connection itself.
fn send_to_user(c: Conn, s: &mut Session, req: &Request, max_text: i64) -> Result<(), String> {
    check_user(&req.user)?;
    check_text(&req.text, max_text)?;
    let ev = Event {
        action: "receive_message",
        from: &s.name,
        to: &req.user,
        text: &req.text,
        ..Event::default()
    };
    // The except argument is the sender: the host looks the group up in its namespace.
    let n = wasmsock::send_to_user(&req.user, Kind::Text, ev.encode().as_bytes(), Some(c))
        .map_err(|e| host_error("send to user", e))?;
    wasmsock::log(
        Level::Debug,
        &format!("chat: private message to {} reached {} connections", req.user, n),
    );
    Ok(())
}

/// Answers with the names of the users in a room (presence: the host knows the members of a
/// group, whichever instance serves them). Anyone may ask, member of the room or not. A user
/// with two connections in the room is named once; an anonymous connection goes by "anon-<id>".
fn who(c: Conn, req: &Request) -> Result<(), String> {
    check_room(&req.room)?;
    let group = format!("{}{}", ROOM_GROUP_PREFIX, req.room);
    let members = wasmsock::members(&group).map_err(|e| host_error("who", e))?;
    let mut users: Vec<String> = members
        .into_iter()
        .filter_map(|m| match (m.user.is_empty(), m.conn) {
            (false, _) => Some(m.user),
            (true, Some(conn)) => Some(format!("anon-{}", conn.id())),
            (true, None) => None, // an anonymous connection of another plugin: no name to give
        })
        .collect();
    users.sort();
    users.dedup();
    let list = users.iter().fold(Array::new(), |a, u| a.str(u)).finish();
    send(c, &Object::new().str("action", "members").str("room", &req.room).raw("users", &list).finish());
    Ok(())
}

impl Chat {
    /// Returns the session of c, rebuilding one if this instance has none (which should not
    /// happen: the host replays every connection before its messages).
    fn session(&mut self, c: Conn) -> &mut Session {
        self.sessions.entry(c).or_insert_with(|| Session::new(c, true))
    }

    /// Carries out one request from c.
    fn handle(&mut self, c: Conn, req: &Request) -> Result<(), String> {
        let max_text = self.max_text;
        let s = self.session(c);
        match req.action.as_str() {
            "join" => join(c, s, req),
            "leave" => leave(c, s, req),
            "send_message" => send_message(c, s, req, max_text),
            "send_to_user" => send_to_user(c, s, req, max_text),
            "who" => who(c, req),
            other => Err(format!("unknown action {}", go_quote(other))),
        }
    }
}

impl Plugin for Chat {
    /// Reads the config. Unknown keys and a `max_text` below 1 refuse the start, so a typo in
    /// host.toml is reported instead of ignored.
    fn on_start(&mut self, config: &[u8]) -> Result<(), String> {
        let bad = |why: &str| Err(format!("chat: bad config: {}", why));
        let text = String::from_utf8_lossy(config);
        if text.trim().is_empty() {
            return Ok(());
        }
        let cfg = match Raw::parse(&text) {
            Ok(cfg) => cfg,
            Err(e) => return bad(&e.to_string()),
        };
        match cfg.kind() {
            Type::Object => {}
            Type::Null => return Ok(()),
            other => return bad(&format!("the config is a JSON {}, not an object", other)),
        }
        let mut max_text = None;
        for (key, value) in cfg.entries() {
            if !key_matches(&key, "max_text") {
                return bad(&format!("unknown field {}", go_quote(&key)));
            }
            max_text = match value.kind() {
                Type::Null => None,
                _ => match value.as_i64() {
                    Some(n) => Some(n),
                    None => return bad(&format!("max_text must be an integer, not {}", value)),
                },
            };
        }
        if let Some(n) = max_text {
            if n < 1 {
                return bad("max_text must be at least 1");
            }
            self.max_text = n;
        }
        Ok(())
    }

    /// Sets up the session of a connection and, for a new one, tells the client the name it
    /// goes by. A RESUMED connection was greeted by an earlier instance: it only gets its
    /// session back (without its rooms, see `Session::restored`).
    fn on_connect(&mut self, c: Conn, resumed: bool) -> Verdict {
        let s = Session::new(c, resumed);
        if !resumed {
            send(c, &Event { action: "welcome", user: &s.name, ..Event::default() }.encode());
        }
        self.sessions.insert(c, s);
        Verdict::Accept
    }

    /// Decodes a request, carries it out, and answers an error to the sender when it fails. The
    /// connection stays open whatever the client sends.
    fn on_message(&mut self, c: Conn, m: Message) {
        if m.kind != Kind::Text {
            send_error(c, "", "binary messages are not supported: send JSON text");
            return;
        }
        let (req, mut result) = decode(m.data);
        if result.is_ok() {
            result = self.handle(c, &req);
        }
        if let Err(msg) = result {
            send_error(c, &req.action, &msg);
        }
    }

    /// Tells the other members of each room the connection was in that its user left. The host
    /// drops the connection's group memberships itself. An unknown connection (after a fault,
    /// a replacement instance may see the close of one it never saw connect) is ignored.
    fn on_close(&mut self, c: Conn, _code: u16, _reason: &str) {
        let s = match self.sessions.remove(&c) {
            Some(s) => s,
            None => return,
        };
        for room in &s.rooms {
            broadcast(
                room,
                Event { action: "user_left", room, user: &s.name, ..Event::default() },
                c,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote() {
        assert_eq!(go_quote("general"), "\"general\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("\u{1}\u{7}\t\u{7f}"), "\"\\x01\\a\\t\\x7f\"");
        assert_eq!(
            go_quote("é\u{ad}\u{a0}\u{200b}\u{2028}😀\u{e0001}"),
            "\"é\\u00ad\\u00a0\\u200b\\u2028😀\\U000e0001\""
        );
    }

    #[test]
    fn keys() {
        assert!(key_matches("action", "action"));
        assert!(key_matches("ACTION", "action"));
        assert!(key_matches("uſer", "user"));
        assert!(key_matches("\u{212A}", "k"));
        assert!(!key_matches("actions", "action"));
        assert!(!key_matches("actio", "action"));
    }

    #[test]
    fn decoding() {
        let err = |s: &str| decode(s.as_bytes()).1.err();
        assert_eq!(err(""), Some("message is not valid JSON".into()));
        assert_eq!(err("[1]"), Some("message must be a JSON object".into()));
        assert_eq!(err("null"), Some("missing action".into()));
        assert_eq!(
            err(r#"{"room":1,"action":"x"}"#),
            Some("field \"room\" must be a string".into())
        );
        let (req, res) = decode(br#"{"Action":"join","ROOM":"a","room":null,"x":{"y":[1]}}"#);
        assert!(res.is_ok());
        assert_eq!((req.action.as_str(), req.room.as_str()), ("join", "a"));
    }
}
