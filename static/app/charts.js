// Charts for the reports, the dashboard and the campaign pages: Chart.js (from npm, served from
// static/vendor/chart.js/, loaded by the page as a classic script) with axes, dates, values on
// hover and a legend — and, for each chart, the same numbers as a table (under "Show as a
// table"), which is also all there is when the library could not be loaded.
import { el } from "./dom.js";
import { day, durationSeconds, percent } from "./format.js";
import { gettext, interpolate } from "./i18n.js";

const COLORS = ["#0969da", "#1a7f37", "#bf3989", "#9a6700", "#8250df", "#cf222e", "#57606a"];

/** A number as its unit reads: count, seconds, rate (0–1), money, number. */
export function formatValue(value, unit) {
  if (value === null || value === undefined || value === "") { return "–"; }
  if (unit === "seconds") { return durationSeconds(value); }
  if (unit === "rate") { return percent(value); }
  if (unit === "money") { return Number(value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }
  if (unit === "count" || unit === "number") { return Number(value).toLocaleString(); }
  if (unit === "day") { return day(value + "T12:00:00Z"); }
  return String(value);
}

function labelText(label, kind) { return kind === "day" ? day(label + "T12:00:00Z") : String(label); }

function tableOf(spec) {
  const head = el("tr", {}, [el("th", { scope: "col", text: (spec.horizontal ? spec.y_label : spec.x_label) || "" }),
    ...spec.datasets.map((d) => el("th", { scope: "col", text: d.label }))]);
  const rows = spec.labels.map((label, i) => el("tr", {}, [
    el("th", { scope: "row", text: labelText(label, spec.label_kind) }),
    ...spec.datasets.map((d) => el("td", { text: formatValue(d.data[i], d.unit || spec.unit) })),
  ]));
  return el("table", { class: "chart-table" }, [el("caption", { text: spec.title }), el("thead", {}, [head]), el("tbody", {}, rows)]);
}

/**
 * Render `spec` ({id, title, kind: bar|line, stacked, horizontal, x_label, y_label, unit, labels,
 * label_kind: day|text, datasets: [{label, data, unit?, axis?: "y2"}], y2_label, y2_unit}) into
 * `container`; returns the Chart (or null without the library).
 */
export function renderChart(container, spec) {
  if (container._chart) { container._chart.destroy(); container._chart = null; }
  const canvas = el("canvas", { role: "img", "aria-label": interpolate(gettext("%(title)s (the table below holds the same figures)"), { title: spec.title }) });
  const box = el("div", { class: "chart-box" }, [canvas]);
  const details = el("details", { class: "chart-fallback" }, [el("summary", { text: gettext("Show as a table") }), tableOf(spec)]);
  const empty = !spec.labels.length || spec.datasets.every((d) => d.data.every((v) => !v));
  const parts = [el("h3", { class: "chart-title", text: spec.title })];
  if (empty) { parts.push(el("p", { class: "muted chart-empty", text: gettext("Nothing in this period.") })); }
  if (!window.Chart) {
    details.open = true;
    parts.push(el("p", { class: "muted", text: gettext("The chart library is not installed here (make npm): the figures as a table.") }));
  } else { parts.push(box); }
  parts.push(details);
  container.replaceChildren(...parts);
  if (!window.Chart) { return null; }
  const horizontal = Boolean(spec.horizontal);
  const valueAxis = horizontal ? "x" : "y";
  const labelAxis = horizontal ? "y" : "x";
  const scales = {
    [labelAxis]: { stacked: Boolean(spec.stacked), title: { display: true, text: horizontal ? spec.y_label : spec.x_label },
      ticks: { autoSkip: true, maxRotation: 0, callback(value) { return labelText(this.getLabelForValue(value), spec.label_kind); } } },
    [valueAxis]: { stacked: Boolean(spec.stacked), beginAtZero: true,
      title: { display: true, text: horizontal ? spec.x_label : spec.y_label },
      ticks: { callback: (v) => formatValue(v, spec.unit) } },
  };
  if (spec.y2_label) {
    scales.y2 = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
      title: { display: true, text: spec.y2_label }, ticks: { callback: (v) => formatValue(v, spec.y2_unit) } };
  }
  const datasets = spec.datasets.map((d, i) => ({
    label: d.label, data: d.data, yAxisID: d.axis === "y2" ? "y2" : undefined,
    backgroundColor: COLORS[i % COLORS.length] + (spec.kind === "line" ? "33" : "cc"),
    borderColor: COLORS[i % COLORS.length], borderWidth: spec.kind === "line" ? 2 : 0, pointRadius: 2,
    spanGaps: true, tension: 0.2, _unit: d.unit || (d.axis === "y2" ? spec.y2_unit : spec.unit),
  }));
  const chart = new window.Chart(canvas, {
    type: spec.kind === "line" ? "line" : "bar",
    data: { labels: spec.labels, datasets },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false, indexAxis: horizontal ? "y" : "x",
      interaction: { mode: "index", intersect: false, axis: horizontal ? "y" : "x" },
      plugins: {
        legend: { display: true, position: "bottom" },
        tooltip: { callbacks: {
          title: (items) => (items.length ? labelText(spec.labels[items[0].dataIndex], spec.label_kind) : ""),
          label: (ctx) => `${ctx.dataset.label}: ${formatValue(horizontal ? ctx.parsed.x : ctx.parsed.y, ctx.dataset._unit)}`,
        } },
      },
      scales,
    },
  });
  container._chart = chart;
  return chart;
}
