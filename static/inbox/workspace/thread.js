// The thread pane: the open conversation's header and actions, its timeline (the customer's
// messages across channels), who else is viewing, and the socket's updates to both.
import { get, post, patch, isAbort } from "../../app/api.js";
import { el, $, errorWithRetry } from "../../app/dom.js";
import { dateTime, absolute } from "../../app/format.js";
import { gettext, interpolate } from "../../app/i18n.js";
import {
  state, ME, DATA, FEATURES, MAY_ASSIGN_OTHERS, INBOXES, TEAMS, STATUS_RANK, CHANNEL_NAMES, customerName, agentName,
} from "./state.js";
import { renderList, upsertConversation, removeConversation, channelBadge } from "./list.js";
import { renderComposerRules, stopTyping, uploadsForget, resetComposerError } from "./composer.js";
import { loadCustomer, clearCustomer } from "./customer.js";
import { send } from "./socket.js";
import { showPane } from "./panes.js";
import { openSnoozeMenu } from "./snooze.js";
import { mentionNodes } from "./mentions.js";

const timelineEl = $("timeline");
let openSeq = 0;
let openAbort = null;
let leadChoices = [];  // [value, name] of the agents the page lists, for leads and up
const TEAMS_LIST = DATA.teams;  // until the server says where I may route the open thread
let openedAt = 0;      // when this page last told the server the open thread was read by me
// A status as the history says it ("alice set status resolved").
const STATUS_WORDS = { open: gettext("open"), pending: gettext("pending"), snoozed: gettext("snoozed"), resolved: gettext("resolved") };
// A message's delivery as the thread shows it under an outgoing message.
const DELIVERY_WORDS = { queued: gettext("queued"), sent: gettext("sent"), delivered: gettext("delivered"), read: gettext("read"), received: gettext("received") };

function emptyState(text, retry) {
  $("thread").hidden = true;
  const box = $("thread-empty");
  box.hidden = false;
  box.replaceChildren(retry ? errorWithRetry(text, retry) : el("p", { class: "muted", text }));
}

export function setThreadGone(text) { emptyState(text); }

export function closeThread() {
  if (state.current) { send({ type: "leave", conversation: state.current.id }); }
  state.current = null;
  $("thread").hidden = true;
  emptyState(gettext("Select a conversation."));
  clearCustomer();
  renderList();
  showPane("list");
}

export function openConversation(id, push) {
  if (state.current && state.current.id !== id) { send({ type: "leave", conversation: state.current.id }); stopTyping(); }
  if (push) { history.pushState({ id }, "", "/conversations/" + id + "/"); }
  const seq = ++openSeq;
  if (openAbort) { openAbort.abort(); }
  const controller = new AbortController();
  openAbort = controller;
  showPane("thread");
  $("thread-pane").setAttribute("aria-busy", "true");
  return get("/conversations/" + id + "/timeline/", { signal: controller.signal }).then((data) => {
    if (seq !== openSeq) { return; }
    state.current = data.conversation;
    state.current.read_receipt = data.read_receipt;
    state.readSent = false;
    state.viewers = [];
    state.cursor = id;
    state.assignable = null;
    state.timeline.clear();
    for (const item of data.items) { state.timeline.set(String(item.id), item); }
    $("thread-empty").hidden = true;
    $("thread").hidden = false;
    resetComposerError();
    uploadsForget(state.current.id);
    renderThreadHeader();
    renderTimeline(true);
    renderCollision();
    renderComposerRules();
    renderList();
    loadCustomer(data.conversation.customer.id);
    send({ type: "view", conversation: id });
    markOpened();
    loadAssignable(id);
    if (data.read_receipt === "open") { markRead(); }
    // Read for this agent (their own unread state), whatever the customer is told.
    if (FEATURES.opened) {
      post("conversations/" + id + "/opened/", {}).then((c) => { if (c && c.id === id) { conversationChanged(c); } }).catch(() => {});
    }
  }).catch((err) => {
    if (isAbort(err) || seq !== openSeq) { return; }
    state.current = null;
    if (err.status === 404) { emptyState(gettext("Conversation not found: it was deleted or is out of your reach.")); }
    else { emptyState(interpolate(gettext("Could not open the conversation: %(reason)s"), { reason: err.message }), () => openConversation(id, false)); }
  }).finally(() => { if (seq === openSeq) { $("thread-pane").removeAttribute("aria-busy"); openAbort = null; } });
}

