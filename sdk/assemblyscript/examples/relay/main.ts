// relay: the bus example of the AssemblyScript SDK. It does what testdata/plugins/relay (Go)
// does, and the behaviour suite (sdk/bus_suite_test.go) checks that they behave alike.
//
// Text commands, one per message (DATA is the rest of the message, spaces included):
//
//   pub SUBJECT DATA   publish DATA to SUBJECT; reply "ok" or "error STATUS"
//   sub SUBJECT        subscribe; reply "sub ID" or "error STATUS"
//   unsub ID           unsubscribe; reply "ok" or "error STATUS"
//   req SUBJECT DATA   request with a 1000 ms timeout; reply "req ID" or "error STATUS"
//
// Any other message gets "error unknown". Every bus event goes to the connection that made the
// subscription or the request, as "event ID KIND SUBJECT DATA" (KIND 1 message, 2 reply,
// 3 error).
//
// Build it with "make wasm" at the top of the repository (see ../../README.md).

import {
  Conn, Message, Event, onMessage, onEvent, publishText, subscribe, unsubscribe, requestText,
  EVENT_MESSAGE, decodeUTF8,
} from "../../assembly";

export * from "../../assembly/exports";

/** Which connection made each subscription and request. */
const owners = new Map<i32, u64>();

function result(st: i32, ok: string): string {
  return st < 0 ? "error " + st.toString() : ok;
}

function relay(c: Conn, m: Message): void {
  let text = decodeUTF8(m.data.dataStart, m.data.length);
  let sp = text.indexOf(" ");
  let verb = sp < 0 ? text : text.substring(0, sp);
  let rest = sp < 0 ? "" : text.substring(sp + 1);
  let sp2 = rest.indexOf(" ");
  let subject = sp2 < 0 ? rest : rest.substring(0, sp2);
  let data = sp2 < 0 ? "" : rest.substring(sp2 + 1);
  let reply: string;
  if (verb == "pub") {
    reply = result(publishText(subject, data), "ok");
  } else if (verb == "sub") {
    let id = subscribe(rest);
    if (id > 0) owners.set(id, c.id);
    reply = result(id, "sub " + id.toString());
  } else if (verb == "unsub") {
    let id = I32.parseInt(rest);
    let st = unsubscribe(id);
    if (st == 0 && owners.has(id)) owners.delete(id);
    reply = result(st, "ok");
  } else if (verb == "req") {
    let id = requestText(subject, data, 1000);
    if (id > 0) owners.set(id, c.id);
    reply = result(id, "req " + id.toString());
  } else {
    reply = "error unknown";
  }
  c.sendText(reply);
}

function event(e: Event): void {
  if (!owners.has(e.id)) return;
  let c = new Conn(owners.get(e.id));
  if (e.kind != EVENT_MESSAGE) owners.delete(e.id); // a request is over
  c.sendText("event " + e.id.toString() + " " + e.kind.toString() + " " + e.subject + " " + decodeUTF8(e.data.dataStart, e.data.length));
}

onMessage(relay);
onEvent(event);
