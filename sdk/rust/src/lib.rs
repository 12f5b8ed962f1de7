//! The Rust SDK for wasmsock plugins: WebAssembly modules that hold the application logic of a
//! WebSocket service run by the wasmsock host.
//!
//! A plugin is a library crate built as a `cdylib` for `wasm32-wasi`. It implements the
//! [`Plugin`] trait, whose methods the host calls as connections open, send messages and close,
//! and registers it with [`plugin!`], which writes the exports the host looks for (the ABI v1
//! marker `wasmsock_abi_v1`, `on_start`, `on_connect`, `on_message`, `on_close`). Inside a
//! handler the plugin acts on a connection through the methods of [`Conn`] (send, close, read
//! handshake details, join and leave groups), on groups with [`broadcast`] and
//! [`send_to_user`], and logs with [`log`] or the [`info!`] family of macros.
//!
//! ```toml
//! # Cargo.toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! wasmsock = { path = "../wasmsock/sdk/rust" }
//! ```
//!
//! ```sh
//! cargo build --release --target wasm32-wasi   # target/wasm32-wasi/release/NAME.wasm
//! ```
//!
//! This plugin is a chat room per URL: it puts every connection into the room named by its
//! `room` query parameter, relays text messages to the rest of the room and refuses clients
//! that ask for no room.
//!
//! ```no_run
//! use wasmsock::{Conn, Kind, Message, Verdict};
//!
//! struct Rooms {
//!     greeting: String,
//! }
//!
//! impl wasmsock::Plugin for Rooms {
//!     fn on_start(&mut self, config: &[u8]) -> Result<(), String> {
//!         // config is the plugin's config table from host.toml, as a JSON object.
//!         let config = wasmsock::json::Raw::parse_bytes(config).map_err(|e| e.to_string())?;
//!         if let Some(g) = config.get("greeting").and_then(|g| g.as_str()) {
//!             self.greeting = g;
//!         }
//!         Ok(())
//!     }
//!
//!     fn on_connect(&mut self, c: Conn, resumed: bool) -> Verdict {
//!         let room = match c.query("room") {
//!             Some(room) if !room.is_empty() => room,
//!             _ => return Verdict::RejectHttp(400),
//!         };
//!         if let Err(e) = c.join(&format!("room:{}", room)) {
//!             wasmsock::error!("conn {}: join {:?}: {}", c, room, e);
//!             return Verdict::RejectClose(4000);
//!         }
//!         if !resumed {
//!             // A resumed connection was greeted by an earlier instance.
//!             let _ = c.send_text(&format!("{}, {}", self.greeting, c.remote_addr()));
//!         }
//!         Verdict::Accept
//!     }
//!
//!     fn on_message(&mut self, c: Conn, m: Message) {
//!         if m.kind != Kind::Text {
//!             let _ = c.close(1003, "text only");
//!             return;
//!         }
//!         let room = c.query("room").unwrap_or_default();
//!         match wasmsock::broadcast(&format!("room:{}", room), Kind::Text, m.data, Some(c)) {
//!             Ok(n) => wasmsock::debug!("conn {}: relayed {} bytes to {} others", c, m.data.len(), n),
//!             Err(e) => wasmsock::warn!("conn {}: broadcast: {}", c, e),
//!         }
//!     }
//!
//!     fn on_close(&mut self, c: Conn, code: u16, reason: &str) {
//!         wasmsock::info!("conn {} closed: {} {}", c, code, reason);
//!     }
//! }
//!
//! wasmsock::plugin!(Rooms, Rooms { greeting: "welcome".into() });
//! ```
//!
//! # Handlers
//!
//! The host calls one export of an instance at a time, and host functions never call back into
//! the plugin, so the handlers get `&mut self` and need no locks. Nothing runs between calls:
//! a handler does its work and returns. Every method of [`Plugin`] has a default (accept every
//! connection, drop messages, ignore closes, start without looking at the config), so a plugin
//! implements only what it needs.
//!
//! A panic is logged at error level (message and source location) and then aborts: Rust on
//! WebAssembly cannot unwind, so the instance traps. The host closes the connections of that
//! instance's event with 1011, replaces the instance and replays the open connections to the
//! new one with `resumed == true`; the plugin's state in memory is lost. Return errors rather
//! than panic where a client can cause them.
//!
//! # Errors
//!
//! Every function that calls the host returns [`Result<T>`](Result), whose error is the host's
//! status as an [`Error`]; for example [`Error::UnknownConn`] for a connection that has gone and
//! [`Error::Closed`] for one that is closing.
//!
//! # Other targets
//!
//! Off `wasm32` the crate still builds, so that `cargo test` and `cargo doc` work on the build
//! machine, but there is no host: every call returns [`Error::NotSupported`] and the handlers
//! are never called. [`json`] works everywhere.
//!
//! The contract this crate implements is `abi/ABI.md` in the wasmsock repository; [`sys`] has
//! its raw imports and numbers.

