// Connections, messages, groups and logging: the typed side of the host functions.

import * as env from "./env";
import { Kind, Level, Status, statusText, validCloseCode, USER_GROUP_PREFIX } from "./abi";
import { decodeUTF8, encodeUTF8 } from "./utf8";

/** Reports whether a status (or a count returned by `broadcast`) is an error: any negative value. */
// @ts-ignore: decorator
@inline
export function isError(status: i32): bool {
  return status < 0;
}

/** Describes a failed status as an error message, as in "wasmsock: unknown connection". */
export function errorText(status: i32): string {
  return "wasmsock: " + statusText(status);
}

/** The size of the buffer `Conn.get` tries first; longer values take a second call. */
// @ts-ignore: decorator
@inline const GET_BUF_SIZE: i32 = 128;

const getBuf: usize = memory.data(GET_BUF_SIZE);

/**
 * One complete WebSocket message from a client. `data` is a fresh buffer that belongs to the
 * handler: it may keep it.
 */
export class Message {
  constructor(
    /** Text or binary. A text message is always valid UTF-8 (the host checks it). */
    public readonly kind: Kind,
    /** The message's bytes. */
    public readonly data: Uint8Array,
  ) {}

  /** Decodes the data as UTF-8 into a new string (see `decodeUTF8` for bytes that are not). */
  text(): string {
    return decodeUTF8(this.data.dataStart, this.data.length);
  }
}

/**
 * A WebSocket connection, known by the id the host gave it. Ids are non-zero and never reused,
 * so a Conn (or its `id`) can be kept and used later: once the connection has closed, every
 * method returns `Status.UnknownConn` (or reports nothing found). Two Conn objects for the same
 * connection are different objects: compare and key maps by `id`.
 *
 * A plugin may act on any open connection of its own, not only the one whose event it handles,
 * but only within that connection's namespace: to the host, a connection of another namespace
 * does not exist (`UnknownConn`).
 *
 * Methods that ask the host to act return a `Status`: `Status.OK`, or a negative error.
 */
export class Conn {
  constructor(
    /** The connection id: unsigned, 64 bits, may exceed 2^53. */
    public readonly id: u64,
  ) {}

  /**
   * Sends a message of the given kind to the connection. It returns once the host has queued the
   * message, not when the client has it. Text must be valid UTF-8 (else `InvalidArgument`).
   * Errors include `Closed` (the connection is closing), `UnknownConn` (it has gone),
   * `Forbidden` (a receive-only route) and `TooLarge` (over the route's `max_message_bytes`).
   */
  send(kind: Kind, data: Uint8Array): Status {
    if (kind != Kind.Text && kind != Kind.Binary) return Status.InvalidArgument;
    return <Status>env.send(this.id, kind, data.dataStart, data.length);
  }

  /** Sends `s` as a text message (see `send`). Unpaired surrogates become U+FFFD. */
  sendText(s: string): Status {
    let b = encodeUTF8(s);
    return <Status>env.send(this.id, Kind.Text, changetype<usize>(b), b.byteLength);
  }

  /** Sends `data` as a binary message (see `send`). */
  sendBinary(data: Uint8Array): Status {
    return <Status>env.send(this.id, Kind.Binary, data.dataStart, data.length);
  }

  /**
   * Sends the `len` bytes at `ptr` in the module's memory (a static buffer, say) as a message,
   * without copying them first. The host copies them before it returns.
   */
  sendRaw(kind: Kind, ptr: usize, len: i32): Status {
    if (kind != Kind.Text && kind != Kind.Binary) return Status.InvalidArgument;
    return <Status>env.send(this.id, kind, ptr, len);
  }

  /**
   * Starts the closing handshake with a close code and a reason. The code must be one an endpoint
   * may send (`validCloseCode`), else the result is `InvalidCode`; the host cuts the reason to
   * 123 bytes on a character boundary. Messages already sent go out first. The `onClose` handler
   * runs once the handshake completes. Closing a connection that is already closing gives
   * `Closed`.
   */
  close(code: i32, reason: string = ""): Status {
    if (!validCloseCode(code)) return Status.InvalidCode;
    let b = encodeUTF8(reason);
    return <Status>env.close(this.id, code, changetype<usize>(b), b.byteLength);
  }

