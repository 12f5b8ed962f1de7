// chat: multi-room chat with private messages, the AssemblyScript twin of plugins/chat. Clients
// speak JSON text messages: they join and leave rooms, send messages to a room, and send private
// messages to a user. plugins/chat/README.md describes the protocol message by message; this
// plugin answers every input exactly as that one does, byte for byte.
//
// Rooms are host groups named "room:<room>", so membership survives a reload or an instance
// replacement; private messages go to the host-managed group "user:<id>". The plugin itself only
// keeps, per connection, the name it uses in messages and the rooms it joined (to announce the
// user's departure when the connection closes).

import {
  Conn, Message, Kind, Status, Level, Verdict, ACCEPT,
  onStart, onConnect, onMessage, onClose,
  broadcast, sendToUser, log, errorText, stringToBytes, members,
  MAX_GROUP_NAME, USER_GROUP_PREFIX,
} from "../../assembly";
import * as json from "./json";

export * from "../../assembly/exports";

/** The longest room name, in bytes. */
const MAX_ROOM: i32 = 64;
/** The longest user name a private message may be addressed to: "user:<name>" must be a valid group name. */
const MAX_USER: i32 = MAX_GROUP_NAME - USER_GROUP_PREFIX.length;
/** The longest message text, in bytes, unless the config says otherwise. */
const DEFAULT_MAX_TEXT: i64 = 4096;
/** The prefix of a room's group. */
const ROOM_GROUP_PREFIX = "room:";

/** The longest message text accepted, in bytes; set from the config by start. */
let maxText: i64 = DEFAULT_MAX_TEXT;

/** What the plugin knows about one open connection. */
class Session {
  constructor(
    /** The sender name used in messages, as bytes: the host's user id, or "anon-<conn id>". */
    public name: Uint8Array,
    /**
     * Set when the session was rebuilt after a reload or restart (a RESUMED connect, or a message
     * from a connection this instance has not seen connect). The host kept the connection's
     * groups but this instance lost its list of rooms, so a room missing from rooms may still be
     * one the connection is in.
     */
    public restored: bool,
  ) {}
  /** The rooms the connection joined through this instance. */
  rooms: Set<string> = new Set<string>();
}

/** The session of every connection this instance handles, by connection id. */
const sessions = new Map<u64, Session>();

/** A message from a client. Fields a given action does not use are ignored. */
class Request {
  action: string = "";
  room: string = "";
  user: string = "";
  text: string = "";
}

// ---- lifecycle --------------------------------------------------------------------------------

/**
 * Reads the config: {"max_text": N}. Unknown keys, a max_text that is not an integer and a
 * max_text below 1 refuse the start, so a typo in host.toml is reported instead of ignored.
 */
function start(config: Uint8Array): string | null {
  let p = config.dataStart, n = config.length;
  let i = 0;
  while (i < n && isTrimSpace(load<u8>(p + <usize>i))) i++;
  if (i == n) return null;
  // As json.Decoder.Decode: the first JSON value counts, whatever follows it.
  if (json.scanValue(p, n, i) < 0) return "chat: bad config: not valid JSON";
  i = json.skipSpace(p, n, i);
  let kind = json.kindAt(p, i);
  if (kind == json.ValueKind.Null) return null;
  if (kind != json.ValueKind.Object) return "chat: bad config: not a JSON object";
  let value: i64 = 0;
  let set = false;
  let problem: string | null = null;
  let it = new json.Members(p, n, i);
  while (it.next()) {
    if (!json.keyMatches(it.key, "max_text")) {
      if (problem === null) problem = "unknown field " + json.goQuote(it.key);
      continue;
    }
    let vk = json.kindAt(p, it.valueAt);
    if (vk == json.ValueKind.Null) {
      set = false;
    } else if (vk == json.ValueKind.Number && parseInteger(p, n, it.valueAt)) {
      value = parsed;
      set = true;
    } else if (problem === null) {
      problem = "max_text must be an integer";
    }
  }
  if (problem !== null) return "chat: bad config: " + problem;
  if (set) {
    if (value < 1) return "chat: bad config: max_text must be at least 1";
    maxText = value;
  }
  return null;
}

/** The bytes bytes.TrimSpace would trim, for JSON produced by the host. */
function isTrimSpace(c: u8): bool {
  return c == 0x20 || (c >= 0x09 && c <= 0x0D);
}

/** The integer parseInteger read. */
let parsed: i64 = 0;

/**
 * Reads the JSON number at `i` into `parsed` if it is an integer that fits in 64 bits (as Go's
 * strconv.ParseInt sees it: no fraction, no exponent); returns whether it did.
 */