export function refreshTimeline() {
  if (!state.current) { return Promise.resolve(); }
  const id = state.current.id;
  return get("/conversations/" + id + "/timeline/").then((data) => {
    if (!state.current || state.current.id !== id) { return; }
    state.timeline.clear();
    for (const item of data.items) { state.timeline.set(String(item.id), item); }
    conversationChanged(data.conversation);
    renderTimeline(true);
  }).catch((err) => { if (err.status === 404) { removeConversation(id); } });
}

/** Opening it marks it read for me (my own unread state; the customer is told nothing by this). */
export function markOpened() {
  const c = state.current;
  if (!c || !FEATURES.opened) { return; }
  const id = c.id;
  const mine = state.conversations.get(id);
  const now = new Date().toISOString();
  // At once on screen; the server's answer follows.
  for (const row of [c, mine]) { if (row) { row.read_at = now; row.unread = false; } }
  renderList();
  openedAt = Date.now();
  post("conversations/" + id + "/opened/", {}).then((fresh) => conversationChanged(fresh)).catch(() => {});
}

/** Who and which teams I may choose here (the rules the server applies to a change). */
export function loadAssignable(id) {
  if (!FEATURES.assignable) { return Promise.resolve(); }
  return get("conversations/" + id + "/assignable/").then((choices) => {
    if (!state.current || state.current.id !== id) { return; }
    state.assignable = choices;
    renderThreadHeader();
  }).catch(() => {});
}

export function markRead() {
  if (!state.current || state.readSent) { return; }
  state.readSent = true;
  post("conversations/" + state.current.id + "/read/", {}).then((c) => conversationChanged(c))
    .catch(() => { state.readSent = false; });
}

/** A conversation changed (socket or an answer): the list and, when open, the thread follow. */
export function conversationChanged(c, created) {
  upsertConversation(c, created);
  if (state.current && state.current.id === c.id) {
    const before = state.current;
    const mine = state.conversations.get(c.id);
    state.current = { ...before, ...c, read_at: mine ? mine.read_at : before.read_at, unread: mine ? mine.unread : before.unread };
    renderThreadHeader();
    renderComposerRules();
    // A customer wrote while I have it open: I have read it (at most every few seconds).
    if (mine && mine.unread && !document.hidden && Date.now() - openedAt > 3000) { markOpened(); }
    if (before.assignee !== c.assignee || before.team !== c.team) { loadAssignable(c.id); }
  }
}

function setOptions(select, wanted) {
  const have = Array.from(select.options).map((o) => o.value + "\u0000" + o.textContent + "\u0000" + o.disabled).join("|");
  const next = wanted.map((w) => w[0] + "\u0000" + w[1] + "\u0000" + Boolean(w[2])).join("|");
  if (have !== next) { select.replaceChildren(...wanted.map((w) => el("option", { value: w[0], text: w[1], disabled: Boolean(w[2]) }))); }
}

function assigneeOptions(c) {
  // Only whom the server would accept from me (GET assignable/); until it answers, the page's guess:
  // agents take and release only, leads and up pick anyone the page lists (their teams).
  const select = $("action-assignee");
  const choices = state.assignable;
  const wanted = [];
  const mine = (name) => interpolate(gettext("%(name)s (me)"), { name });
  if (!c.assignee || !choices || choices.may_unassign) { wanted.push(["", gettext("Unassigned")]); }
  if (choices) {
    for (const a of choices.agents) { wanted.push([String(a.id), a.me ? mine(a.name) : a.name]); }
  } else if (MAY_ASSIGN_OTHERS) {
    for (const a of leadChoices) { wanted.push(a); }
  } else {
    wanted.push([String(ME.id), mine(ME.name)]);
  }
  // The owner stays shown (not choosable) when I may not pick them.
  if (c.assignee && !wanted.some((w) => w[0] === String(c.assignee))) { wanted.push([String(c.assignee), agentName(c.assignee), true]); }
  setOptions(select, wanted);
  // Nothing else to choose: the menu shows who has it, unchangeable.
  select.disabled = Boolean(choices) && !wanted.some((w) => !w[2] && w[0] !== String(c.assignee || ""));
  select.title = select.disabled ? gettext("Your role may not reassign this conversation.") : "";
  // Team: where I may route it, plus where it is now.
  const teams = [["", gettext("No team")]];
  const mayRoute = choices ? choices.teams : TEAMS_LIST;
  for (const t of mayRoute) { teams.push([String(t.id), t.name]); }
  if (c.team && !teams.some((w) => w[0] === String(c.team))) { teams.push([String(c.team), TEAMS.get(c.team) || interpolate(gettext("Team #%(id)s"), { id: c.team }), true]); }
  setOptions($("action-team"), teams);
}

