//! A fake host for the crate's unit tests (off `wasm32`): it serves the current event's payload
//! in small chunks, answers `conn_get` from a table and records every other call. The functions
//! have the names and signatures of the imports in `sys`, which re-exports them in tests.

#![allow(missing_docs, clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::collections::HashMap;

use crate::sys;

#[derive(Default)]
pub(crate) struct Fake {
    pub payload: Vec<u8>,
    pub chunk: usize,
    pub vals: HashMap<String, String>,
    pub calls: Vec<String>,
    pub logs: Vec<String>,
    pub join_status: i32,
    pub attachment: Vec<u8>,
    pub members: Vec<(u64, String)>,
    pub kv: HashMap<String, Vec<u8>>,
}

thread_local! {
    static FAKE: RefCell<Fake> = RefCell::new(Fake { chunk: 3, ..Fake::default() });
}

/// Runs f with the fake host of this thread.
pub(crate) fn with<R>(f: impl FnOnce(&mut Fake) -> R) -> R {
    FAKE.with(|h| f(&mut h.borrow_mut()))
}

/// Puts a fresh fake host in place.
pub(crate) fn reset() {
    with(|h| *h = Fake { chunk: 3, ..Fake::default() });
}

unsafe fn bytes<'a>(ptr: *const u8, len: i32) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(ptr, len as usize)
    }
}

unsafe fn text(ptr: *const u8, len: i32) -> String {
    String::from_utf8_lossy(bytes(ptr, len)).into_owned()
}

pub unsafe fn msg_read(dst: *mut u8, cap: i32) -> i32 {
    with(|h| {
        let n = h.payload.len().min(cap as usize).min(h.chunk);
        core::ptr::copy_nonoverlapping(h.payload.as_ptr(), dst, n);
        h.payload.drain(..n);
        n as i32
    })
}

pub unsafe fn send(conn: u64, kind: i32, ptr: *const u8, len: i32) -> i32 {
    let data = text(ptr, len);
    with(|h| h.calls.push(format!("send {} {} {}", conn, kind, data)));
    0
}

pub unsafe fn broadcast(
    group_ptr: *const u8,
    group_len: i32,
    kind: i32,
    ptr: *const u8,
    len: i32,
    except: u64,
) -> i32 {
    let (group, data) = (text(group_ptr, group_len), text(ptr, len));
    with(|h| h.calls.push(format!("broadcast {} {} {} except {}", group, kind, data, except)));
    2
}

pub unsafe fn join(conn: u64, group_ptr: *const u8, group_len: i32) -> i32 {
    let group = text(group_ptr, group_len);
    with(|h| {
        h.calls.push(format!("join {} {}", conn, group));
        h.join_status
    })
}

pub unsafe fn leave(conn: u64, group_ptr: *const u8, group_len: i32) -> i32 {
    let group = text(group_ptr, group_len);
    with(|h| h.calls.push(format!("leave {} {}", conn, group)));
    0
}

pub unsafe fn close(conn: u64, code: i32, reason_ptr: *const u8, reason_len: i32) -> i32 {
    let reason = text(reason_ptr, reason_len);
    with(|h| h.calls.push(format!("close {} {} {}", conn, code, reason)));
    0
}

pub unsafe fn conn_get(
    _conn: u64,
    key_ptr: *const u8,
    key_len: i32,
    dst: *mut u8,
    cap: i32,
) -> i32 {
    let key = text(key_ptr, key_len);
    with(|h| match h.vals.get(&key) {
        None => sys::ERR_NOT_FOUND,
        Some(v) => {
            let n = v.len().min(cap as usize);
            core::ptr::copy_nonoverlapping(v.as_ptr(), dst, n);
            v.len() as i32
        }
    })
}

pub unsafe fn log(level: i32, ptr: *const u8, len: i32) -> i32 {
    let msg = text(ptr, len);
    with(|h| h.logs.push(format!("{} {}", level, msg)));
    0
}