function parseInteger(p: usize, n: i32, i: i32): bool {
  let neg = load<u8>(p + <usize>i) == 0x2D;
  if (neg) i++;
  let v: u64 = 0;
  let digits = 0;
  while (i < n) {
    let c = <u32>load<u8>(p + <usize>i);
    if (c - 0x30 >= 10) break;
    let d = <u64>(c - 0x30);
    if (v > (0xFFFFFFFFFFFFFFFF - d) / 10) return false;
    v = v * 10 + d;
    digits++;
    i++;
  }
  if (digits == 0) return false;
  if (i < n) {
    let c = load<u8>(p + <usize>i);
    if (c == 0x2E || c == 0x65 || c == 0x45) return false;
  }
  if (neg) {
    if (v > 0x8000000000000000) return false;
    parsed = -(<i64>v);
  } else {
    if (v > 0x7FFFFFFFFFFFFFFF) return false;
    parsed = <i64>v;
  }
  return true;
}

/**
 * Sets up the session of a connection and, for a new one, tells the client the name it goes by.
 * A RESUMED connection was greeted by an earlier instance: it only gets its session back
 * (without its rooms, see Session.restored).
 */
function connect(c: Conn, resumed: bool): Verdict {
  let s = newSession(c, resumed);
  sessions.set(c.id, s);
  if (!resumed) {
    send(c, event("welcome", "", s.name, null, "", ""));
  }
  return ACCEPT;
}

/** Makes the session of connection c. */
function newSession(c: Conn, restored: bool): Session {
  let name = c.getBytes("user");
  if (name === null || name.length == 0) name = stringToBytes("anon-" + c.id.toString());
  return new Session(name, restored);
}

/**
 * Returns the session of c, rebuilding one if this instance has none (which should not happen:
 * the host replays every connection before its messages).
 */
function sessionOf(c: Conn): Session {
  if (sessions.has(c.id)) return sessions.get(c.id);
  let s = newSession(c, true);
  sessions.set(c.id, s);
  return s;
}

/**
 * Tells the other members of each room the connection was in that its user left. The host drops
 * the connection's group memberships itself. An unknown connection (after a fault, the
 * replacement instance may get on_close for one it never saw) is ignored.
 */
function close(c: Conn, code: i32, reason: string): void {
  if (!sessions.has(c.id)) return;
  let s = sessions.get(c.id);
  sessions.delete(c.id);
  let rooms = s.rooms.values();
  rooms.sort(compareCodePoints);
  for (let k = 0; k < rooms.length; k++) {
    let room = rooms[k];
    broadcastRoom(room, event("user_left", room, s.name, null, "", ""), c);
  }
}

/**
 * Orders strings by code point, which is the byte order of their UTF-8 forms (Go sorts room
 * names as bytes). UTF-16 code units order differently only when a surrogate meets U+E000-U+FFFF.
 */
