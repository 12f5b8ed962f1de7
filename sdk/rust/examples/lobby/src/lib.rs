//! The lobby plugin, the stateful example of the Rust SDK: it does what `plugins/lobby` (Go)
//! does, and `plugins/lobby/README.md` is its protocol; the behaviour suite
//! (`sdk/state_suite_test.go`) checks that the four languages behave alike.
//!
//! Its state is the host's, so it survives reloads, restarts and several instances:
//!
//! - a connection's nickname is its attachment ([`Conn::set_attachment`]), read back into the
//!   instance's memory in [`Plugin::on_connect`] with `resumed`;
//! - the visit counter and the topic are in the shared store ([`wasmsock::kv`]): the counter
//!   updated with a compare-and-swap loop, the topic with a TTL;
//! - reminders, the tick and the countdown are connection timers ([`Conn::after`],
//!   [`Conn::every`]), an announcement a plugin timer ([`wasmsock::after`], [`wasmsock::cancel_timer`]);
//! - who is here (the lobby group) and how many connections a user has open (its `user:` group)
//!   are presence ([`wasmsock::group_size`]): the host's, cluster-wide, whichever instance asks.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::time::Duration;

use wasmsock::{kv, Conn, Error, Kind, Message, Plugin, Verdict};

/// The group every connection joins, for announcements.
const LOBBY: &str = "lobby";
/// A topic expires a minute after it was last written.
const TOPIC_TTL: Duration = Duration::from_secs(60);
/// Compare-and-swap attempts before `visit` gives up.
const MAX_RETRY: usize = 100;

/// The plugin: this instance's copy of its connections' nicknames (the attachments are the
/// truth).
#[derive(Default)]
pub struct Lobby {
    nicks: HashMap<Conn, String>,
}

/// A reply: "ok", or "error STATUS" with the host's status number.
type Reply = Result<String, String>;

fn failure(e: Error) -> String {
    format!("error {}", e.status())
}

fn done(r: wasmsock::Result<()>) -> Reply {
    r.map(|()| "ok".to_string()).map_err(failure)
}

/// Parses 1 to 9 decimal digits.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn millis(s: &str) -> Option<Duration> {
    number(s).map(Duration::from_millis)
}

fn usage() -> Reply {
    Err("error usage".to_string())
}

/// `prefix` and the size of `group` (in the namespace of the connection being handled), or the
/// failure.
fn size(prefix: &str, group: &str) -> Reply {
    wasmsock::group_size(group).map(|n| format!("{}{}", prefix, n)).map_err(failure)
}

