//! The echo plugin, written with the wasmsock Rust SDK: every message goes back to the client
//! that sent it, with the same kind (text as text, binary as binary). It does what
//! `plugins/echo` (Go) does, and is the smallest useful plugin.
//!
//! Build it with `make wasm` at the top of the repository (the rule is in `sdk/rust/wasm.mk`),
//! or from `sdk/rust` with
//!
//! ```sh
//! cargo build --release --target wasm32-wasi -p wasmsock-example-echo
//! ```
//!
//! which writes `target/wasm32-wasi/release/echo.wasm`.

#![warn(missing_docs)]

use wasmsock::{Conn, Message, Plugin};

/// The plugin: no state, no configuration.
#[derive(Default)]
pub struct Echo;

impl Plugin for Echo {
    fn on_message(&mut self, c: Conn, m: Message) {
        // Sending fails only when the connection is going away, or its route does not allow
        // sending; an echo has nothing better to do then than to drop the message.
        let _ = c.send(m.kind, m.data);
    }
}

wasmsock::plugin!(Echo);
