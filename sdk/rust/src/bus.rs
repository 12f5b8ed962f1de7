//! The event bus (`abi/ABI.md`, "Bus"): publish to NATS subjects, subscribe to them, and send
//! requests whose answers come back to [`Plugin::on_event`](crate::Plugin::on_event).
//!
//! Subjects are relative to the namespace the plugin acts in (that of the connection whose
//! event is being handled, of the subscription or request in `on_event`, `""` in `on_start`):
//! the host keeps every namespace's subjects apart, unless the operator shares some in
//! `host.toml`. Without a `[cluster]` in `host.toml` the bus is off and every call returns
//! [`Error::Unavailable`](crate::Error::Unavailable).

use crate::conn::len32;
use crate::{check, sys, Error, Result};

/// What an [`Event`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A message on a subscription's subject; the id is the [`Subscription`]'s.
    Message,
    /// The reply to a request; the id is the [`Request`]'s.
    Reply,
    /// A request failed: no responders, a timeout, or an error answer (NATS service error
    /// headers); the data says why.
    Error,
}

impl EventKind {
    /// The kind with ABI value `raw`, if it is one.
    pub fn from_raw(raw: i32) -> Option<EventKind> {
        match raw {
            sys::EVENT_MESSAGE => Some(EventKind::Message),
            sys::EVENT_REPLY => Some(EventKind::Reply),
            sys::EVENT_ERROR => Some(EventKind::Error),
            _ => None,
        }
    }

    /// The ABI value: 1, 2 or 3.
    pub fn raw(self) -> i32 {
        match self {
            EventKind::Message => sys::EVENT_MESSAGE,
            EventKind::Reply => sys::EVENT_REPLY,
            EventKind::Error => sys::EVENT_ERROR,
        }
    }
}

/// A bus event, borrowed for the length of [`Plugin::on_event`](crate::Plugin::on_event).
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// The subscription or request the event belongs to.
    pub id: i32,
    /// Message, reply or error.
    pub kind: EventKind,
    /// The subject as the plugin names it (for a reply or an error: the request's).
    pub subject: &'a str,
    /// The message's bytes.
    pub data: &'a [u8],
}

/// A subscription, as [`subscribe`] returned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subscription(pub i32);

/// A pending request, as [`request`] returned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request(pub i32);

/// Publishes `data` to `subject` (no wildcards). Returns once the host has queued it.
///
/// Errors: [`Error::InvalidArgument`] (a bad subject), [`Error::TooLarge`] (over NATS's max
/// payload), [`Error::Busy`] (the host's publish queue is full), [`Error::Unavailable`].
pub fn publish(subject: &str, data: &[u8]) -> Result<()> {
    // SAFETY: both ranges are live slices of this module's memory.
    check(unsafe { sys::publish(subject.as_ptr(), len32(subject.len()), data.as_ptr(), len32(data.len())) })?;
    Ok(())
}

/// Subscribes to `subject`, which may use the wildcards `*` and a final `>`. Its messages come
/// to `on_event` with the returned id until [`Subscription::unsubscribe`].
pub fn subscribe(subject: &str) -> Result<Subscription> {
    queue_subscribe(subject, "")
}

/// [`subscribe`] in the queue group `queue`: of the subscriptions with the same subject and
/// queue (on every host of the cluster), one gets each message.
pub fn queue_subscribe(subject: &str, queue: &str) -> Result<Subscription> {
    // SAFETY: both ranges are live slices of this module's memory.
    let id = check(unsafe { sys::subscribe(subject.as_ptr(), len32(subject.len()), queue.as_ptr(), len32(queue.len())) })?;
    Ok(Subscription(id as i32))
}

impl Subscription {
    /// Ends the subscription; messages already queued for it are not delivered.
    pub fn unsubscribe(self) -> Result<()> {
        // SAFETY: no pointers.
        check(unsafe { sys::unsubscribe(self.0) })?;
        Ok(())
    }
}

/// Sends `data` to `subject` with a reply subject and returns at once; the reply, or the
/// failure after `timeout_ms` (0: 5000, at most 60000), comes to `on_event` with the returned
/// id, exactly once.
pub fn request(subject: &str, data: &[u8], timeout_ms: u32) -> Result<Request> {
    if timeout_ms > sys::MAX_REQUEST_TIMEOUT_MS as u32 {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: both ranges are live slices of this module's memory.
    let id = check(unsafe {
        sys::request(subject.as_ptr(), len32(subject.len()), data.as_ptr(), len32(data.len()), timeout_ms as i32)
    })?;
    Ok(Request(id as i32))
}
