// Live segment counter and audience size for the campaign form. The server counts (one rule,
// inbox.sms.segments), this file only asks and shows; no inline script (CSP-friendly).
import { gettext, ngettext, interpolate } from "../app/i18n.js";

(function () {
  "use strict";
  const form = document.getElementById("campaign-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let timer = null;

  function audience() {
    const out = {};
    const labels = $("c-labels").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (labels.length) out.labels = labels;
    if ($("c-bought").value) out.bought_within_days = parseInt($("c-bought").value, 10);
    if ($("c-ltv").value) out.lifetime_value_gt = $("c-ltv").value;
    return out;
  }

  async function refresh() {
    const inbox = $("c-inbox");
    const option = inbox.options[inbox.selectedIndex];
    if (!option) return;
    const body = {
      channel: option.dataset.channel, inbox: parseInt(inbox.value, 10), purpose: $("c-purpose").value,
      text: $("c-text").value, audience: audience(),
    };
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json();
      const counter = $("c-counter");
      if (!response.ok) { counter.textContent = data.detail || gettext("Cannot preview."); return; }
      let line = "";
      if (data.segments !== undefined) {
        line = interpolate(ngettext("%(characters)s characters, %(n)s SMS segment, %(encoding)s. ",
          "%(characters)s characters, %(n)s SMS segments, %(encoding)s. ", data.segments),
        { characters: data.characters, n: data.segments, encoding: data.encoding });
      }
      line += (data.warnings || []).join(" ");
      counter.textContent = line || interpolate(gettext("Preview: %(text)s"), { text: data.text });
      counter.className = (data.warnings || []).length ? "warn" : "";
      if (data.audience) {
        $("c-audience").textContent = interpolate(gettext("Audience size: %(size)s (%(eligible)s with consent)"),
          { size: data.audience.size, eligible: data.audience.eligible });
      }
    } catch (e) {
      $("c-counter").textContent = gettext("Preview unavailable.");
    }
  }

  function later() { clearTimeout(timer); timer = setTimeout(refresh, 300); }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
})();
