// One way to show dates, times and durations on every page, in the agent's time zone (the
// browser's). Short text in the page, the absolute time (with seconds and zone) on hover.

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const SAME_YEAR = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const OTHER_YEAR = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const TIME_ONLY = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const DAY_ONLY = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const ABSOLUTE = new Intl.DateTimeFormat(undefined, {
  weekday: "short", year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});

export function timeZone() { return ZONE; }

function toDate(value) {
  if (value === null || value === undefined || value === "") { return null; }
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "Dec 1, 08:24 PM" (this year) or "Dec 1, 2025, 08:24 PM"; "" for nothing. */
export function dateTime(value) {
  const d = toDate(value);
  if (!d) { return ""; }
  return (d.getFullYear() === new Date().getFullYear() ? SAME_YEAR : OTHER_YEAR).format(d);
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

/** A length of time from milliseconds: "45 s", "12 min", "2 h 5 min", "22 d 18 h". */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) { return "–"; }
  const seconds = Math.max(0, Math.floor(Number(ms) / 1000));
  if (seconds < 60) { return `${seconds} s`; }
  const minutes = Math.floor(seconds / 60);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days) { return hours ? `${days} d ${hours} h` : `${days} d`; }
  if (hours) { return mins ? `${hours} h ${mins} min` : `${hours} h`; }
  return `${mins} min`;
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
  if (Math.abs(diff) < 60000) { return "just now"; }
  return diff < 0 ? `${duration(-diff)} ago` : `in ${duration(diff)}`;
}

/** A ratio as "92.5 %". */
export function percent(rate) {
  return rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)} %`;
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
