// One pane at a time on a phone (list → thread → customer), with back buttons; on a desktop the
// three panes stay side by side and only the customer toggle of mid-size screens uses this.
import { root } from "./state.js";

const PANES = ["list", "thread", "customer"];

export function showPane(name) {
  if (!root || PANES.indexOf(name) < 0) { return; }
  const before = root.dataset.pane;
  root.dataset.pane = name;
  const toggle = document.getElementById("show-customer");
  if (toggle) { toggle.setAttribute("aria-expanded", String(name === "customer")); }
  if (before !== name && isNarrow()) { window.scrollTo(0, 0); }
}

export function currentPane() { return root ? root.dataset.pane : "list"; }

/** True when the screen shows fewer than three panes. */
export function isNarrow() { return window.matchMedia("(max-width: 1023px)").matches; }

export function init() {
  document.getElementById("back-to-list").addEventListener("click", () => {
    showPane("list");
    const current = document.querySelector("#conversation-list li.current a");
    if (current) { current.focus({ preventScroll: true }); }
  });
  document.getElementById("show-customer").addEventListener("click", () => {
    const open = currentPane() === "customer";
    showPane(open ? "thread" : "customer");
    if (!open) { document.getElementById("customer-panel").focus(); }
  });
  document.getElementById("back-to-thread").addEventListener("click", () => {
    showPane("thread");
    document.getElementById("show-customer").focus();
  });
}