  /**
   * Returns the raw value the host holds for `key` about the connection, or null when there is
   * none (the key is unknown or absent, or the connection has gone). The keys (ABI.md,
   * "conn_get keys") are:
   *
   *     id            the connection id in decimal
   *     route         the path of the route that accepted the connection
   *     path          the request path of the handshake, without the query
   *     query         the raw query string, without the '?'
   *     query.NAME    the first value of query parameter NAME, percent-decoded
   *     header.NAME   the first value of request header NAME
   *     remote_addr   the client's address, host:port
   *     subprotocol   the WebSocket subprotocol selected, if any
   *     user          the authenticated user id, if any
   *     namespace     the connection's namespace ("" for the default one)
   */
  getBytes(key: string): Uint8Array | null {
    let k = encodeUTF8(key);
    let n = env.conn_get(this.id, changetype<usize>(k), k.byteLength, getBuf, GET_BUF_SIZE);
    if (n < 0) return null;
    if (n <= GET_BUF_SIZE) {
      let out = new Uint8Array(n);
      memory.copy(out.dataStart, getBuf, <usize>n);
      return out;
    }
    // The full length came back: ask again with room for all of it. Values never change, but a
    // bounded loop guards against a host whose answer does.
    for (let tries = 0; tries < 3; tries++) {
      let out = new Uint8Array(n);
      let m = env.conn_get(this.id, changetype<usize>(k), k.byteLength, out.dataStart, n);
      if (m < 0) return null;
      if (m <= n) return out.subarray(0, m);
      n = m;
    }
    return null;
  }

  /**
   * Returns the value for `key` (see `getBytes`) decoded as UTF-8, or null when there is none.
   * Query parameters and headers are bytes the client chose: anything that is not UTF-8 becomes
   * U+FFFD; use `getBytes` to see the bytes as they are.
   */
  get(key: string): string | null {
    let b = this.getBytes(key);
    if (b === null) return null;
    return decodeUTF8(b.dataStart, b.length);
  }

  /** Returns the value for `key`, or "" when there is none. */
  private getOrEmpty(key: string): string {
    let v = this.get(key);
    return v === null ? "" : v;
  }

  /** The path of the route that accepted the connection. */
  route(): string { return this.getOrEmpty("route"); }

  /** The request path of the handshake, as the client sent it. */
  path(): string { return this.getOrEmpty("path"); }

  /** The raw query string of the handshake, without the '?'. */
  rawQuery(): string { return this.getOrEmpty("query"); }

  /**
   * The value of query parameter `name`, or "" when absent. Use `get("query." + name)` to tell an
   * absent parameter (null) from an empty one.
   */
  query(name: string): string { return this.getOrEmpty("query." + name); }

  /** The value of request header `name` (any case), or "" when absent. */
  header(name: string): string { return this.getOrEmpty("header." + name); }

  /** The user id the host authenticated the connection as, or "" when there is none. */
  user(): string { return this.getOrEmpty("user"); }

  /** The connection's namespace; "" is the default namespace. */
  namespace(): string { return this.getOrEmpty("namespace"); }

  /** The client's address, host:port. */
  remoteAddr(): string { return this.getOrEmpty("remote_addr"); }

  /** The WebSocket subprotocol selected at the handshake, or "" when there is none. */
  subprotocol(): string { return this.getOrEmpty("subprotocol"); }

  /**
   * Adds the connection to `group` in its namespace. Joining a group the connection is already in
   * does nothing. Membership is host state: it survives reloads and instance replacements, and
   * ends when the connection starts closing. Errors: `InvalidArgument` for a bad name (empty,
   * over 128 bytes, a control character, or a "user:" group, which the host manages),
   * `UnknownConn`, `Closed`.
   */
  join(group: string): Status {
    let g = encodeUTF8(group);
    return <Status>env.join(this.id, changetype<usize>(g), g.byteLength);
  }

