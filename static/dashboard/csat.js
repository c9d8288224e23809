// The dashboard's satisfaction section: CSAT score (share of 4–5 ratings), response rate of the
// surveys, by agent, team and channel, and the latest comments, from /api/v1/csat/summary/ with
// the page's filters (period, inbox, team, channel). The CSV export follows the same filters.
import { percent, dateTime, absolute } from "../app/format.js";
import { gettext, interpolate } from "../app/i18n.js";

const section = document.getElementById("csat");
const form = document.getElementById("filters");
const CHANNELS = { messenger: "Messenger", instagram: "Instagram", sms: "SMS", email: gettext("Email") };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function params() {
  const out = new URLSearchParams();
  for (const key of ["days", "inbox", "team", "channel"]) {
    const value = form.elements[key] && form.elements[key].value;
    if (value) out.set(key, value);
  }
  return out;
}

function rows(tbody, items, label) {
  tbody.replaceChildren(...items.map((r) => el("tr", {}, el("th", { scope: "row" }, label(r)), el("td", {}, percent(r.csat_score)),
    el("td", {}, percent(r.response_rate)), el("td", {}, `${r.answered} / ${r.sent}`))));
  if (!items.length) tbody.append(el("tr", {}, el("td", { colspan: "4", class: "muted" }, gettext("No surveys in this period"))));
}

function render(data) {
  const s = data.summary;
  document.getElementById("csat-score").textContent = percent(s.csat_score);
  document.getElementById("csat-rate").textContent = percent(s.response_rate);
  document.getElementById("csat-average").textContent = s.average_rating === null ? "–" : `${s.average_rating} / 5`;
  document.getElementById("csat-counts").textContent = `${s.sent} / ${s.answered}`;
  document.getElementById("csat-spread").textContent = [5, 4, 3, 2, 1].map((n) => `${n}: ${s.ratings[n]}`).join(" · ");
  rows(document.querySelector("#csat-agents tbody"), data.by_agent, (r) => (r.agent && r.agent.name) || gettext("No agent"));
  rows(document.querySelector("#csat-teams tbody"), data.by_team, (r) => (r.team && r.team.name) || gettext("No team"));
  rows(document.querySelector("#csat-channels tbody"), data.by_channel, (r) => CHANNELS[r.channel] || r.channel);
  const list = document.getElementById("csat-comments");
  list.replaceChildren(...data.comments.map((c) => el("li", {},
    el("strong", {}, `${c.rating}/5`), " ", el("q", {}, c.comment), ` — ${c.customer.name}`, c.agent ? ` (${c.agent.name})` : "",
    " · ", el("time", { datetime: c.commented_at || c.answered_at, title: absolute(c.commented_at || c.answered_at) },
      dateTime(c.commented_at || c.answered_at)))));
  if (!data.comments.length) list.append(el("li", { class: "muted" }, gettext("No comments in this period")));
}

async function refresh() {
  const query = params();
  document.getElementById("csat-export").href = `/api/v1/csat/export.csv?${query}`;
  const status = document.getElementById("csat-status");
  try {
    const response = await fetch(`/api/v1/csat/summary/?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || gettext("the request was refused"));
    status.textContent = "";
    render(data);
  } catch (error) {
    status.textContent = interpolate(gettext("Could not load the survey figures: %(reason)s."), { reason: error.message });
  }
}

if (section && form) {
  form.addEventListener("change", refresh);
  refresh();
}
