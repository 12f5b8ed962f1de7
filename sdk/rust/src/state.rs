//! Timers and attachments: state the host keeps for the plugin (`abi/ABI.md`, "Timers" and
//! "Attachments"). Both survive a reload and an instance restart, which the plugin's own
//! values do not.

use core::time::Duration;

use crate::conn::len32;
use crate::{check, sys, Conn, Error, Result};

/// Converts `d` to whole milliseconds for the host (a part of a millisecond rounds up), or
/// [`Error::InvalidArgument`] when it is longer than the ABI's `i32` holds (about 24.8 days).
pub(crate) fn millis(d: Duration) -> Result<i32> {
    let ms = (d.as_nanos() + 999_999) / 1_000_000;
    i32::try_from(ms).map_err(|_| Error::InvalidArgument)
}

fn set(conn: u64, name: &str, delay: Duration, every: Option<Duration>) -> Result<()> {
    let delay = millis(delay)?;
    let every = match every {
        Some(d) => match millis(d)? {
            0 => return Err(Error::InvalidArgument),
            ms => ms,
        },
        None => 0,
    };
    // SAFETY: (ptr, len) is a live slice of this module's memory.
    check(unsafe { sys::timer_set(conn, name.as_ptr(), len32(name.len()), delay, every) }).map(drop)
}

fn cancel(conn: u64, name: &str) -> Result<()> {
    // SAFETY: (ptr, len) is a live slice of this module's memory.
    check(unsafe { sys::timer_cancel(conn, name.as_ptr(), len32(name.len())) }).map(drop)
}

/// Arms the plugin timer `name` to fire once, after `delay`:
/// [`Plugin::on_timer`](crate::Plugin::on_timer) then runs with `None` for the connection, on the
/// first instance, in the default namespace. Arming a name again replaces its timer.
///
/// Errors: [`Error::InvalidArgument`] for a bad name (1-64 bytes) or a delay over about 24.8
/// days, [`Error::Limit`] when the plugin has `sys::MAX_TIMERS` timers armed.
pub fn after(delay: Duration, name: &str) -> Result<()> {
    set(0, name, delay, None)
}

/// Arms the plugin timer `name` to fire every `interval`, the first time after `interval`.
pub fn every(interval: Duration, name: &str) -> Result<()> {
    set(0, name, interval, Some(interval))
}

/// Disarms the plugin timer `name`; [`Error::NotFound`] if it is not armed.
pub fn cancel_timer(name: &str) -> Result<()> {
    cancel(0, name)
}

impl Conn {
    /// Arms the connection's timer `name` to fire once, after `delay`:
    /// [`Plugin::on_timer`](crate::Plugin::on_timer) then runs with this connection, in order
    /// with its other events. The connection's timers end with it. Arming a name again replaces
    /// its timer. Errors as for [`after`](crate::after), and [`Error::UnknownConn`].
    pub fn after(self, delay: Duration, name: &str) -> Result<()> {
        set(self.id(), name, delay, None)
    }

    /// Arms the connection's timer `name` to fire every `interval`, the first time after
    /// `interval`.
    pub fn every(self, interval: Duration, name: &str) -> Result<()> {
        set(self.id(), name, interval, Some(interval))
    }

    /// Disarms the connection's timer `name`; [`Error::NotFound`] if it is not armed.
    pub fn cancel_timer(self, name: &str) -> Result<()> {
        cancel(self.id(), name)
    }

    /// Stores `data` (at most `sys::MAX_ATTACHMENT`, 2048 bytes) as the connection's attachment:
    /// the host keeps a copy until the connection closes, and a new instance gets it back with
    /// [`attachment`](Conn::attachment) when it takes the connection over (in
    /// [`Plugin::on_connect`](crate::Plugin::on_connect) with `resumed`). Empty `data` removes
    /// it. [`Error::TooLarge`] over the limit.
    pub fn set_attachment(self, data: &[u8]) -> Result<()> {
        // SAFETY: (ptr, len) is a live slice of this module's memory.
        check(unsafe { sys::attach_set(self.id(), data.as_ptr(), len32(data.len())) }).map(drop)
    }

    /// Returns the connection's attachment, empty when it has none.
    pub fn attachment(self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        for _ in 0..4 {
            // SAFETY: buf is writable memory of this module.
            let n = check(unsafe { sys::attach_get(self.id(), buf.as_mut_ptr(), len32(buf.len())) })?
                as usize;
            if n <= buf.len() {
                buf.truncate(n);
                return Ok(buf);
            }
            buf.resize(n, 0);
        }
        Err(Error::TooLarge)
    }
}

/// A member of a group (presence, `abi/ABI.md`, "Presence").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its connection; `None` for a connection another plugin serves.
    pub conn: Option<Conn>,
    /// Its user id; empty for an anonymous connection.
    pub user: String,
}

/// Returns how many connections are in `group`, in the namespace of the connection whose event
/// is being handled (0 for an empty or unknown group). A `user:<id>` group's size is how many
/// connections that user has open. [`Error::InvalidArgument`] for a bad group name.
pub fn group_size(group: &str) -> Result<usize> {
    // SAFETY: (ptr, len) is a live slice of this module's memory.
    check(unsafe { sys::group_size(group.as_ptr(), len32(group.len())) }).map(|n| n as usize)
}

/// Returns the members of `group`, in the namespace of the connection whose event is being
/// handled, sorted by connection id.
pub fn members(group: &str) -> Result<Vec<Member>> {
    let mut buf = vec![0u8; 1024];
    for _ in 0..8 {
        // SAFETY: both ranges are live slices of this module's memory, buf is writable.
        let n = check(unsafe {
            sys::group_members(group.as_ptr(), len32(group.len()), buf.as_mut_ptr(), len32(buf.len()))
        })? as usize;
        if n <= buf.len() {
            return Ok(decode_members(&buf[..n]));
        }
        buf.resize(n, 0); // the group grew, or the first buffer was short: ask again
    }
    Err(Error::TooLarge)
}

/// Reads `group_members`' records: a little-endian u64 connection id, a one-byte length and the
/// user id.
fn decode_members(mut b: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    while b.len() >= 9 {
        let u = b[8] as usize;
        if b.len() < 9 + u || u > sys::MAX_USER {
            break;
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&b[..8]);
        let id = u64::from_le_bytes(id);
        out.push(Member {
            conn: if id == 0 { None } else { Some(Conn::from_id(id)) },
            user: String::from_utf8_lossy(&b[9..9 + u]).into_owned(),
        });
        b = &b[9 + u..];
    }
    out
}
