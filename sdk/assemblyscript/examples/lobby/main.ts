// lobby: the stateful example of the AssemblyScript SDK. It does what plugins/lobby (Go) does,
// and plugins/lobby/README.md is its protocol; the behaviour suite (sdk/state_suite_test.go)
// checks that the four languages behave alike.
//
// Its state is the host's, so it survives reloads, restarts and several instances:
//
//   - a connection's nickname is its attachment (Conn.setAttachment), read back into the
//     instance's memory in onConnect with `resumed` (Conn.attachment);
//   - the visit counter and the topic are in the shared store (kvGetText, kvSetText, kvCasText,
//     kvDelete): the counter updated with a compare-and-swap loop, the topic with a TTL;
//   - reminders, the tick and the countdown are connection timers (Conn.after, Conn.every), an
//     announcement a plugin timer (after, cancelTimer);
//   - who is here (the lobby group) and how many connections a user has open (its "user:" group)
//     are presence (groupSize): the host's, cluster-wide, whichever instance asks.
//
// Build it with "make wasm" at the top of the repository (see ../../README.md).

import {
  Conn, Message, Verdict, ACCEPT, Status, onConnect, onMessage, onClose, onTimer,
  kvGetText, kvSetText, kvCasText, kvDelete, kvStatus, after, cancelTimer, broadcastText, bytesToString,
  stringToBytes, error, warn, groupSize, USER_GROUP_PREFIX,
} from "../../assembly";

export * from "../../assembly/exports";

const LOBBY = "lobby"; // the group every connection joins, for announcements
const TOPIC_TTL_MS: i32 = 60000; // a topic expires a minute after it was last written
const MAX_RETRY = 100; // compare-and-swap attempts before visit gives up

/** This instance's copy of its connections' nicknames (the attachments are the truth). */
const nicks = new Map<u64, string>();

/** "ok", or "error STATUS" with the host's status number. */
function result(st: Status): string {
  return st < 0 ? "error " + (<i32>st).toString() : "ok";
}

/** `prefix` and the size of `group` (in the namespace of the connection being handled), or the failure. */
function size(prefix: string, group: string): string {
  let n = groupSize(group);
  return n < 0 ? result(<Status>n) : prefix + n.toString();
}

/** Parses 1 to 9 decimal digits; -1 for anything else. */
function number(s: string): i32 {
  if (s.length == 0 || s.length > 9) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Splits `s` at its first occurrence of `sep`: [before, after], after "" when there is none. */
function cut(s: string, sep: string): string[] {
  let i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.substring(0, i), s.substring(i + sep.length)];
}

/**
 * Adds one to the shared counter "visits" and returns "visits N". Several instances may do it at
 * once: the compare-and-swap stores only over the value read, else reads again.
 */
function visit(): string {
  for (let i = 0; i < MAX_RETRY; i++) {
    let old = kvGetText("visits");
    if (old === null && kvStatus() != Status.NotFound) return result(<Status>kvStatus());
    // None, or not a number: 0.
    let n: i64 = 0;
    if (old !== null) {
      n = I64.parseInt(old);
      if (n < 0) n = 0;
    }
    let next = (n + 1).toString();
    let st = kvCasText("visits", old, next); // old null: only if still absent
    if (st == Status.Mismatch || st == Status.NotFound) continue; // another instance was faster
    return st < 0 ? result(st) : "visits " + next;
  }
  return result(Status.Mismatch);
}

