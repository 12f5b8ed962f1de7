//! The relay plugin, the bus example of the Rust SDK: it does what `testdata/plugins/relay`
//! (Go) does, and the behaviour suite (`sdk/bus_suite_test.go`) checks that they behave alike.
//!
//! Text commands, one per message (DATA is the rest of the message, spaces included):
//!
//! ```text
//! pub SUBJECT DATA   publish DATA to SUBJECT; reply "ok" or "error STATUS"
//! sub SUBJECT        subscribe; reply "sub ID" or "error STATUS"
//! unsub ID           unsubscribe; reply "ok" or "error STATUS"
//! req SUBJECT DATA   request with a 1000 ms timeout; reply "req ID" or "error STATUS"
//! ```
//!
//! Any other message gets "error unknown". Every bus event goes to the connection that made the
//! subscription or the request, as "event ID KIND SUBJECT DATA" (KIND 1 message, 2 reply,
//! 3 error).

#![warn(missing_docs)]

use std::collections::HashMap;

use wasmsock::{Conn, Event, EventKind, Kind, Message, Plugin, Subscription};

/// The plugin: which connection made each subscription and request.
#[derive(Default)]
pub struct Relay {
    owners: HashMap<i32, Conn>,
}

fn result<T>(r: wasmsock::Result<T>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("error {}", e.status()),
    }
}

impl Plugin for Relay {
    fn on_message(&mut self, c: Conn, m: Message) {
        let text = String::from_utf8_lossy(m.data);
        let (verb, rest) = text.split_once(' ').unwrap_or((&text, ""));
        let (subject, data) = rest.split_once(' ').unwrap_or((rest, ""));
        let reply = match verb {
            "pub" => result(wasmsock::publish(subject, data.as_bytes()), |_| "ok".to_string()),
            "sub" => {
                let r = wasmsock::subscribe(rest);
                if let Ok(s) = r {
                    self.owners.insert(s.0, c);
                }
                result(r, |s| format!("sub {}", s.0))
            }
            "unsub" => {
                let id: i32 = rest.parse().unwrap_or(0);
                let r = Subscription(id).unsubscribe();
                if r.is_ok() {
                    self.owners.remove(&id);
                }
                result(r, |_| "ok".to_string())
            }
            "req" => {
                let r = wasmsock::request(subject, data.as_bytes(), 1000);
                if let Ok(q) = r {
                    self.owners.insert(q.0, c);
                }
                result(r, |q| format!("req {}", q.0))
            }
            _ => "error unknown".to_string(),
        };
        let _ = c.send(Kind::Text, reply.as_bytes());
    }

    fn on_event(&mut self, e: Event) {
        let c = match self.owners.get(&e.id) {
            Some(c) => *c,
            None => return,
        };
        if e.kind != EventKind::Message {
            self.owners.remove(&e.id); // a request is over
        }
        let line = format!("event {} {} {} {}", e.id, e.kind.raw(), e.subject, String::from_utf8_lossy(e.data));
        let _ = c.send(Kind::Text, line.as_bytes());
    }
}

wasmsock::plugin!(Relay);
