// The composer: reply or private note, the platform's rules (window, HUMAN_AGENT, SMS segments,
// email subject and quote), canned responses, attachments (uploaded at once, sent by token),
// typing presence, and sending with the server's reason in words when it refuses.
import { post } from "../../app/api.js";
import { el, $ } from "../../app/dom.js";
import { dateTime, duration } from "../../app/format.js";
import { gettext, ngettext, interpolate } from "../../app/i18n.js";
import { state, DATA, customerName } from "./state.js";
import { upsertMessage, markRead } from "./thread.js";
import { send } from "./socket.js";

const composer = $("composer");
const reply = $("reply");
const fileInput = $("attachment-file");
const uploads = { items: [], pending: 0, conversation: null };  // tokens are bound to one conversation
let lastFailed = null;  // what a Retry of a refused send resends

export function currentMode() { return composer.elements.mode.value; }

export function setMode(mode) {
  const radio = Array.from(composer.elements.mode).find((r) => r.value === mode);
  if (radio) { radio.checked = true; renderComposerRules(); }
  reply.focus();
}

function composerError(text, retry) {
  const box = $("composer-error");
  box.replaceChildren();
  if (!text) { return; }
  box.append(el("span", { text }));
  if (retry) {
    const button = el("button", { type: "button", class: "retry", text: gettext("Retry") });
    button.addEventListener("click", retry);
    box.append(" ", button);
  }
}

export function resetComposerError() { composerError(""); lastFailed = null; }

