// A campaign's page: its results, live (polled every 5 s), and a chart of each day's sends.
import { get } from "../app/api.js";
import { el, $ } from "../app/dom.js";
import { renderChart } from "../app/charts.js";

const root = document.querySelector("main[data-campaign]");
if (root) {
  const id = root.dataset.campaign;
  const REASONS = { no_consent: "No consent", capped: "Frequency cap", quiet_hours: "Outside the send window",
    window_closed: "Messaging window closed", no_identity: "No way to reach them on this channel" };
  let last = "";

  function show(data) {
    const s = data.stats;
    const skipped = Object.values(s.skipped || {}).reduce((a, b) => a + b, 0);
    const revenue = Object.entries(s.revenue || {}).map(([c, v]) => `${v} ${c}`).join(", ") || "0";
    const values = { ...s, skipped_total: skipped, revenue };
    for (const dd of $("results").querySelectorAll("dd[data-key]")) { dd.textContent = String(values[dd.dataset.key] ?? "–"); }
    $("skipped").replaceChildren(...Object.entries(s.skipped || {}).filter(([, n]) => n)
      .map(([reason, n]) => el("li", { text: `${REASONS[reason] || reason}: ${n}` })));
    if (!skipped) { $("skipped").append(el("li", { class: "muted", text: "None skipped." })); }
    const key = JSON.stringify(data.days);
    if (key !== last) {
      last = key;
      renderChart($("campaign-chart"), {
        id: "campaign", title: "Sends per day", kind: "bar", x_label: "Day (UTC)", y_label: "Messages", unit: "count",
        label_kind: "day", labels: data.days.map((d) => d.day),
        datasets: [["Sent", "sent"], ["Delivered", "delivered"], ["Read", "read"], ["Replied", "replied"]]
          .map(([label, k]) => ({ label, data: data.days.map((d) => d[k]) })),
      });
    }
  }

  async function refresh() {
    try { show(await get(`campaigns/${id}/results/`)); } catch (err) { $("results-live").textContent = `Not updated: ${err.message}`; }
  }
  refresh();
  setInterval(() => { if (document.visibilityState === "visible") { refresh(); } }, 5000);
  document.addEventListener("campaign:status", refresh);
}
