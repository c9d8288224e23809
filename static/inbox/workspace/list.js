// The queue: tabs, filters, the conversation list and the order lookup above it.
// A newer list request supersedes older ones: each is aborted when the next starts, and an
// answer that is not the latest request's is dropped (sequence number), so the rows always
// match the filters on screen.
import { get, isAbort } from "../../app/api.js";
import { el, $, errorWithRetry } from "../../app/dom.js";
import { dateTime, absolute, duration } from "../../app/format.js";
import { gettext, ngettext, interpolate } from "../../app/i18n.js";
import { state, ME, ICONS, CHANNEL_NAMES, customerName, agentName } from "./state.js";
import { openConversation, closeThread, setThreadGone } from "./thread.js";
import { notifyIfAssignedToMe } from "./notify.js";
import { showPane } from "./panes.js";
import { rowCheckbox, selectionChanged } from "./bulk.js";
import { viewLeft } from "./views.js";

const listEl = $("conversation-list");
const form = $("filters");
const STATUS_NAMES = { open: gettext("Open"), pending: gettext("Pending"), snoozed: gettext("Snoozed"), resolved: gettext("Resolved") };
// "Searching open conversations only.": one sentence per status (the words agree differently in each language).
const SEARCHING_ONLY = {
  open: gettext("Searching open conversations only."), pending: gettext("Searching pending conversations only."),
  snoozed: gettext("Searching snoozed conversations only."), resolved: gettext("Searching resolved conversations only."),
};
const SLA_TARGETS = { first_response: gettext("first response"), next_response: gettext("next response"), resolution: gettext("resolution") };
let listSeq = 0;
let listAbort = null;

export function channelBadge(channel) {
  return el("span", { class: "channel" }, [
    el("img", { src: ICONS + channel + ".svg", alt: "", width: 16, height: 16 }),
    el("span", { class: "channel-name", text: CHANNEL_NAMES[channel] || channel }),
  ]);
}

export function filters() {
  const params = new URLSearchParams();
  for (const name of ["q", "status", "channel", "label", "window", "sla", "ordering"]) {
    const v = form.elements[name].value.trim();
    if (v) { params.set(name, v); }
  }
  if (state.tab === "mine") { params.set("assignee", "me"); }
  if (state.tab === "unassigned") { params.set("assignee", "none"); }
  // Every team the agent belongs to, not just the first.
  if (state.tab === "team" && ME.teams.length) { params.set("team", ME.teams.join(",")); }
  // A saved view's filters the form has no field for (an inbox, someone else, a team...).
  for (const [name, value] of Object.entries(state.extra)) { params.set(name, value); }
  return params;
}

// Said to screen readers once the rows are in: "1 conversation", "12 conversations" (more may load).
function countText() {
  return interpolate(ngettext("%(n)s conversation", "%(n)s conversations", state.order.length), { n: state.order.length });
}

function skeleton(on) {
  $("list-skeleton").hidden = !on;
  $("list-loading").textContent = on ? gettext("Loading conversations…") : countText();
  listEl.setAttribute("aria-busy", on ? "true" : "false");
}

/** Load the first page (or, with more, the next one). quiet keeps the rows shown while it loads. */
export function loadList(more = false, { quiet = false } = {}) {
  const seq = ++listSeq;
  if (listAbort) { listAbort.abort(); }
  const controller = new AbortController();
  listAbort = controller;
  const url = more && state.next ? state.next : "conversations/?" + filters().toString();
  $("list-error").replaceChildren();
  $("list-error").hidden = true;
  if (!more && !quiet) {
    // The old rows would claim to match the new filters: clear them while the new ones load.
    state.conversations.clear();
    state.order = [];
    listEl.replaceChildren();
    $("list-empty").hidden = true;
    $("load-more").hidden = true;
    skeleton(true);
  } else {
    listEl.setAttribute("aria-busy", "true");
  }
  $("load-more").disabled = more;
  return get(url, { signal: controller.signal }).then((page) => {
    if (seq !== listSeq) { return; }  // a newer request was made meanwhile: its answer wins
    if (!more) { state.conversations.clear(); state.order = []; }
    for (const c of page.results) {
      if (!state.conversations.has(c.id)) { state.order.push(c.id); }
      state.conversations.set(c.id, c);
    }
    state.next = page.next;
    renderList();
  }).catch((err) => {
    if (isAbort(err) || seq !== listSeq) { return; }
    const box = $("list-error");
    box.replaceChildren(errorWithRetry(interpolate(gettext("Could not load conversations: %(reason)s"), { reason: err.message }), () => loadList(more)));
    box.hidden = false;
  }).finally(() => {
    if (seq !== listSeq) { return; }
    skeleton(false);
    $("load-more").disabled = false;
    listAbort = null;
  });
}