function compareCodePoints(a: string, b: string): i32 {
  let n = min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    let x = <i32>a.charCodeAt(k), y = <i32>b.charCodeAt(k);
    if (x == y) continue;
    if (x >= 0xD800) x += x >= 0xE000 ? -0x800 : 0x2000;
    if (y >= 0xD800) y += y >= 0xE000 ? -0x800 : 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

// ---- requests ---------------------------------------------------------------------------------

/**
 * Decodes a request, carries it out, and answers an error to the sender when it fails. The
 * connection stays open whatever the client sends.
 */
function message(c: Conn, m: Message): void {
  if (m.kind != Kind.Text) {
    sendError(c, "", "binary messages are not supported: send JSON text");
    return;
  }
  let req = new Request();
  let err = decode(m.data, req);
  if (err === null) err = handle(c, sessionOf(c), req);
  if (err !== null) sendError(c, req.action, err);
}

/**
 * Parses a request as json.Unmarshal into a struct of four string fields would, and checks that
 * it names an action. The request has the action filled in whenever it could be read, even when
 * the result is an error: a field of the wrong type does not stop the others being read.
 */
function decode(data: Uint8Array, req: Request): string | null {
  let p = data.dataStart, n = data.length;
  if (!json.valid(p, n)) return "message is not valid JSON";
  let i = json.skipSpace(p, n, 0);
  let kind = json.kindAt(p, i);
  if (kind == json.ValueKind.Object) {
    let badField: string | null = null;
    let it = new json.Members(p, n, i);
    while (it.next()) {
      let field = fieldOf(it.key);
      if (field == null) continue;
      let vk = json.kindAt(p, it.valueAt);
      if (vk == json.ValueKind.Null) continue; // null leaves a string field as it is
      if (vk != json.ValueKind.String) {
        if (badField === null) badField = field;
        continue;
      }
      let v = json.readString(p, n, it.valueAt);
      if (field == "action") req.action = v;
      else if (field == "room") req.room = v;
      else if (field == "user") req.user = v;
      else req.text = v;
    }
    if (badField !== null) return "field " + json.goQuote(badField) + " must be a string";
  } else if (kind != json.ValueKind.Null) { // null decodes to nothing
    return "message must be a JSON object";
  }
  if (req.action.length == 0) return "missing action";
  return null;
}

/** The request field an object key selects, or null. */
function fieldOf(key: string): string | null {
  if (json.keyMatches(key, "action")) return "action";
  if (json.keyMatches(key, "room")) return "room";
  if (json.keyMatches(key, "user")) return "user";
  if (json.keyMatches(key, "text")) return "text";
  return null;
}

/** Carries out one request from c; returns the error to answer, or null. */
function handle(c: Conn, s: Session, req: Request): string | null {
  if (req.action == "join") return join(c, s, req);
  if (req.action == "leave") return leave(c, s, req);
  if (req.action == "send_message") return sendMessage(c, s, req);
  if (req.action == "send_to_user") return sendPrivate(c, s, req);
  if (req.action == "who") return who(c, req);
  return "unknown action " + json.goQuote(req.action);
}

/**
 * Answers with the names of the users in a room (presence: the host knows the members of a
 * group, whichever instance serves them). Anyone may ask, member of the room or not. A user with
 * two connections in the room is named once; an anonymous connection goes by "anon-<id>".
 */
function who(c: Conn, req: Request): string | null {
  let err = checkRoom(req.room);
  if (err !== null) return err;
  let ms = members(ROOM_GROUP_PREFIX + req.room);
  if (ms === null) return hostError("who", Status.InvalidArgument);
  let users = new Array<string>();
  for (let i = 0; i < ms.length; i++) {
    let m = ms[i];
    let name = m.user;
    if (name.length == 0) {
      let mc = m.conn;
      if (mc === null) continue; // an anonymous connection of another plugin: no name to give
      name = "anon-" + mc.id.toString();
    }
    users.push(name);
  }
  users.sort(compareBytes);
  let w = new json.Writer().raw("{\"action\":\"members\",").member(true, "room", req.room).raw(",\"users\":[");
  let first = true;
  for (let i = 0; i < users.length; i++) {
    if (i > 0 && users[i] == users[i - 1]) continue; // each user once
    if (!first) w.raw(",");
    w.string(users[i]);
    first = false;
  }
  send(c, w.raw("]}").toBytes());
  return null;
}

/** Orders strings by their UTF-8 bytes, as Go's sort does. */
function compareBytes(a: string, b: string): i32 {
  let x = String.UTF8.encode(a), y = String.UTF8.encode(b);
  let n = min(x.byteLength, y.byteLength);
  for (let i = 0; i < n; i++) {
    let d = <i32>load<u8>(changetype<usize>(x) + i) - <i32>load<u8>(changetype<usize>(y) + i);
    if (d != 0) return d;
  }
  return x.byteLength - y.byteLength;
}

/**
 * Adds c to a room, answers "joined" and tells the other members. Joining a room again answers
 * "joined" again but announces nothing.
 */
function join(c: Conn, s: Session, req: Request): string | null {
  let err = checkRoom(req.room);
  if (err !== null) return err;
  if (s.rooms.has(req.room)) {
    send(c, event("joined", req.room, s.name, null, "", ""));
    return null;
  }
  let st = c.join(ROOM_GROUP_PREFIX + req.room);
  if (st < 0) return hostError("join", st);
  s.rooms.add(req.room);
  send(c, event("joined", req.room, s.name, null, "", ""));
  broadcastRoom(req.room, event("user_joined", req.room, s.name, null, "", ""), c);
  return null;
}

/** Removes c from a room, answers "left" and tells the remaining members. */
function leave(c: Conn, s: Session, req: Request): string | null {
  let err = checkRoom(req.room);
  if (err !== null) return err;
  if (!s.rooms.has(req.room) && !s.restored) return "not in room " + json.goQuote(req.room);
  let st = c.leave(ROOM_GROUP_PREFIX + req.room);
  if (st < 0) return hostError("leave", st);
  if (s.rooms.has(req.room)) s.rooms.delete(req.room);
  send(c, event("left", req.room, null, null, "", ""));
  broadcastRoom(req.room, event("user_left", req.room, s.name, null, "", ""), c);
  return null;
}

/**
 * Relays a message to the other members of a room the sender is in. The sender gets no copy:
 * its client shows the message itself.
 */
function sendMessage(c: Conn, s: Session, req: Request): string | null {
  let err = checkRoom(req.room);
  if (err === null) err = checkText(req.text);
  if (err !== null) return err;
  if (!s.rooms.has(req.room)) {
    if (!s.restored) return "not in room " + json.goQuote(req.room) + ": join it first";
    // After a reload or restart the host still has the connection in the room's group, but this
    // instance forgot it. Joining again is harmless and restores the list.
    let st = c.join(ROOM_GROUP_PREFIX + req.room);
    if (st < 0) return hostError("join", st);
    s.rooms.add(req.room);
  }
  broadcastRoom(req.room, event("receive_message", req.room, null, s.name, "", req.text), c);
  return null;
}

/**
 * Sends a private message to every connection of a user (in the sender's namespace), except
 * the sending connection itself.
 */
function sendPrivate(c: Conn, s: Session, req: Request): string | null {
  let err = checkUser(req.user);
  if (err === null) err = checkText(req.text);
  if (err !== null) return err;
  let data = event("receive_message", "", null, s.name, req.user, req.text);
  // The group is looked up in the sender's namespace; except leaves the sending connection out.
  let n = sendToUser(req.user, Kind.Text, data, c);
  if (n < 0) return hostError("send to user", n);
  log(Level.Debug, "chat: private message to " + req.user + " reached " + n.toString() + " connections");
  return null;
}

// ---- checks -----------------------------------------------------------------------------------

/** What is wrong with a room name, if anything. */
function checkRoom(room: string): string | null {
  if (room.length == 0) return "missing room";
  if (String.UTF8.byteLength(room) > MAX_ROOM) return "room name longer than " + MAX_ROOM.toString() + " bytes";
  if (hasControl(room)) return "room name contains control characters";
  return null;
}

/** What is wrong with the addressee of a private message, if anything. */
function checkUser(user: string): string | null {
  if (user.length == 0) return "missing user";
  if (String.UTF8.byteLength(user) > MAX_USER) return "user name longer than " + MAX_USER.toString() + " bytes";
  if (hasControl(user)) return "user name contains control characters";
  return null;
}

/** What is wrong with a message text, if anything. */
function checkText(text: string): string | null {
  if (text.length == 0) return "missing text";
  if (<i64>String.UTF8.byteLength(text) > maxText) return "text longer than " + maxText.toString() + " bytes";
  return null;
}

/** Reports whether s holds a control character (U+0000-U+001F, U+007F-U+009F), which a group name may not. */
function hasControl(s: string): bool {
  for (let k = 0; k < s.length; k++) {
    let c = s.charCodeAt(k);
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) return true;
  }
  return false;
}

