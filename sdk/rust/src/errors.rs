use core::fmt;

use crate::sys;

/// A failure reported by the host: one of the negative statuses of ABI v1.
///
/// Every function of the crate that calls the host returns `Result<T, Error>` (the crate's
/// [`Result`] alias). The variants are the statuses of `abi/ABI.md`; a status this version of the
/// ABI does not define (a newer host may add some) is [`Error::Other`].
///
/// Its [`Display`](fmt::Display) text is the same as the Go SDK's, for example
/// `wasmsock: unknown connection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// A buffer handed to the host lies outside the plugin's memory (`-1`). The SDK only passes
    /// its own slices, so this points to a bug in the SDK or the host.
    BadPointer,
    /// No open connection of this plugin has that id (`-2`): it has closed (its `on_close` has
    /// returned), belongs to another namespace, or was never valid.
    UnknownConn,
    /// A close code RFC 6455 §7.4 does not let an endpoint send (`-3`).
    InvalidCode,
    /// The host does not implement the function (`-4`), or the code does not run under a
    /// wasmsock host at all (any target other than `wasm32`).
    NotSupported,
    /// The connection has no value for the key asked about (`-5`).
    NotFound,
    /// A bad message kind, log level, group name or key length, or text that is not UTF-8
    /// (`-6`).
    InvalidArgument,
    /// The connection is closing; nothing more can be sent to it (`-7`).
    Closed,
    /// The route forbids it, such as sending on a receive-only route (`-8`).
    Forbidden,
    /// There is no payload to read (`-9`). The SDK reads payloads itself, so a plugin should not
    /// see it.
    NoMessage,
    /// The message is larger than the connection's route allows (`-10`).
    TooLarge,
    /// A negative status this version of the ABI does not define.
    Other(i32),
}

/// The result of a call to the host: the crate's functions return `Result<T>`, which is
/// `core::result::Result<T, Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// Returns the error for a host function's status, or `None` for a success (`>= 0`).
    pub fn from_status(status: i32) -> Option<Error> {
        Some(match status {
            s if s >= 0 => return None,
            sys::ERR_BAD_POINTER => Error::BadPointer,
            sys::ERR_UNKNOWN_CONN => Error::UnknownConn,
            sys::ERR_INVALID_CODE => Error::InvalidCode,
            sys::ERR_NOT_SUPPORTED => Error::NotSupported,
            sys::ERR_NOT_FOUND => Error::NotFound,
            sys::ERR_INVALID_ARGUMENT => Error::InvalidArgument,
            sys::ERR_CLOSED => Error::Closed,
            sys::ERR_FORBIDDEN => Error::Forbidden,
            sys::ERR_NO_MESSAGE => Error::NoMessage,
            sys::ERR_TOO_LARGE => Error::TooLarge,
            s => Error::Other(s),
        })
    }

    /// Returns the status number of the error, as the host returned it (always negative).
    pub fn status(self) -> i32 {
        match self {
            Error::BadPointer => sys::ERR_BAD_POINTER,
            Error::UnknownConn => sys::ERR_UNKNOWN_CONN,
            Error::InvalidCode => sys::ERR_INVALID_CODE,
            Error::NotSupported => sys::ERR_NOT_SUPPORTED,
            Error::NotFound => sys::ERR_NOT_FOUND,
            Error::InvalidArgument => sys::ERR_INVALID_ARGUMENT,
            Error::Closed => sys::ERR_CLOSED,
            Error::Forbidden => sys::ERR_FORBIDDEN,
            Error::NoMessage => sys::ERR_NO_MESSAGE,
            Error::TooLarge => sys::ERR_TOO_LARGE,
            Error::Other(s) => s,
        }
    }

    /// Describes the status in a few words, as `abi.Status.String` does in Go: `"unknown
    /// connection"`, `"connection closed"`, ...
    pub fn text(self) -> &'static str {
        match self {
            Error::BadPointer => "bad pointer",
            Error::UnknownConn => "unknown connection",
            Error::InvalidCode => "invalid close code",
            Error::NotSupported => "not supported",
            Error::NotFound => "not found",
            Error::InvalidArgument => "invalid argument",
            Error::Closed => "connection closed",
            Error::Forbidden => "forbidden by route mode",
            Error::NoMessage => "no message to read",
            Error::TooLarge => "payload too large",
            Error::Other(_) => "unknown status",
        }
    }
}

/// Turns a host function's status into a result: `Ok(n)` for `n >= 0`, else the error.
pub fn check(status: i32) -> Result<u32> {
    match Error::from_status(status) {
        None => Ok(status as u32),
        Some(e) => Err(e),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasmsock: {}", self.text())
    }
}

impl std::error::Error for Error {}