#![warn(missing_docs)]

pub mod bus;
pub mod kv;
mod conn;
mod errors;
mod logging;
mod state;

pub mod json;
pub mod sys;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod fake;

pub use bus::{publish, queue_subscribe, request, subscribe, Event, EventKind, Request, Subscription};
pub use conn::{broadcast, send_to_user, valid_close_code, Conn, Kind, Message, Verdict};
pub use errors::{check, Error, Result};
pub use logging::{log, Level};
pub use state::{after, cancel_timer, every, group_size, members, Member};

/// A plugin's handlers: the host calls them as connections open, send messages and close.
///
/// Register the type with [`plugin!`]. Every method has a default, so implement only the ones
/// the plugin needs. One value of the type exists per instance (the host may run several
/// instances of a plugin, each with its own memory; connections are pinned to one of them).
pub trait Plugin: 'static {
    /// Called once when the host starts the instance, before any connection. `config` is the
    /// plugin's `config` table from the host configuration, encoded as a JSON object (`{}` when
    /// there is none); [`json::Raw`] reads it. Returning an error refuses to start: the SDK logs
    /// the message at error level, and the host does not serve the plugin (at startup), keeps
    /// the old module (at a reload) or counts a fault (for a replacement instance).
    ///
    /// The default accepts any configuration.
    fn on_start(&mut self, config: &[u8]) -> core::result::Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Called when a connection opens; the answer decides whether the handshake completes.
    ///
    /// `resumed` is true when the connection was already open and the host is replaying it to a
    /// fresh instance (after a reload, or after the instance it was on faulted). The plugin then
    /// rebuilds its state for the connection (group memberships are the host's and survive) but
    /// must not greet the client again; the verdict is ignored.
    ///
    /// During `on_connect` the connection can be read ([`Conn::get`]), sent to, joined to groups
    /// and closed. The default accepts every connection.
    fn on_connect(&mut self, conn: Conn, resumed: bool) -> Verdict {
        let _ = (conn, resumed);
        Verdict::Accept
    }

    /// Called for each message from a client, in the order the client sent them. The message
    /// is whole (reassembled, decompressed). The default drops it.
    fn on_message(&mut self, conn: Conn, msg: Message<'_>) {
        let _ = (conn, msg);
    }

    /// Called exactly once for every accepted connection when it has closed, whoever closed it,
    /// with the code and reason of the first close frame of the closing handshake (`1005`: the
    /// peer's frame had no code; `1006`: no close frame at all). The connection can no longer
    /// be sent to, but [`Conn::get`] still works and it can be named as the `except` of
    /// [`broadcast`]. After a fault the host may report the close of a connection this
    /// instance never saw; ignore it. The default does nothing.
    fn on_close(&mut self, conn: Conn, code: u16, reason: &str) {
        let _ = (conn, code, reason);
    }

    /// Called for each bus event: a message on one of the plugin's subscriptions, or the reply
    /// to (or failure of) one of its requests (see [`bus`]). There is no current connection: the
    /// plugin acts in the namespace of the subscription or request, so [`broadcast`] and
    /// [`Conn`] methods reach that namespace's connections. The default drops the event.
    fn on_event(&mut self, event: Event<'_>) {
        let _ = event;
    }

    /// Called when a timer armed with [`Conn::after`], [`Conn::every`], [`after`] or [`every`]
    /// is due, with its connection (`None` for a plugin timer) and its name. Timers are named
    /// rather than given a closure because they outlive the instance that armed them: after a
    /// reload the new module's `on_timer` gets them. The default logs a warning.
    fn on_timer(&mut self, conn: Option<Conn>, name: &str) {
        let _ = conn;
        log(Level::Warn, &format!("wasmsock: timer {:?} fired but the plugin has no on_timer", name));
    }
}