pub unsafe fn publish(subject_ptr: *const u8, subject_len: i32, ptr: *const u8, len: i32) -> i32 {
    let (subject, data) = (text(subject_ptr, subject_len), text(ptr, len));
    with(|h| h.calls.push(format!("publish {} {}", subject, data)));
    0
}

pub unsafe fn subscribe(subject_ptr: *const u8, subject_len: i32, queue_ptr: *const u8, queue_len: i32) -> i32 {
    let (subject, queue) = (text(subject_ptr, subject_len), text(queue_ptr, queue_len));
    with(|h| h.calls.push(format!("subscribe {} {}", subject, queue)));
    7
}

pub unsafe fn unsubscribe(id: i32) -> i32 {
    if id == 7 {
        0
    } else {
        sys::ERR_NOT_FOUND
    }
}

pub unsafe fn request(subject_ptr: *const u8, subject_len: i32, ptr: *const u8, len: i32, timeout_ms: i32) -> i32 {
    let (subject, data) = (text(subject_ptr, subject_len), text(ptr, len));
    with(|h| h.calls.push(format!("request {} {} {}", subject, data, timeout_ms)));
    9
}

pub unsafe fn timer_set(conn: u64, name_ptr: *const u8, name_len: i32, delay_ms: i32, interval_ms: i32) -> i32 {
    let name = text(name_ptr, name_len);
    with(|h| h.calls.push(format!("timer_set {} {} {} {}", conn, name, delay_ms, interval_ms)));
    0
}

pub unsafe fn timer_cancel(conn: u64, name_ptr: *const u8, name_len: i32) -> i32 {
    let name = text(name_ptr, name_len);
    with(|h| h.calls.push(format!("timer_cancel {} {}", conn, name)));
    sys::ERR_NOT_FOUND
}

pub unsafe fn attach_set(_conn: u64, ptr: *const u8, len: i32) -> i32 {
    if len as usize > sys::MAX_ATTACHMENT {
        return sys::ERR_TOO_LARGE;
    }
    let data = bytes(ptr, len).to_vec();
    with(|h| h.attachment = data);
    0
}

pub unsafe fn attach_get(_conn: u64, dst: *mut u8, cap: i32) -> i32 {
    with(|h| {
        let n = h.attachment.len().min(cap as usize);
        core::ptr::copy_nonoverlapping(h.attachment.as_ptr(), dst, n);
        h.attachment.len() as i32
    })
}

pub unsafe fn kv_get(key_ptr: *const u8, key_len: i32, dst: *mut u8, cap: i32) -> i32 {
    let key = text(key_ptr, key_len);
    with(|h| match h.kv.get(&key) {
        None => sys::ERR_NOT_FOUND,
        Some(v) => {
            core::ptr::copy_nonoverlapping(v.as_ptr(), dst, v.len().min(cap as usize));
            v.len() as i32
        }
    })
}

pub unsafe fn kv_set(key_ptr: *const u8, key_len: i32, ptr: *const u8, len: i32, ttl_ms: i32) -> i32 {
    let key = text(key_ptr, key_len);
    let value = bytes(ptr, len).to_vec();
    with(|h| {
        h.calls.push(format!("kv_set {} {}", key, ttl_ms));
        h.kv.insert(key, value);
    });
    0
}

pub unsafe fn kv_cas(
    key_ptr: *const u8,
    key_len: i32,
    expect_ptr: *const u8,
    expect_len: i32,
    ptr: *const u8,
    len: i32,
    ttl_ms: i32,
) -> i32 {
    let key = text(key_ptr, key_len);
    let current = with(|h| h.kv.get(&key).cloned());
    match (expect_len, current) {
        (-1, Some(_)) => return sys::ERR_MISMATCH,
        (-1, None) => {}
        (_, None) => return sys::ERR_NOT_FOUND,
        (_, Some(v)) if v != bytes(expect_ptr, expect_len) => return sys::ERR_MISMATCH,
        _ => {}
    }
    kv_set(key_ptr, key_len, ptr, len, ttl_ms)
}

