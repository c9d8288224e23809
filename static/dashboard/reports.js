// A report page (/reports/<name>/): figures against the previous period, each with its one-sentence
// meaning on hover or focus; the report's charts (static/app/charts.js) each with a table; the
// report's table, paged and sorted by the server; CSV export with the same filters; drill-down to
// the conversations behind a row; the weekly digest switch.
import { get, request } from "../app/api.js";
import { el, $ } from "../app/dom.js";
import { day } from "../app/format.js";
import { renderChart, formatValue } from "../app/charts.js";
import { gettext, ngettext, interpolate } from "../app/i18n.js";

/** "+3 (+25 %)", "+2.1 points", "−4 min" against the previous period; "" when not comparable. */
export function changeText(f) {
  const { value, previous, unit } = f;
  if (value === null || value === undefined || previous === null || previous === undefined || unit === "text") { return ""; }
  const now = Number(value), before = Number(previous);
  if (Number.isNaN(now) || Number.isNaN(before)) { return ""; }
  const delta = now - before;
  if (delta === 0) { return gettext("no change"); }
  const sign = delta > 0 ? "+" : "−";
  if (unit === "rate") { return interpolate(gettext("%(sign)s%(points)s points"), { sign, points: Math.abs(delta * 100).toFixed(1) }); }
  if (unit === "seconds") { return `${sign}${formatValue(Math.abs(delta), "seconds")}`; }
  const relative = before ? ` (${sign}${Math.abs((delta / before) * 100).toFixed(0)} %)` : "";
  return `${sign}${formatValue(Math.abs(delta), unit === "money" ? "money" : "number")}${relative}`;
}

/** "+3 (+25 %) vs previous 7 days (12)", or "previous 7 days: –" when there is nothing to compare. */
export function changeLine(f, previousLabel) {
  const change = changeText(f);
  const previous = f.unit === "text" ? (f.previous || "–") : formatValue(f.previous, f.unit);
  return change ? interpolate(gettext("%(change)s vs %(period)s (%(previous)s)"), { change, period: previousLabel, previous })
    : interpolate(gettext("%(period)s: %(previous)s"), { period: previousLabel, previous });
}

/** One figure: label, value, its change; the sentence saying what it is shows on hover and focus. */
export function figureNode(f, previousLabel) {
  const id = `explain-${f.key}-${Math.random().toString(36).slice(2, 8)}`;
  return el("div", { class: "figure", tabindex: "0", "aria-describedby": id, "data-key": f.key }, [
    el("dt", { text: f.label }),
    el("dd", { class: "figure-value", text: f.unit === "text" ? (f.value || "–") : formatValue(f.value, f.unit) }),
    el("dd", { class: "figure-change", text: changeLine(f, previousLabel) }),
    el("dd", { class: "explain", id, role: "tooltip", text: f.explain }),
  ]);
}

