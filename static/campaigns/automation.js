// Editors of the comment auto-responders (/api/v1/autoresponders/) and of each inbox's greeting,
// away message, business hours and holidays (PATCH /api/v1/inboxes/<id>/, admins only).
import { get, post, patch, request } from "../app/api.js";
import { el, $ } from "../app/dom.js";

const root = document.querySelector("main[data-write]");
if (root) {
  const mayWrite = root.dataset.write === "1";
  const isAdmin = root.dataset.admin === "1";
  const say = (text) => { $("automation-status").textContent = text; };
  const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];

  // --- Auto-responders ---------------------------------------------------------------------------
  const arForm = $("ar-form");
  let responders = [];
  function renderResponders() {
    const list = $("ar-list");
    list.replaceChildren(...responders.map((r) => {
      const item = el("li", {}, [
        el("strong", { text: r.keywords.join(", ") }), ` · ${r.active ? "active" : "off"}`,
        r.public_reply ? el("div", { text: `Public: ${r.public_reply}` }) : null,
        r.private_reply ? el("div", { text: `Private: ${r.private_reply}` }) : null,
      ]);
      if (mayWrite) {
        const edit = el("button", { type: "button", class: "button", text: "Edit" });
        edit.addEventListener("click", () => fill(r));
        const remove = el("button", { type: "button", class: "button danger", text: "Delete" });
        remove.addEventListener("click", async () => {
          if (!window.confirm("Delete this auto-responder?")) { return; }
          try { await request("DELETE", `autoresponders/${r.id}/`); say("Deleted."); load(); } catch (err) { say(`Not deleted: ${err.message}`); }
        });
        item.append(" ", edit, " ", remove);
      }
      return item;
    }));
    if (!responders.length) { list.append(el("li", { class: "muted", text: "No auto-responder yet." })); }
  }
  function fill(r) {
    arForm.elements.id.value = r.id;
    arForm.elements.inbox.value = String(r.inbox);
    arForm.elements.keywords.value = r.keywords.join(", ");
    arForm.elements.public_reply.value = r.public_reply;
    arForm.elements.private_reply.value = r.private_reply;
    arForm.elements.active.checked = r.active;
    $("ar-form-title").textContent = "Edit the auto-responder";
    arForm.elements.keywords.focus();
  }
  async function load() {
    try { responders = (await get("autoresponders/")).results || []; } catch (err) { say(`Auto-responders not loaded: ${err.message}`); }
    renderResponders();
  }
  if (arForm) {
    arForm.addEventListener("reset", () => { arForm.elements.id.value = ""; $("ar-form-title").textContent = "New auto-responder"; });
    arForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = arForm.elements;
      const body = { inbox: parseInt(f.inbox.value, 10), keywords: f.keywords.value.split(",").map((k) => k.trim()).filter(Boolean),
        public_reply: f.public_reply.value, private_reply: f.private_reply.value, active: f.active.checked };
      try {
        if (f.id.value) { await patch(`autoresponders/${f.id.value}/`, body); } else { await post("autoresponders/", body); }
        say("Auto-responder saved.");
        arForm.reset();
        load();
      } catch (err) { say(`Not saved: ${err.message}`); }
    });
  }
  load();

  // --- Greeting, away, business hours -------------------------------------------------------------
  const ga = $("ga-form");
  $("ga-days").replaceChildren(...DAYS.map(([key, name]) => el("p", {}, [
    el("label", { for: `ga-${key}-open`, text: name }), " ",
    el("input", { id: `ga-${key}-open`, name: `${key}_open`, type: "time", "aria-label": `${name} opens` }), " – ",
    el("input", { id: `ga-${key}-close`, name: `${key}_close`, type: "time", "aria-label": `${name} closes` }),
  ])));
  if (!isAdmin) {
    ga.querySelectorAll("input, textarea, #ga-save").forEach((n) => { n.disabled = true; });
    $("ga-who").textContent = "Only admins change these settings.";
  }
  async function loadInbox() {
    const f = ga.elements;
    try {
      const inbox = await get(`inboxes/${f.inbox.value}/`);
      f.greeting_enabled.checked = Boolean(inbox.greeting && inbox.greeting.enabled);
      f.greeting_text.value = (inbox.greeting && inbox.greeting.text) || "";
      f.away_enabled.checked = Boolean(inbox.away && inbox.away.enabled);
      f.away_text.value = (inbox.away && inbox.away.text) || "";
      const hours = inbox.business_hours || {};
      f.timezone.value = hours.timezone || "";
      for (const [key] of DAYS) {
        const span = ((hours.hours || {})[key] || [])[0] || ["", ""];
        f[`${key}_open`].value = span[0] || "";
        f[`${key}_close`].value = span[1] || "";
      }
      f.holidays.value = (inbox.holidays || []).join("\n");
    } catch (err) { say(`Inbox settings not loaded: ${err.message}`); }
  }
  ga.elements.inbox.addEventListener("change", loadInbox);
  ga.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = ga.elements;
    const hours = {};
    for (const [key] of DAYS) {
      if (f[`${key}_open`].value && f[`${key}_close`].value) { hours[key] = [[f[`${key}_open`].value, f[`${key}_close`].value]]; }
    }
    const body = {
      greeting: { enabled: f.greeting_enabled.checked, text: f.greeting_text.value },
      away: { enabled: f.away_enabled.checked, text: f.away_text.value },
      business_hours: f.timezone.value || Object.keys(hours).length ? { timezone: f.timezone.value || "UTC", hours } : null,
      holidays: f.holidays.value.split(/\s+/).filter(Boolean),
    };
    try { await patch(`inboxes/${f.inbox.value}/`, body); say("Greeting and away saved."); } catch (err) { say(`Not saved: ${err.message}`); }
  });
  loadInbox();
}
