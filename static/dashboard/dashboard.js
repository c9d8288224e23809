// Managers' dashboard: figures from /api/v1/metrics/, the at-risk panel kept live over /ws/inbox/.
// Dates and durations in the format of every page (static/app/format.js).
import { durationSeconds as duration, percent, dateTime, absolute, timeZone } from "../app/format.js";
import { gettext, ngettext, interpolate } from "../app/i18n.js";
import { renderChart } from "../app/charts.js";
import { changeLine } from "./reports.js";

const root = document.querySelector("main.dashboard");
if (root) {
  const api = root.dataset.api;
  const form = document.getElementById("filters");
  const BADGE_RATE = 0.9;
  const BADGE_SECONDS = 900;

  function query() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
    return params;
  }

  async function getJSON(path, params, withTotal = false) {
    const response = await fetch(`${api}${path}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.detail || (response.status >= 500 ? gettext("the server could not answer just now") : gettext("the request was refused")));
    }
    const data = await response.json();
    if (!withTotal) return data;
    const total = Number.parseInt(response.headers.get("X-Total-Count") || "", 10);
    return { rows: data, total: Number.isNaN(total) ? data.length : total };
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function svg(tag, attrs = {}) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return node;
  }

  function renderBadge(data) {
    const verdict = document.getElementById("badge-verdict");
    const reasons = [];
    if (data.counted === 0) reasons.push(gettext("no counted messages in this period"));
    else {
      if (data.response_rate < BADGE_RATE) reasons.push(interpolate(gettext("response rate %(rate)s is under %(target)s"), { rate: percent(data.response_rate), target: percent(BADGE_RATE) }));
      if (data.response_time_seconds > BADGE_SECONDS) reasons.push(interpolate(gettext("response time %(time)s is over %(target)s"), { time: duration(data.response_time_seconds), target: duration(BADGE_SECONDS) }));
    }
    verdict.textContent = data.very_responsive ? gettext("Would earn the badge") : interpolate(gettext("Would not earn the badge: %(reasons)s"), { reasons: reasons.join("; ") });
    verdict.className = `verdict ${data.very_responsive ? "yes" : "no"}`;
    document.getElementById("fig-rate").textContent = percent(data.response_rate);
    document.getElementById("fig-time").textContent = duration(data.response_time_seconds);
    document.getElementById("fig-median").textContent = duration(data.median_response_seconds);
    document.getElementById("fig-p90").textContent = duration(data.p90_response_seconds);
    document.getElementById("fig-counts").textContent = `${data.counted} / ${data.answered}`;
  }

  function renderTrend(days) {
    // Chart.js with both axes, the days in the pages' date format, values on hover, a legend and
    // the same figures as a table (static/app/charts.js).
    renderChart(document.getElementById("trend-chart"), {
      id: "trend", title: gettext("Response rate and mean response time per day"), kind: "line",
      x_label: gettext("Day (UTC)"), y_label: gettext("Response rate"), unit: "rate",
      y2_label: gettext("Mean response time"), y2_unit: "seconds", label_kind: "day", labels: days.map((d) => d.day),
      datasets: [
        { label: gettext("Response rate"), data: days.map((d) => d.response_rate), unit: "rate" },
        { label: gettext("Mean response time"), data: days.map((d) => d.mean_response_seconds), unit: "seconds", axis: "y2" },
      ],
    });
  }

  /** The badge figures' change against the previous period, from the first-response report. */
  async function renderChanges(params) {
    const compare = document.getElementById("badge-compare");
    try {
      const query = new URLSearchParams([...params].filter(([k]) => ["days", "inbox", "team", "channel"].includes(k)));
      const report = await fetch(`/api/v1/reports/first-response/?${query}&page_size=1`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!report.ok) { compare.textContent = ""; return; }
      const body = await report.json();
      const label = interpolate(gettext("previous %(days)s days"), { days: body.scope.days });
      for (const f of body.figures) {
        const node = document.getElementById(`chg-${f.key}`);
        if (node) { node.textContent = changeLine(f, label); }
      }
      compare.textContent = interpolate(gettext("Changes compare the last %(days)s whole UTC days with the %(days)s before."), { days: body.scope.days });
    } catch (error) { compare.textContent = ""; }
  }

  function renderAgents(rows) {
    const body = document.querySelector("#agents-table tbody");
    const max = Math.max(1, ...rows.map((r) => r.response_time_seconds || 0));
    body.replaceChildren(...rows.map((r) => {
      const bar = el("div", { class: `bar${r.response_time_seconds > BADGE_SECONDS ? " slow" : ""}`, role: "presentation" });
      bar.style.width = `${Math.round(((r.response_time_seconds || 0) / max) * 100)}%`;
      return el("tr", {}, el("th", { scope: "row" }, r.agent.name || r.agent.username), el("td", {}, r.answered),
        el("td", {}, duration(r.response_time_seconds)), el("td", { class: "bar-cell" }, bar));
    }));
  }

  function renderTeams(rows) {
    const body = document.querySelector("#teams-table tbody");
    body.replaceChildren(...rows.map((r) => el("tr", {}, el("th", { scope: "row" }, r.team.name), el("td", {}, percent(r.response_rate)),
      el("td", {}, duration(r.response_time_seconds)), el("td", {}, r.very_responsive ? gettext("yes") : gettext("no")))));
  }

  function renderHeatmap(cells) {
    const table = document.getElementById("heatmap");
    const names = [gettext("Mon"), gettext("Tue"), gettext("Wed"), gettext("Thu"), gettext("Fri"), gettext("Sat"), gettext("Sun")];
    const max = Math.max(1, ...cells.map((c) => c.counted));
    const byKey = new Map(cells.map((c) => [`${c.weekday}-${c.hour}`, c]));
    const head = el("tr", {}, el("th", {}, ""), ...Array.from({ length: 24 }, (_, h) => el("th", { scope: "col" }, h % 6 === 0 ? h : "")));
    const rows = names.map((name, i) => el("tr", {}, el("th", { scope: "row" }, name), ...Array.from({ length: 24 }, (_, h) => {
      const cell = byKey.get(`${i + 1}-${h}`);
      const counted = cell ? cell.counted : 0;
      const td = el("td", { title: interpolate(ngettext("%(day)s %(hour)s:00 — %(n)s message, %(time)s", "%(day)s %(hour)s:00 — %(n)s messages, %(time)s", counted),
        { day: name, hour: h, n: counted, time: duration(cell && cell.mean_response_seconds) }) });
      td.style.background = `rgba(9, 105, 218, ${cell ? 0.1 + 0.9 * (cell.counted / max) : 0.03})`;
      return td;
    })));
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
    // The legend: the colour ramp runs from no message to the busiest hour's count.
    document.getElementById("heat-max").textContent = interpolate(gettext("(darkest: %(n)s messages in an hour)"), { n: max });
  }

  // Paged, 10 a page, so the list stays short and its columns keep their width.
  const BREAKERS_PAGE = 10;
  let breakers = [];
  let breakersTotal = 0;
  let breakersPage = 0;
  function renderBreakers(result) {
    if (result) { breakers = result.rows; breakersTotal = result.total; breakersPage = 0; }
    const pages = Math.max(1, Math.ceil(breakers.length / BREAKERS_PAGE));
    breakersPage = Math.min(breakersPage, pages - 1);
    const body = document.querySelector("#breakers-table tbody");
    const shown = breakers.slice(breakersPage * BREAKERS_PAGE, (breakersPage + 1) * BREAKERS_PAGE);
    body.replaceChildren(...shown.map((r) => el("tr", {},
      el("th", { scope: "row" }, el("a", { href: `/conversations/${r.conversation}/` }, r.customer)), el("td", {}, CHANNEL_NAMES[r.channel] || r.channel),
      el("td", {}, el("time", { datetime: r.received_at, title: absolute(r.received_at) }, dateTime(r.received_at))), el("td", {}, r.responded_at ? duration(r.response_seconds) : gettext("never")),
      el("td", {}, r.responder || "–"))));
    if (!shown.length) body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, gettext("None in this period."))));
    const label = breakersTotal > breakers.length
      ? interpolate(gettext("Page %(page)s of %(pages)s · the latest %(n)s of %(total)s conversations (the CSV export has all)"),
        { page: breakersPage + 1, pages, n: breakers.length, total: breakersTotal })
      : interpolate(gettext("Page %(page)s of %(pages)s · %(n)s conversations"), { page: breakersPage + 1, pages, n: breakers.length });
    document.getElementById("breakers-page").textContent = label;
    document.getElementById("breakers-prev").disabled = breakersPage === 0;
    document.getElementById("breakers-next").disabled = breakersPage >= pages - 1;
  }
  const CHANNEL_NAMES = { messenger: "Messenger", instagram: "Instagram", sms: "SMS", email: "Email" };
  document.getElementById("breakers-prev").addEventListener("click", () => { breakersPage -= 1; renderBreakers(); });
  document.getElementById("breakers-next").addEventListener("click", () => { breakersPage += 1; renderBreakers(); });

  function renderRisk(data) {
    const item = (r, when) => el("li", {}, el("a", { href: `/conversations/${r.conversation}/` }, r.customer), ` · ${r.channel} · ${when} · ${r.assignee || gettext("unassigned")}`);
    const now = Date.now();
    document.getElementById("risk-waiting").replaceChildren(...data.waiting.map((r) => item(r, interpolate(gettext("waiting %(time)s"), { time: duration((now - Date.parse(r.waiting_since)) / 1000) }))));
    document.getElementById("risk-closing").replaceChildren(...data.closing.map((r) => item(r, interpolate(gettext("closes in %(time)s"), { time: duration((Date.parse(r.window_expires_at) - now) / 1000) }))));
  }

  async function refreshAll() {
    const params = query();
    document.getElementById("export").href = `${api}export.csv?${params}`;
    try {
      const [badge, trend, agents, teams, heat, breakers] = await Promise.all([
        getJSON("responsiveness/", params), getJSON("trend/", params), getJSON("agents/", params),
        getJSON("teams/", params), getJSON("heatmap/", new URLSearchParams([...params, ["tz", timeZone()]])),
        getJSON("breakers/", params, true),
      ]);
      renderBadge(badge); renderTrend(trend); renderAgents(agents); renderTeams(teams); renderHeatmap(heat); renderBreakers(breakers);
      renderChanges(params);
    } catch (error) {
      const verdict = document.getElementById("badge-verdict");
      verdict.className = "verdict no";
      verdict.replaceChildren(interpolate(gettext("Could not load the figures: %(reason)s. "), { reason: error.message }));
      const retry = el("button", { type: "button", class: "retry" }, gettext("Retry"));
      retry.addEventListener("click", refreshAll);
      verdict.append(retry);
    }
    refreshRisk();
  }

  let riskTimer = null;
  function refreshRisk() {
    clearTimeout(riskTimer);
    riskTimer = setTimeout(async () => {
      try { renderRisk(await getJSON("at-risk/", query())); } catch (error) { /* next event or tick retries */ }
    }, 250);
  }

  // Live: any conversation change may move it into or out of the at-risk lists.
  const liveState = document.getElementById("live-state");
  let retry = 0;
  function connect() {
    const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/inbox/`);
    socket.addEventListener("open", () => { retry = 0; liveState.textContent = gettext("live"); liveState.className = "connection live"; refreshRisk(); });
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type && (frame.type.startsWith("conversation.") || frame.type.startsWith("message.") || frame.type === "access.changed")) refreshRisk();
    });
    socket.addEventListener("close", () => {
      liveState.textContent = gettext("reconnecting"); liveState.className = "connection reconnecting";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry * (0.5 + Math.random() / 2));
    });
  }

  form.addEventListener("change", refreshAll);
  setInterval(refreshRisk, 60000); // waiting times grow without events
  refreshAll();
  connect();
}
