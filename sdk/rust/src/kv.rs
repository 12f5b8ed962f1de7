//! The plugin's shared key-value store (`abi/ABI.md`, "Shared state"): a small store the
//! host keeps for the plugin, shared by all its instances and scoped by namespace (a key is a key
//! of the namespace of the event being handled). Keys are 1 to `sys::MAX_KV_KEY` (128) bytes of
//! `A-Z a-z 0-9 - _ / = .`, not starting or ending with `.` ([`Error::InvalidArgument`]);
//! values at most `sys::MAX_KV_VALUE` (64 KiB, [`Error::TooLarge`]). A plugin's store holds at
//! most `sys::MAX_KV_ENTRIES` entries and `sys::MAX_KV_BYTES` bytes: a write beyond returns
//! [`Error::Limit`]. In a cluster, each node has its own store (DRAFT).
//!
//! ```ignore
//! use wasmsock::{kv, Error};
//! loop {
//!     let old = match kv::get("visits") {
//!         Ok(v) => Some(v),
//!         Err(Error::NotFound) => None,
//!         Err(e) => return Err(e),
//!     };
//!     let n: u64 = old.as_deref().and_then(|v| core::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(0);
//!     match kv::cas("visits", old.as_deref(), (n + 1).to_string().as_bytes(), Duration::ZERO) {
//!         Err(Error::Mismatch) | Err(Error::NotFound) => continue, // another instance won
//!         r => break r,
//!     }
//! }
//! ```

use core::time::Duration;

use crate::conn::len32;
use crate::state::millis;
use crate::{check, sys, Error, Result};

/// Returns the value of `key`; [`Error::NotFound`] when it has none (never set, deleted or
/// expired).
pub fn get(key: &str) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    for _ in 0..4 {
        // SAFETY: key is a live slice and buf writable memory of this module.
        let n = check(unsafe {
            sys::kv_get(key.as_ptr(), len32(key.len()), buf.as_mut_ptr(), len32(buf.len()))
        })? as usize;
        if n <= buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        buf.resize(n, 0);
    }
    Err(Error::TooLarge)
}

/// Stores `value` under `key`; it expires after `ttl` (`Duration::ZERO`: never; rounded up to a
/// millisecond).
pub fn set(key: &str, value: &[u8], ttl: Duration) -> Result<()> {
    let ttl = millis(ttl)?;
    // SAFETY: both (ptr, len) pairs are live slices of this module's memory.
    check(unsafe {
        sys::kv_set(key.as_ptr(), len32(key.len()), value.as_ptr(), len32(value.len()), ttl)
    })
    .map(drop)
}

/// Compare-and-swap: stores `value` under `key` (expiring after `ttl`, as [`set`]) only if the
/// key's value is `expect`, or with `None` only if the key has no value. [`Error::Mismatch`]
/// when the value differs (or exists), [`Error::NotFound`] when `expect` is `Some` and the key
/// has no value; nothing is stored then.
pub fn cas(key: &str, expect: Option<&[u8]>, value: &[u8], ttl: Duration) -> Result<()> {
    let ttl = millis(ttl)?;
    let (ep, el) = match expect {
        Some(e) => (e.as_ptr(), len32(e.len())),
        None => (core::ptr::null(), -1),
    };
    // SAFETY: every (ptr, len) pair is a live slice of this module's memory (or len -1).
    check(unsafe {
        sys::kv_cas(key.as_ptr(), len32(key.len()), ep, el, value.as_ptr(), len32(value.len()), ttl)
    })
    .map(drop)
}

/// Removes `key`; [`Error::NotFound`] when it had no value.
pub fn delete(key: &str) -> Result<()> {
    // SAFETY: (ptr, len) is a live slice of this module's memory.
    check(unsafe { sys::kv_delete(key.as_ptr(), len32(key.len())) }).map(drop)
}
