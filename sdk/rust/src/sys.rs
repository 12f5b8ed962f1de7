//! The raw ABI: the host functions exactly as the host exports them, and the numbers of ABI
//! version 1.
//!
//! Everything here mirrors `abi/ABI.md` (the contract) one to one. Plugins normally use the safe
//! API of the crate root ([`Conn`](crate::Conn), [`broadcast`](crate::broadcast), [`log`](crate::log),
//! ...) instead; this module is for what that API does not cover, and for reading alongside the
//! specification.
//!
//! The functions are `unsafe`: every `(ptr, len)` pair must describe memory of this module, and
//! a destination pair must be writable. The host checks every range and answers
//! [`ERR_BAD_POINTER`] rather than trapping, but a range that is inside the memory and not what
//! the caller meant (a dangling pointer, say) is still a bug the host cannot see.
//!
//! Off `wasm32` (for `cargo test` and `cargo doc` on the build machine) there is no host: every
//! function returns [`ERR_NOT_SUPPORTED`] and writes nothing.

/// The ABI version this crate implements; the marker export `wasmsock_abi_v1` declares it.
pub const ABI_VERSION: u32 = 1;

/// Success: a host function's status `>= 0` (a count or a length where the function says so).
pub const OK: i32 = 0;
/// A `(ptr, len)` range is outside the guest's memory.
pub const ERR_BAD_POINTER: i32 = -1;
/// No open connection of this plugin has that id.
pub const ERR_UNKNOWN_CONN: i32 = -2;
/// A close code that RFC 6455 §7.4 does not let an endpoint send.
pub const ERR_INVALID_CODE: i32 = -3;
/// The host does not implement the function (yet).
pub const ERR_NOT_SUPPORTED: i32 = -4;
/// `conn_get`: no value for that key.
pub const ERR_NOT_FOUND: i32 = -5;
/// A bad kind, level, group name, key length, or bytes that are not UTF-8 where text is required.
pub const ERR_INVALID_ARGUMENT: i32 = -6;
/// The connection is closing; nothing more can be sent to it.
pub const ERR_CLOSED: i32 = -7;
/// The route forbids it (`send` on a receive-only route).
pub const ERR_FORBIDDEN: i32 = -8;
/// `msg_read` during a call that carries no payload.
pub const ERR_NO_MESSAGE: i32 = -9;
/// A message over the route's `max_message_bytes`.
pub const ERR_TOO_LARGE: i32 = -10;

/// Message kind: UTF-8 text (the RFC 6455 opcode of a text frame).
pub const KIND_TEXT: i32 = 1;
/// Message kind: arbitrary bytes (the RFC 6455 opcode of a binary frame).
pub const KIND_BINARY: i32 = 2;

/// `on_connect` flag: the connection was already open and is being replayed to this instance.
pub const FLAG_RESUMED: i32 = 1;

/// Log level of `log`: debug.
pub const LOG_DEBUG: i32 = 0;
/// Log level of `log`: info.
pub const LOG_INFO: i32 = 1;
/// Log level of `log`: warn.
pub const LOG_WARN: i32 = 2;
/// Log level of `log`: error.
pub const LOG_ERROR: i32 = 3;