/// Adds one to the shared counter "visits" and returns the new count. Several instances may do
/// it at once: the compare-and-swap stores only over the value read, else reads again.
fn visit() -> wasmsock::Result<u64> {
    for _ in 0..MAX_RETRY {
        let old = match kv::get("visits") {
            Ok(v) => Some(v),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        // None, or not a number: 0.
        let n: u64 = old.as_deref().and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(0);
        match kv::cas("visits", old.as_deref(), (n + 1).to_string().as_bytes(), Duration::ZERO) {
            Err(Error::Mismatch) | Err(Error::NotFound) => continue, // another instance was faster
            r => return r.map(|()| n + 1),
        }
    }
    Err(Error::Mismatch)
}

impl Lobby {
    fn command(&mut self, c: Conn, text: &str) -> Reply {
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        match verb {
            "nick" => {
                c.set_attachment(arg.as_bytes()).map_err(failure)?;
                if arg.is_empty() {
                    self.nicks.remove(&c);
                } else {
                    self.nicks.insert(c, arg.to_string());
                }
                Ok("ok".into())
            }
            "whoami" => Ok(match self.nicks.get(&c) {
                Some(nick) => format!("you are {}", nick),
                None => "you are nobody".into(),
            }),
            "visit" => visit().map(|n| format!("visits {}", n)).map_err(failure),
            "topic" => match kv::get("topic") {
                Ok(t) => Ok(format!("topic {}", String::from_utf8_lossy(&t))),
                Err(Error::NotFound) => Ok("no topic".into()),
                Err(e) => Err(failure(e)),
            },
            "set-topic" => done(kv::set("topic", arg.as_bytes(), TOPIC_TTL)),
            "new-topic" => done(kv::cas("topic", None, arg.as_bytes(), TOPIC_TTL)),
            "edit-topic" => match arg.split_once('\n') {
                Some((old, new)) => done(kv::cas("topic", Some(old.as_bytes()), new.as_bytes(), TOPIC_TTL)),
                None => usage(),
            },
            "clear-topic" => done(kv::delete("topic")),
            "remind" => {
                let (ms, name) = arg.split_once(' ').unwrap_or((arg, ""));
                match millis(ms) {
                    Some(d) => done(c.after(d, name)),
                    None => usage(),
                }
            }
            "tick" => match millis(arg) {
                None => usage(),
                Some(d) if d == Duration::ZERO => done(c.cancel_timer("tick")),
                Some(d) => done(c.every(d, "tick")),
            },
            "cancel" => done(c.cancel_timer(arg)),
            "countdown" => {
                let n = match number(arg) {
                    Some(n) if n > 0 => n,
                    _ => return usage(),
                };
                for k in 1..=n {
                    if let Err(e) = c.after(Duration::from_secs(k), &format!("count/{}", k)) {
                        for j in 1..k {
                            let _ = c.cancel_timer(&format!("count/{}", j)); // all or nothing
                        }
                        return Err(failure(e));
                    }
                }
                Ok("ok".into())
            }
            "announce" => {
                if !c.namespace().is_empty() {
                    return Err("error namespace".into()); // plugin timers act in the default namespace
                }
                let (ms, msg) = arg.split_once(' ').unwrap_or((arg, ""));
                let d = match millis(ms) {
                    Some(d) => d,
                    None => return usage(),
                };
                // The text waits in the shared store: whichever instance (or module, after a
                // reload) gets the plugin timer reads it there.
                kv::set("announce", msg.as_bytes(), Duration::ZERO).map_err(failure)?;
                done(wasmsock::after(d, "announce"))
            }
            "here" => size("here ", LOBBY),
            "online" => {
                if arg.is_empty() {
                    return usage();
                }
                size("online ", &format!("{}{}", wasmsock::sys::USER_GROUP_PREFIX, arg))
            }
            "unannounce" => {
                if !c.namespace().is_empty() {
                    return Err("error namespace".into());
                }
                wasmsock::cancel_timer("announce").map_err(failure)?;
                done(kv::delete("announce"))
            }
            _ => Err("error unknown".into()),
        }
    }
}

impl Plugin for Lobby {
    fn on_connect(&mut self, c: Conn, resumed: bool) -> Verdict {
        if resumed {
            // A new module or instance takes the connection over: the host kept its attachment.
            if let Ok(nick) = c.attachment() {
                if !nick.is_empty() {
                    self.nicks.insert(c, String::from_utf8_lossy(&nick).into_owned());
                }
            }
            return Verdict::Accept; // group membership is host state too: no join again
        }
        if let Err(e) = c.join(LOBBY) {
            wasmsock::error!("conn {}: join {}: {}", c, LOBBY, e);
        }
        Verdict::Accept
    }

    fn on_message(&mut self, c: Conn, m: Message) {
        let text = String::from_utf8_lossy(m.data);
        let reply = self.command(c, &text).unwrap_or_else(|e| e);
        let _ = c.send_text(&reply);
    }

    fn on_close(&mut self, c: Conn, _code: u16, _reason: &str) {
        self.nicks.remove(&c);
    }

    fn on_timer(&mut self, conn: Option<Conn>, name: &str) {
        match conn {
            None if name == "announce" => {
                if let Ok(msg) = kv::get("announce") {
                    let _ = kv::delete("announce");
                    let mut line = b"announce ".to_vec();
                    line.extend_from_slice(&msg);
                    let _ = wasmsock::broadcast(LOBBY, Kind::Text, &line, None);
                }
            }
            None => wasmsock::warn!("unknown plugin timer {:?}", name),
            Some(c) if name == "tick" => {
                let v = kv::get("visits").unwrap_or_else(|_| b"0".to_vec());
                let _ = c.send_text(&format!("tick {}", String::from_utf8_lossy(&v)));
            }
            Some(c) => {
                let _ = c.send_text(&format!("reminder {}", name));
            }
        }
    }
}

wasmsock::plugin!(Lobby);