/// Registers a [`Plugin`] type and writes the exports the host calls.
///
/// `wasmsock::plugin!(MyPlugin)` makes the value with `MyPlugin::default()`;
/// `wasmsock::plugin!(MyPlugin, expr)` makes it with `expr`. Either way the value is made once
/// per instance, when the host calls the first export (`on_start`), and lives as long as the
/// instance.
///
/// The macro emits, with the signatures of `abi/ABI.md`:
///
/// | export | wasm signature |
/// |--------|----------------|
/// | `wasmsock_abi_v1` | `() -> ()` |
/// | `on_start` | `(config_len i32) -> i32` |
/// | `on_connect` | `(conn i64, flags i32) -> i32` |
/// | `on_message` | `(conn i64, kind i32, len i32) -> ()` |
/// | `on_close` | `(conn i64, code i32, reason_len i32) -> ()` |
/// | `on_event` | `(id i32, kind i32, subject_len i32, data_len i32) -> ()` |
/// | `on_timer` | `(conn i64, name_len i32) -> ()` |
///
/// Use it once per crate, at module level.
#[macro_export]
macro_rules! plugin {
    ($ty:ty) => {
        $crate::plugin!($ty, <$ty as ::core::default::Default>::default());
    };
    ($ty:ty, $init:expr) => {
        const _: () = {
            static WASMSOCK_PLUGIN: $crate::__private::Global<::core::option::Option<$ty>> =
                $crate::__private::Global::new(::core::option::Option::None);

            fn wasmsock_plugin() -> &'static mut $ty {
                // SAFETY: the host calls one export at a time and host functions never call back
                // into the module, so no two of these references are ever alive at once.
                unsafe { (*WASMSOCK_PLUGIN.ptr()).get_or_insert_with(|| $init) }
            }

            #[no_mangle]
            pub extern "C" fn wasmsock_abi_v1() {}

            #[no_mangle]
            pub extern "C" fn on_start(config_len: i32) -> i32 {
                $crate::__private::on_start(wasmsock_plugin, config_len)
            }

            #[no_mangle]
            pub extern "C" fn on_connect(conn: u64, flags: i32) -> i32 {
                $crate::__private::on_connect(wasmsock_plugin, conn, flags)
            }

            #[no_mangle]
            pub extern "C" fn on_message(conn: u64, kind: i32, len: i32) {
                $crate::__private::on_message(wasmsock_plugin, conn, kind, len)
            }

            #[no_mangle]
            pub extern "C" fn on_close(conn: u64, code: i32, reason_len: i32) {
                $crate::__private::on_close(wasmsock_plugin, conn, code, reason_len)
            }

            #[no_mangle]
            pub extern "C" fn on_event(id: i32, kind: i32, subject_len: i32, data_len: i32) {
                $crate::__private::on_event(wasmsock_plugin, id, kind, subject_len, data_len)
            }

            #[no_mangle]
            pub extern "C" fn on_timer(conn: u64, name_len: i32) {
                $crate::__private::on_timer(wasmsock_plugin, conn, name_len)
            }
        };
    };
}

/// What [`plugin!`] expands to calls; not part of the API.
#[doc(hidden)]
pub mod __private {
    use core::cell::UnsafeCell;

    use crate::{check, log, sys, Conn, Error, Kind, Level, Message, Plugin, Result};

    /// The largest message buffer kept between messages; one grown for a larger message is
    /// freed once the handler returns.
    const KEEP_BUFFER: usize = 64 << 10;

    /// A global of a single-threaded module: WebAssembly instances run one thread, the host
    /// calls one export at a time and host functions never call back into the module, so the
    /// code that dereferences [`ptr`](Global::ptr) can make sure no two references to the value
    /// are alive at once.
    pub struct Global<T>(UnsafeCell<T>);

    // SAFETY: see the type's documentation; there is only one thread.
    unsafe impl<T> Sync for Global<T> {}

    impl<T> Global<T> {
        /// Makes a global holding `value`.
        pub const fn new(value: T) -> Global<T> {
            Global(UnsafeCell::new(value))
        }

        /// Returns a pointer to the value.
        pub fn ptr(&self) -> *mut T {
            self.0.get()
        }
    }

    /// The buffer messages are read into, reused. Only one export runs at a time, and a handler
    /// gets it only as a borrowed slice while it is taken out of here.
    static MSG_BUF: Global<Vec<u8>> = Global::new(Vec::new());

    /// Reads the current event's payload of `len` bytes with `msg_read` into `buf` (cleared
    /// first). Stops early if the host has fewer bytes. [`Error::TooLarge`] means the memory for
    /// it could not be had (the plugin's `memory_limit` is too small).
    pub fn read_payload(buf: &mut Vec<u8>, len: i32) -> Result<()> {
        buf.clear();
        let len = len.max(0) as usize;
        if buf.try_reserve_exact(len).is_err() {
            return Err(Error::TooLarge);
        }
        while buf.len() < len {
            let off = buf.len();
            // SAFETY: [ptr, ptr + len - off) is the vector's spare capacity, writable memory of
            // this module; the host writes only the n bytes it reports, which set_len then
            // covers.
            let n = check(unsafe {
                sys::msg_read(buf.as_mut_ptr().add(off), crate::conn::len32(len - off))
            })?;
            if n == 0 {
                break;
            }
            let n = (n as usize).min(len - off);
            unsafe { buf.set_len(off + n) };
        }
        Ok(())
    }

