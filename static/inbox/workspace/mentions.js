// @mentions in private notes: highlighted in the timeline (the server notifies whom they name:
// inbox/team/mentions.py, the same pattern), and suggested while typing a note ("@bo" → @bob).
import { el, $ } from "../../app/dom.js";
import { ME, USERNAMES, DATA } from "./state.js";

// As the server reads them: a username after an "@" that does not follow a word (so not an email address).
const MENTION = /(?<![\w@.+-])@([\w.@+-]*\w)/g;

/** The note's text as nodes, each mention of a known agent in a <span class="mention">. */
export function mentionNodes(text) {
  const out = [];
  let at = 0;
  for (const m of String(text).matchAll(MENTION)) {
    const agent = USERNAMES.get(m[1].toLowerCase());
    if (!agent) { continue; }
    if (m.index > at) { out.push(document.createTextNode(text.slice(at, m.index))); }
    out.push(el("span", { class: "mention" + (agent.id === ME.id ? " mention-me" : ""), title: agent.name, text: m[0] }));
    at = m.index + m[0].length;
  }
  if (at < text.length) { out.push(document.createTextNode(text.slice(at))); }
  return out;
}

// --- Suggestions while typing a note ----------------------------------------------------------

let index = 0;
let found = [];

function isNote() {
  const mode = $("composer").elements.mode;
  return mode && mode.value === "note";
}

function typedMention(reply) {
  const before = reply.value.slice(0, reply.selectionStart);
  const m = before.match(/(?:^|[^\w@.+-])@([\w.+-]*)$/);
  return m ? { query: m[1].toLowerCase(), start: before.length - m[1].length - 1 } : null;
}

function hide(reply) {
  const box = $("mention-suggestions");
  box.hidden = true;
  found = [];
  if (reply.getAttribute("aria-activedescendant") && reply.getAttribute("aria-activedescendant").startsWith("mention-")) {
    reply.removeAttribute("aria-activedescendant");
  }
}

function show(reply) {
  const typed = isNote() ? typedMention(reply) : null;
  if (!typed) { hide(reply); return; }
  found = DATA.agents.filter((a) => a.username && a.id !== ME.id &&
    (a.username.toLowerCase().startsWith(typed.query) || a.name.toLowerCase().includes(typed.query))).slice(0, 6);
  if (!found.length) { hide(reply); return; }
  index = Math.min(index, found.length - 1);
  const box = $("mention-suggestions");
  box.replaceChildren(...found.map((a, i) => {
    const li = el("li", { role: "option", id: "mention-" + i, "aria-selected": String(i === index) }, [
      el("strong", { text: "@" + a.username }), a.name !== a.username ? " " + a.name : "",
    ]);
    li.addEventListener("mousedown", (e) => { e.preventDefault(); insert(reply, a); });
    return li;
  }));
  box.hidden = false;
  reply.setAttribute("aria-activedescendant", "mention-" + index);
}

function insert(reply, agent) {
  const typed = typedMention(reply);
  if (!typed) { return; }
  reply.setRangeText("@" + agent.username + " ", typed.start, reply.selectionStart, "end");
  hide(reply);
  reply.focus();
  reply.dispatchEvent(new Event("input", { bubbles: true }));
}

export function init() {
  const reply = $("reply");
  if (!reply || !$("mention-suggestions")) { return; }
  reply.addEventListener("input", () => show(reply));
  reply.addEventListener("blur", () => hide(reply));
  // Capture: at the Reply box this runs before the composer's own keys (Escape, Ctrl+Enter).
  reply.addEventListener("keydown", (e) => {
    if (!found.length || $("mention-suggestions").hidden) { return; }
    let handled = true;
    if (e.key === "ArrowDown") { index = (index + 1) % found.length; show(reply); }
    else if (e.key === "ArrowUp") { index = (index + found.length - 1) % found.length; show(reply); }
    else if (e.key === "Enter" || e.key === "Tab") { insert(reply, found[index]); }
    else if (e.key === "Escape") { hide(reply); }
    else { handled = false; }
    if (handled) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
  Array.from($("composer").elements.mode).forEach((r) => r.addEventListener("change", () => hide(reply)));
}