pub unsafe fn kv_delete(key_ptr: *const u8, key_len: i32) -> i32 {
    let key = text(key_ptr, key_len);
    with(|h| if h.kv.remove(&key).is_some() { 0 } else { sys::ERR_NOT_FOUND })
}

pub unsafe fn group_size(_group_ptr: *const u8, _group_len: i32) -> i32 {
    with(|h| h.members.len() as i32)
}

pub unsafe fn group_members(_group_ptr: *const u8, _group_len: i32, dst: *mut u8, cap: i32) -> i32 {
    with(|h| {
        let mut b = Vec::new();
        for (id, user) in &h.members {
            b.extend_from_slice(&id.to_le_bytes());
            b.push(user.len() as u8);
            b.extend_from_slice(user.as_bytes());
        }
        let n = b.len().min(cap as usize);
        core::ptr::copy_nonoverlapping(b.as_ptr(), dst, n);
        b.len() as i32
    })
}

#[cfg(test)]
mod tests {
    use super::{reset, with};
    use crate::{broadcast, send_to_user, Conn, Error, Kind, Message, Plugin, Verdict};

    #[derive(Default)]
    struct Recorder {
        got: Vec<(u64, Kind, Vec<u8>)>,
        closes: Vec<(u64, u16, String)>,
        config: Vec<u8>,
        events: Vec<(i32, crate::EventKind, String, Vec<u8>)>,
    }

    impl Plugin for Recorder {
        fn on_start(&mut self, config: &[u8]) -> Result<(), String> {
            self.config = config.to_vec();
            if config == b"bad" {
                return Err("no".into());
            }
            Ok(())
        }
        fn on_connect(&mut self, c: Conn, resumed: bool) -> Verdict {
            if resumed {
                Verdict::RejectHttp(404)
            } else if c.id() == 7 {
                Verdict::RejectClose(99)
            } else {
                Verdict::Accept
            }
        }
        fn on_message(&mut self, c: Conn, m: Message) {
            self.got.push((c.id(), m.kind, m.data.to_vec()));
            let _ = c.send(m.kind, m.data);
        }
        fn on_event(&mut self, e: crate::Event<'_>) {
            self.events.push((e.id, e.kind, e.subject.to_string(), e.data.to_vec()));
        }
        fn on_close(&mut self, c: Conn, code: u16, reason: &str) {
            self.closes.push((c.id(), code, reason.to_string()));
        }
    }