const root = document.querySelector("main[data-report]");
if (root) {
  const name = root.dataset.report;
  const api = root.dataset.api;
  const form = $("filters");
  const state = { page: 1, sort: "", body: null };

  function params(extra = {}) {
    const p = new URLSearchParams();
    for (const [key, value] of new FormData(form)) { if (value) { p.set(key, value); } }
    for (const [key, value] of Object.entries(extra)) { if (value !== "" && value !== undefined) { p.set(key, value); } }
    return p;
  }

  function periodText(scope) { return `${day(scope.first_day + "T12:00:00Z")} – ${day(scope.last_day + "T12:00:00Z")}`; }

  function renderFigures(body) {
    const previousLabel = interpolate(gettext("previous %(days)s days"), { days: body.scope.days });
    $("period").textContent = interpolate(gettext("%(period)s (UTC days), compared with %(previous)s"),
      { period: periodText(body.scope), previous: periodText(body.previous) });
    $("figures").replaceChildren(...body.figures.map((f) => figureNode(f, previousLabel)));
  }

  function renderCharts(body) {
    const holder = $("charts");
    holder.replaceChildren(...body.charts.map((spec) => el("section", { class: "chart-card", "data-chart": spec.id })));
    body.charts.forEach((spec, i) => renderChart(holder.children[i], spec));
  }

  function sortButton(column) {
    const active = state.sort.replace("-", "") === column.key;
    const descending = state.sort.startsWith("-");
    const th = el("th", { scope: "col", "aria-sort": active ? (descending ? "descending" : "ascending") : "none",
      title: column.explain || null });
    const button = el("button", { type: "button", class: "sort", text: column.label + (active ? (descending ? " ▼" : " ▲") : "") });
    button.addEventListener("click", () => {
      state.sort = active && !descending ? `-${column.key}` : column.key;
      state.page = 1;
      load();
    });
    th.append(button);
    return th;
  }

  function cellText(row, column) {
    const v = row[column.key];
    if (column.unit === "channel") { return { messenger: "Messenger", instagram: "Instagram", sms: "SMS", email: gettext("Email") }[v] || v; }
    return formatValue(v, column.unit === "text" ? "text" : column.unit);
  }

  function renderTable(body) {
    const table = $("report-table");
    const columns = body.columns;
    table.tHead.replaceChildren(el("tr", {}, [...columns.map(sortButton), el("th", { scope: "col", text: gettext("Conversations") })]));
    const rows = body.rows.map((row) => el("tr", {}, [
      ...columns.map((c, i) => (i === 0 ? el("th", { scope: "row", text: cellText(row, c) }) : el("td", { text: cellText(row, c) }))),
      el("td", {}, [row.drill ? drillButton(row, columns) : ""]),
    ]));
    if (!rows.length) { rows.push(el("tr", {}, [el("td", { colspan: String(columns.length + 1), class: "muted", text: "Nothing in this period." })])); }
    table.tBodies[0].replaceChildren(...rows);
    const t = body.table;
    $("page-state").textContent = interpolate(ngettext("Page %(page)s of %(pages)s · %(n)s row", "Page %(page)s of %(pages)s · %(n)s rows", t.count),
      { page: t.page, pages: t.pages, n: t.count });
    $("page-prev").disabled = t.page <= 1;
    $("page-next").disabled = t.page >= t.pages;
  }

  function drillButton(row, columns) {
    const button = el("button", { type: "button", class: "link-button", text: "Show" ,
      "aria-label": interpolate(gettext("Conversations behind %(row)s"), { row: cellText(row, columns[0]) }) });
    button.addEventListener("click", () => drill(row, columns));
    return button;
  }

  async function drill(row, columns) {
    const dialog = $("drill");
    $("drill-title").textContent = interpolate(gettext("Conversations: %(row)s"), { row: columns.map((c) => cellText(row, c)).slice(0, 2).join(", ") });
    $("drill-count").textContent = gettext("Loading…");
    $("drill-list").replaceChildren();
    dialog.showModal();
    try {
      const data = await get(`${api}conversations/?${params(row.drill)}`);
      $("drill-count").textContent = data.count > data.results.length
        ? interpolate(gettext("The newest %(shown)s of %(n)s conversations."), { shown: data.results.length, n: data.count })
        : interpolate(ngettext("%(n)s conversation.", "%(n)s conversations.", data.count), { n: data.count });
      $("drill-list").replaceChildren(...data.results.map((c) => el("li", {}, [
        el("a", { href: c.url, text: `${c.customer} · ${c.inbox}` }), ` · ${c.status}${c.assignee ? " · " + c.assignee : ""} · `,
        el("time", { datetime: c.created_at, text: day(c.created_at) }),
      ])));
    } catch (err) {
      $("drill-count").textContent = interpolate(gettext("Could not load them: %(reason)s"), { reason: err.message });
    }
  }

  async function load() {
    const status = $("report-status");
    const query = params({ page: state.page, sort: state.sort });
    const csv = params({ sort: state.sort });
    $("export").href = `/api/v1/reports/${name}.csv?${csv}`;
    status.textContent = gettext("Loading…");
    status.className = "verdict";
    try {
      const body = await get(`${api}?${query}`);
      state.body = body;
      status.textContent = body.available === false ? (body.notes[0] || gettext("No data yet.")) : "";
      renderFigures(body);
      renderCharts(body);
      renderTable(body);
      $("notes").replaceChildren(...body.notes.map((n) => el("li", { text: n })));
    } catch (err) {
      status.className = "verdict no";
      status.textContent = interpolate(gettext("Could not load the report: %(reason)s"), { reason: err.message });
    }
  }

  $("page-prev").addEventListener("click", () => { state.page -= 1; load(); });
  $("page-next").addEventListener("click", () => { state.page += 1; load(); });
  form.addEventListener("change", (e) => { if (e.target.id !== "digest") { state.page = 1; load(); } });
  form.addEventListener("submit", (e) => e.preventDefault());

  // The weekly digest.
  const digest = $("digest");
  async function digestShow(data) {
    digest.checked = data.enabled;
    $("digest-state").textContent = data.enabled
      ? interpolate(gettext("Next: Monday 08:00 (%(zone)s)"), { zone: data.time_zone }) : gettext("Off");
  }
  get(digest.dataset.url).then(digestShow).catch(() => { $("digest-state").textContent = ""; });
  digest.addEventListener("change", async () => {
    try { digestShow(await request("PUT", digest.dataset.url, { enabled: digest.checked })); }
    catch (err) { digest.checked = !digest.checked; $("digest-state").textContent = interpolate(gettext("Not changed: %(reason)s"), { reason: err.message }); }
  });

  load();
}