export function renderComposerRules() {
  const c = state.current;
  if (!c) { return; }
  const note = currentMode() === "note";
  composer.classList.toggle("note-mode", note);
  reply.placeholder = note ? gettext("Private note: only agents see it; @name to mention") : gettext("Type a reply; / for canned responses, # for macros");
  const info = $("window-info"), human = $("human-agent-wrap");
  const meta = c.window && c.window.state;
  info.hidden = note || !meta;
  human.hidden = true;
  info.className = "window-info " + (meta || "");
  let blocked = false;
  if (!note && meta === "open") {
    info.textContent = interpolate(gettext("Messaging window closes in %(time)s"), { time: duration(Date.parse(c.window.expires_at) - Date.now()) });
  } else if (!note && meta === "human_agent") {
    human.hidden = false;
    $("human-agent-text").textContent = interpolate(gettext("Reply as a human agent (HUMAN_AGENT tag, possible until %(until)s)"), { until: dateTime(c.window.expires_at) });
    info.textContent = interpolate(gettext("The 24-hour window has closed. Only a person may answer, with the HUMAN_AGENT tag, or not at all; closes in %(time)s."),
      { time: duration(Date.parse(c.window.expires_at) - Date.now()) });
    blocked = !$("human-agent").checked;
  } else if (!note && meta === "closed") {
    info.textContent = gettext("The messaging window is closed: the customer must write first. You can still add a private note.");
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
  $("send").textContent = note ? gettext("Add note") : gettext("Send");
  $("send").disabled = blocked;
  updateCounter();
}

function updateCounter() {
  const counter = $("sms-counter");
  const c = state.current;
  if (!c || c.channel !== "sms" || currentMode() === "note" || !window.SmsSegments) { counter.hidden = true; return; }
  const info = window.SmsSegments.count(reply.value);
  counter.hidden = false;
  // Accented and Greek letters outside the GSM-7 alphabet make the whole text UCS-2: 70 (67) a part.
  const encoding = info.encoding === "gsm7" ? "GSM-7" : gettext("UCS-2 (Unicode)");
  const capacity = info.segments * info.perSegment || info.perSegment;
  const used = info.encoding === "gsm7" ? `${info.units}/${capacity}`
    : interpolate(gettext("%(used)s/%(capacity)s units"), { used: info.units, capacity });
  counter.textContent = used + " · " + interpolate(ngettext("%(n)s segment", "%(n)s segments", info.segments), { n: info.segments }) +
    " · " + encoding + (info.tooLong ? " · " + interpolate(gettext("over %(max)s characters"), { max: window.SmsSegments.MAX_CHARACTERS }) : "");
  counter.classList.toggle("over", info.tooLong);
}

// --- Canned responses: "/short" at the start shows matches; Enter, Tab or a click inserts one. ---
const suggestions = $("canned-suggestions");
let suggestionIndex = 0;

function cannedMatches() {
  const m = reply.value.match(/^\/(\S*)$/);
  if (!m) { return null; }
  const q = m[1].toLowerCase();
  return DATA.canned.filter((r) => r.shortcut.toLowerCase().indexOf(q) === 0 || r.title.toLowerCase().indexOf(q) >= 0).slice(0, 8);
}

function renderSuggestions() {
  const found = cannedMatches();
  if (!found || !found.length) { suggestions.hidden = true; reply.removeAttribute("aria-activedescendant"); return; }
  suggestionIndex = Math.min(suggestionIndex, found.length - 1);
  suggestions.replaceChildren(...found.map((r, i) => {
    const li = el("li", { role: "option", id: "canned-" + i, "aria-selected": String(i === suggestionIndex), text: "/" + r.shortcut + " — " + r.title });
    li.addEventListener("mousedown", (e) => { e.preventDefault(); insertCanned(r); });
    return li;
  }));
  suggestions.hidden = false;
  reply.setAttribute("aria-activedescendant", "canned-" + suggestionIndex);
}

function insertCanned(r) {
  const name = state.current ? customerName(state.current).split(" ")[0] : "";
  reply.value = r.text.replace(/\{\{\s*customer\s*\}\}/g, name);
  suggestions.hidden = true;
  reply.removeAttribute("aria-activedescendant");
  updateCounter();
  reply.focus();
}

/** At the cursor (or over the selection) of the Reply box; the box's own input handlers then run. */
export function insertIntoReply(text) {
  if (!state.current || !text) { return; }
  let start = reply.selectionStart, end = reply.selectionEnd;
  if (start === null || start === undefined) { start = end = reply.value.length; }
  const before = reply.value.slice(0, start), after = reply.value.slice(end);
  const piece = (before && !/\s$/.test(before) ? " " : "") + text + (after && !/^\s/.test(after) ? " " : "");
  reply.focus();
  reply.setRangeText(piece, start, end, "end");
  reply.dispatchEvent(new Event("input", { bubbles: true }));
}

// --- Typing presence -------------------------------------------------------------------------
let typingTimer = null, typingSentAt = 0;
function noteTyping() {
  if (!state.current || currentMode() === "note") { return; }
  const now = Date.now();
  if (now - typingSentAt > 3000) { send({ type: "typing", conversation: state.current.id, typing: true }); typingSentAt = now; }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 4000);
}

export function stopTyping() {
  clearTimeout(typingTimer);
  if (typingSentAt && state.current) { send({ type: "typing", conversation: state.current.id, typing: false }); }
  typingSentAt = 0;
}

function quotedText(text) {
  const lastIn = Array.from(state.timeline.values()).filter((i) => i.kind === "message" && i.direction === "in" && i.conversation === state.current.id).pop();
  if (!lastIn || !$("email-quote").checked) { return text; }
  const quoted = (lastIn.text || "").split("\n").map((l) => "> " + l).join("\n");
  return text + "\n\n" + interpolate(gettext("On %(when)s, %(who)s wrote:"), { when: dateTime(lastIn.created_at), who: customerName(state.current) }) + "\n" + quoted;
}