export function renderThreadHeader() {
  const c = state.current;
  if (!c) { return; }
  $("thread-title").textContent = customerName(c);
  const inbox = INBOXES.get(c.inbox.id);
  $("thread-channel").replaceChildren(channelBadge(c.channel), " · " + (inbox ? inbox.name : c.inbox.name));
  assigneeOptions(c);
  $("action-assignee").value = c.assignee ? String(c.assignee) : "";
  $("action-assign-me").hidden = state.assignable ? !state.assignable.assign_to_me : c.assignee === ME.id;
  $("action-team").value = c.team ? String(c.team) : "";
  $("action-status").value = c.status;
  $("action-resolve").hidden = c.status === "resolved";
  $("action-reopen").hidden = c.status !== "resolved";
  const until = $("snoozed-until");
  until.hidden = c.status !== "snoozed" || !c.snoozed_until;
  if (!until.hidden) { until.textContent = interpolate(gettext("Snoozed until %(when)s"), { when: dateTime(c.snoozed_until) }); until.title = absolute(c.snoozed_until); }
  if (document.activeElement !== $("action-labels")) { $("action-labels").value = (c.labels || []).join(", "); }
}

function describeEvent(item) {
  const actor = item.actor_name || gettext("System");
  const d = item.data || {};
  const say = (format, values) => interpolate(format, { actor, ...values });
  switch (item.event) {
    case "assigned":
      // Who did it, in the words of why: an inbox setting or the round-robin is not a person.
      if (d.reason === "resolved") { return gettext("Unassigned on resolve (the inbox's setting)"); }
      if (d.reason === "away") { return say(gettext("Unassigned: %(agent)s went away"), { agent: d.from ? agentName(d.from) : gettext("the agent") }); }
      if (d.reason === "auto") { return say(gettext("Assigned automatically to %(agent)s"), { agent: agentName(d.to) }); }
      return d.to || d.assignee ? say(gettext("%(actor)s assigned it to %(agent)s"), { agent: d.to_name || agentName(d.to || d.assignee) })
        : say(gettext("%(actor)s unassigned it"));
    case "status": {
      const to = d.to || d.status || "";
      return say(gettext("%(actor)s set status %(status)s"), { status: STATUS_WORDS[to] || to });
    }
    case "team": return say(gettext("%(actor)s moved it to %(team)s"), { team: TEAMS.get(d.to || d.team) || gettext("another team") });
    case "labels": return say(gettext("%(actor)s changed labels"));
    case "window": return gettext("The messaging window closed");
    case "macro": return say(gettext("%(actor)s applied the macro “%(name)s”: %(steps)s"), { name: d.name || "", steps: (d.steps || []).join("; ") });
    case "csat": return interpolate(gettext("Satisfaction rating: %(rating)s"), { rating: d.rating ? d.rating + "/5" : gettext("not rated yet") }) +
      (d.comment ? " — “" + d.comment + "”" : "");
    // Who, what (the confirmation's own words, with the amount) and what Shopify answered.
    case "order_action": return say(gettext("%(actor)s: %(summary)s Shopify: %(answer)s"), { summary: d.summary || gettext("an order action"), answer: d.shopify || d.status || "" });
    default: return String(item.event || "").replace(/_/g, " ");
  }
}

// Only files we hold are shown inline: a provider's URL may expire or need credentials.
function renderAttachment(a) {
  const name = a.name || a.content_type || gettext("attachment");
  if (!a.url) { return el("span", { class: "attachment", text: name }); }
  if (a.state === "ready" && /^image\//.test(a.content_type || "")) {
    return el("a", { class: "attachment attachment-thumb", href: a.url, target: "_blank", rel: "noopener" }, [
      el("img", { src: a.url, alt: name, loading: "lazy" }),
    ]);
  }
  const label = a.state === "failed" ? interpolate(gettext("%(name)s (could not be fetched)"), { name })
    : a.state === "pending" ? interpolate(gettext("%(name)s (downloading…)"), { name }) : name;
  return el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener", text: label });
}

