// The raw host functions of wasmsock ABI v1 (abi/ABI.md), imported from module "wasmsock".
//
// Plugins normally use the typed wrappers in index.ts instead. These are exported for plugins
// that want to pass their own (pointer, length) pairs, such as a static buffer, without any
// copying. Pointers are addresses in the module's memory; every function returns a status:
// >= 0 success (a count or a length where the ABI says so), < 0 an error (see Status).

/** Copies up to `cap` bytes of the current event's payload to `dst`; returns how many, 0 at the end. */
// @ts-ignore: decorator
@external("wasmsock", "msg_read")
export declare function msg_read(dst: usize, cap: i32): i32;

/** Enqueues a message of `kind` (1 text, 2 binary) to connection `conn`. */
// @ts-ignore: decorator
@external("wasmsock", "send")
export declare function send(conn: u64, kind: i32, ptr: usize, len: i32): i32;

/** Enqueues a message to every member of a group except `except` (0: nobody); returns the count. */
// @ts-ignore: decorator
@external("wasmsock", "broadcast")
export declare function broadcast(groupPtr: usize, groupLen: i32, kind: i32, ptr: usize, len: i32, except: u64): i32;

/** Adds connection `conn` to a group of its namespace. */
// @ts-ignore: decorator
@external("wasmsock", "join")
export declare function join(conn: u64, groupPtr: usize, groupLen: i32): i32;

/** Removes connection `conn` from a group of its namespace. */
// @ts-ignore: decorator
@external("wasmsock", "leave")
export declare function leave(conn: u64, groupPtr: usize, groupLen: i32): i32;

/** Starts the closing handshake of connection `conn` with a close code and a reason. */
// @ts-ignore: decorator
@external("wasmsock", "close")
export declare function close(conn: u64, code: i32, reasonPtr: usize, reasonLen: i32): i32;

/** Writes at most `cap` bytes of the value of `key` for `conn` to `dst`; returns the value's full length. */
// @ts-ignore: decorator
@external("wasmsock", "conn_get")
export declare function conn_get(conn: u64, keyPtr: usize, keyLen: i32, dst: usize, cap: i32): i32;

/** Writes a record to the host's log at `level` (0 debug, 1 info, 2 warn, 3 error). */
// @ts-ignore: decorator
@external("wasmsock", "log")
export declare function log(level: i32, ptr: usize, len: i32): i32;
