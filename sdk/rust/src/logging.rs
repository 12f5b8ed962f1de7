use crate::conn::len32;
use crate::sys;

/// The severity of a log record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for debugging; hidden unless the host logs at debug level.
    Debug,
    /// Normal events.
    Info,
    /// Something unexpected that the plugin copes with.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// Returns the ABI level number: `0` debug to `3` error.
    pub fn raw(self) -> i32 {
        match self {
            Level::Debug => sys::LOG_DEBUG,
            Level::Info => sys::LOG_INFO,
            Level::Warn => sys::LOG_WARN,
            Level::Error => sys::LOG_ERROR,
        }
    }
}

/// Writes `msg` to the host's structured log at `level`, tagged with the plugin's name and,
/// during an event for a connection, that connection's id.
///
/// Logging never fails loudly: a record the host refuses is dropped. The host may cut a very
/// long message. The macros [`debug!`](crate::debug), [`info!`](crate::info),
/// [`warn!`](crate::warn) and [`error!`](crate::error) format as `format!` does.
pub fn log(level: Level, msg: &str) {
    // SAFETY: (ptr, len) is a live slice of this module's memory.
    unsafe {
        sys::log(level.raw(), msg.as_ptr(), len32(msg.len()));
    }
}

/// Logs a message formatted as by `format!` at debug level: `wasmsock::debug!("got {} bytes", n)`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)+)) };
}

/// Logs a message formatted as by `format!` at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log($crate::Level::Info, &::std::format!($($arg)+)) };
}

/// Logs a message formatted as by `format!` at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)+)) };
}

/// Logs a message formatted as by `format!` at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log($crate::Level::Error, &::std::format!($($arg)+)) };
}
