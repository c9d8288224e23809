// Managers' dashboard: figures from /api/v1/metrics/, the at-risk panel kept live over /ws/inbox/.
// Dates and durations in the format of every page (static/app/format.js).
import { durationSeconds as duration, percent, dateTime, absolute } from "../app/format.js";

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

  async function getJSON(path, params) {
    const response = await fetch(`${api}${path}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.detail || (response.status >= 500 ? "the server could not answer just now" : "the request was refused"));
    }
    return response.json();
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
    if (data.counted === 0) reasons.push("no counted messages in this period");
    else {
      if (data.response_rate < BADGE_RATE) reasons.push(`response rate ${percent(data.response_rate)} is under 90 %`);
      if (data.response_time_seconds > BADGE_SECONDS) reasons.push(`response time ${duration(data.response_time_seconds)} is over 15 min`);
    }
    verdict.textContent = data.very_responsive ? "Would earn the badge" : `Would not earn the badge: ${reasons.join("; ")}`;
    verdict.className = `verdict ${data.very_responsive ? "yes" : "no"}`;
    document.getElementById("fig-rate").textContent = percent(data.response_rate);
    document.getElementById("fig-time").textContent = duration(data.response_time_seconds);
    document.getElementById("fig-median").textContent = duration(data.median_response_seconds);
    document.getElementById("fig-p90").textContent = duration(data.p90_response_seconds);
    document.getElementById("fig-counts").textContent = `${data.counted} / ${data.answered}`;
  }

  function renderTrend(days) {
    const chart = document.getElementById("trend-chart");
    chart.replaceChildren();
    const width = 600, height = 200, pad = 24;
    chart.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }));
    if (!days.length) return;
    const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, days.length - 1);
    const maxTime = Math.max(BADGE_SECONDS, ...days.map((d) => d.mean_response_seconds || 0));
    const line = (values, cls) => {
      const points = values.map((v, i) => (v === null ? null : `${x(i)},${v}`)).filter(Boolean);
      if (points.length) chart.append(svg("polyline", { points: points.join(" "), class: `line ${cls}` }));
    };
    line(days.map((d) => (d.response_rate === null ? null : height - pad - d.response_rate * (height - 2 * pad))), "rate");
    line(days.map((d) => (d.mean_response_seconds === null ? null : height - pad - (d.mean_response_seconds / maxTime) * (height - 2 * pad))), "time");
    const title = svg("title");
    title.textContent = days.map((d) => `${d.day}: ${percent(d.response_rate)}, ${duration(d.mean_response_seconds)}`).join("\n");
    chart.append(title);
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
      el("td", {}, duration(r.response_time_seconds)), el("td", {}, r.very_responsive ? "yes" : "no"))));
  }

  function renderHeatmap(cells) {
    const table = document.getElementById("heatmap");
    const names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const max = Math.max(1, ...cells.map((c) => c.counted));
    const byKey = new Map(cells.map((c) => [`${c.weekday}-${c.hour}`, c]));
    const head = el("tr", {}, el("th", {}, ""), ...Array.from({ length: 24 }, (_, h) => el("th", { scope: "col" }, h % 6 === 0 ? h : "")));
    const rows = names.map((name, i) => el("tr", {}, el("th", { scope: "row" }, name), ...Array.from({ length: 24 }, (_, h) => {
      const cell = byKey.get(`${i + 1}-${h}`);
      const td = el("td", { title: `${name} ${h}:00 — ${cell ? cell.counted : 0} messages, ${duration(cell && cell.mean_response_seconds)}` });
      td.style.background = `rgba(9, 105, 218, ${cell ? 0.1 + 0.9 * (cell.counted / max) : 0.03})`;
      return td;
    })));
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  }

  function renderBreakers(rows) {
    const body = document.querySelector("#breakers-table tbody");
    body.replaceChildren(...rows.slice(0, 50).map((r) => el("tr", {},
      el("td", {}, el("a", { href: `/conversations/${r.conversation}/` }, r.customer)), el("td", {}, r.channel),
      el("td", {}, el("time", { datetime: r.received_at, title: absolute(r.received_at) }, dateTime(r.received_at))), el("td", {}, r.responded_at ? duration(r.response_seconds) : "never"),
      el("td", {}, r.responder || "–"))));
  }

  function renderRisk(data) {
    const item = (r, when) => el("li", {}, el("a", { href: `/conversations/${r.conversation}/` }, r.customer), ` · ${r.channel} · ${when} · ${r.assignee || "unassigned"}`);
    const now = Date.now();
    document.getElementById("risk-waiting").replaceChildren(...data.waiting.map((r) => item(r, `waiting ${duration((now - Date.parse(r.waiting_since)) / 1000)}`)));
    document.getElementById("risk-closing").replaceChildren(...data.closing.map((r) => item(r, `closes in ${duration((Date.parse(r.window_expires_at) - now) / 1000)}`)));
  }

  async function refreshAll() {
    const params = query();
    document.getElementById("export").href = `${api}export.csv?${params}`;
    try {
      const [badge, trend, agents, teams, heat, breakers] = await Promise.all([
        getJSON("responsiveness/", params), getJSON("trend/", params), getJSON("agents/", params),
        getJSON("teams/", params), getJSON("heatmap/", new URLSearchParams([...params, ["tz", Intl.DateTimeFormat().resolvedOptions().timeZone]])),
        getJSON("breakers/", params),
      ]);
      renderBadge(badge); renderTrend(trend); renderAgents(agents); renderTeams(teams); renderHeatmap(heat); renderBreakers(breakers);
    } catch (error) {
      const verdict = document.getElementById("badge-verdict");
      verdict.className = "verdict no";
      verdict.replaceChildren(`Could not load the figures: ${error.message}. `);
      const retry = el("button", { type: "button", class: "retry" }, "Retry");
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
    socket.addEventListener("open", () => { retry = 0; liveState.textContent = "live"; liveState.className = "connection live"; refreshRisk(); });
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type && (frame.type.startsWith("conversation.") || frame.type.startsWith("message.") || frame.type === "access.changed")) refreshRisk();
    });
    socket.addEventListener("close", () => {
      liveState.textContent = "reconnecting"; liveState.className = "connection reconnecting";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry * (0.5 + Math.random() / 2));
    });
  }

  form.addEventListener("change", refreshAll);
  setInterval(refreshRisk, 60000); // waiting times grow without events
  refreshAll();
  connect();
}
