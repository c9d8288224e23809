// Keyboard shortcuts of the workspace. None fires while typing in a field or with a modifier
// held; "?" lists them all in a dialog.
import { $ } from "../../app/dom.js";
import { state } from "./state.js";
import { moveCursor, openCursor, toggleCursorSelection } from "./list.js";
import { assignToMe, resolve, snooze } from "./thread.js";
import { setMode } from "./composer.js";
import { showPane } from "./panes.js";

// The list shown by "?" is in templates/inbox/workspace.html (#shortcuts-dialog).

function typing(target) {
  if (!target || !(target instanceof Element)) { return false; }
  if (target.isContentEditable) { return true; }
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") { return true; }
  if (tag === "INPUT") { return !["checkbox", "radio", "button", "submit", "reset"].includes(target.type); }
  return false;
}

function openThreadPane() {
  if (!state.current) { return false; }
  showPane("thread");
  return true;
}

const ACTIONS = {
  j: () => moveCursor(1),
  k: () => moveCursor(-1),
  x: () => toggleCursorSelection(),
  r: () => { if (openThreadPane()) { setMode("reply"); } },
  n: () => { if (openThreadPane()) { setMode("note"); } },
  a: () => { if (state.current) { assignToMe(); } },
  e: () => { if (state.current) { resolve(); } },
  s: () => { if (openThreadPane()) { snooze(); } },
  "/": () => { showPane("list"); const q = $("filters").elements.q; q.focus(); q.select(); },
  "?": () => { const d = $("shortcuts-dialog"); if (!d.open) { d.showModal(); } },
};

export function init() {
  const dialog = $("shortcuts-dialog");
  $("shortcuts-button").addEventListener("click", () => dialog.showModal());
  $("shortcuts-close").addEventListener("click", () => dialog.close());
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) { return; }
    if (dialog.open || typing(e.target)) { return; }
    if (document.querySelector(".bell-panel:not([hidden])") && e.key !== "?") { return; }
    if (e.key === "Enter") {
      // On a focused link or button Enter does what it always does; elsewhere it opens the selected row.
      if (e.target.closest && e.target.closest("a, button, summary")) { return; }
      if (openCursor()) { e.preventDefault(); }
      return;
    }
    const action = ACTIONS[e.key];
    if (!action) { return; }
    e.preventDefault();
    action();
  });
}