/** The client's error for a host call that failed. */
function hostError(what: string, status: i32): string {
  log(Level.Warn, "chat: " + what + ": " + errorText(status));
  if (status == Status.NotSupported) return what + " failed: the host does not support groups";
  return what + " failed: " + errorText(status);
}

// ---- output -----------------------------------------------------------------------------------

/**
 * Renders an event, {"action","room","user","from","to","text"} in that order, leaving out empty
 * fields (user and from are names, kept as the bytes the host gave).
 */
function event(action: string, room: string, user: Uint8Array | null, from: Uint8Array | null, to: string, text: string): Uint8Array {
  let w = new json.Writer().raw("{").member(true, "action", action);
  if (room.length > 0) w.member(false, "room", room);
  if (user !== null && user.length > 0) w.raw(",\"user\":").stringBytes(user.dataStart, user.length);
  if (from !== null && from.length > 0) w.raw(",\"from\":").stringBytes(from.dataStart, from.length);
  if (to.length > 0) w.member(false, "to", to);
  if (text.length > 0) w.member(false, "text", text);
  return w.raw("}").toBytes();
}

/** Sends a message to c. A failure means c is going away; it is only logged. */
function send(c: Conn, data: Uint8Array): void {
  let st = c.send(Kind.Text, data);
  if (st < 0) log(Level.Debug, "chat: send to " + c.id.toString() + ": " + errorText(st));
}

/** Sends an error reply to c; action is "" when the request had none. */
function sendError(c: Conn, action: string, msg: string): void {
  let w = new json.Writer().raw("{\"type\":\"error\",\"payload\":{").member(true, "message", msg);
  if (action.length > 0) w.member(false, "action", action);
  send(c, w.raw("}}").toBytes());
}

/**
 * Sends a message to the members of a room, except the connection except (whose namespace is
 * the one the room is looked up in).
 */
function broadcastRoom(room: string, data: Uint8Array, except: Conn): void {
  let n = broadcast(ROOM_GROUP_PREFIX + room, Kind.Text, data, except);
  if (n < 0) log(Level.Warn, "chat: broadcast to room " + room + ": " + errorText(n));
}

onStart(start);
onConnect(connect);
onMessage(message);
onClose(close);
