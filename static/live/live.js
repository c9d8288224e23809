/* The live-comments page: appends `comment.live` frames for this inbox as the workspace socket
   relays them. Text goes in with textContent only: comments are untrusted input. The socket
   reconnects with a growing delay; the channel layer does not replay, so a reload shows what
   arrived while disconnected (the page lists the latest stored live comments). */
import { timeElement, clock } from "../app/format.js";
import { gettext } from "../app/i18n.js";

(function () {
  "use strict";

  var root = document.getElementById("main");
  if (!root || !root.classList.contains("live")) { return; }
  var inboxId = Number(root.dataset.inboxId);
  var list = document.getElementById("live-comments");
  var empty = document.getElementById("live-empty");
  var status = document.getElementById("live-connection");
  var MAX_ITEMS = 500;
  var delay = 1000;

  function seen(id) {
    return Array.prototype.some.call(list.children, function (li) { return li.dataset.commentId === id; });
  }

  function append(frame) {
    var comment = frame.comment || {};
    if (!comment.id || seen(String(comment.id))) { return; }
    var li = document.createElement("li");
    li.className = "live-comment";
    li.dataset.commentId = String(comment.id);
    var author = document.createElement("span");
    author.className = "live-author";
    author.textContent = (comment.from && (comment.from.name || comment.from.id)) || gettext("Someone");
    var text = document.createElement("span");
    text.className = "live-text";
    text.textContent = comment.text || "";
    var link = document.createElement("a");
    link.className = "live-thread";
    link.href = "/conversations/" + encodeURIComponent(frame.conversation) + "/";
    link.textContent = gettext("Open thread");
    var at = comment.created_at ? new Date(comment.created_at) : new Date();
    var time = timeElement(at, clock(at));
    li.append(author, text, link, time);
    list.appendChild(li);
    while (list.children.length > MAX_ITEMS) { list.removeChild(list.firstElementChild); }
    empty.hidden = true;
    if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 80) { li.scrollIntoView({ block: "end" }); }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath);
    socket.addEventListener("open", function () { status.textContent = gettext("Live"); delay = 1000; });
    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && frame.type === "comment.live" && frame.inbox === inboxId) { append(frame); }
    });
    socket.addEventListener("close", function (event) {
      if (event.code === 4401) { status.textContent = gettext("Signed out: reload to log in again."); return; }
      status.textContent = gettext("Reconnecting…");
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  connect();
}());