  /** Removes the connection from `group`. Leaving a group it is not in does nothing. */
  leave(group: string): Status {
    let g = encodeUTF8(group);
    return <Status>env.leave(this.id, changetype<usize>(g), g.byteLength);
  }

  /**
   * Arms the connection's timer `name` to fire once, after `ms` milliseconds: the `onTimer`
   * handler then runs with this connection, in order with its other events. Arming a name again
   * replaces its timer; the connection's timers end with it. Errors: `InvalidArgument` (a bad
   * name: 1-64 bytes; a negative delay), `Limit` (the plugin has MAX_TIMERS timers armed),
   * `UnknownConn`.
   */
  after(ms: i32, name: string): Status {
    return setTimer(this.id, name, ms, 0);
  }

  /** Arms the connection's timer `name` to fire every `ms` milliseconds, the first after `ms`. */
  every(ms: i32, name: string): Status {
    return ms > 0 ? setTimer(this.id, name, ms, ms) : Status.InvalidArgument;
  }

  /** Disarms the connection's timer `name`; `NotFound` if it is not armed. */
  cancelTimer(name: string): Status {
    return cancelTimer_(this.id, name);
  }

  /**
   * Stores `data` (at most MAX_ATTACHMENT, 2048 bytes) as the connection's attachment: the host
   * keeps a copy until the connection closes, and a new instance gets it back with `attachment()`
   * when it takes the connection over (in `onConnect` with `resumed`). An empty array removes it.
   * `TooLarge` over the limit.
   */
  setAttachment(data: Uint8Array): Status {
    return <Status>env.attach_set(this.id, data.dataStart, data.length);
  }

  /** Returns the connection's attachment (empty when it has none), or null when the host fails. */
  attachment(): Uint8Array | null {
    let buf = new Uint8Array(256);
    for (let i = 0; i < 4; i++) {
      let n = env.attach_get(this.id, buf.dataStart, buf.length);
      if (n < 0) return null;
      if (n <= buf.length) return buf.subarray(0, n);
      buf = new Uint8Array(n);
    }
    return null;
  }

  /** Formats the connection as "conn <id>", for logs. */
  toString(): string {
    return "conn " + this.id.toString();
  }
}

/**
 * Sends a message to every member of `group` except `except` (null: nobody), and returns how
 * many connections the host queued it for, or a negative `Status`. An empty or unknown group
 * reaches nobody: 0, not an error.
 *
 * Groups belong to a namespace, and nothing crosses namespaces: the group is the one in the
 * namespace of the connection whose event is being handled (the default namespace "" in
 * `onStart`), and `except`, when given, must be a connection of that namespace (else
 * `UnknownConn`). Members that are closing, on a receive-only route, or whose route does not
 * allow a message this large, are skipped and not counted.
 */
export function broadcast(group: string, kind: Kind, data: Uint8Array, except: Conn | null = null): i32 {
  if (kind != Kind.Text && kind != Kind.Binary) return Status.InvalidArgument;
  let g = encodeUTF8(group);
  let ex: u64 = except === null ? 0 : except.id;
  return env.broadcast(changetype<usize>(g), g.byteLength, kind, data.dataStart, data.length, ex);
}

/** Broadcasts `text` as a text message; see `broadcast`. */
export function broadcastText(group: string, text: string, except: Conn | null = null): i32 {
  let g = encodeUTF8(group);
  let b = encodeUTF8(text);
  let ex: u64 = except === null ? 0 : except.id;
  return env.broadcast(changetype<usize>(g), g.byteLength, Kind.Text, changetype<usize>(b), b.byteLength, ex);
}

/**
 * Sends a message to every connection of user `user` except `except`: a `broadcast` to the group
 * "user:<user>", which the host keeps for every connection with a user id. Like `broadcast`, it
 * reaches only the user's connections in the namespace of the connection being handled, and
 * returns a count or a negative `Status`.
 */
