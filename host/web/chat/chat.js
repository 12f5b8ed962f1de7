// The wasmsock chat page: a client for the chat plugin's protocol (plugins/chat/README.md).
//
// It connects to ws(s)://<host>/chat?name=<name>&namespace=<ns>, joins its rooms, shows what
// arrives and reconnects with a growing delay when the connection drops, joining its rooms again.
// The page URL may set ?name=, ?room= and ?namespace= (default "public").
"use strict";

(() => {
  const MAX_ROOM = 64; // bytes, as the plugin checks
  const MAX_TEXT = 4096; // bytes, the plugin's default max_text
  const MAX_NAME = 64;
  const RETRY_MIN = 500; // ms, the first reconnection delay
  const RETRY_MAX = 15000; // ms, the longest

  const $ = (id) => document.getElementById(id);
  const el = {
    name: $("name"),
    identity: $("identity"),
    namespace: $("namespace"),
    status: $("status"),
    rooms: $("rooms"),
    joinForm: $("join-form"),
    room: $("room"),
    roomTitle: $("room-title"),
    messages: $("messages"),
    composer: $("composer"),
    message: $("message"),
    people: $("people"),
  };

  const params = new URLSearchParams(location.search);
  const encoder = new TextEncoder();

  const state = {
    namespace: params.get("namespace") || "public",
    name: initialName(),
    me: "", // the name the server confirmed in its welcome
    rooms: [], // joined (or being joined) rooms, in the order they were added
    joined: new Set(), // rooms the server confirmed at least once
    people: new Map(), // room -> the users in it, as the server last said ("who")
    unread: new Map(), // room -> count of unseen messages
    active: "", // the room shown
    pendingJoins: [], // rooms whose join awaits an answer, in the order sent
    ws: null,
    online: false,
    attempt: 0, // failed connection attempts in a row
    retryTimer: 0,
  };

  // ---- helpers --------------------------------------------------------------------------

  function byteLength(s) {
    return encoder.encode(s).length;
  }

  function hasControl(s) {
    return /[\u0000-\u001f\u007f-\u009f]/.test(s);
  }

  function randomName() {
    return "guest-" + String(Math.floor(1000 + Math.random() * 9000));
  }

  function initialName() {
    const fromURL = (params.get("name") || "").trim();
    if (fromURL) return fromURL.slice(0, MAX_NAME);
    try {
      const saved = sessionStorage.getItem("wasmsock-chat-name");
      if (saved) return saved;
    } catch (_) { /* storage unavailable: fine */ }
    return randomName();
  }

  function saveName(name) {
    try {
      sessionStorage.setItem("wasmsock-chat-name", name);
    } catch (_) { /* storage unavailable: fine */ }
  }

  function roomProblem(room) {
    if (!room) return "Enter a room name.";
    if (byteLength(room) > MAX_ROOM) return `Room names are at most ${MAX_ROOM} bytes.`;
    if (hasControl(room)) return "Room names cannot contain control characters.";
    return "";
  }

  function clock() {
    const d = new Date();
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // ---- connection -----------------------------------------------------------------------

  function socketURL() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams({ name: state.name, namespace: state.namespace });
    return `${scheme}//${location.host}/chat?${q}`;
  }

  function setStatus(stateName, text) {
    el.status.dataset.state = stateName;
    el.status.textContent = text || stateName;
    document.body.dataset.connection = stateName;
  }

  function connect() {
    clearTimeout(state.retryTimer);
    if (state.ws) {
      const old = state.ws;
      state.ws = null; // its handlers now ignore it
      old.close(1000, "reconnecting");
    }
    state.online = false;
    state.pendingJoins = [];
    setStatus(state.attempt === 0 ? "connecting" : "reconnecting");

    let ws;
    try {
      ws = new WebSocket(socketURL());
    } catch (err) {
      scheduleRetry();
      return;
    }
    state.ws = ws;
    ws.onopen = () => {
      if (state.ws !== ws) return;
      state.online = true;
      state.attempt = 0;
      setStatus("online");
      for (const room of state.rooms) sendJoin(room);
    };
    ws.onmessage = (ev) => {
      if (state.ws !== ws) return;
      if (typeof ev.data === "string") handleServer(ev.data);
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      state.ws = null;
      const wasOnline = state.online;
      state.online = false;
      if (wasOnline) system(state.active, "Disconnected.", "error");
      scheduleRetry();
    };
  }

  function scheduleRetry() {
    const base = Math.min(RETRY_MAX, RETRY_MIN * 2 ** state.attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    state.attempt++;
    setStatus("offline", `offline · retrying in ${Math.max(1, Math.round(delay / 1000))} s`);
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(connect, delay);
  }

  function sendJSON(obj) {
    if (!state.ws || !state.online) return false;
    state.ws.send(JSON.stringify(obj));
    return true;
  }

  function sendJoin(room) {
    if (sendJSON({ action: "join", room })) state.pendingJoins.push(room);
  }

  // ---- server messages ------------------------------------------------------------------

  function handleServer(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (!m || typeof m !== "object") return;
    if (m.type === "error") return onError(m.payload || {});
    switch (m.action) {
      case "welcome":
        state.me = m.user || state.name;
        break;
      case "joined":
        onJoined(m.room);
        break;
      case "left":
        removeRoom(m.room);
        break;
      case "user_joined":
        system(m.room, `${m.user} joined`);
        askWho(m.room);
        break;
      case "user_left":
        system(m.room, `${m.user} left`);
        askWho(m.room);
        break;
      case "members":
        state.people.set(m.room, Array.isArray(m.users) ? m.users : []);
        if (m.room === state.active) renderPeople();
        break;
      case "receive_message":
        addMessage({ from: m.from, room: m.room || "", to: m.to || "", text: m.text });
        break;
    }
  }

  function onJoined(room) {
    const i = state.pendingJoins.indexOf(room);
    if (i >= 0) state.pendingJoins.splice(i, 1);
    if (!state.rooms.includes(room)) state.rooms.push(room);
    if (!state.joined.has(room)) {
      state.joined.add(room);
      system(room, `You joined #${room}`);
    }
    if (!state.active) state.active = room;
    askWho(room);
    renderRooms();
  }

  // Presence: the server knows who is in a room (the host's group members), whichever
  // instance or tab they use; the page asks again whenever someone joins or leaves.
  function askWho(room) {
    if (room) sendJSON({ action: "who", room });
  }

  function renderPeople() {
    const users = state.people.get(state.active) || [];
    el.people.replaceChildren(
      ...users.map((u) => {
        const li = document.createElement("li");
        li.textContent = u;
        li.dataset.user = u;
        if (u === state.me) li.classList.add("me");
        return li;
      }),
    );
  }

  function onError(p) {
    if (p.action === "join" && state.pendingJoins.length) {
      // Answers come in order: this error is for the oldest join still waiting.
      const room = state.pendingJoins.shift();
      if (!state.joined.has(room)) {
        state.rooms = state.rooms.filter((r) => r !== room);
        if (state.active === room) state.active = state.rooms[0] || "";
        renderRooms();
      }
    }
    system(state.active, `Error: ${p.message || "unknown error"}`, "error");
  }

  // ---- rooms ----------------------------------------------------------------------------

  function addRoom(room, { activate }) {
    if (!state.rooms.includes(room)) {
      state.rooms.push(room);
      sendJoin(room); // when offline, connect() joins it
    }
    if (activate) state.active = room;
    renderRooms();
  }

  function leaveRoom(room) {
    if (!sendJSON({ action: "leave", room })) removeRoom(room);
  }

  function removeRoom(room) {
    state.rooms = state.rooms.filter((r) => r !== room);
    state.joined.delete(room);
    state.unread.delete(room);
    if (state.active === room) state.active = state.rooms[0] || "";
    renderRooms();
  }

  function switchRoom(room) {
    state.active = room;
    state.unread.delete(room);
    askWho(room);
    renderRooms();
    el.message.focus();
  }

  function renderRooms() {
    el.rooms.replaceChildren(...state.rooms.map(roomItem));
    el.roomTitle.textContent = state.active ? `#${state.active}` : "No room";
    renderPeople();
    el.message.placeholder = state.active
      ? `Message #${state.active} (/msg name text for a private one)`
      : "Join a room to talk (/msg name text for a private one)";
    filterMessages();
  }

  function roomItem(room) {
    const li = document.createElement("li");
    li.dataset.room = room;
    if (!state.joined.has(room)) li.classList.add("pending");

    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "room-name";
    pick.textContent = `#${room}`;
    if (room === state.active) {
      li.classList.add("active");
      pick.setAttribute("aria-current", "true");
    }
    pick.addEventListener("click", () => switchRoom(room));

    const count = state.unread.get(room) || 0;
    if (count > 0) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = String(count);
      badge.setAttribute("aria-label", `${count} unread`);
      pick.append(" ", badge);
    }

    const leave = document.createElement("button");
    leave.type = "button";
    leave.className = "leave";
    leave.textContent = "×";
    leave.title = `Leave #${room}`;
    leave.setAttribute("aria-label", `Leave #${room}`);
    leave.addEventListener("click", () => leaveRoom(room));

    li.append(pick, leave);
    return li;
  }

  // ---- message list ---------------------------------------------------------------------

  // A private message (room "") shows in every room; the rest only in their own.
  function visible(room) {
    return room === "" || room === state.active;
  }

  function filterMessages() {
    for (const item of el.messages.children) item.hidden = !visible(item.dataset.room);
    scrollDown(true);
  }

  function nearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollDown(force) {
    if (force || nearBottom()) el.messages.scrollTop = el.messages.scrollHeight;
  }

  function append(item, room) {
    const stick = nearBottom();
    item.dataset.room = room;
    item.hidden = !visible(room);
    el.messages.append(item);
    if (stick) scrollDown(true);
    if (room && room !== state.active && item.classList.contains("msg")) {
      state.unread.set(room, (state.unread.get(room) || 0) + 1);
      renderRooms();
    }
  }

  function addMessage({ from, room, to, text, own }) {
    const mine = own || (state.me !== "" && from === state.me);
    const li = document.createElement("li");
    li.className = "msg " + (mine ? "own" : "other");
    if (!room) li.classList.add("private");
    li.dataset.from = from;
    if (to) li.dataset.to = to;

    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = to ? `${from} → ${to} (private)` : from;
    const time = document.createElement("time");
    time.dateTime = new Date().toISOString();
    time.textContent = clock();
    meta.append(who, " ", time);

    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;

    li.append(meta, body);
    append(li, room);
  }

  function system(room, text, kind) {
    const li = document.createElement("li");
    li.className = "system" + (kind ? " " + kind : "");
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(body);
    append(li, room || "");
  }

  // ---- forms ----------------------------------------------------------------------------

  function onSend(ev) {
    ev.preventDefault();
    const raw = el.message.value;
    if (!raw.trim()) return;
    const priv = /^\/msg\s+(\S+)\s+([\s\S]+)$/.exec(raw);
    const text = priv ? priv[2] : raw;
    if (byteLength(text) > MAX_TEXT) {
      system(state.active, `Message too long: at most ${MAX_TEXT} bytes.`, "error");
      return;
    }
    if (!state.online) {
      system(state.active, "Not connected: message not sent.", "error");
      return;
    }
    if (priv) {
      const to = priv[1];
      sendJSON({ action: "send_to_user", user: to, text });
      addMessage({ from: state.me || state.name, room: "", to, text, own: true });
    } else if (raw.startsWith("/msg")) {
      system(state.active, "Usage: /msg name text", "error");
      return;
    } else if (!state.active) {
      system("", "Join a room first.", "error");
      return;
    } else {
      sendJSON({ action: "send_message", room: state.active, text });
      addMessage({ from: state.me || state.name, room: state.active, text, own: true });
    }
    el.message.value = "";
  }

  function onJoin(ev) {
    ev.preventDefault();
    const room = el.room.value.trim();
    const problem = roomProblem(room);
    if (problem) {
      system(state.active, problem, "error");
      return;
    }
    addRoom(room, { activate: true });
  }

  // A new name needs a new connection: the host takes the user id from the handshake.
  function onRename(ev) {
    if (ev) ev.preventDefault();
    const name = el.name.value.trim().slice(0, MAX_NAME);
    if (!name || hasControl(name)) {
      el.name.value = state.name;
      return;
    }
    if (name === state.name) return;
    state.name = name;
    state.me = "";
    saveName(name);
    system(state.active, `You are now ${name}.`);
    state.attempt = 0;
    connect();
  }

  // ---- start ----------------------------------------------------------------------------

  function start() {
    el.namespace.textContent = state.namespace;
    el.name.value = state.name;
    saveName(state.name);
    const firstRoom = (params.get("room") || el.room.value || "general").trim();
    el.room.value = firstRoom;

    el.composer.addEventListener("submit", onSend);
    el.joinForm.addEventListener("submit", onJoin);
    el.identity.addEventListener("submit", onRename);
    el.name.addEventListener("change", () => onRename());
    window.addEventListener("online", () => {
      if (!state.ws) {
        state.attempt = 0;
        connect();
      }
    });

    if (!roomProblem(firstRoom)) addRoom(firstRoom, { activate: true });
    connect();
  }

  start();
})();
