// Macros in the composer: "#" in the Reply box opens a picker of the macros the agent may use
// (search as you type, arrows to move, Enter or Tab to choose, Escape to close). Choosing one
// shows its preview from the server — the reply as the customer will read it and every action in
// words, with the reason when one may not run — and nothing happens until "Run macro".
// The bulk bar gets a "Run a macro" menu too: each ticked conversation all or nothing.
import { get, post } from "../../app/api.js";
import { el, $ } from "../../app/dom.js";
import { gettext, ngettext, pgettext, interpolate } from "../../app/i18n.js";
import { state } from "./state.js";
import { conversationChanged, refreshTimeline } from "./thread.js";
import { runBulk } from "./bulk.js";

const reply = $("reply");
const composer = $("composer");
let macros = null;          // [{id, name, scope, usage_count, ...}] once loaded
let loadedAt = 0;
let picker = null;          // the listbox
let dialog = null;          // the preview
let index = 0;
let pending = null;         // {macro, conversation, body} being previewed

const RELOAD_MS = 60000;
const TRIGGER = /(^|\s)#([^\n#]{0,40})$/;

function load() {
  if (macros && Date.now() - loadedAt < RELOAD_MS) { return Promise.resolve(macros); }
  return get("macros/?page_size=200").then((data) => {
    macros = data.results.slice().sort((a, b) => b.usage_count - a.usage_count || a.name.localeCompare(b.name));
    loadedAt = Date.now();
    return macros;
  });
}

function query() {
  if (!state.current || reply.selectionStart !== reply.selectionEnd) { return null; }
  const m = reply.value.slice(0, reply.selectionStart).match(TRIGGER);
  return m ? { text: m[2].toLowerCase(), start: reply.selectionStart - m[2].length - 1 } : null;
}

function matches(q) {
  if (!macros || !q) { return []; }
  return macros.filter((m) => m.name.toLowerCase().includes(q.text)).slice(0, 8);
}

function close() {
  if (!picker) { return; }
  picker.hidden = true;
  reply.removeAttribute("aria-activedescendant");
}

function render() {
  const q = query();
  const found = matches(q);
  if (!q || (!found.length && macros)) { close(); return; }
  if (!macros) { load().then(render).catch(close); return; }
  index = Math.min(index, found.length - 1);
  picker.replaceChildren(...found.map((m, i) => {
    const li = el("li", { role: "option", id: "macro-option-" + i, "aria-selected": String(i === index) }, [
      el("span", { text: "#" + m.name }),
      el("span", { class: "muted", text: " · " + (m.scope === "team" ? gettext("team") : gettext("personal")) + " · " +
        interpolate(gettext("used %(n)s×"), { n: m.usage_count }) }),
    ]);
    li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(m, q); });
    return li;
  }));
  picker.hidden = false;
  reply.setAttribute("aria-activedescendant", "macro-option-" + index);
}

function choose(macro, q) {
  // The "#query" goes: the macro's reply comes from the server, not from the box.
  reply.setRangeText("", q.start, reply.selectionStart, "start");
  reply.dispatchEvent(new Event("input", { bubbles: true }));
  close();
  preview(macro);
}

function applyBody(c) {
  const body = { conversation: c.id };
  if (c.window && c.window.state === "human_agent" && $("human-agent").checked) { body.tag = "HUMAN_AGENT"; }
  return body;
}

function showDialog(title, children, actions) {
  dialog.replaceChildren(el("h2", { id: "macro-dialog-title", text: title }), ...children,
    el("div", { class: "macro-dialog-actions" }, actions));
  if (!dialog.open) { dialog.showModal(); }
}

function closeDialog() {
  pending = null;
  if (dialog.open) { dialog.close(); }
  reply.focus();
}

function button(text, onClick, extra = {}) {
  const b = el("button", { type: "button", text, ...extra });
  b.addEventListener("click", onClick);
  return b;
}