// --- Attachments ---------------------------------------------------------------------------------
function renderUploads() {
  const chips = $("attachment-chips");
  chips.replaceChildren(...uploads.items.map((u, i) => {
    const remove = el("button", { type: "button", class: "chip-remove", "aria-label": interpolate(gettext("Remove %(name)s"), { name: u.name }), text: "×" });
    remove.addEventListener("click", () => { uploads.items.splice(i, 1); renderUploads(); fileInput.focus(); });
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

/** Tokens are bound to one conversation: opening another forgets them. */
export function uploadsForget(conversationId) { if (uploads.conversation !== conversationId) { uploadsClear(); } }

function submit() {
  const c = state.current;
  if (!c) { return; }
  const text = reply.value;
  const note = currentMode() === "note";
  let body, path;
  if (note) {
    path = "conversations/" + c.id + "/notes/"; body = { text };
  } else {
    path = "conversations/" + c.id + "/messages/"; body = { text };
    if (c.window && c.window.state === "human_agent" && $("human-agent").checked) { body.tag = "HUMAN_AGENT"; }
    if (c.channel === "email") { body.subject = $("email-subject").value; body.text = quotedText(text); }
    const qr = $("quick-replies").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (qr.length && (c.channel === "messenger" || c.channel === "instagram")) {
      body.quick_replies = qr.map((t) => ({ title: t.slice(0, 20), payload: t.toUpperCase().replace(/\W+/g, "_") }));
    }
    if (uploads.items.length) { body.attachments = uploads.items.map((u) => u.token); }
  }
  if (uploads.pending) { composerError(gettext("Wait until the file has uploaded.")); return; }
  $("send").disabled = true;
  composerError("");
  stopTyping();
  post(path, body).then((message) => {
    lastFailed = null;
    // The agent may have typed on while it was sending: clear only what was sent.
    if (reply.value === text) { reply.value = ""; }
    $("quick-replies").value = "";
    if (!note) { uploadsClear(); }
    upsertMessage(c.id, message);
    updateCounter();
  }).catch((err) => {
    // The server's sentence (window closed, opted out, too long…), a Retry when trying again can help.
    lastFailed = { conversation: c.id };
    const retryable = err.status === 0 || err.status === 429 || err.status >= 500;
    composerError(interpolate(note ? gettext("Note not added: %(reason)s") : gettext("Not sent: %(reason)s"), { reason: err.message }), retryable ? () => {
      if (state.current && lastFailed && state.current.id === lastFailed.conversation) { composer.requestSubmit(); }
    } : null);
  }).finally(() => { renderComposerRules(); });
}

export function init() {
  reply.addEventListener("input", () => { updateCounter(); renderSuggestions(); noteTyping(); });
  reply.addEventListener("keydown", (e) => {
    const found = !suggestions.hidden && cannedMatches();
    if (found && found.length) {
      if (e.key === "ArrowDown") { suggestionIndex = (suggestionIndex + 1) % found.length; renderSuggestions(); e.preventDefault(); return; }
      if (e.key === "ArrowUp") { suggestionIndex = (suggestionIndex + found.length - 1) % found.length; renderSuggestions(); e.preventDefault(); return; }
      if (e.key === "Enter" || e.key === "Tab") { insertCanned(found[suggestionIndex]); e.preventDefault(); return; }
      if (e.key === "Escape") { suggestions.hidden = true; return; }
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); composer.requestSubmit(); }
    if (e.key === "Escape") { reply.blur(); }
  });
  // Seen etiquette: the customer learns the agent has read it when the agent starts answering.
  reply.addEventListener("focus", () => {
    if (state.current && state.current.read_receipt === "answer" && currentMode() === "reply") { markRead(); }
  });
  Array.from(composer.elements.mode).forEach((r) => r.addEventListener("change", renderComposerRules));
  $("human-agent").addEventListener("change", renderComposerRules);
  fileInput.addEventListener("change", () => {
    const c = state.current;
    if (!c) { return; }
    if (uploads.conversation !== c.id) { uploadsClear(); }
    composerError("");
    Array.from(fileInput.files).forEach((file) => {
      const form = new FormData();
      form.append("file", file, file.name);
      uploads.pending += 1;
      renderUploads();
      post("conversations/" + c.id + "/attachments/", form).then((stored) => {
        if (!state.current || state.current.id !== c.id) { return; }
        uploads.items.push({ token: stored.token, name: stored.name || file.name });
      }).catch((err) => {
        composerError(interpolate(gettext("Could not attach %(name)s: %(reason)s"), { name: file.name, reason: err.message }));
      }).finally(() => { uploads.pending -= 1; renderUploads(); });
    });
    fileInput.value = "";
  });
  composer.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  // The window countdown moves on.
  setInterval(renderComposerRules, 25000);
}