/// The longest close reason, in bytes (a close frame's payload is at most 125 bytes, the code
/// takes 2).
pub const MAX_CLOSE_REASON: usize = 123;
/// The longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 128;
/// The longest key `conn_get` accepts, in bytes.
pub const MAX_CONN_GET_KEY: usize = 256;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "wasmsock")]
extern "C" {
    /// Copies the next bytes of the current event's payload (the message in `on_message`, the
    /// close reason in `on_close`, the configuration in `on_start`) to `[dst, dst + cap)`.
    /// Returns the number of bytes copied, `0` at the end, or an error status.
    #[link_name = "msg_read"]
    pub fn msg_read(dst: *mut u8, cap: i32) -> i32;

    /// Enqueues a message of `kind` ([`KIND_TEXT`], [`KIND_BINARY`]) to connection `conn`.
    #[link_name = "send"]
    pub fn send(conn: u64, kind: i32, ptr: *const u8, len: i32) -> i32;

    /// Enqueues a message to every member of a group except `except_conn` (`0`: nobody).
    /// Returns how many connections it was enqueued to.
    #[link_name = "broadcast"]
    pub fn broadcast(
        group_ptr: *const u8,
        group_len: i32,
        kind: i32,
        ptr: *const u8,
        len: i32,
        except_conn: u64,
    ) -> i32;

    /// Adds connection `conn` to a group of its namespace.
    #[link_name = "join"]
    pub fn join(conn: u64, group_ptr: *const u8, group_len: i32) -> i32;

    /// Removes connection `conn` from a group.
    #[link_name = "leave"]
    pub fn leave(conn: u64, group_ptr: *const u8, group_len: i32) -> i32;

    /// Starts the closing handshake of `conn` with a close code and a UTF-8 reason.
    #[link_name = "close"]
    pub fn close(conn: u64, code: i32, reason_ptr: *const u8, reason_len: i32) -> i32;

    /// Writes at most `cap` bytes of the value of `key` about `conn` to `dst` and returns the
    /// value's full length.
    #[link_name = "conn_get"]
    pub fn conn_get(conn: u64, key_ptr: *const u8, key_len: i32, dst: *mut u8, cap: i32) -> i32;

    /// Writes a record to the host's log at `level` ([`LOG_DEBUG`] to [`LOG_ERROR`]).
    #[link_name = "log"]
    pub fn log(level: i32, ptr: *const u8, len: i32) -> i32;
}

#[cfg(all(not(target_arch = "wasm32"), not(test)))]
mod off_wasm {
    //! Stand-ins for the host functions when the crate is built for the build machine, so that
    //! `cargo doc` and the tests of code using the crate build and run.
    #![allow(clippy::missing_safety_doc)]

    use super::ERR_NOT_SUPPORTED;

    /// Stand-in for the `msg_read` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn msg_read(_dst: *mut u8, _cap: i32) -> i32 {
        ERR_NOT_SUPPORTED
    }
    /// Stand-in for the `send` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn send(_conn: u64, _kind: i32, _ptr: *const u8, _len: i32) -> i32 {
        ERR_NOT_SUPPORTED
    }
    /// Stand-in for the `broadcast` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn broadcast(
        _group_ptr: *const u8,
        _group_len: i32,
        _kind: i32,
        _ptr: *const u8,
        _len: i32,
        _except_conn: u64,
    ) -> i32 {
        ERR_NOT_SUPPORTED
    }
    /// Stand-in for the `join` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn join(_conn: u64, _group_ptr: *const u8, _group_len: i32) -> i32 {
        ERR_NOT_SUPPORTED
    }
    /// Stand-in for the `leave` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn leave(_conn: u64, _group_ptr: *const u8, _group_len: i32) -> i32 {
        ERR_NOT_SUPPORTED
    }
    /// Stand-in for the `close` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn close(_conn: u64, _code: i32, _reason_ptr: *const u8, _reason_len: i32) -> i32 {
        ERR_NOT_SUPPORTED
    }
    /// Stand-in for the `conn_get` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn conn_get(
        _conn: u64,
        _key_ptr: *const u8,
        _key_len: i32,
        _dst: *mut u8,
        _cap: i32,
    ) -> i32 {
        ERR_NOT_SUPPORTED
    }
    /// Stand-in for the `log` import: always [`ERR_NOT_SUPPORTED`] off `wasm32`.
    pub unsafe fn log(_level: i32, _ptr: *const u8, _len: i32) -> i32 {
        ERR_NOT_SUPPORTED
    }
}

#[cfg(all(not(target_arch = "wasm32"), not(test)))]
pub use off_wasm::*;

// The crate's own unit tests run against a fake host with the same functions.
#[cfg(all(not(target_arch = "wasm32"), test))]
pub use crate::fake::*;