// Client-side version of the filters, for conversations that arrive over the socket.
export function matches(c) {
  const p = filters();
  if (p.get("q")) { return false; }  // search is the server's job: only update rows already shown
  if (p.get("status") && p.get("status").split(",").indexOf(c.status) < 0) { return false; }
  if (p.get("channel") && c.channel !== p.get("channel")) { return false; }
  if (p.get("label") && (c.labels || []).indexOf(p.get("label")) < 0) { return false; }
  if (p.get("assignee") === "me" && c.assignee !== ME.id) { return false; }
  if (p.get("assignee") === "none" && c.assignee) { return false; }
  if (p.get("assignee") && /^\d+$/.test(p.get("assignee")) && c.assignee !== Number(p.get("assignee"))) { return false; }
  if (p.get("inbox") && c.inbox && c.inbox.id !== Number(p.get("inbox"))) { return false; }
  if (p.get("unread") === "true" && !c.unread) { return false; }
  if (p.get("team") && p.get("team").split(",").indexOf(String(c.team)) < 0) { return false; }
  const w = p.get("window");
  if (w) {
    const s = c.window && c.window.state;
    if (w === "open" && s !== "open") { return false; }
    if (w === "closed" && (!c.window || s === "open")) { return false; }
    if (w === "expiring" && !(s === "open" && new Date(c.window.expires_at) - Date.now() < 2 * 3600 * 1000)) { return false; }
  }
  const sla = p.get("sla");
  if (sla) {
    const due = c.sla && c.sla.due_at ? Date.parse(c.sla.due_at) : null;
    if (due === null) { return false; }
    if (sla === "breached" && due >= Date.now()) { return false; }
    if (sla === "due_1h" && (due < Date.now() || due - Date.now() >= 3600 * 1000)) { return false; }
  }
  return true;
}

// The SLA badge: the running target due soonest, "due in 12 min" or "overdue 8 min" (null: none running).
function slaBadge(c) {
  if (!c.sla || !c.sla.due_at) { return null; }
  const left = Date.parse(c.sla.due_at) - Date.now();
  const late = left < 0;
  const running = (c.sla.targets || []).filter((t) => t.status === "running").sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
  const what = running.length ? SLA_TARGETS[running[0].target] || running[0].target.replace("_", " ") : gettext("SLA");
  return el("span", {
    class: "sla-badge" + (late ? " overdue" : left < 3600 * 1000 ? " soon" : ""),
    title: interpolate(gettext("%(policy)s: %(target)s due %(when)s"), { policy: c.sla.policy.name, target: what, when: absolute(c.sla.due_at) }),
    text: interpolate(late ? gettext("overdue %(time)s") : gettext("due in %(time)s"), { time: duration(late ? -left : left) }),
  });
}

function sortKey(c, ordering) {
  if (ordering === "sla_due_at") { return c.sla && c.sla.due_at ? Date.parse(c.sla.due_at) : Infinity; }
  if (ordering === "waiting_since") { return c.waiting_since ? Date.parse(c.waiting_since) : Infinity; }
  if (ordering === "window_expires_at") { return c.window && c.window.expires_at ? Date.parse(c.window.expires_at) : Infinity; }
  return c.last_message_at ? -Date.parse(c.last_message_at) : Infinity;
}

function resort() {
  const ordering = form.elements.ordering.value;
  state.order.sort((a, b) => {
    const ka = sortKey(state.conversations.get(a), ordering), kb = sortKey(state.conversations.get(b), ordering);
    if (ka !== kb) { return ka < kb ? -1 : 1; }
    return b - a;
  });
}