    fn install_panic_hook() {
        std::panic::set_hook(Box::new(|info| {
            log(Level::Error, &format!("wasmsock: {} (the instance aborts)", info));
        }));
    }

    /// The `on_start` export.
    pub fn on_start<P: Plugin>(plugin: fn() -> &'static mut P, config_len: i32) -> i32 {
        install_panic_hook();
        let mut config = Vec::new();
        if let Err(e) = read_payload(&mut config, config_len) {
            log(Level::Error, &format!("wasmsock: reading the plugin config from the host: {}", e));
            return 1;
        }
        match plugin().on_start(&config) {
            Ok(()) => 0,
            Err(msg) => {
                log(Level::Error, &format!("wasmsock: plugin refused to start: {}", msg));
                1
            }
        }
    }

    /// The `on_connect` export.
    pub fn on_connect<P: Plugin>(plugin: fn() -> &'static mut P, conn: u64, flags: i32) -> i32 {
        let resumed = flags & sys::FLAG_RESUMED != 0;
        plugin().on_connect(Conn::from_id(conn), resumed).raw()
    }

    /// The `on_message` export.
    pub fn on_message<P: Plugin>(plugin: fn() -> &'static mut P, conn: u64, kind: i32, len: i32) {
        let kind = match Kind::from_raw(kind) {
            Some(k) => k,
            None => {
                log(Level::Warn, &format!("wasmsock: message of unknown kind {} dropped", kind));
                return;
            }
        };
        // SAFETY: only one export runs at a time (see MSG_BUF).
        let mut buf = core::mem::take(unsafe { &mut *MSG_BUF.ptr() });
        match read_payload(&mut buf, len) {
            Ok(()) => plugin().on_message(Conn::from_id(conn), Message { kind, data: &buf }),
            Err(Error::TooLarge) => {
                // Dropping the message silently would break the conversation: say why instead.
                log(
                    Level::Error,
                    &format!(
                        "wasmsock: a {}-byte message does not fit in the plugin's memory: closing with 1009",
                        len
                    ),
                );
                let _ = Conn::from_id(conn).close(1009, "message too big for the plugin's memory");
            }
            Err(e) => log(
                Level::Error,
                &format!("wasmsock: message dropped: reading it from the host: {}", e),
            ),
        }
        if buf.capacity() <= KEEP_BUFFER {
            buf.clear();
            // SAFETY: as above.
            unsafe { *MSG_BUF.ptr() = buf };
        }
    }

    /// The `on_close` export.
    pub fn on_close<P: Plugin>(
        plugin: fn() -> &'static mut P,
        conn: u64,
        code: i32,
        reason_len: i32,
    ) {
        let mut reason = Vec::new();
        if let Err(e) = read_payload(&mut reason, reason_len) {
            log(
                Level::Warn,
                &format!("wasmsock: close reason lost: reading it from the host: {}", e),
            );
            reason.clear();
        }
        let reason = String::from_utf8_lossy(&reason);
        let code = u16::try_from(code).unwrap_or(0);
        plugin().on_close(Conn::from_id(conn), code, &reason);
    }

    /// The `on_event` export.
    pub fn on_event<P: Plugin>(
        plugin: fn() -> &'static mut P,
        id: i32,
        kind: i32,
        subject_len: i32,
        data_len: i32,
    ) {
        let kind = match crate::EventKind::from_raw(kind) {
            Some(k) => k,
            None => {
                log(Level::Warn, &format!("wasmsock: bus event of unknown kind {} dropped", kind));
                return;
            }
        };
        let mut buf = Vec::new();
        let total = subject_len.max(0).saturating_add(data_len.max(0));
        if let Err(e) = read_payload(&mut buf, total) {
            log(Level::Error, &format!("wasmsock: bus event dropped: reading it from the host: {}", e));
            return;
        }
        let split = (subject_len.max(0) as usize).min(buf.len());
        let (subject, data) = buf.split_at(split);
        let subject = String::from_utf8_lossy(subject);
        plugin().on_event(crate::Event { id, kind, subject: &subject, data });
    }

    /// The `on_timer` export.
    pub fn on_timer<P: Plugin>(plugin: fn() -> &'static mut P, conn: u64, name_len: i32) {
        let mut name = Vec::new();
        if let Err(e) = read_payload(&mut name, name_len) {
            log(Level::Error, &format!("wasmsock: timer dropped: reading its name from the host: {}", e));
            return;
        }
        let name = String::from_utf8_lossy(&name);
        let conn = if conn == 0 { None } else { Some(Conn::from_id(conn)) };
        plugin().on_timer(conn, &name);
    }
}