export function sendToUser(user: string, kind: Kind, data: Uint8Array, except: Conn | null = null): i32 {
  return broadcast(USER_GROUP_PREFIX + user, kind, data, except);
}

/**
 * Writes `msg` to the host's log at `level`, tagged with the plugin's name and, during an event
 * of a connection, its id. It never fails loudly: a record the host refuses is dropped.
 */
export function log(level: Level, msg: string): void {
  let b = encodeUTF8(msg);
  env.log(level, changetype<usize>(b), b.byteLength);
}

/** Logs `msg` at debug level. */
export function debug(msg: string): void { log(Level.Debug, msg); }

/** Logs `msg` at info level. */
export function info(msg: string): void { log(Level.Info, msg); }

/** Logs `msg` at warn level. */
export function warn(msg: string): void { log(Level.Warn, msg); }

/** Logs `msg` at error level. */
export function error(msg: string): void { log(Level.Error, msg); }

function setTimer(conn: u64, name: string, ms: i32, every: i32): Status {
  let n = encodeUTF8(name);
  return <Status>env.timer_set(conn, changetype<usize>(n), n.byteLength, ms, every);
}

function cancelTimer_(conn: u64, name: string): Status {
  let n = encodeUTF8(name);
  return <Status>env.timer_cancel(conn, changetype<usize>(n), n.byteLength);
}

/**
 * Arms the plugin timer `name` to fire once, after `ms` milliseconds: the `onTimer` handler then
 * runs with a null connection, on the first instance, in the default namespace. Arming a name
 * again replaces its timer. Plugin timers survive reloads.
 */
export function after(ms: i32, name: string): Status {
  return setTimer(0, name, ms, 0);
}

/** Arms the plugin timer `name` to fire every `ms` milliseconds, the first time after `ms`. */
export function every(ms: i32, name: string): Status {
  return ms > 0 ? setTimer(0, name, ms, ms) : Status.InvalidArgument;
}

/** Disarms the plugin timer `name`; `NotFound` if it is not armed. */
export function cancelTimer(name: string): Status {
  return cancelTimer_(0, name);
}

/** A member of a group (presence). */
export class Member {
  constructor(
    /** Its connection; null for a connection another plugin serves. */
    public conn: Conn | null,
    /** Its user id; "" for an anonymous connection. */
    public user: string,
  ) {}
}

/**
 * Returns how many connections are in `group`, in the namespace of the connection whose event is
 * being handled (0 for an empty or unknown group), or a negative `Status` (`InvalidArgument` for
 * a bad group name). A "user:<id>" group's size is how many connections that user has open.
 */
export function groupSize(group: string): i32 {
  let g = encodeUTF8(group);
  return env.group_size(changetype<usize>(g), g.byteLength);
}

/**
 * Returns the members of `group`, in the namespace of the connection whose event is being
 * handled, sorted by connection id; null when the host refuses (a bad group name).
 */
export function members(group: string): Member[] | null {
  let g = encodeUTF8(group);
  let buf = new Uint8Array(1024);
  for (let i = 0; i < 8; i++) {
    let n = env.group_members(changetype<usize>(g), g.byteLength, buf.dataStart, buf.length);
    if (n < 0) return null;
    if (n <= buf.length) return decodeMembers(buf.dataStart, n);
    buf = new Uint8Array(n); // the group grew, or the first buffer was short: ask again
  }
  return null;
}

/** Reads group_members' records: a little-endian u64 id, a one-byte length and the user id. */
function decodeMembers(p: usize, n: i32): Member[] {
  let out = new Array<Member>();
  let i = 0;
  while (n - i >= 9) {
    let id = load<u64>(p + <usize>i);
    let u = <i32>load<u8>(p + <usize>i + 8);
    if (n - i < 9 + u) break;
    out.push(new Member(id == 0 ? null : new Conn(id), decodeUTF8(p + <usize>i + 9, u)));
    i += 9 + u;
  }
  return out;
}
