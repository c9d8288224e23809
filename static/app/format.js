// One way to show dates, times, durations, numbers and money on every page, in the page's language
// (<html lang>: the agent's choice, else the browser's) and the agent's time zone (<html
// data-time-zone> when they picked one, else the browser's). Short text in the page, the absolute
// time (with seconds and zone) on hover.
import { LANG, gettext, interpolate } from "./i18n.js";

function zoneOf(wanted) {
  if (wanted) {
    try { return new Intl.DateTimeFormat("en", { timeZone: wanted }).resolvedOptions().timeZone; } catch (e) { /* unknown: the browser's */ }
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const ZONE = zoneOf(document.documentElement.dataset.timeZone || "");
const dates = (options) => new Intl.DateTimeFormat(LANG, { timeZone: ZONE, ...options });
const SAME_YEAR = dates({ month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const OTHER_YEAR = dates({ year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const TIME_ONLY = dates({ hour: "2-digit", minute: "2-digit" });
const DAY_ONLY = dates({ year: "numeric", month: "short", day: "numeric" });
const ABSOLUTE = dates({
  weekday: "short", year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});
const YEAR = dates({ year: "numeric" });
const PERCENT = new Intl.NumberFormat(LANG, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });

export function timeZone() { return ZONE; }

export function language() { return LANG; }

function toDate(value) {
  if (value === null || value === undefined || value === "") { return null; }
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "Dec 1, 08:24 PM" (this year) or "Dec 1, 2025, 08:24 PM"; "" for nothing. */
export function dateTime(value) {
  const d = toDate(value);
  if (!d) { return ""; }
  return (YEAR.format(d) === YEAR.format(new Date()) ? SAME_YEAR : OTHER_YEAR).format(d);
}

/** A calendar day: "Dec 1, 2025". */
export function day(value) {
  const d = toDate(value);
  return d ? DAY_ONLY.format(d) : "";
}

/** The hour and minute only, for times of today ("08:24 PM"). */
export function clock(value) {
  const d = toDate(value);
  return d ? TIME_ONLY.format(d) : "";
}

/** The full moment, for a title on hover: "Tue, Dec 1, 2026, 08:24:13 PM GMT+1". */
export function absolute(value) {
  const d = toDate(value);
  return d ? ABSOLUTE.format(d) : "";
}

/** A length of time from milliseconds: "45 s", "12 min", "2 h 5 min", "22 d 18 h" (in the page's language). */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) { return "–"; }
  const seconds = Math.max(0, Math.floor(Number(ms) / 1000));
  if (seconds < 60) { return interpolate(gettext("%(s)s s"), { s: seconds }); }
  const minutes = Math.floor(seconds / 60);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days) { return interpolate(hours ? gettext("%(d)s d %(h)s h") : gettext("%(d)s d"), { d: days, h: hours }); }
  if (hours) { return interpolate(mins ? gettext("%(h)s h %(m)s min") : gettext("%(h)s h"), { h: hours, m: mins }); }
  return interpolate(gettext("%(m)s min"), { m: mins });
}

/** The same, from seconds (the metrics API counts in seconds). */
export function durationSeconds(seconds) {
  return seconds === null || seconds === undefined ? "–" : duration(Number(seconds) * 1000);
}

/** "5 min ago", "in 2 h": how far a moment is from now, in the duration format. */
export function relative(value, now = Date.now()) {
  const d = toDate(value);
  if (!d) { return ""; }
  const diff = d.getTime() - now;
  if (Math.abs(diff) < 60000) { return gettext("just now"); }
  return interpolate(diff < 0 ? gettext("%(duration)s ago") : gettext("in %(duration)s"), { duration: duration(Math.abs(diff)) });
}

/** A ratio as "92.5%" ("92,5 %" in French). */
export function percent(rate) {
  return rate === null || rate === undefined ? "–" : PERCENT.format(rate);
}

/** A number in the page's language: "1,234.5" / "1 234,5". */
export function number(value, options = {}) {
  if (value === null || value === undefined || value === "" || Number.isNaN(Number(value))) { return "–"; }
  return new Intl.NumberFormat(LANG, options).format(Number(value));
}

/** An amount of money in its currency (ISO 4217), in the page's language: "$59.00", "59,00 €";
    without a currency (or an unknown one), the number alone. */
export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "" || Number.isNaN(Number(amount))) { return "–"; }
  if (currency) {
    try { return new Intl.NumberFormat(LANG, { style: "currency", currency }).format(Number(amount)); } catch (e) { /* unknown code */ }
  }
  return number(amount, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + (currency ? " " + currency : "");
}

/** A <time> element: `text` (default: dateTime) in the page, the absolute moment on hover. */
export function timeElement(value, text) {
  const node = document.createElement("time");
  const d = toDate(value);
  if (!d) { return node; }
  node.dateTime = d.toISOString();
  node.title = absolute(d);
  node.textContent = text === undefined ? dateTime(d) : text;
  return node;
}

/** Server-rendered <time datetime> elements take the same format (and title) as the scripts'. */
export function formatTimes(root = document) {
  root.querySelectorAll("time[datetime]:not([data-formatted])").forEach((node) => {
    const d = toDate(node.getAttribute("datetime"));
    if (!d) { return; }
    node.title = absolute(d);
    const format = node.dataset.format;
    if (format !== "keep") { node.textContent = format === "day" ? day(d) : format === "clock" ? clock(d) : dateTime(d); }
    node.dataset.formatted = "1";
  });
}
