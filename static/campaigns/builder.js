// The campaign builder: four steps (audience → message → schedule → review), one shown at a time.
// The server decides everything that counts — the audience breakdown (the dispatcher's own
// checks, /api/v1/campaigns/audience/), the preview for a real customer of the audience
// (/api/v1/campaigns/preview/), the test send — this file asks and shows. SMS segments are counted
// as the composer does (static/inbox/sms.js); the fields follow the channel of the chosen inbox.
import { post, ApiError } from "../app/api.js";
import { el, $ } from "../app/dom.js";

const form = $("campaign-form");
if (form) {
  const kind = form.dataset.kind;
  const STEPS = ["audience", "message", "schedule", "review"];
  const LIMITS = { messenger: 2000, instagram: 1000, sms: 1600 };
  const RULES = {
    messenger: "Messenger: sent only inside the 24-hour window after the customer’s last message, to those who opted in; at most 2,000 characters; never with the HUMAN_AGENT tag.",
    instagram: "Instagram: sent only inside the 24-hour window after the customer’s last message, to those who opted in; at most 1,000 characters.",
    sms: "SMS: “Reply STOP to opt out” is added to marketing texts; 160 characters a segment (70 with emoji or accents beyond GSM-7); only 08:00–21:00 in the customer’s time zone.",
    email: "Email: marketing emails carry a one-click unsubscribe link and header.",
  };
  // {first_name}-style words and what they were meant to be.
  const BRACE = /(?<!\{)\{\s*([a-z_]+)\s*\}(?!\})/g;
  const FIELDS = { first_name: "customer.first_name", last_name: "customer.last_name", name: "customer.name",
    email: "customer.email", phone: "customer.phone", order_number: "order.number", number: "order.number",
    total: "order.total", tracking_url: "order.tracking_url", tracking_number: "order.tracking_number" };
  let step = "audience";
  let timers = {};
  let breakdown = null;

  const value = (name) => (form.elements[name] ? String(form.elements[name].value || "").trim() : "");
  const number = (name) => (value(name) ? parseInt(value(name), 10) : null);
  function channel() {
    const select = $("c-inbox");
    const option = select.options[select.selectedIndex];
    return option ? option.dataset.channel : "";
  }
  function later(key, fn, ms = 300) { clearTimeout(timers[key]); timers[key] = setTimeout(fn, ms); }

  function audience() {
    const out = {};
    const labels = value("labels").split(",").map((s) => s.trim()).filter(Boolean);
    if (labels.length) { out.labels = labels; }
    for (const key of ["orders_min", "bought_within_days", "contacted_within_days", "not_contacted_for_days"]) {
      if (number(key)) { out[key] = number(key); }
    }
    if (value("lifetime_value_gt")) { out.lifetime_value_gt = value("lifetime_value_gt"); }
    if (kind === "triggered" && number("cap_limit") && number("cap_days")) {
      out.frequency_cap = { limit: number("cap_limit"), period_days: number("cap_days") };
    }
    return out;
  }
  const sendWindow = () => ({ start: value("window_start") || "09:00", end: value("window_end") || "21:00" });

  // --- Steps --------------------------------------------------------------------------------------
  function show(name, focus = true) {
    step = name;
    for (const fieldset of form.querySelectorAll("fieldset.step")) { fieldset.hidden = fieldset.dataset.step !== name; }
    for (const link of $("steps").querySelectorAll("a")) {
      if (link.dataset.step === name) { link.setAttribute("aria-current", "step"); } else { link.removeAttribute("aria-current"); }
    }
    if (name === "review") { renderReview(); }
    if (name === "message") { refreshPreview(); }
    if (focus) { form.querySelector(`fieldset[data-step="${name}"] legend`).scrollIntoView({ block: "start" }); }
  }

  function problems(name) {
    const out = [];
    if (name === "audience") {
      if (!value("name")) { out.push("Give the campaign a name."); }
      if (!value("inbox")) { out.push("Choose the inbox it is sent from."); }
    }
    if (name === "message") {
      if (!value("text")) { out.push("Write the message."); }
      if (channel() === "email" && !value("subject")) { out.push("An email needs a subject."); }
      if (LIMITS[channel()] && Array.from(value("text")).length > LIMITS[channel()]) { out.push(`The message is over the ${LIMITS[channel()]} characters this channel takes.`); }
    }
    if (name === "schedule" && kind === "triggered" && !value("trigger_event")) { out.push("Pick the event that sends it."); }
    return out;
  }

  function showErrors(list) {
    const box = $("errors");
    box.hidden = !list.length;
    box.replaceChildren(el("ul", {}, list.map((e) => el("li", { text: e }))));
  }

  form.addEventListener("click", (e) => {
    const button = e.target.closest("[data-next]");
    if (!button) { return; }
    const target = button.dataset.next;
    if (STEPS.indexOf(target) > STEPS.indexOf(step)) {
      const found = problems(step);
      showErrors(found);
      if (found.length) { return; }
    } else { showErrors([]); }
    show(target);
  });
  $("steps").addEventListener("click", (e) => {
    const link = e.target.closest("a[data-step]");
    if (!link) { return; }
    e.preventDefault();
    const target = link.dataset.step;
    for (const before of STEPS.slice(0, STEPS.indexOf(target))) {
      const found = problems(before);
      if (found.length) { showErrors(found); show(before); return; }
    }
    showErrors([]);
    show(target);
  });

  // --- The channel decides the fields ------------------------------------------------------------
  function channelFields() {
    const c = channel();
    form.querySelectorAll(".email-only").forEach((n) => { n.hidden = c !== "email"; });
    document.querySelectorAll(".sms-only").forEach((n) => { n.hidden = c !== "sms"; });
    document.querySelectorAll(".meta-only").forEach((n) => { n.hidden = !(c === "messenger" || c === "instagram"); });
    $("c-rules").textContent = RULES[c] || "";
  }

  // --- Audience breakdown --------------------------------------------------------------------------
  async function refreshBreakdown() {
    if (!value("inbox")) { return; }
    try {
      breakdown = await post("campaigns/audience/", { inbox: number("inbox"), purpose: value("purpose"), audience: audience(),
        send_window: sendWindow() });
      for (const dd of $("breakdown").querySelectorAll("dd[data-key]")) { dd.textContent = String(breakdown[dd.dataset.key]); }
      $("breakdown-note").dataset.total = breakdown.total;
      const select = $("c-preview-customer");
      const current = select.value;
      select.replaceChildren(...breakdown.sample.map((c) => el("option", { value: String(c.id), text: c.name })));
      if (!breakdown.sample.length) { select.append(el("option", { value: "", text: "Nobody in this audience yet" })); }
      if ([...select.options].some((o) => o.value === current)) { select.value = current; }
      refreshPreview();
    } catch (err) {
      $("breakdown-note").textContent = `The audience could not be counted: ${err.message}`;
    }
  }

  // --- Message: preview for a real customer, counters, rules ---------------------------------------
  function braceCheck() {
    const text = value("text");
    const found = [...text.matchAll(BRACE)].map((m) => m[1]);
    const box = $("c-brace");
    box.hidden = !found.length;
    if (!found.length) { return; }
    const fix = el("button", { type: "button", class: "button", text: "Fix it" });
    fix.addEventListener("click", () => {
      form.elements.text.value = form.elements.text.value.replace(BRACE, (all, name) => (FIELDS[name] ? `{{ ${FIELDS[name]} }}` : all));
      braceCheck();
      refreshPreview();
    });
    box.replaceChildren(`${found.map((n) => `{${n}}`).join(", ")} is not a variable: variables are written {{ customer.first_name }}. `, fix);
  }

  async function refreshPreview() {
    braceCheck();
    const text = value("text");
    const customer = $("c-preview-customer").value;
    const counter = $("c-counter");
    if (!text) { $("preview").textContent = ""; counter.textContent = ""; return; }
    try {
      const body = { channel: channel(), inbox: number("inbox"), purpose: value("purpose"), text };
      if (customer) { body.customer = parseInt(customer, 10); }
      const data = await post("campaigns/preview/", body);
      $("preview").textContent = data.text;
      const who = $("c-preview-customer").selectedOptions[0];
      $("preview-note").textContent = customer && who ? `As ${who.textContent} would get it, with their own name and order.` : "With a sample customer (nobody in the audience yet).";
      let line = `${Array.from(data.text).length} characters`;
      if (channel() === "sms" && window.SmsSegments) {
        const info = window.SmsSegments.count(data.text);
        line += ` · ${info.segments} SMS segment${info.segments === 1 ? "" : "s"} (${info.encoding === "gsm7" ? "GSM-7" : "Unicode"})`;
      } else if (LIMITS[channel()]) { line += ` of ${LIMITS[channel()]}`; }
      const warnings = data.warnings || [];
      counter.textContent = [line, ...warnings].join(" · ");
      counter.className = warnings.length || (LIMITS[channel()] && Array.from(data.text).length > LIMITS[channel()]) ? "warn" : "";
    } catch (err) {
      $("preview").textContent = "";
      counter.textContent = err instanceof ApiError ? err.message : "Preview unavailable.";
      counter.className = "warn";
    }
  }

  form.querySelectorAll("[data-insert]").forEach((button) => button.addEventListener("click", () => {
    const box = form.elements.text;
    const at = box.selectionStart ?? box.value.length;
    box.value = box.value.slice(0, at) + button.dataset.insert + box.value.slice(box.selectionEnd ?? at);
    box.focus();
    box.setSelectionRange(at + button.dataset.insert.length, at + button.dataset.insert.length);
    refreshPreview();
  }));

  $("test-send").addEventListener("click", async () => {
    const result = $("test-result");
    result.textContent = "Sending…";
    try {
      const data = await post("campaigns/test-send/", { inbox: number("inbox"), purpose: value("purpose"), text: value("text"),
        subject: value("subject") });
      result.textContent = `Test sent to ${data.to}.`;
    } catch (err) { result.textContent = `Not sent: ${err.message}`; }
  });

  // --- Review and launch ----------------------------------------------------------------------------
  function exceptions() { return [...form.querySelectorAll("input[name=exception]:checked")].map((i) => i.value); }
  function startsAt() {
    if (kind === "broadcast" && (form.querySelector("input[name=when]:checked") || {}).value !== "later") { return null; }
    return value("starts_at") ? new Date(value("starts_at")).toISOString() : null;
  }

  function payload() {
    const out = { name: value("name"), kind, channel: channel(), inbox: number("inbox"), purpose: value("purpose"),
      text: value("text"), subject: channel() === "email" ? value("subject") : "", sender_name: channel() === "email" ? value("sender_name") : "",
      audience: audience(), send_window: sendWindow(), starts_at: startsAt() };
    if (kind === "triggered") {
      out.trigger = { event: value("trigger_event"), delay_seconds: (number("delay_minutes") || 0) * 60, exceptions: exceptions() };
      out.ends_at = value("ends_at") ? new Date(value("ends_at")).toISOString() : null;
    }
    return out;
  }

  function renderReview() {
    const p = payload();
    const inbox = $("c-inbox").selectedOptions[0];
    const rows = [
      ["Name", p.name], ["Sent from", inbox ? inbox.textContent : ""], ["Purpose", p.purpose],
      ["Audience now", breakdown ? `${breakdown.will_receive} will receive it now, ${breakdown.quiet_hours} later (quiet hours), ${breakdown.opted_out + breakdown.no_consent} without consent, ${breakdown.capped} over a cap${breakdown.window_closed ? `, ${breakdown.window_closed} outside the Messenger window` : ""}` : "–"],
    ];
    if (p.subject) { rows.push(["Subject", p.subject]); }
    rows.push(["Message", $("preview").textContent || p.text]);
    if (kind === "triggered") {
      rows.push(["Sent when", `${p.trigger.event}, after ${p.trigger.delay_seconds / 60} min`]);
      rows.push(["Unless first", p.trigger.exceptions.join(", ") || "nothing"]);
      if (p.audience.frequency_cap) { rows.push(["At most", `${p.audience.frequency_cap.limit} per customer in ${p.audience.frequency_cap.period_days} days`]); }
      rows.push(["Runs", `${p.starts_at ? new Date(p.starts_at).toLocaleString() : "from launch"} – ${p.ends_at ? new Date(p.ends_at).toLocaleString() : "until stopped"}`]);
    } else {
      rows.push(["When", p.starts_at ? new Date(p.starts_at).toLocaleString() : "Now"]);
    }
    rows.push(["Send window", `${p.send_window.start}–${p.send_window.end} in each customer’s time zone`]);
    $("review").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const then = e.submitter ? e.submitter.value : "draft";
    for (const name of STEPS.slice(0, 3)) {
      const found = problems(name);
      if (found.length) { showErrors(found); show(name); return; }
    }
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const campaign = await post("campaigns/", payload());
      if (then === "launch") { await post(`campaigns/${campaign.id}/launch/`); }
      window.location.assign(`/campaigns/${campaign.id}/`);
    } catch (err) {
      showErrors([err.message]);
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  form.addEventListener("input", (e) => {
    if (e.target.closest("#step-audience") || ["cap_limit", "cap_days", "window_start", "window_end"].includes(e.target.name)) {
      later("breakdown", refreshBreakdown);
    }
    if (e.target.name === "text" || e.target.name === "purpose") { later("preview", refreshPreview); }
  });
  form.addEventListener("change", (e) => {
    if (e.target.name === "inbox") { channelFields(); refreshBreakdown(); }
    if (e.target.id === "c-preview-customer" || e.target.name === "purpose") { refreshPreview(); }
    if (e.target.name === "purpose") { refreshBreakdown(); }
  });

  channelFields();
  show("audience", false);
  refreshBreakdown();
}
