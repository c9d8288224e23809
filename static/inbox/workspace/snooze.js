// Snooze presets, in the agent's time zone (the browser's): 1 hour, tonight 18:00 (while it is
// still before then), tomorrow 9:00, next week (Monday 9:00), or a moment the agent picks.
import { dateTime, absolute } from "../../app/format.js";
import { el, $ } from "../../app/dom.js";
import { gettext } from "../../app/i18n.js";

function at(base, days, hour) {
  const d = new Date(base.getFullYear(), base.getMonth(), base.getDate() + days, hour, 0, 0, 0);
  return d;
}

/** [{id, label, until: Date}] for `now`. */
export function snoozePresets(now = new Date()) {
  const presets = [{ id: "1h", label: gettext("1 hour"), until: new Date(now.getTime() + 3600 * 1000) }];
  const tonight = at(now, 0, 18);
  if (tonight.getTime() - now.getTime() > 3600 * 1000) { presets.push({ id: "tonight", label: gettext("Tonight, 18:00"), until: tonight }); }
  presets.push({ id: "tomorrow", label: gettext("Tomorrow, 9:00"), until: at(now, 1, 9) });
  const toMonday = ((8 - now.getDay()) % 7) || 7;  // the next Monday, a week away on a Monday
  presets.push({ id: "next-week", label: gettext("Next week (Monday 9:00)"), until: at(now, toMonday, 9) });
  return presets;
}

function localInputValue(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

let onPick = null;

/** Open the snooze menu under its button; pick(untilDate) is called with the choice. */
export function openSnoozeMenu(pick) {
  onPick = pick;
  const menu = $("snooze-menu");
  const list = $("snooze-presets");
  list.replaceChildren(...snoozePresets().map((p) => {
    const button = el("button", { type: "button", class: "menu-item", "data-preset": p.id, title: absolute(p.until) }, [
      el("span", { text: p.label }), el("span", { class: "muted", text: dateTime(p.until) }),
    ]);
    button.addEventListener("click", () => { close(); onPick(p.until); });
    return el("li", {}, [button]);
  }));
  const custom = $("snooze-custom");
  custom.min = localInputValue(new Date());
  if (!custom.value) { custom.value = localInputValue(snoozePresets()[2].until); }
  menu.hidden = false;
  $("action-snooze-button").setAttribute("aria-expanded", "true");
  list.querySelector("button").focus();
}

export function close() {
  $("snooze-menu").hidden = true;
  $("action-snooze-button").setAttribute("aria-expanded", "false");
}

export function isOpen() { return !$("snooze-menu").hidden; }

export function init() {
  $("snooze-custom-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("snooze-custom").value;
    const until = value ? new Date(value) : null;
    const error = $("snooze-error");
    if (!until || Number.isNaN(until.getTime()) || until.getTime() <= Date.now()) {
      error.textContent = gettext("Pick a moment in the future.");
      error.hidden = false;
      return;
    }
    error.hidden = true;
    close();
    if (onPick) { onPick(until); }
  });
  $("snooze-menu").addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.stopPropagation(); close(); $("action-snooze-button").focus(); }
  });
  document.addEventListener("click", (e) => {
    if (isOpen() && !$("snooze-menu").contains(e.target) && e.target !== $("action-snooze-button") && !$("action-snooze-button").contains(e.target)) { close(); }
  });
}