function preview(macro) {
  const c = state.current;
  if (!c) { return; }
  pending = { macro, conversation: c.id, body: applyBody(c) };
  const title = interpolate(gettext("Macro: %(name)s"), { name: macro.name });
  showDialog(title, [el("p", { class: "muted", role: "status", text: gettext("Loading the preview…") })],
    [button(gettext("Cancel"), closeDialog)]);
  post("macros/" + macro.id + "/apply/", { ...pending.body, preview: true }).then((data) => {
    if (!pending || pending.macro !== macro) { return; }
    const parts = [];
    if (data.reply) {
      parts.push(el("h3", { text: pgettext("the message a macro sends", "Reply") }), el("blockquote", { class: "macro-reply", text: data.reply.text || gettext("(files only)") }));
      for (const a of data.reply.attachments || []) { parts.push(el("p", { class: "muted", text: "📎 " + a.name })); }
    }
    if (data.note) { parts.push(el("h3", { text: gettext("Private note") }), el("blockquote", { class: "macro-note", text: data.note })); }
    parts.push(el("h3", { text: gettext("What it will do") }), el("ol", { class: "macro-steps" }, data.actions.map((a) =>
      el("li", { class: a.allowed ? "" : "refused" }, [a.description, a.allowed ? "" : el("strong", { text: " — " + interpolate(gettext("not possible: %(reason)s"), { reason: a.detail }) })]))));
    if (!data.allowed) { parts.push(el("p", { class: "inline-error", role: "alert", text: gettext("This macro can't run on this conversation; nothing will change.") })); }
    const run = button(gettext("Run macro"), () => runMacro(run), { class: "primary", disabled: !data.allowed });
    showDialog(title, parts, [button(gettext("Cancel"), closeDialog), run]);
    if (data.allowed) { run.focus(); }
  }).catch((err) => {
    showDialog(title, [el("p", { class: "inline-error", role: "alert", text: interpolate(gettext("No preview: %(reason)s"), { reason: err.message }) })],
      [button(gettext("Close"), closeDialog)]);
  });
}

function runMacro(runButton) {
  if (!pending) { return; }
  const { macro, conversation, body } = pending;
  runButton.disabled = true;
  post("macros/" + macro.id + "/apply/", body).then((data) => {
    macro.usage_count += 1;
    closeDialog();
    if (state.current && state.current.id === conversation) {
      conversationChanged(data.conversation);
      refreshTimeline();
    }
  }).catch((err) => {
    runButton.disabled = false;
    dialog.querySelector(".macro-dialog-actions").before(
      el("p", { class: "inline-error", role: "alert", text: interpolate(gettext("Not run, nothing changed: %(reason)s"), { reason: err.message }) }));
  });
}

function bulkMenu() {
  const snooze = $("bulk-snooze");
  if (!snooze) { return; }
  const select = el("select", { id: "bulk-macro", "aria-label": gettext("Run a macro on the selected"), "data-needs-selection": "" });
  const fill = () => load().then((list) => select.replaceChildren(el("option", { value: "", text: gettext("Run a macro…") }),
    ...list.map((m) => el("option", { value: String(m.id), text: m.name })))).catch(() => {});
  select.append(el("option", { value: "", text: gettext("Run a macro…") }));
  select.disabled = true;
  select.addEventListener("focus", fill);
  select.addEventListener("change", () => {
    const macro = (macros || []).find((m) => String(m.id) === select.value);
    select.value = "";
    const n = state.selected ? state.selected.size : 0;
    if (macro && n && window.confirm(interpolate(ngettext(
      "Run “%(name)s” on %(n)s conversation? It changes completely or not at all; a reply goes out under its channel's rules.",
      "Run “%(name)s” on %(n)s conversations? Each one changes completely or not at all; replies go out under each channel's rules.", n),
    { name: macro.name, n }))) {
      runBulk("macro", { macro: macro.id }).then(() => { loadedAt = 0; });
    }
  });
  snooze.after(select);
  fill();
}

export function init() {
  bulkMenu();
  if (!reply || !composer) { return; }
  picker = el("ul", { id: "macro-suggestions", class: "canned", role: "listbox", "aria-label": gettext("Macros"), hidden: true });
  $("canned-suggestions").after(picker);
  dialog = el("dialog", { id: "macro-dialog", class: "macro-dialog", "aria-labelledby": "macro-dialog-title" });
  dialog.addEventListener("close", () => { pending = null; });
  document.body.append(dialog);
  reply.addEventListener("input", () => { index = 0; render(); });
  reply.addEventListener("blur", close);
  // Captured on the form, before the composer's own keys (Enter, Escape) see them.
  composer.addEventListener("keydown", (e) => {
    if (e.target !== reply || picker.hidden) { return; }
    const found = matches(query());
    if (!found.length) { return; }
    const keys = {
      ArrowDown: () => { index = (index + 1) % found.length; render(); },
      ArrowUp: () => { index = (index + found.length - 1) % found.length; render(); },
      Enter: () => choose(found[index], query()),
      Tab: () => choose(found[index], query()),
      Escape: close,
    };
    if (keys[e.key] && !(e.key === "Enter" && (e.ctrlKey || e.metaKey))) {
      e.preventDefault();
      e.stopPropagation();
      keys[e.key]();
    }
  }, true);
}
