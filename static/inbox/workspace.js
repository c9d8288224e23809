/* The agent workspace: queue, thread, composer and customer panel, live over /ws/inbox/.
   Vanilla JS, no framework. State comes from the REST API (/api/v1/) and the page's timeline
   endpoint; the socket only says what changed, and after a reconnect everything is refetched,
   because the channel layer does not replay what was missed. */
(function () {
  "use strict";

  var root = document.getElementById("workspace");
  if (!root) { return; }
  var DATA = JSON.parse(document.getElementById("workspace-data").textContent);
  var API = root.dataset.api;
  var ICONS = root.dataset.icons;
  var ME = DATA.me;
  var STATUS_RANK = { received: 0, queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };
  var CHANNEL_NAMES = { messenger: "Messenger", instagram: "Instagram", sms: "SMS", email: "Email" };
  var INBOXES = {};
  DATA.inboxes.forEach(function (i) { INBOXES[i.id] = i; });
  var AGENTS = {};
  DATA.agents.forEach(function (a) { AGENTS[a.id] = a.name; });
  var TEAMS = {};
  DATA.teams.forEach(function (t) { TEAMS[t.id] = t.name; });

  var $ = function (id) { return document.getElementById(id); };
  var listEl = $("conversation-list");
  var timelineEl = $("timeline");
  var reply = $("reply");
  var composer = $("composer");

  var state = {
    tab: "mine",
    conversations: new Map(),  // id -> conversation object as the API serialises it
    order: [],
    next: null,
    current: null,              // the conversation open in the thread pane
    timeline: new Map(),        // item id -> timeline row of the open thread
    readSent: false,
    viewers: [],
  };

  // --- Small helpers -------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") { node.className = attrs[k]; }
      else if (k === "text") { node.textContent = attrs[k]; }
      else if (k.indexOf("data-") === 0 || k.indexOf("aria-") === 0 || k === "role" || k === "href" || k === "src" || k === "alt" || k === "title") { node.setAttribute(k, attrs[k]); }
      else { node[k] = attrs[k]; }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body instanceof FormData) {
      opts.body = body;  // the browser sets the multipart boundary itself
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    if (method !== "GET") { opts.headers["X-CSRFToken"] = csrf(); }
    var url = path.indexOf("http") === 0 || path.charAt(0) === "/" ? path : API + path;
    return fetch(url, opts).then(function (res) {
      if (res.status === 401 || (res.status === 403 && res.redirected)) {
        window.location.href = "/accounts/login/?next=" + encodeURIComponent(window.location.pathname);
      }
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (data.code === "not_authenticated") {
          window.location.href = "/accounts/login/?next=" + encodeURIComponent(window.location.pathname);
        }
        if (!res.ok) {
          var err = new Error(data.detail || ("HTTP " + res.status));
          err.status = res.status; err.code = data.code; throw err;
        }
        return data;
      });
    });
  }

  function channelBadge(channel) {
    return el("span", { class: "channel" }, [
      el("img", { src: ICONS + channel + ".svg", alt: "" }),
      CHANNEL_NAMES[channel] || channel,
    ]);
  }

  function duration(ms) {
    var minutes = Math.max(0, Math.floor(ms / 60000));
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) { return days + " d " + hours + " h"; }
    if (hours) { return hours + " h " + mins + " min"; }
    return mins + " min";
  }

  function when(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function customerName(c) { return (c.customer && c.customer.name) || "Customer"; }

  // --- The queue -----------------------------------------------------------------------------

  function filters() {
    var form = $("filters");
    var params = new URLSearchParams();
    ["q", "status", "channel", "label", "window", "ordering"].forEach(function (name) {
      var v = form.elements[name].value.trim();
      if (v) { params.set(name, v); }
    });
    if (state.tab === "mine") { params.set("assignee", "me"); }
    if (state.tab === "unassigned") { params.set("assignee", "none"); }
    // Every team the agent belongs to, not just the first.
    if (state.tab === "team" && ME.teams.length) { params.set("team", ME.teams.join(",")); }
    return params;
  }

  function loadList(more) {
    var url = more && state.next ? state.next : "conversations/?" + filters().toString();
    listEl.setAttribute("aria-busy", "true");
    return api("GET", url).then(function (page) {
      if (!more) { state.conversations.clear(); state.order = []; }
      page.results.forEach(function (c) {
        if (!state.conversations.has(c.id)) { state.order.push(c.id); }
        state.conversations.set(c.id, c);
      });
      state.next = page.next;
      renderList();
    }).catch(function (err) {
      $("list-empty").hidden = false;
      $("list-empty").textContent = "Could not load conversations: " + err.message;
    }).finally(function () { listEl.setAttribute("aria-busy", "false"); });
  }

  // Client-side version of the filters, for conversations that arrive over the socket.
  function matches(c) {
    var p = filters();
    if (p.get("q")) { return false; }  // search is the server's job: only update rows already shown
    if (p.get("status") && p.get("status").split(",").indexOf(c.status) < 0) { return false; }
    if (p.get("channel") && c.channel !== p.get("channel")) { return false; }
    if (p.get("label") && (c.labels || []).indexOf(p.get("label")) < 0) { return false; }
    if (p.get("assignee") === "me" && c.assignee !== ME.id) { return false; }
    if (p.get("assignee") === "none" && c.assignee) { return false; }
    if (p.get("team") && p.get("team").split(",").indexOf(String(c.team)) < 0) { return false; }
    var w = p.get("window");
    if (w) {
      var s = c.window && c.window.state;
      if (w === "open" && s !== "open") { return false; }
      if (w === "closed" && (!c.window || s === "open")) { return false; }
      if (w === "expiring" && !(s === "open" && new Date(c.window.expires_at) - Date.now() < 2 * 3600 * 1000)) { return false; }
    }
    return true;
  }

  function sortKey(c, ordering) {
    if (ordering === "waiting_since") { return c.waiting_since ? Date.parse(c.waiting_since) : Infinity; }
    if (ordering === "window_expires_at") { return c.window && c.window.expires_at ? Date.parse(c.window.expires_at) : Infinity; }
    return c.last_message_at ? -Date.parse(c.last_message_at) : Infinity;
  }

  function resort() {
    var ordering = $("filters").elements.ordering.value;
    state.order.sort(function (a, b) {
      var ca = state.conversations.get(a), cb = state.conversations.get(b);
      var ka = sortKey(ca, ordering), kb = sortKey(cb, ordering);
      if (ka !== kb) { return ka < kb ? -1 : 1; }
      return b - a;
    });
  }

  function renderRow(c) {
    var waiting = c.waiting_since ? "waiting " + duration(Date.now() - Date.parse(c.waiting_since)) : c.status;
    var meta = [el("span", { text: waiting })];
    if (c.window && c.window.state) {
      var label = c.window.state === "open" ? "closes in " + duration(Date.parse(c.window.expires_at) - Date.now())
        : c.window.state === "human_agent" ? "human agent only" : "window closed";
      meta.push(el("span", { class: "window-badge " + c.window.state, text: label }));
    }
    if (c.assignee) { meta.push(el("span", { text: "→ " + (AGENTS[c.assignee] || "agent #" + c.assignee) })); }
    (c.labels || []).forEach(function (l) { meta.push(el("span", { text: "#" + l })); });
    var link = el("a", { href: "/conversations/" + c.id + "/", "data-id": c.id }, [
      channelBadge(c.channel),
      el("span", { class: "name", text: customerName(c) }),
      c.unread_count ? el("span", { class: "badge", "aria-label": c.unread_count + " unread", text: String(c.unread_count) }) : el("span"),
      el("span", { class: "meta" }, meta),
    ]);
    var li = el("li", { "data-id": c.id }, [link]);
    if (c.unread_count) { li.classList.add("unread"); }
    if (state.current && state.current.id === c.id) { li.classList.add("current"); li.setAttribute("aria-current", "true"); }
    return li;
  }

  function renderList() {
    resort();
    listEl.replaceChildren.apply(listEl, state.order.map(function (id) { return renderRow(state.conversations.get(id)); }));
    $("list-empty").hidden = state.order.length > 0;
    $("list-empty").textContent = "No conversations here.";
    $("load-more").hidden = !state.next;
    var unread = 0;
    state.conversations.forEach(function (c) { unread += c.unread_count || 0; });
    document.title = (unread ? "(" + unread + ") " : "") + (state.current ? customerName(state.current) + " · " : "") + "Inbox";
  }

  function upsertConversation(c, created) {
    var before = state.conversations.get(c.id);
    notifyIfAssignedToMe(before, c, created);
    if (before || matches(c)) {
      if (before && !matches(c) && !filters().get("q")) {
        state.conversations.delete(c.id);
        state.order = state.order.filter(function (id) { return id !== c.id; });
      } else {
        if (!before) { state.order.push(c.id); }
        state.conversations.set(c.id, c);
      }
      renderList();
    }
    if (state.current && state.current.id === c.id) {
      state.current = c;
      renderThreadHeader();
      renderComposerRules();
    }
  }

  function removeConversation(id) {
    state.conversations.delete(id);
    state.order = state.order.filter(function (x) { return x !== id; });
    renderList();
    if (state.current && state.current.id === id) {
      closeThread();
      $("thread-empty").textContent = "That conversation moved out of your reach.";
    }
  }

  // --- Notifications (opt-in) ----------------------------------------------------------------

  var notifyButton = $("notify-optin");
  if ("Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(function () { notifyButton.hidden = true; });
    });
  }

  function notifyIfAssignedToMe(before, c, created) {
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    if (c.assignee !== ME.id || (before && before.assignee === ME.id)) { return; }
    if (!created && before === undefined && !c.waiting_since) { return; }
    var n = new Notification("New conversation for you", { body: customerName(c) + " · " + (CHANNEL_NAMES[c.channel] || c.channel), tag: "conversation-" + c.id });
    n.onclick = function () { window.focus(); openConversation(c.id, true); };
  }

  // --- The thread ----------------------------------------------------------------------------

  function closeThread() {
    if (state.current) { send({ type: "leave", conversation: state.current.id }); }
    state.current = null;
    $("thread").hidden = true;
    $("thread-empty").hidden = false;
    renderList();
  }

  function openConversation(id, push) {
    if (state.current && state.current.id !== id) { send({ type: "leave", conversation: state.current.id }); stopTyping(); }
    if (push) { history.pushState({ id: id }, "", "/conversations/" + id + "/"); }
    return api("GET", "/conversations/" + id + "/timeline/").then(function (data) {
      state.current = data.conversation;
      state.current.read_receipt = data.read_receipt;
      state.readSent = false;
      state.viewers = [];
      state.timeline.clear();
      data.items.forEach(function (item) { state.timeline.set(String(item.id), item); });
      $("thread-empty").hidden = true;
      $("thread").hidden = false;
      $("composer-error").textContent = "";
      if (uploads.conversation !== state.current.id) { uploadsClear(); }
      renderThreadHeader();
      renderTimeline(true);
      renderCollision();
      renderComposerRules();
      renderList();
      loadCustomer(data.conversation.customer.id);
      send({ type: "view", conversation: id });
      if (data.read_receipt === "open") { markRead(); }
    }).catch(function (err) {
      state.current = null;
      $("thread").hidden = true;
      $("thread-empty").hidden = false;
      $("thread-empty").textContent = err.status === 404 ? "Conversation not found." : "Could not open: " + err.message;
    });
  }

  function refreshTimeline() {
    if (!state.current) { return Promise.resolve(); }
    return api("GET", "/conversations/" + state.current.id + "/timeline/").then(function (data) {
      state.timeline.clear();
      data.items.forEach(function (item) { state.timeline.set(String(item.id), item); });
      upsertConversation(data.conversation);
      renderTimeline(true);
    }).catch(function (err) { if (err.status === 404) { removeConversation(state.current.id); } });
  }

  function markRead() {
    if (!state.current || state.readSent) { return; }
    state.readSent = true;
    api("POST", "conversations/" + state.current.id + "/read/", {}).then(function (c) { upsertConversation(c); })
      .catch(function () { state.readSent = false; });
  }

  function renderThreadHeader() {
    var c = state.current;
    $("thread-title").textContent = customerName(c);
    var inbox = INBOXES[c.inbox.id];
    $("thread-channel").replaceChildren(channelBadge(c.channel), " · " + (inbox ? inbox.name : c.inbox.name));
    var assignee = $("action-assignee");
    if (c.assignee && !assignee.querySelector('option[value="' + c.assignee + '"]')) {
      assignee.appendChild(el("option", { value: String(c.assignee), text: AGENTS[c.assignee] || "agent #" + c.assignee }));
    }
    assignee.value = c.assignee ? String(c.assignee) : "";
    $("action-team").value = c.team ? String(c.team) : "";
    $("action-status").value = c.status;
    $("snooze-wrap").hidden = c.status !== "snoozed";
    if (document.activeElement !== $("action-labels")) { $("action-labels").value = (c.labels || []).join(", "); }
  }

  function renderItem(item) {
    if (item.kind === "event") {
      var text = describeEvent(item);
      return el("li", { class: "event", "data-id": item.id, text: text + " · " + when(item.created_at) });
    }
    var classes = [item.is_private ? "note" : item.direction];
    if (state.current && item.conversation !== state.current.id) { classes.push("other-conversation"); }
    if (item.status === "failed") { classes.push("failed"); }
    var who = item.sender && item.sender.type === "customer" ? customerName(state.current)
      : item.author_name || (item.sender && item.sender.id && AGENTS[item.sender.id]) || (item.sender ? item.sender.type : "");
    var metaText = [who, CHANNEL_NAMES[item.channel] || item.channel, when(item.created_at)];
    if (item.direction === "out" && !item.is_private) { metaText.push(item.status + (item.tag ? " · " + item.tag : "")); }
    if (item.error && item.error.detail) { metaText.push(item.error.detail); }
    var children = [];
    if (item.subject) { children.push(el("strong", { text: item.subject + "\n" })); }
    children.push(document.createTextNode(item.deleted_at ? "(unsent by the customer)" : item.text || ""));
    (item.attachments || []).forEach(function (a) { children.push(renderAttachment(a)); });
    var qr = item.payload && item.payload.quick_replies;
    if (qr && qr.length) {
      children.push(el("span", { class: "quick-replies" }, qr.map(function (q) { return el("span", { text: q.title }); })));
    }
    children.push(el("span", { class: "msg-meta", text: metaText.filter(Boolean).join(" · ") }));
    return el("li", { class: classes.join(" "), "data-id": String(item.id) }, children);
  }

  // Only files we hold are shown inline: a provider's URL may expire or need credentials.
  function renderAttachment(a) {
    var name = a.name || a.content_type || "attachment";
    if (!a.url) { return el("span", { class: "attachment", text: name }); }
    if (a.state === "ready" && /^image\//.test(a.content_type || "")) {
      return el("a", { class: "attachment attachment-thumb", href: a.url, target: "_blank", rel: "noopener" }, [
        el("img", { src: a.url, alt: name, loading: "lazy" }),
      ]);
    }
    var label = a.state === "failed" ? name + " (could not be fetched)" : a.state === "pending" ? name + " (downloading…)" : name;
    return el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener", text: label });
  }

  function describeEvent(item) {
    var actor = item.actor_name || "System";
    var d = item.data || {};
    switch (item.event) {
      case "assigned": return actor + (d.to || d.assignee ? " assigned it to " + (AGENTS[d.to || d.assignee] || d.to_name || "an agent") : " unassigned it");
      case "status": return actor + " set status " + (d.to || d.status || "");
      case "team": return actor + " moved it to " + (TEAMS[d.to || d.team] || "another team");
      case "labels": return actor + " changed labels";
      case "window": return "The messaging window closed";
      default: return item.event;
    }
  }

  function renderTimeline(scroll) {
    var items = Array.from(state.timeline.values());
    items.sort(function (a, b) { return Date.parse(a.created_at) - Date.parse(b.created_at) || (String(a.id) < String(b.id) ? -1 : 1); });
    var nearBottom = timelineEl.scrollHeight - timelineEl.scrollTop - timelineEl.clientHeight < 80;
    timelineEl.replaceChildren.apply(timelineEl, items.map(renderItem));
    if (scroll || nearBottom) { timelineEl.scrollTop = timelineEl.scrollHeight; }
  }

  function upsertMessage(conversationId, message) {
    if (!state.current) { return; }
    var existing = state.timeline.get(String(message.id));
    var sameCustomer = conversationId === state.current.id || (existing !== undefined);
    if (!sameCustomer) { return; }
    // A reply's own POST answer can arrive after the socket told us it was sent: never go back.
    if (existing && STATUS_RANK[existing.status] > STATUS_RANK[message.status]) { return; }
    var c = state.conversations.get(conversationId) || state.current;
    message.kind = "message";
    message.channel = message.channel || (existing && existing.channel) || c.channel;
    message.author_name = message.author_name || (existing && existing.author_name) ||
      (message.sender && message.sender.type !== "customer" && AGENTS[message.sender.id]) || null;
    state.timeline.set(String(message.id), message);
    renderTimeline(false);
  }

  // --- Presence and collisions ---------------------------------------------------------------

  function renderCollision() {
    var others = state.viewers.filter(function (v) { return v.id !== ME.id; });
    var box = $("collision");
    if (!others.length) { box.hidden = true; box.textContent = ""; return; }
    var typing = others.filter(function (v) { return v.typing; });
    var names = others.map(function (v) { return v.name; }).join(", ");
    box.textContent = typing.length
      ? typing.map(function (v) { return v.name; }).join(", ") + (typing.length > 1 ? " are" : " is") + " typing a reply here."
      : names + (others.length > 1 ? " are" : " is") + " also viewing this conversation.";
    box.hidden = false;
  }

  var typingTimer = null, typingSentAt = 0;
  function noteTyping() {
    if (!state.current || currentMode() === "note") { return; }
    var now = Date.now();
    if (now - typingSentAt > 3000) { send({ type: "typing", conversation: state.current.id, typing: true }); typingSentAt = now; }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSentAt && state.current) { send({ type: "typing", conversation: state.current.id, typing: false }); }
    typingSentAt = 0;
  }

  // --- Composer ------------------------------------------------------------------------------

  function currentMode() { return composer.elements.mode.value; }

  function renderComposerRules() {
    var c = state.current;
    if (!c) { return; }
    var note = currentMode() === "note";
    composer.classList.toggle("note-mode", note);
    reply.placeholder = note ? "Private note: only agents see it" : "Type a reply; / for canned responses";
    var info = $("window-info"), human = $("human-agent-wrap");
    var meta = c.window && c.window.state;
    info.hidden = note || !meta;
    human.hidden = true;
    info.className = "window-info " + (meta || "");
    var blocked = false;
    if (!note && meta === "open") {
      info.textContent = "Messaging window closes in " + duration(Date.parse(c.window.expires_at) - Date.now());
    } else if (!note && meta === "human_agent") {
      human.hidden = false;
      $("human-agent-text").textContent = "Reply as a human agent (HUMAN_AGENT tag, possible until " + when(c.window.expires_at) + ")";
      info.textContent = "The 24-hour window has closed. Only a person may answer, with the HUMAN_AGENT tag, or not at all; closes in " +
        duration(Date.parse(c.window.expires_at) - Date.now()) + ".";
      blocked = !$("human-agent").checked;
    } else if (!note && meta === "closed") {
      info.textContent = "The messaging window is closed: the customer must write first. You can still add a private note.";
      blocked = true;
    }
    $("email-fields").hidden = note || c.channel !== "email";
    if (c.channel === "email" && $("email-subject").dataset.for !== String(c.id)) {
      $("email-subject").value = c.subject ? (/^re:/i.test(c.subject) ? c.subject : "Re: " + c.subject) : "";
      $("email-subject").dataset.for = String(c.id);
    }
    $("quick-replies-wrap").hidden = note || (c.channel !== "messenger" && c.channel !== "instagram");
    // Notes carry no files: they never reach the customer.
    $("attach-wrap").hidden = note;
    $("attachment-chips").hidden = note || !uploads.items.length;
    $("send").textContent = note ? "Add note" : "Send";
    $("send").disabled = blocked;
    updateCounter();
  }

  function updateCounter() {
    var counter = $("sms-counter");
    var c = state.current;
    if (!c || c.channel !== "sms" || currentMode() === "note") { counter.hidden = true; return; }
    var info = window.SmsSegments.count(reply.value);
    counter.hidden = false;
    var encoding = info.encoding === "gsm7" ? "GSM-7" : "UCS-2 (Unicode)";
    var unit = info.encoding === "gsm7" ? "" : " units";
    counter.textContent = info.units + "/" + (info.segments * info.perSegment || info.perSegment) + unit + " · " +
      info.segments + (info.segments === 1 ? " segment" : " segments") + " · " + encoding +
      (info.tooLong ? " · over " + window.SmsSegments.MAX_CHARACTERS + " characters" : "");
    counter.classList.toggle("over", info.tooLong);
  }

  // Canned responses: typing "/short" at the start shows matches; Enter or a click inserts one.
  var suggestions = $("canned-suggestions");
  var suggestionIndex = 0;
  function cannedMatches() {
    var m = reply.value.match(/^\/(\S*)$/);
    if (!m) { return null; }
    var q = m[1].toLowerCase();
    return DATA.canned.filter(function (r) {
      return r.shortcut.toLowerCase().indexOf(q) === 0 || r.title.toLowerCase().indexOf(q) >= 0;
    }).slice(0, 8);
  }
  function renderSuggestions() {
    var found = cannedMatches();
    if (!found || !found.length) { suggestions.hidden = true; return; }
    suggestionIndex = Math.min(suggestionIndex, found.length - 1);
    suggestions.replaceChildren.apply(suggestions, found.map(function (r, i) {
      var li = el("li", { role: "option", "aria-selected": String(i === suggestionIndex), text: "/" + r.shortcut + " — " + r.title });
      li.addEventListener("mousedown", function (e) { e.preventDefault(); insertCanned(r); });
      return li;
    }));
    suggestions.hidden = false;
  }
  function insertCanned(r) {
    var name = state.current ? customerName(state.current).split(" ")[0] : "";
    reply.value = r.text.replace(/\{\{\s*customer\s*\}\}/g, name);
    suggestions.hidden = true;
    updateCounter();
    reply.focus();
  }

  reply.addEventListener("input", function () { updateCounter(); renderSuggestions(); noteTyping(); });
  reply.addEventListener("keydown", function (e) {
    var found = !suggestions.hidden && cannedMatches();
    if (found && found.length) {
      if (e.key === "ArrowDown") { suggestionIndex = (suggestionIndex + 1) % found.length; renderSuggestions(); e.preventDefault(); return; }
      if (e.key === "ArrowUp") { suggestionIndex = (suggestionIndex + found.length - 1) % found.length; renderSuggestions(); e.preventDefault(); return; }
      if (e.key === "Enter" || e.key === "Tab") { insertCanned(found[suggestionIndex]); e.preventDefault(); return; }
      if (e.key === "Escape") { suggestions.hidden = true; return; }
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); composer.requestSubmit(); }
  });
  // Seen etiquette: the customer learns the agent has read it when the agent starts answering.
  reply.addEventListener("focus", function () {
    if (state.current && state.current.read_receipt === "answer" && currentMode() === "reply") { markRead(); }
  });
  Array.from(composer.elements.mode).forEach(function (r) { r.addEventListener("change", renderComposerRules); });
  $("human-agent").addEventListener("change", renderComposerRules);

  function quotedText(text) {
    var lastIn = Array.from(state.timeline.values()).filter(function (i) {
      return i.kind === "message" && i.direction === "in" && i.conversation === state.current.id;
    }).pop();
    if (!lastIn || !$("email-quote").checked) { return text; }
    var quoted = (lastIn.text || "").split("\n").map(function (l) { return "> " + l; }).join("\n");
    return text + "\n\nOn " + when(lastIn.created_at) + ", " + customerName(state.current) + " wrote:\n" + quoted;
  }

  // --- Attachments: uploaded at once, sent by token with the reply ----------------------------

  var uploads = { items: [], pending: 0, conversation: null };  // tokens are bound to one conversation
  var fileInput = $("attachment-file");

  function renderUploads() {
    var chips = $("attachment-chips");
    chips.replaceChildren.apply(chips, uploads.items.map(function (u, i) {
      var remove = el("button", { type: "button", class: "chip-remove", "aria-label": "Remove " + u.name, text: "×" });
      remove.addEventListener("click", function () { uploads.items.splice(i, 1); renderUploads(); fileInput.focus(); });
      return el("li", { class: "chip" }, [el("span", { text: u.name }), remove]);
    }));
    chips.hidden = !uploads.items.length;
    fileInput.setAttribute("aria-busy", uploads.pending ? "true" : "false");
  }

  function uploadsClear() {
    uploads.items = [];
    uploads.conversation = state.current ? state.current.id : null;
    fileInput.value = "";
    renderUploads();
  }

  fileInput.addEventListener("change", function () {
    var c = state.current;
    if (!c) { return; }
    if (uploads.conversation !== c.id) { uploadsClear(); }
    $("composer-error").textContent = "";
    Array.from(fileInput.files).forEach(function (file) {
      var form = new FormData();
      form.append("file", file, file.name);
      uploads.pending += 1;
      renderUploads();
      api("POST", "conversations/" + c.id + "/attachments/", form).then(function (stored) {
        if (!state.current || state.current.id !== c.id) { return; }
        uploads.items.push({ token: stored.token, name: stored.name || file.name });
      }).catch(function (err) {
        $("composer-error").textContent = "Could not attach " + file.name + ": " + err.message;
      }).finally(function () { uploads.pending -= 1; renderUploads(); });
    });
    fileInput.value = "";
  });

  composer.addEventListener("submit", function (e) {
    e.preventDefault();
    var c = state.current;
    if (!c) { return; }
    var text = reply.value;
    var note = currentMode() === "note";
    var body, path;
    if (note) {
      path = "conversations/" + c.id + "/notes/"; body = { text: text };
    } else {
      path = "conversations/" + c.id + "/messages/"; body = { text: text };
      if (c.window && c.window.state === "human_agent" && $("human-agent").checked) { body.tag = "HUMAN_AGENT"; }
      if (c.channel === "email") { body.subject = $("email-subject").value; body.text = quotedText(text); }
      var qr = $("quick-replies").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      if (qr.length && (c.channel === "messenger" || c.channel === "instagram")) {
        body.quick_replies = qr.map(function (t) { return { title: t.slice(0, 20), payload: t.toUpperCase().replace(/\W+/g, "_") }; });
      }
      if (uploads.items.length) { body.attachments = uploads.items.map(function (u) { return u.token; }); }
    }
    if (uploads.pending) { $("composer-error").textContent = "Wait until the file has uploaded."; return; }
    $("send").disabled = true;
    $("composer-error").textContent = "";
    stopTyping();
    api("POST", path, body).then(function (message) {
      reply.value = "";
      $("quick-replies").value = "";
      if (!note) { uploadsClear(); }
      upsertMessage(c.id, message);
      updateCounter();
    }).catch(function (err) {
      $("composer-error").textContent = err.message;
    }).finally(function () { renderComposerRules(); });
  });

  // --- Conversation actions ------------------------------------------------------------------

  function patch(body) {
    var c = state.current;
    if (!c) { return; }
    $("composer-error").textContent = "";
    api("PATCH", "conversations/" + c.id + "/", body).then(function (updated) { upsertConversation(updated); })
      .catch(function (err) { $("composer-error").textContent = err.message; renderThreadHeader(); });
  }
  $("action-assignee").addEventListener("change", function (e) { patch({ assignee: e.target.value ? Number(e.target.value) : null }); });
  $("action-team").addEventListener("change", function (e) { patch({ team: e.target.value ? Number(e.target.value) : null }); });
  $("action-status").addEventListener("change", function (e) {
    if (e.target.value === "snoozed") {
      $("snooze-wrap").hidden = false;
      var until = $("action-snooze");
      if (!until.value) {
        var t = new Date(Date.now() + 24 * 3600 * 1000);
        t.setMinutes(t.getMinutes() - t.getTimezoneOffset());
        until.value = t.toISOString().slice(0, 16);
      }
      patch({ status: "snoozed", snoozed_until: new Date(until.value).toISOString() });
    } else {
      patch({ status: e.target.value });
    }
  });
  $("action-snooze").addEventListener("change", function (e) {
    if (e.target.value) { patch({ status: "snoozed", snoozed_until: new Date(e.target.value).toISOString() }); }
  });
  $("action-labels").addEventListener("change", function (e) {
    patch({ labels: e.target.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean) });
  });
  $("action-unread").addEventListener("click", function () {
    var c = state.current;
    if (!c) { return; }
    api("POST", "conversations/" + c.id + "/unread/", {}).then(function (updated) {
      upsertConversation(updated);
      closeThread();
      history.pushState({}, "", "/");
    }).catch(function (err) { $("composer-error").textContent = err.message; });
  });

  // --- Customer panel ------------------------------------------------------------------------
  // Profile, orders, consent and likely duplicates of the open conversation's customer. Every
  // write goes through the customers API and the panel re-renders from its answer.

  var panel = $("customer-panel");
  var shown = null;      // the customer in the panel, as GET /customers/{id}/ returns it
  var PURPOSES = ["marketing", "transactional"];

  function money(amount, currency) { return amount + (currency ? " " + currency : ""); }
  function words(s) { return (s || "").replace(/_/g, " "); }
  function splitLabels(text) { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }

  function loadCustomer(id) {
    return api("GET", "customers/" + id + "/").then(function (cu) {
      if (!state.current || state.current.customer.id !== id) { return; }
      renderCustomer(cu);
      loadMergeSuggestions(cu.id);
    }).catch(function () {
      shown = null;
      panel.replaceChildren(el("h2", { text: state.current ? customerName(state.current) : "Customer" }),
        el("p", { class: "muted", text: "Customer details unavailable." }));
    });
  }

  function renderCustomer(cu, message) {
    var same = shown && shown.id === cu.id;
    var suggestions = same ? $("merge-suggestions") : null;
    shown = cu;
    var parts = [el("h2", { id: "customer-name", text: cu.name || "Customer" })];
    var contact = [cu.email, cu.phone, cu.timezone].filter(Boolean).join(" · ");
    if (contact) { parts.push(el("p", { class: "muted", text: contact })); }
    if (cu.erased_at) { parts.push(el("p", { class: "consent-no", text: "This customer's personal data was erased." })); }
    parts.push(el("p", { id: "customer-status", class: "customer-status", role: "status", text: message || "" }));
    parts.push(profileForm(cu));
    parts.push(el("h3", { text: "Identities" }));
    parts.push(el("ul", { "aria-label": "Identities" }, (cu.identities || []).map(function (i) {
      return el("li", {}, [channelBadge(i.channel), " " + (i.display_name || i.external_id || "")]);
    })));
    parts.push(el("h3", { text: "Orders" }));
    parts.push(ordersSection(cu));
    parts.push(el("h3", { text: "Consent" }));
    parts.push(consentTable(cu.consent || {}));
    if (!cu.erased_at) { parts.push(consentForm(cu)); }
    parts.push(suggestions || el("section", { id: "merge-suggestions", "aria-label": "Possible duplicates" }));
    panel.replaceChildren.apply(panel, parts);
  }

  function customerStatus(text, isError) {
    var box = $("customer-status");
    if (!box) { return; }
    box.textContent = text;
    box.classList.toggle("error", Boolean(isError));
  }

  function profileForm(cu) {
    var labels = el("input", { type: "text", id: "customer-labels", name: "labels", placeholder: "vip, wholesale",
      value: (cu.labels || []).map(function (l) { return l.name || l; }).join(", ") });
    labels.setAttribute("list", "label-names");
    var notes = el("textarea", { id: "customer-notes", name: "notes", rows: 3, value: cu.notes || "" });
    var save = el("button", { type: "submit", text: "Save customer" });
    var form = el("form", { class: "customer-form", "aria-label": "Customer details" }, [
      el("label", { htmlFor: "customer-labels", text: "Customer labels" }), labels,
      el("label", { htmlFor: "customer-notes", text: "Customer notes" }), notes,
      save,
    ]);
    form.noValidate = true;
    if (cu.erased_at) { labels.disabled = notes.disabled = save.disabled = true; }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      save.disabled = true;
      api("PATCH", "customers/" + cu.id + "/", { labels: splitLabels(labels.value), notes: notes.value }).then(function (updated) {
        rememberLabels(updated.labels || []);
        if (shown && shown.id === updated.id) { renderCustomer(updated, "Saved."); }
      }).catch(function (err) { save.disabled = false; customerStatus("Not saved: " + err.message, true); });
    });
    return form;
  }

  // New labels join the datalist the label inputs suggest from.
  function rememberLabels(labels) {
    var list = $("label-names");
    labels.forEach(function (l) {
      var name = l.name || l;
      if (DATA.labels.indexOf(name) < 0) { DATA.labels.push(name); list.appendChild(el("option", { value: name })); }
    });
  }

  function ordersSection(cu) {
    var orders = cu.orders || [];
    var wrap = el("div", { class: "orders" }, [
      el("p", { class: "lifetime", text: "Lifetime value: " + money(cu.lifetime_value, cu.currency) + " · " +
        orders.length + (orders.length === 1 ? " order" : " orders") }),
    ]);
    if (!orders.length) { wrap.appendChild(el("p", { class: "muted", text: "No orders." })); return wrap; }
    wrap.appendChild(el("ul", { class: "order-list", "aria-label": "Orders" }, orders.map(orderRow)));
    return wrap;
  }

  function orderRow(o) {
    var headId = "order-" + o.id;
    var head = [el("strong", { id: headId, text: "Order " + (o.name || "#" + o.number) }), " · " + when(o.placed_at)];
    var total = "Total " + money(o.total, o.currency);
    if (Number(o.refunded) > 0) { total += " · refunded " + money(o.refunded, o.currency); }
    if (o.cancelled_at) { total += " · cancelled " + when(o.cancelled_at); }
    var status = [
      "Payment: " + (words(o.financial_status) || "unknown"),
      "Fulfilment: " + (words(o.fulfillment_status) || "unfulfilled"),
    ];
    if (o.shipment_status) { status.push("Shipment: " + words(o.shipment_status)); }
    var children = [
      el("p", { class: "order-head" }, head),
      el("ul", { class: "order-items", "aria-label": "Items of order #" + o.number }, (o.items || []).map(function (i) {
        return el("li", { text: i.title + " × " + i.quantity + " · " + money(i.price, o.currency) });
      })),
      el("p", { text: total }),
      el("p", { class: "muted", text: status.join(" · ") }),
    ];
    if (o.tracking_number || o.tracking_url) {
      var tracking = o.tracking_url
        ? el("a", { href: o.tracking_url, target: "_blank", rel: "noopener noreferrer", text: o.tracking_number || "Track the parcel" })
        : el("span", { text: o.tracking_number });
      children.push(el("p", { class: "tracking" }, ["Tracking: ", tracking]));
    }
    var insert = el("button", { type: "button", class: "insert-order", text: "Insert into reply", "aria-describedby": headId });
    insert.addEventListener("click", function () { insertIntoReply(o.summary); });
    children.push(insert);
    return el("li", { class: "order", "data-order": o.number }, children);
  }

  // At the cursor (or over the selection) of the Reply box, then the box's own input handlers
  // run, so the SMS counter and the other length rules see the new text.
  function insertIntoReply(text) {
    if (!state.current || !text) { return; }
    var start = reply.selectionStart, end = reply.selectionEnd;
    if (start === null || start === undefined) { start = end = reply.value.length; }
    var before = reply.value.slice(0, start), after = reply.value.slice(end);
    var piece = (before && !/\s$/.test(before) ? " " : "") + text + (after && !/^\s/.test(after) ? " " : "");
    reply.focus();
    reply.setRangeText(piece, start, end, "end");
    reply.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function consentTable(consent) {
    var channels = Object.keys(CHANNEL_NAMES).filter(function (c) { return c in consent; });
    Object.keys(consent).forEach(function (c) { if (channels.indexOf(c) < 0) { channels.push(c); } });
    var head = el("tr", {}, [el("th", { scope: "col", text: "Channel" })].concat(PURPOSES.map(function (p) {
      return el("th", { scope: "col", text: p.charAt(0).toUpperCase() + p.slice(1) });
    })));
    var rows = channels.map(function (channel) {
      return el("tr", {}, [el("th", { scope: "row", text: CHANNEL_NAMES[channel] || channel })].concat(PURPOSES.map(function (p) {
        var v = (consent[channel] || {})[p];
        var text = !v ? "not asked" : v.granted ? "granted" : "withdrawn";
        var cell = el("td", { class: !v ? "muted" : v.granted ? "consent-yes" : "consent-no", text: text });
        if (v) { cell.title = (v.source ? "by " + v.source + ", " : "") + when(v.at); }
        return cell;
      })));
    });
    return el("table", { class: "consent", "aria-label": "Consent" }, [el("thead", {}, [head]), el("tbody", {}, rows)]);
  }

  function select(id, label, options) {
    var node = el("select", { id: id }, options.map(function (o) { return el("option", { value: o[0], text: o[1] }); }));
    return el("label", { htmlFor: id }, [label + " ", node]);
  }

  function consentForm(cu) {
    var form = el("form", { class: "consent-form", "aria-label": "Record a consent change" }, [
      select("consent-channel", "Consent channel", Object.keys(CHANNEL_NAMES).map(function (c) { return [c, CHANNEL_NAMES[c]]; })),
      select("consent-purpose", "Consent purpose", PURPOSES.map(function (p) { return [p, p]; })),
      select("consent-granted", "Consent decision", [["false", "Withdrawn"], ["true", "Granted"]]),
      el("button", { type: "submit", text: "Record consent" }),
    ]);
    var channel = form.querySelector("#consent-channel");
    if (state.current && CHANNEL_NAMES[state.current.channel]) { channel.value = state.current.channel; }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = {
        channel: channel.value,
        purpose: form.querySelector("#consent-purpose").value,
        granted: form.querySelector("#consent-granted").value === "true",
        source: "agent",
      };
      api("POST", "customers/" + cu.id + "/consents/", body).then(function (updated) {
        if (shown && shown.id === updated.id) {
          renderCustomer(updated, "Recorded: " + CHANNEL_NAMES[body.channel] + " " + body.purpose + " " +
            (body.granted ? "granted." : "withdrawn."));
        }
      }).catch(function (err) { customerStatus("Not recorded: " + err.message, true); });
    });
    return form;
  }

  function loadMergeSuggestions(id) {
    api("GET", "customers/" + id + "/merge-suggestions/").then(function (data) {
      var box = $("merge-suggestions");
      if (!shown || shown.id !== id || !box) { return; }
      var found = data.results || [];
      if (!found.length) { box.replaceChildren(); return; }
      box.replaceChildren(el("h3", { text: "Possible duplicates" }),
        el("ul", { "aria-label": "Possible duplicates" }, found.map(function (s) { return suggestionRow(shown, s); })));
    }).catch(function () { /* suggestions are a convenience: the panel works without them */ });
  }

  function suggestionRow(cu, s) {
    var other = s.customer;
    var nameId = "duplicate-" + other.id;
    var contact = [other.email, other.phone].filter(Boolean).join(" · ");
    var merge = el("button", { type: "button", text: "Merge into this customer", "aria-describedby": nameId });
    merge.addEventListener("click", function () {
      var name = other.name || "customer #" + other.id;
      var ok = window.confirm("Merge " + name + " into " + (cu.name || "this customer") + "? Their conversations, " +
        "orders, identities and consent move here. This cannot be undone.");
      if (!ok) { return; }
      merge.disabled = true;
      api("POST", "customers/" + cu.id + "/merge/", { other: other.id }).then(function (merged) {
        if (shown && shown.id === cu.id) { renderCustomer(merged, "Merged " + name + " into this customer."); }
        loadMergeSuggestions(cu.id);
        loadList(false);
        refreshTimeline();
      }).catch(function (err) { merge.disabled = false; customerStatus("Not merged: " + err.message, true); });
    });
    return el("li", { class: "duplicate" }, [
      el("strong", { id: nameId, text: other.name || "Customer #" + other.id }),
      contact ? el("span", { class: "muted", text: " · " + contact }) : null,
      el("span", { class: "muted", text: " · " + (s.reasons || []).map(words).join(", ") }),
      merge,
    ]);
  }

  // --- Order lookup from the search box ------------------------------------------------------
  // The conversation search already matches order numbers; this adds "Order #1042 → customer",
  // a direct way to that customer's latest conversation.

  var ORDER_QUERY = /^#\s*([A-Za-z0-9-]{1,32})$|^(\d{3,32})$/;
  var lookupSeq = 0;

  function lookupOrder() {
    var box = $("order-lookup");
    var m = $("filters").elements.q.value.trim().match(ORDER_QUERY);
    var seq = ++lookupSeq;
    if (!m) { box.hidden = true; box.replaceChildren(); return Promise.resolve(); }
    var number = m[1] || m[2];
    return api("GET", "orders/?number=" + encodeURIComponent(number)).then(function (page) {
      var orders = (page.results || []).slice(0, 5);
      return Promise.all(orders.map(function (o) {
        return api("GET", "conversations/?customer=" + o.customer.id + "&ordering=-last_message_at")
          .then(function (c) { return { order: o, conversation: (c.results || [])[0] || null }; })
          .catch(function () { return { order: o, conversation: null }; });
      }));
    }).then(function (found) {
      if (seq !== lookupSeq) { return; }
      box.hidden = !found.length;
      box.replaceChildren.apply(box, found.map(function (f) {
        var text = "Order #" + f.order.number + " → " + (f.order.customer.name || "customer #" + f.order.customer.id);
        if (!f.conversation) { return el("li", { text: text + " (no conversation)" }); }
        var link = el("a", { href: "/conversations/" + f.conversation.id + "/", text: text });
        link.addEventListener("click", function (e) {
          if (e.ctrlKey || e.metaKey || e.shiftKey) { return; }
          e.preventDefault();
          openConversation(f.conversation.id, true);
        });
        return el("li", {}, [link]);
      }));
    }).catch(function () { if (seq === lookupSeq) { box.hidden = true; box.replaceChildren(); } });
  }

  // --- The socket ----------------------------------------------------------------------------

  var socket = null, attempts = 0, everConnected = false, reconnectTimer = null;
  var connection = $("connection");

  function setConnection(text, cls) { connection.textContent = text; connection.className = "connection " + cls; }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath);
    socket.addEventListener("open", function () {
      setConnection("Live", "live");
      var resync = everConnected;
      everConnected = true;
      attempts = 0;
      if (state.current) { send({ type: "view", conversation: state.current.id }); }
      // The layer does not replay: whatever happened while we were away comes from REST.
      if (resync) { loadList(false); refreshTimeline(); }
    });
    socket.addEventListener("message", function (e) {
      var frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      handleFrame(frame);
    });
    socket.addEventListener("close", function (e) {
      if (e.code === 4401) { window.location.href = "/accounts/login/?next=" + encodeURIComponent(window.location.pathname); return; }
      // Exponential backoff with jitter, capped, so a restarted server is not stampeded.
      var delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
      attempts += 1;
      setConnection("Reconnecting…", "reconnecting");
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, delay);
    });
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "message.created":
      case "message.updated":
        upsertMessage(frame.conversation, frame.message);
        break;
      case "conversation.created":
      case "conversation.updated":
        upsertConversation(frame.conversation, frame.type === "conversation.created");
        break;
      case "conversation.removed":
        removeConversation(frame.conversation.id);
        break;
      case "access.changed":
        // Our teams, role or inboxes changed: what we may see comes from REST, as after a reconnect.
        loadList(false); refreshTimeline();
        break;
      case "presence":
        if (state.current && frame.conversation === state.current.id) { state.viewers = frame.viewers || []; renderCollision(); }
        break;
      default:
        break;
    }
  }

  setInterval(function () {
    if (state.current) { send({ type: "view", conversation: state.current.id }); }
    renderComposerRules();  // the window countdown moves on
  }, 25000);

  // --- Wiring --------------------------------------------------------------------------------

  Array.from(document.querySelectorAll(".tab")).forEach(function (tab) {
    tab.addEventListener("click", function () {
      state.tab = tab.dataset.tab;
      document.querySelectorAll(".tab").forEach(function (t) { t.setAttribute("aria-pressed", String(t === tab)); });
      loadList(false);
    });
  });
  var searchTimer = null;
  $("filters").addEventListener("input", function (e) {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { loadList(false); if (e.target.name === "q") { lookupOrder(); } }, e.target.name === "q" ? 300 : 0);
  });
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); loadList(false); lookupOrder(); });
  $("load-more").addEventListener("click", function () { loadList(true); });
  listEl.addEventListener("click", function (e) {
    var a = e.target.closest("a[data-id]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey) { return; }
    e.preventDefault();
    openConversation(Number(a.dataset.id), true);
  });
  window.addEventListener("popstate", function () {
    var m = window.location.pathname.match(/^\/conversations\/(\d+)\/$/);
    if (m) { openConversation(Number(m[1]), false); } else { closeThread(); }
  });
  window.addEventListener("beforeunload", function () { stopTyping(); if (state.current) { send({ type: "leave", conversation: state.current.id }); } });

  // Deep link: /conversations/<id>/ opens that thread; the queue still starts on "Mine" or "All".
  var initial = Number(root.dataset.conversationId) || null;
  if (initial) {
    state.tab = "all";
    document.querySelectorAll(".tab").forEach(function (t) { t.setAttribute("aria-pressed", String(t.dataset.tab === "all")); });
  }
  loadList(false);
  connect();
  if (initial) { openConversation(initial, false); }
})();