function command(c: Conn, text: string): string {
  let vc = cut(text, " ");
  let verb = vc[0];
  let arg = vc[1];
  if (verb == "nick") {
    let st = c.setAttachment(stringToBytes(arg));
    if (st == Status.OK) {
      if (arg.length == 0) {
        if (nicks.has(c.id)) nicks.delete(c.id);
      } else {
        nicks.set(c.id, arg);
      }
    }
    return result(st);
  }
  if (verb == "whoami") {
    return nicks.has(c.id) ? "you are " + nicks.get(c.id) : "you are nobody";
  }
  if (verb == "visit") return visit();
  if (verb == "topic") {
    let t = kvGetText("topic");
    if (t !== null) return "topic " + t;
    return kvStatus() == Status.NotFound ? "no topic" : result(<Status>kvStatus());
  }
  if (verb == "set-topic") return result(kvSetText("topic", arg, TOPIC_TTL_MS));
  if (verb == "new-topic") return result(kvCasText("topic", null, arg, TOPIC_TTL_MS));
  if (verb == "edit-topic") {
    if (arg.indexOf("\n") < 0) return "error usage";
    let on = cut(arg, "\n");
    return result(kvCasText("topic", on[0], on[1], TOPIC_TTL_MS));
  }
  if (verb == "clear-topic") return result(kvDelete("topic"));
  if (verb == "remind") {
    let mn = cut(arg, " ");
    let ms = number(mn[0]);
    return ms < 0 ? "error usage" : result(c.after(ms, mn[1]));
  }
  if (verb == "tick") {
    let ms = number(arg);
    if (ms < 0) return "error usage";
    return result(ms == 0 ? c.cancelTimer("tick") : c.every(ms, "tick"));
  }
  if (verb == "cancel") return result(c.cancelTimer(arg));
  if (verb == "countdown") {
    let n = number(arg);
    if (n <= 0) return "error usage";
    for (let k = 1; k <= n; k++) {
      let st = c.after(k * 1000, "count/" + k.toString());
      if (st < 0) {
        for (let j = 1; j < k; j++) c.cancelTimer("count/" + j.toString()); // all or nothing
        return result(st);
      }
    }
    return "ok";
  }
  if (verb == "announce") {
    if (c.namespace().length != 0) return "error namespace"; // plugin timers act in the default one
    let mm = cut(arg, " ");
    let ms = number(mm[0]);
    if (ms < 0) return "error usage";
    // The text waits in the shared store: whichever instance (or module, after a reload) gets
    // the plugin timer reads it there.
    let st = kvSetText("announce", mm[1]);
    return st < 0 ? result(st) : result(after(ms, "announce"));
  }
  if (verb == "here") return size("here ", LOBBY);
  if (verb == "online") {
    if (arg.length == 0) return "error usage";
    return size("online ", USER_GROUP_PREFIX + arg);
  }
  if (verb == "unannounce") {
    if (c.namespace().length != 0) return "error namespace";
    let st = cancelTimer("announce");
    return st < 0 ? result(st) : result(kvDelete("announce"));
  }
  return "error unknown";
}

function connect(c: Conn, resumed: bool): Verdict {
  if (resumed) {
    // A new module or instance takes the connection over: the host kept its attachment.
    let nick = c.attachment();
    if (nick !== null && nick.length > 0) nicks.set(c.id, bytesToString(nick));
    return ACCEPT; // group membership is host state too: no join again
  }
  let st = c.join(LOBBY);
  if (st < 0) error(c.toString() + ": join " + LOBBY + ": " + result(st));
  return ACCEPT;
}

function message(c: Conn, m: Message): void {
  c.sendText(command(c, m.text()));
}

function close(c: Conn, code: i32, reason: string): void {
  if (nicks.has(c.id)) nicks.delete(c.id);
}

function timer(c: Conn | null, name: string): void {
  if (c === null) {
    if (name != "announce") {
      warn("unknown plugin timer " + name);
      return;
    }
    let msg = kvGetText("announce");
    if (msg === null) return;
    kvDelete("announce");
    broadcastText(LOBBY, "announce " + msg);
  } else if (name == "tick") {
    let v = kvGetText("visits");
    c.sendText("tick " + (v === null ? "0" : v));
  } else {
    c.sendText("reminder " + name);
  }
}

onConnect(connect);
onMessage(message);
onClose(close);
onTimer(timer);
