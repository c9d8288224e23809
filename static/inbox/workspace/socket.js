// The workspace's socket (/ws/inbox/): frames say what changed; after a reconnect (or an access
// change) the list and the open thread are refetched over REST, because the layer does not replay.
// Every frame is also dispatched on window as "inbox:frame" (the shell's bell listens).
import { $ } from "../../app/dom.js";
import { gettext } from "../../app/i18n.js";
import { root, state } from "./state.js";
import { loadList, removeConversation } from "./list.js";
import { conversationChanged, refreshTimeline, upsertMessage, setViewers } from "./thread.js";

let socket = null, attempts = 0, everConnected = false, reconnectTimer = null;

function setConnection(text, cls) {
  const connection = $("connection");
  connection.textContent = text;
  connection.className = "connection " + cls;
}

export function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); }
}

function resync() { loadList(false, { quiet: true }); refreshTimeline(); }

function handleFrame(frame) {
  switch (frame.type) {
    case "message.created":
    case "message.updated":
      upsertMessage(frame.conversation, frame.message);
      break;
    case "conversation.created":
    case "conversation.updated":
      conversationChanged(frame.conversation, frame.type === "conversation.created");
      break;
    case "conversation.removed":
      removeConversation(frame.conversation.id);
      break;
    case "access.changed":
      // Our teams, role or inboxes changed: what we may see comes from REST, as after a reconnect.
      resync();
      break;
    case "presence":
      setViewers(frame.conversation, frame.viewers);
      break;
    default:
      break;
  }
  window.dispatchEvent(new CustomEvent("inbox:frame", { detail: frame }));
}

export function connect() {
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath);
  socket.addEventListener("open", () => {
    setConnection(gettext("Live"), "live");
    const again = everConnected;
    everConnected = true;
    attempts = 0;
    if (state.current) { send({ type: "view", conversation: state.current.id }); }
    if (again) { resync(); }
  });
  socket.addEventListener("message", (e) => {
    let frame;
    try { frame = JSON.parse(e.data); } catch (err) { return; }
    handleFrame(frame);
  });
  socket.addEventListener("close", (e) => {
    if (e.code === 4401) { window.location.href = "/accounts/login/?next=" + encodeURIComponent(window.location.pathname); return; }
    // Exponential backoff with jitter, capped, so a restarted server is not stampeded.
    const delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
    attempts += 1;
    setConnection(gettext("Reconnecting…"), "reconnecting");
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  });
  // Presence: the server forgets a viewer who stops saying so.
  if (!connect.ticking) {
    connect.ticking = setInterval(() => { if (state.current) { send({ type: "view", conversation: state.current.id }); } }, 25000);
  }
}