// The server's snippet is HTML-escaped text with <mark>…</mark> around the matches: its parts
// become text nodes again (never parsed as HTML).
function unescaped(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, "&");
}

// Highlighted parts of a search snippet: the server marks them with <mark>…</mark> (or <b>…</b>);
// without marks, the words of the query are highlighted here. Always text nodes, never HTML.
function highlighted(text, query, escaped = false) {
  const parts = String(text).split(/<\/?(?:mark|b)>/i).map((part) => (escaped ? unescaped(part) : part));
  if (parts.length > 1) {
    return parts.map((part, i) => (i % 2 ? el("mark", { text: part }) : document.createTextNode(part)));
  }
  const words = (query || "").split(/\s+/).filter((w) => w.length > 1 && !/^-|^or$/i.test(w)).map((w) => w.replace(/["#]/g, ""));
  if (!words.length) { return [document.createTextNode(text)]; }
  const pattern = new RegExp("(" + words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|") + ")", "ig");
  return String(text).split(pattern).map((part, i) => (i % 2 ? el("mark", { text: part }) : document.createTextNode(part)));
}

function preview(c) {
  const q = form.elements.q.value.trim();
  if (q && c.snippet) { return el("span", { class: "preview snippet" }, highlighted(c.snippet, q, true)); }
  const last = c.last_message;
  if (!last) { return null; }
  const who = last.direction === "out" ? (last.sender_type === "bot" ? gettext("Bot: ") : last.sender_type === "system" ? "" : gettext("Agent: ")) : "";
  const text = last.text || gettext("(attachment)");
  return el("span", { class: "preview" + (last.direction === "out" ? " out" : "") }, [who ? el("span", { class: "preview-who", text: who }) : null, ...(q ? highlighted(text, q) : [text])]);
}

function renderRow(c) {
  const waiting = c.waiting_since ? interpolate(gettext("waiting %(time)s"), { time: duration(Date.now() - Date.parse(c.waiting_since)) }) : (STATUS_NAMES[c.status] || c.status);
  const meta = [el("span", { class: c.waiting_since ? "waiting" : "", text: waiting })];
  if (c.window && c.window.state) {
    const label = c.window.state === "open" ? interpolate(gettext("closes in %(time)s"), { time: duration(Date.parse(c.window.expires_at) - Date.now()) })
      : c.window.state === "human_agent" ? gettext("human agent only") : gettext("window closed");
    meta.push(el("span", { class: "window-badge " + c.window.state, text: label, title: c.window.expires_at ? interpolate(gettext("Until %(when)s"), { when: absolute(c.window.expires_at) }) : null }));
  }
  const sla = slaBadge(c);
  if (sla) { meta.push(sla); }
  if (c.assignee) { meta.push(el("span", { class: "assignee", text: "→ " + (c.assignee === ME.id ? gettext("me") : agentName(c.assignee)) })); }
  for (const l of c.labels || []) { meta.push(el("span", { class: "label-chip", text: l })); }
  const at = c.last_message_at;
  // Unread for me (per agent: opening it clears it for me only).
  const unread = isUnread(c) ? el("span", { class: "badge" }, [String(c.unread_count || 1), el("span", { class: "visually-hidden", text: " " + gettext("unread") })]) : null;
  const link = el("a", { href: "/conversations/" + c.id + "/", "data-id": c.id, class: "row-link" }, [
    el("span", { class: "row-top" }, [
      channelBadge(c.channel),
      el("span", { class: "name", text: customerName(c) }),
      at ? el("time", { class: "row-time", datetime: at, title: absolute(at), text: dateTime(at) }) : null,
      unread,
    ]),
    preview(c),
    el("span", { class: "meta" }, meta),
  ]);
  const li = el("li", { "data-id": c.id, class: "row" }, [rowCheckbox(c), link]);
  if (isUnread(c)) { li.classList.add("unread"); }
  if (state.current && state.current.id === c.id) { li.classList.add("current"); link.setAttribute("aria-current", "true"); }
  if (state.cursor === c.id) { li.classList.add("cursor"); }
  return li;
}

export function renderList() {
  resort();
  const focusedId = document.activeElement && document.activeElement.closest && listEl.contains(document.activeElement)
    ? Number(document.activeElement.dataset.id) : null;
  listEl.replaceChildren(...state.order.map((id) => renderRow(state.conversations.get(id))));
  if (focusedId) { const again = listEl.querySelector(`a[data-id="${focusedId}"]`); if (again) { again.focus(); } }
  const p = filters();
  $("list-empty").hidden = state.order.length > 0 || !$("list-skeleton").hidden;
  if ($("list-skeleton").hidden) { $("list-loading").textContent = countText(); }
  $("list-empty-text").textContent = p.get("q") ? interpolate(gettext("Nothing found for “%(query)s”."), { query: p.get("q") }) : gettext("No conversations here.");
  $("load-more").hidden = !state.next;
  // Searching inside one status: say so, with one click to search them all.
  const widen = $("search-widen");
  widen.hidden = !(p.get("q") && p.get("status"));
  if (!widen.hidden) {
    $("search-widen-text").textContent = SEARCHING_ONLY[p.get("status")] || interpolate(gettext("Searching %(status)s conversations only."), { status: p.get("status") });
  }
  selectionChanged();
  let unread = 0;
  state.conversations.forEach((c) => { unread += isUnread(c) ? 1 : 0; });
  document.title = (unread ? "(" + unread + ") " : "") + (state.current ? customerName(state.current) + " · " : "") + gettext("Inbox");
}

/** Unread for me: the server says so per agent; a realtime frame (shared by all) leaves it null. */
export function isUnread(c) {
  if (c.unread === true || c.unread === false) { return c.unread; }
  if (!c.unread_count) { return false; }
  return !c.read_at || !c.last_inbound_at || Date.parse(c.read_at) < Date.parse(c.last_inbound_at);
}

/** A frame carries no one agent's read state: keep mine, and work out whether it is unread for me now. */
export function withMyReadState(before, c) {
  if (c.unread !== null && c.unread !== undefined) { return c; }
  const merged = { ...c, read_at: before ? before.read_at : null, unread: null };
  merged.unread = isUnread(merged);
  return merged;
}

export function upsertConversation(c, created) {
  const before = state.conversations.get(c.id);
  c = withMyReadState(before, c);
  notifyIfAssignedToMe(before, c, created);
  if (before || matches(c)) {
    if (before && !matches(c) && !filters().get("q")) {
      state.conversations.delete(c.id);
      state.order = state.order.filter((id) => id !== c.id);
    } else {
      if (!before) { state.order.push(c.id); }
      // A socket frame may carry fewer fields than the list's answer (no preview): keep what we had.
      state.conversations.set(c.id, before ? { ...before, ...c, last_message: c.last_message || before.last_message } : c);
    }
    renderList();
  }
}

export function removeConversation(id) {
  state.conversations.delete(id);
  state.order = state.order.filter((x) => x !== id);
  renderList();
  if (state.current && state.current.id === id) {
    closeThread();
    setThreadGone(gettext("That conversation moved out of your reach."));
  }
}

// --- Keyboard cursor (j/k) -------------------------------------------------------------------

export function moveCursor(delta) {
  if (!state.order.length) { return; }
  let index = state.order.indexOf(state.cursor);
  if (index < 0) { index = state.current ? state.order.indexOf(state.current.id) : -1; }
  index = index < 0 ? (delta > 0 ? 0 : state.order.length - 1) : Math.max(0, Math.min(state.order.length - 1, index + delta));
  state.cursor = state.order[index];
  listEl.querySelectorAll("li.cursor").forEach((li) => li.classList.remove("cursor"));
  const li = listEl.querySelector(`li[data-id="${state.cursor}"]`);
  if (li) {
    li.classList.add("cursor");
    const link = li.querySelector("a");
    link.focus({ preventScroll: true });
    li.scrollIntoView({ block: "nearest" });
  }
  showPane("list");
}

/** x: tick (or untick) the row j/k point at, for a bulk action. */
export function toggleCursorSelection() {
  const id = state.cursor || (state.current && state.current.id);
  if (!id || !state.conversations.has(id)) { return; }
  if (state.selected.has(id)) { state.selected.delete(id); } else { state.selected.add(id); }
  renderList();
}

export function openCursor() {
  if (state.cursor && state.conversations.has(state.cursor)) { openConversation(state.cursor, true); return true; }
  return false;
}

// --- Order lookup from the search box --------------------------------------------------------
// The conversation search already matches order numbers; this adds "Order #1042 → customer",
// a direct way to that customer's latest conversation.

const ORDER_QUERY = /^#\s*([A-Za-z0-9-]{1,32})$|^(\d{3,32})$/;
let lookupSeq = 0;

function lookupOrder() {
  const box = $("order-lookup");
  const m = form.elements.q.value.trim().match(ORDER_QUERY);
  const seq = ++lookupSeq;
  if (!m) { box.hidden = true; box.replaceChildren(); return Promise.resolve(); }
  const number = m[1] || m[2];
  return get("orders/?number=" + encodeURIComponent(number)).then((page) => {
    const orders = (page.results || []).slice(0, 5);
    return Promise.all(orders.map((o) => get("conversations/?customer=" + o.customer.id + "&ordering=-last_message_at")
      .then((c) => ({ order: o, conversation: (c.results || [])[0] || null }))
      .catch(() => ({ order: o, conversation: null }))));
  }).then((found) => {
    if (seq !== lookupSeq) { return; }
    box.hidden = !found.length;
    box.replaceChildren(...found.map((f) => {
      const text = interpolate(gettext("Order #%(number)s → %(customer)s"), {
        number: f.order.number, customer: f.order.customer.name || interpolate(gettext("customer #%(id)s"), { id: f.order.customer.id }),
      });
      if (!f.conversation) { return el("li", { text: text + " " + gettext("(no conversation)") }); }
      const link = el("a", { href: "/conversations/" + f.conversation.id + "/", text });
      link.addEventListener("click", (e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey) { return; }
        e.preventDefault();
        openConversation(f.conversation.id, true);
      });
      return el("li", {}, [link]);
    }));
  }).catch(() => { if (seq === lookupSeq) { box.hidden = true; box.replaceChildren(); } });
}

export function setTab(name) {
  state.tab = name;
  document.querySelectorAll(".tab").forEach((t) => t.setAttribute("aria-pressed", String(t.dataset.tab === name)));
}

export function init() {
  document.querySelectorAll(".tab").forEach((tab) => {
    tab.addEventListener("click", () => { viewLeft(); setTab(tab.dataset.tab); loadList(false); });
  });
  let searchTimer = null;
  form.addEventListener("input", (e) => {
    viewLeft();
    clearTimeout(searchTimer);
    const typing = e.target.name === "q";
    searchTimer = setTimeout(() => { loadList(false); if (typing) { lookupOrder(); } }, typing ? 300 : 0);
  });
  // On a phone the selects fold under "Filters", which counts the ones set.
  const toggle = $("filters-toggle");
  const countSet = () => {
    const set = ["status", "channel", "label", "window", "sla"].filter((n) => form.elements[n].value !== (n === "status" ? "open" : "")).length;
    toggle.textContent = set ? interpolate(gettext("Filters (%(n)s)"), { n: set }) : gettext("Filters");
    toggle.classList.toggle("active", set > 0);
  };
  toggle.addEventListener("click", () => {
    const open = !form.classList.contains("show-more");
    form.classList.toggle("show-more", open);
    toggle.setAttribute("aria-expanded", String(open));
  });
  form.addEventListener("change", countSet);
  form.addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(searchTimer); loadList(false); lookupOrder(); });
  $("search-widen-button").addEventListener("click", () => { form.elements.status.value = ""; countSet(); loadList(false); });
  $("load-more").addEventListener("click", () => loadList(true));
  listEl.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-id]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey) { return; }
    e.preventDefault();
    state.cursor = Number(a.dataset.id);
    openConversation(Number(a.dataset.id), true);
  });
  // Waiting times and window countdowns move on without events.
  setInterval(() => { if (state.order.length && !document.hidden) { renderList(); } }, 30000);
}