// A provider's own words where it gave some; a bare status or code is put in ours.
function failureWords(item) {
  const error = item.error || {};
  const detail = String(error.detail || error.message || "").trim();
  const provider = CHANNEL_NAMES[item.channel] || gettext("The provider");
  const http = detail.match(/HTTP (\d{3})/);
  if (http && Number(http[1]) >= 500) { return interpolate(gettext("%(provider)s had a problem on its side and did not take the message (HTTP %(status)s). Try again later."), { provider, status: http[1] }); }
  if (http && Number(http[1]) === 429) { return interpolate(gettext("%(provider)s is limiting how fast we send. Try again in a minute."), { provider }); }
  if (!detail || /^\d+$/.test(detail)) {
    return error.code ? interpolate(gettext("%(provider)s did not take this message (error %(code)s)."), { provider, code: error.code })
      : interpolate(gettext("%(provider)s did not take this message."), { provider });
  }
  return detail;
}

function failure(item) {
  // The provider's reason in words; a Retry re-queues the same row where the server offers it.
  const detail = failureWords(item);
  const parts = [el("strong", { text: gettext("Not delivered:") + " " }), detail];
  if (FEATURES.message_retry && item.direction === "out" && !item.is_private) {
    const retry = el("button", { type: "button", class: "retry", text: gettext("Retry") });
    retry.addEventListener("click", () => {
      retry.disabled = true;
      post(`conversations/${item.conversation}/messages/${item.id}/retry/`, {}).then((m) => upsertMessage(item.conversation, m))
        .catch((err) => { retry.disabled = false; retry.replaceWith(el("span", { class: "inline-error", text: interpolate(gettext("Retry failed: %(reason)s"), { reason: err.message }) })); });
    });
    parts.push(" ", retry);
  }
  return el("span", { class: "msg-failure", role: "note" }, parts);
}

function renderItem(item) {
  const time = el("time", { datetime: item.created_at, title: absolute(item.created_at), text: dateTime(item.created_at) });
  if (item.kind === "event") {
    return el("li", { class: "event", "data-id": item.id }, [describeEvent(item) + " · ", time]);
  }
  const classes = [item.is_private ? "note" : item.direction];
  if (state.current && item.conversation !== state.current.id) { classes.push("other-conversation"); }
  if (item.status === "failed") { classes.push("failed"); }
  const who = item.sender && item.sender.type === "customer" ? customerName(state.current)
    : item.author_name || (item.sender && item.sender.id && agentName(item.sender.id)) || (item.sender ? item.sender.type : "");
  const meta = [who, CHANNEL_NAMES[item.channel] || item.channel].filter(Boolean).join(" · ");
  const status = item.direction === "out" && !item.is_private && item.status !== "failed" ? (DELIVERY_WORDS[item.status] || item.status) + (item.tag ? " · " + item.tag : "") : "";
  const children = [];
  if (item.is_private) { children.push(el("span", { class: "note-label", text: gettext("Private note") })); }
  if (item.subject) { children.push(el("strong", { class: "subject", text: item.subject })); }
  if (item.deleted_at) { children.push(el("span", { class: "msg-text", text: gettext("(unsent by the customer)") })); }
  else if (item.is_private) { children.push(el("span", { class: "msg-text" }, mentionNodes(item.text || ""))); }
  else { children.push(el("span", { class: "msg-text", text: item.text || "" })); }
  for (const a of item.attachments || []) { children.push(renderAttachment(a)); }
  const qr = item.payload && item.payload.quick_replies;
  if (qr && qr.length) { children.push(el("span", { class: "quick-replies" }, qr.map((q) => el("span", { text: q.title })))); }
  if (item.status === "failed") { children.push(failure(item)); }
  children.push(el("span", { class: "msg-meta" }, [meta + " · ", time, status ? " · " + status : "", item.tag && item.status === "failed" ? " · " + item.tag : ""]));
  return el("li", { class: classes.join(" "), "data-id": String(item.id) }, children);
}

export function renderTimeline(scroll) {
  const items = Array.from(state.timeline.values());
  items.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || (String(a.id) < String(b.id) ? -1 : 1));
  const nearBottom = timelineEl.scrollHeight - timelineEl.scrollTop - timelineEl.clientHeight < 80;
  timelineEl.replaceChildren(...items.map(renderItem));
  if (scroll || nearBottom) { timelineEl.scrollTop = timelineEl.scrollHeight; }
}