    static PLUGIN: crate::__private::Global<Option<Recorder>> = crate::__private::Global::new(None);
    fn plugin() -> &'static mut Recorder {
        unsafe { (*PLUGIN.ptr()).get_or_insert_with(Recorder::default) }
    }

    #[test]
    fn dispatch() {
        use crate::__private as p;
        reset();
        unsafe { *PLUGIN.ptr() = None };
        with(|h| h.payload = b"{\"a\":1}".to_vec());
        assert_eq!(p::on_start(plugin, 7), 0);
        assert_eq!(plugin().config, b"{\"a\":1}");
        with(|h| h.payload = b"bad".to_vec());
        assert_eq!(p::on_start(plugin, 3), 1);
        assert!(with(|h| h.logs.iter().any(|l| l == "3 wasmsock: plugin refused to start: no")));

        assert_eq!(p::on_connect(plugin, 1, 0), 0);
        assert_eq!(p::on_connect(plugin, 7, 0), 4000);
        assert_eq!(p::on_connect(plugin, 1, 1 | 4), 404);

        for (kind, data) in [(1, &b"hello, world"[..]), (2, &[0u8, 1][..]), (1, &b""[..])] {
            with(|h| h.payload = data.to_vec());
            p::on_message(plugin, 42, kind, data.len() as i32);
        }
        let big = vec![b'x'; 70 << 10];
        with(|h| {
            h.payload = big.clone();
            h.chunk = 1 << 20;
        });
        p::on_message(plugin, 42, 2, big.len() as i32);
        p::on_message(plugin, 42, 9, 0); // unknown kind: dropped
        let got = &plugin().got;
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (42, Kind::Text, b"hello, world".to_vec()));
        assert_eq!(got[1], (42, Kind::Binary, vec![0, 1]));
        assert_eq!(got[2], (42, Kind::Text, vec![]));
        assert_eq!(got[3].2.len(), 70 << 10);
        assert_eq!(with(|h| h.calls[0].clone()), "send 42 1 hello, world");

        with(|h| h.payload = b"bye".to_vec());
        p::on_close(plugin, 42, 4001, 3);
        assert_eq!(plugin().closes, vec![(42, 4001, "bye".to_string())]);
    }

    #[test]
    fn conn_calls() {
        reset();
        let long = "v".repeat(300);
        with(|h| {
            h.vals.insert("user".into(), "alice".into());
            h.vals.insert("header.x-long".into(), long.clone());
            h.vals.insert("subprotocol".into(), "".into());
            h.vals.insert("path".into(), "/chat".into());
        });
        let c = Conn::from_id(5);
        assert_eq!(c.user().as_deref(), Some("alice"));
        assert_eq!(c.header("x-long"), Some(long));
        assert_eq!(c.subprotocol(), None);
        assert_eq!(c.path(), "/chat");
        assert_eq!(c.namespace(), "");
        assert_eq!(c.query("room"), None);
        assert_eq!(c.get_bytes("nope"), Err(Error::NotFound));
        assert_eq!(c.close(1005, "x"), Err(Error::InvalidCode));
        assert_eq!(c.close(4001, "x"), Ok(()));
        with(|h| h.join_status = -6);
        assert_eq!(c.join("room:a"), Err(Error::InvalidArgument));
        assert_eq!(broadcast("g", Kind::Text, b"hi", Some(c)), Ok(2));
        assert_eq!(send_to_user("bob", Kind::Binary, b"x", None), Ok(2));
        let calls = with(|h| h.calls.clone());
        assert_eq!(
            calls,
            [
                "close 5 4001 x",
                "join 5 room:a",
                "broadcast g 1 hi except 5",
                "broadcast user:bob 2 x except 0"
            ]
        );
        assert_eq!(Error::from_status(-2), Some(Error::UnknownConn));
        assert_eq!(Error::from_status(-99), Some(Error::Other(-99)));
        assert_eq!(Error::from_status(3), None);
        assert_eq!(Error::Closed.to_string(), "wasmsock: connection closed");
        assert_eq!(Error::Other(-99).status(), -99);
        assert_eq!(Verdict::RejectHttp(200).raw(), 500);
        assert_eq!(Verdict::RejectHttp(403).raw(), 403);
        assert_eq!(Verdict::RejectClose(4999).raw(), 4999);
    }

    #[test]
    fn bus_calls() {
        use crate::{publish, queue_subscribe, request, subscribe, EventKind, Subscription};
        reset();
        assert_eq!(publish("orders.created", b"x"), Ok(()));
        assert_eq!(queue_subscribe("orders.>", "workers"), Ok(Subscription(7)));
        assert_eq!(subscribe("a").map(|s| s.0), Ok(7));
        assert_eq!(Subscription(8).unsubscribe(), Err(Error::NotFound));
        assert_eq!(request("billing.charge", b"{}", 1500).map(|r| r.0), Ok(9));
        assert_eq!(request("x", b"", 60001).map(|r| r.0), Err(Error::InvalidArgument));
        assert_eq!(
            with(|h| h.calls.clone()),
            ["publish orders.created x", "subscribe orders.> workers", "subscribe a ", "request billing.charge {} 1500"]
        );
        unsafe { *PLUGIN.ptr() = None };
        with(|h| h.payload = b"orders.createdhello".to_vec());
        crate::__private::on_event(plugin, 7, 1, 14, 5);
        with(|h| h.payload = b"svcno responders".to_vec());
        crate::__private::on_event(plugin, 9, 3, 3, 13);
        crate::__private::on_event(plugin, 9, 8, 0, 0); // unknown kind: dropped
        assert_eq!(
            plugin().events,
            vec![
                (7, EventKind::Message, "orders.created".to_string(), b"hello".to_vec()),
                (9, EventKind::Error, "svc".to_string(), b"no responders".to_vec())
            ]
        );
    }

    #[test]
    fn timers_and_attachments() {
        use core::time::Duration;
        reset();
        let c = Conn::from_id(7);
        crate::after(Duration::from_millis(1500), "tick").unwrap();
        crate::every(Duration::from_secs(1), "beat").unwrap();
        c.after(Duration::from_micros(1), "soon").unwrap();
        c.every(Duration::from_secs(2), "ping").unwrap();
        assert_eq!(c.every(Duration::ZERO, "x"), Err(Error::InvalidArgument));
        assert_eq!(c.after(Duration::from_secs(30 * 24 * 3600), "x"), Err(Error::InvalidArgument));
        assert_eq!(c.cancel_timer("ping"), Err(Error::NotFound));
        let calls = with(|h| h.calls.clone());
        assert_eq!(
            calls,
            [
                "timer_set 0 tick 1500 0",
                "timer_set 0 beat 1000 1000",
                "timer_set 7 soon 1 0",
                "timer_set 7 ping 2000 2000",
                "timer_cancel 7 ping",
            ]
        );
        assert_eq!(c.attachment().unwrap(), b"");
        let long = vec![b'x'; 1000];
        c.set_attachment(&long).unwrap();
        assert_eq!(c.attachment().unwrap(), long);
        assert_eq!(c.set_attachment(&vec![0u8; 2049]), Err(Error::TooLarge));
    }

    #[test]
    fn shared_store() {
        use crate::kv;
        use core::time::Duration;
        reset();
        assert_eq!(kv::get("k"), Err(Error::NotFound));
        let long = vec![b'v'; 1000];
        kv::set("k", &long, Duration::from_micros(1500)).unwrap();
        assert_eq!(kv::get("k").unwrap(), long);
        assert_eq!(kv::cas("k", None, b"x", Duration::ZERO), Err(Error::Mismatch));
        assert_eq!(kv::cas("k", Some(b"other"), b"x", Duration::ZERO), Err(Error::Mismatch));
        kv::cas("k", Some(&long), b"", Duration::ZERO).unwrap();
        assert_eq!(kv::get("k").unwrap(), b"");
        kv::cas("k", Some(b""), b"y", Duration::ZERO).unwrap();
        assert_eq!(kv::cas("new", Some(b"x"), b"y", Duration::ZERO), Err(Error::NotFound));
        kv::cas("new", None, b"y", Duration::from_secs(1)).unwrap();
        assert_eq!(kv::set("k", b"", Duration::from_secs(30 * 24 * 3600)), Err(Error::InvalidArgument));
        kv::delete("new").unwrap();
        assert_eq!(kv::delete("new"), Err(Error::NotFound));
        let calls = with(|h| h.calls.clone());
        assert_eq!(calls, ["kv_set k 2", "kv_set k 0", "kv_set k 0", "kv_set new 1000"]);
    }

    #[test]
    fn presence() {
        reset();
        assert_eq!(crate::group_size("room:a"), Ok(0));
        assert_eq!(crate::members("room:a"), Ok(vec![]));
        with(|h| {
            for i in 1..=100u64 {
                h.members.push((i, "u".repeat((i % 20) as usize)));
            }
            h.members.push((0, "remote".into()));
        });
        let ms = crate::members("room:a").unwrap();
        assert_eq!(ms.len(), 101);
        assert_eq!(ms[0], crate::Member { conn: Some(Conn::from_id(1)), user: "u".into() });
        assert_eq!(ms[100], crate::Member { conn: None, user: "remote".into() });
        assert_eq!(crate::group_size("room:a"), Ok(101));
    }
}