export function upsertMessage(conversationId, message) {
  if (!state.current) { return; }
  const existing = state.timeline.get(String(message.id));
  if (conversationId !== state.current.id && existing === undefined) { return; }
  // A reply's own POST answer can arrive after the socket told us it was sent: never go back.
  // Except from failed: only a Retry moves a failed message on (queued, then sent...).
  if (existing && existing.status !== "failed" && STATUS_RANK[existing.status] > STATUS_RANK[message.status]) { return; }
  const c = state.conversations.get(conversationId) || state.current;
  message.kind = "message";
  message.channel = message.channel || (existing && existing.channel) || c.channel;
  message.author_name = message.author_name || (existing && existing.author_name) ||
    (message.sender && message.sender.type !== "customer" && message.sender.id && agentName(message.sender.id)) || null;
  state.timeline.set(String(message.id), message);
  renderTimeline(false);
}

// --- Presence and collisions -------------------------------------------------------------------

export function setViewers(conversationId, viewers) {
  if (state.current && conversationId === state.current.id) { state.viewers = viewers || []; renderCollision(); }
}

export function renderCollision() {
  const others = state.viewers.filter((v) => v.id !== ME.id);
  const box = $("collision");
  if (!others.length) { box.hidden = true; box.textContent = ""; return; }
  const typing = others.filter((v) => v.typing);
  const names = others.map((v) => v.name).join(", ");
  box.textContent = typing.length
    ? interpolate(typing.length > 1 ? gettext("%(names)s are typing a reply here.") : gettext("%(names)s is typing a reply here."), { names: typing.map((v) => v.name).join(", ") })
    : interpolate(others.length > 1 ? gettext("%(names)s are also viewing this conversation.") : gettext("%(names)s is also viewing this conversation."), { names });
  box.hidden = false;
}

// --- Conversation actions ----------------------------------------------------------------------

function actionError(text) {
  const box = $("action-error");
  box.textContent = text;
  box.hidden = !text;
}

export function patchCurrent(body, what) {
  const c = state.current;
  if (!c) { return Promise.resolve(); }
  actionError("");
  return patch("conversations/" + c.id + "/", body).then((updated) => conversationChanged(updated))
    .catch((err) => { actionError(interpolate(gettext("%(what)s: %(reason)s"), { what: what || gettext("Not changed"), reason: err.message })); renderThreadHeader(); });
}

export function assignToMe() { return patchCurrent({ assignee: ME.id }, gettext("Not assigned")); }
export function resolve() { return patchCurrent({ status: "resolved" }, gettext("Not resolved")); }
export function snooze() {
  if (!state.current) { return; }
  openSnoozeMenu((until) => patchCurrent({ status: "snoozed", snoozed_until: until.toISOString() }, gettext("Not snoozed")));
}

export function init() {
  // The assignee menu's choices for leads: the agents the page lists.
  leadChoices = Array.from($("action-assignee").options).filter((o) => o.value).map((o) => [o.value, o.textContent]);
  $("action-assignee").addEventListener("change", (e) => patchCurrent({ assignee: e.target.value ? Number(e.target.value) : null }, gettext("Not assigned")));
  $("action-assign-me").addEventListener("click", assignToMe);
  $("action-team").addEventListener("change", (e) => patchCurrent({ team: e.target.value ? Number(e.target.value) : null }, gettext("Not moved")));
  $("action-status").addEventListener("change", (e) => {
    if (e.target.value === "snoozed") { e.target.value = state.current ? state.current.status : "open"; snooze(); }
    else { patchCurrent({ status: e.target.value }); }
  });
  $("action-resolve").addEventListener("click", resolve);
  $("action-reopen").addEventListener("click", () => patchCurrent({ status: "open" }, gettext("Not reopened")));
  $("action-snooze-button").addEventListener("click", () => snooze());
  $("action-labels").addEventListener("change", (e) => {
    patchCurrent({ labels: e.target.value.split(",").map((s) => s.trim()).filter(Boolean) }, gettext("Labels not saved"));
  });
  $("action-unread").addEventListener("click", () => {
    const c = state.current;
    if (!c) { return; }
    post("conversations/" + c.id + "/unread/", {}).then((updated) => {
      upsertConversation(updated);
      closeThread();
      history.pushState({}, "", "/");
    }).catch((err) => actionError(interpolate(gettext("Not marked unread: %(reason)s"), { reason: err.message })));
  });
  $("actions-toggle").addEventListener("click", () => {
    const header = $("thread-header");
    const open = !header.classList.contains("show-actions");
    header.classList.toggle("show-actions", open);
    $("actions-toggle").setAttribute("aria-expanded", String(open));
  });
}
