// The customer panel: profile, orders, consent and likely duplicates of the open conversation's
// customer. Every write goes through the customers API and the panel re-renders from its answer.
import { get, post, patch } from "../../app/api.js";
import { el, $, errorWithRetry } from "../../app/dom.js";
import { dateTime, absolute, money as moneyFormat } from "../../app/format.js";
import { gettext, ngettext, pgettext, interpolate } from "../../app/i18n.js";
import { state, DATA, CHANNEL_NAMES, customerName } from "./state.js";
import { insertIntoReply } from "./composer.js";
import { loadList } from "./list.js";
import { refreshTimeline } from "./thread.js";
import { loadOrderActions, orderActionsFor, customerActions, afterOrderAction } from "./orders.js";
import { channelBadge } from "./list.js";

const panel = $("customer-body");
const PURPOSES = ["marketing", "transactional"];
const PURPOSE_NAMES = { marketing: gettext("Marketing"), transactional: gettext("Transactional") };
// The languages a customer may be written to in (their names in their own language).
const LANGUAGES = [["en", "English"], ["fr", "Français"], ["el", "Ελληνικά"]];
// Shopify's order states in words (financial, fulfilment and shipment status); others as given.
const STATUS_WORDS = {
  paid: gettext("paid"), pending: pgettext("payment", "pending"), refunded: gettext("refunded"),
  partially_refunded: gettext("partially refunded"), partially_paid: gettext("partially paid"), authorized: gettext("authorized"),
  voided: gettext("voided"), fulfilled: gettext("fulfilled"), unfulfilled: gettext("unfulfilled"), partial: gettext("partially fulfilled"),
  in_transit: gettext("in transit"), delivered: gettext("delivered"), out_for_delivery: gettext("out for delivery"),
  restocked: gettext("restocked"), cancelled: gettext("cancelled"),
};
const statusWords = (s) => (s ? STATUS_WORDS[s] || words(s) : "");
let shown = null;  // the customer in the panel, as GET /customers/{id}/ returns it
let loadSeq = 0;

const money = (amount, currency) => moneyFormat(amount, currency);
const words = (s) => (s || "").replace(/_/g, " ");
const splitLabels = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
// An absolute http(s) URL: the only kind of provider-given URL that becomes a link.
function isSafeUrl(url) {
  if (typeof url !== "string" || !url) { return false; }
  try {
    const parsed = new URL(url);
    return (parsed.protocol === "http:" || parsed.protocol === "https:") && Boolean(parsed.host);
  } catch (e) {
    return false;
  }
}
const timeOf = (iso) => el("time", { datetime: iso, title: absolute(iso), text: dateTime(iso) });

export function clearCustomer() {
  shown = null;
  loadSeq += 1;
  panel.replaceChildren(el("p", { class: "muted", text: gettext("No customer selected.") }));
}

export function loadCustomer(id) {
  const seq = ++loadSeq;
  if (!shown || shown.id !== id) { panel.replaceChildren(el("p", { class: "muted", text: gettext("Loading the customer…") })); }
  panel.setAttribute("aria-busy", "true");
  return get("customers/" + id + "/").then((cu) => {
    if (seq !== loadSeq || !state.current || state.current.customer.id !== id) { return; }
    renderCustomer(cu);
    loadMergeSuggestions(cu.id);
  }).catch((err) => {
    if (seq !== loadSeq) { return; }
    shown = null;
    panel.replaceChildren(el("h2", { text: state.current ? customerName(state.current) : gettext("Customer") }),
      errorWithRetry(interpolate(gettext("Customer details could not be loaded: %(reason)s"), { reason: err.message }), () => loadCustomer(id)));
  }).finally(() => { if (seq === loadSeq) { panel.removeAttribute("aria-busy"); } });
}

function renderCustomer(cu, message) {
  const same = shown && shown.id === cu.id;
  const suggestions = same ? $("merge-suggestions") : null;
  shown = cu;
  const parts = [el("h2", { id: "customer-name", text: cu.name || gettext("Customer") })];
  const contact = [cu.email, cu.phone, cu.timezone].filter(Boolean).join(" · ");
  if (contact) { parts.push(el("p", { class: "muted contact", text: contact })); }
  if (cu.erased_at) { parts.push(el("p", { class: "consent-no", text: gettext("This customer's personal data was erased.") })); }
  parts.push(el("p", { id: "customer-status", class: "customer-status", role: "status", text: message || "" }));
  parts.push(profileForm(cu));
  parts.push(el("h3", { text: gettext("Identities") }));
  parts.push(el("ul", { "aria-label": gettext("Identities"), class: "identities" }, (cu.identities || []).map((i) => el("li", {}, [channelBadge(i.channel), " " + (i.display_name || i.external_id || "")]))));
  parts.push(el("h3", { text: gettext("Orders") }));
  parts.push(ordersSection(cu));
  parts.push(el("div", { id: "order-actions-customer", class: "order-actions-customer" }));
  parts.push(el("h3", { text: gettext("Consent") }));
  parts.push(consentTable(cu.consent || {}));
  if (!cu.erased_at) { parts.push(consentForm(cu)); }
  parts.push(suggestions || el("section", { id: "merge-suggestions", "aria-label": gettext("Possible duplicates") }));
  panel.replaceChildren(...parts);
  attachOrderActions(cu);
}

// Order actions (orders.js): only what the server says may be done for each order, once it answers.
function attachOrderActions(cu) {
  const reload = () => { afterOrderAction(); loadCustomer(cu.id); };
  loadOrderActions(cu.id).then((info) => {
    if (!shown || shown.id !== cu.id) { return; }
    for (const o of cu.orders || []) {
      const row = panel.querySelector('li.order[data-order-id="' + o.id + '"]');
      const actions = row && orderActionsFor(o, info, reload);
      if (actions) { row.appendChild(actions); }
    }
    const box = $("order-actions-customer");
    if (box) { box.replaceChildren(customerActions(cu, info, reload)); }
  }).catch(() => { /* a convenience: the panel works without order actions */ });
}

function customerStatus(text, isError) {
  const box = $("customer-status");
  if (!box) { return; }
  box.textContent = text;
  box.classList.toggle("error", Boolean(isError));
}

function profileForm(cu) {
  const labels = el("input", { type: "text", id: "customer-labels", name: "labels", placeholder: gettext("vip, wholesale"),
    value: (cu.labels || []).map((l) => l.name || l).join(", "), list: "label-names" });
  const notes = el("textarea", { id: "customer-notes", name: "notes", rows: 3, value: cu.notes || "" });
  // The language their automated messages (greeting, away, survey, campaigns) go out in: an agent's
  // choice here, else what Meta's profile or their email said; blank: the inbox's default.
  const language = el("select", { id: "customer-language", name: "language" }, [
    el("option", { value: "", text: gettext("Not known (the inbox's language)") }),
    ...LANGUAGES.map(([code, name]) => el("option", { value: code, text: name, lang: code })),
  ]);
  language.value = cu.language || "";
  const save = el("button", { type: "submit", text: gettext("Save customer") });
  const form = el("form", { class: "customer-form", "aria-label": gettext("Customer details"), noValidate: true }, [
    el("label", { htmlFor: "customer-labels", text: gettext("Customer labels") }), labels,
    el("label", { htmlFor: "customer-notes", text: gettext("Customer notes") }), notes,
    el("label", { htmlFor: "customer-language", text: gettext("Customer's language") }), language,
    save,
  ]);
  if (cu.erased_at) { labels.disabled = notes.disabled = language.disabled = save.disabled = true; }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    save.disabled = true;
    patch("customers/" + cu.id + "/", { labels: splitLabels(labels.value), notes: notes.value, language: language.value }).then((updated) => {
      rememberLabels(updated.labels || []);
      if (shown && shown.id === updated.id) { renderCustomer(updated, gettext("Saved.")); }
    }).catch((err) => { save.disabled = false; customerStatus(interpolate(gettext("Not saved: %(reason)s"), { reason: err.message }), true); });
  });
  return form;
}

// New labels join the datalist the label inputs suggest from.
export function rememberLabels(labels) {
  const list = $("label-names");
  for (const l of labels) {
    const name = l.name || l;
    if (DATA.labels.indexOf(name) < 0) { DATA.labels.push(name); list.appendChild(el("option", { value: name })); }
  }
}

function ordersSection(cu) {
  const orders = cu.orders || [];
  const wrap = el("div", { class: "orders" }, [
    el("p", { class: "lifetime", text: interpolate(gettext("Lifetime value: %(amount)s"), { amount: money(cu.lifetime_value, cu.currency) }) + " · " +
      interpolate(ngettext("%(n)s order", "%(n)s orders", orders.length), { n: orders.length }) }),
  ]);
  if (!orders.length) { wrap.appendChild(el("p", { class: "muted", text: gettext("No orders.") })); return wrap; }
  wrap.appendChild(el("ul", { class: "order-list", "aria-label": gettext("Orders") }, orders.map(orderRow)));
  return wrap;
}

function orderRow(o) {
  const headId = "order-" + o.id;
  const head = [el("strong", { id: headId, text: interpolate(gettext("Order %(number)s"), { number: o.name || "#" + o.number }) }), " · ", timeOf(o.placed_at)];
  const total = [interpolate(gettext("Total %(amount)s"), { amount: money(o.total, o.currency) })];
  if (Number(o.refunded) > 0) { total.push(" · " + interpolate(gettext("refunded %(amount)s"), { amount: money(o.refunded, o.currency) })); }
  if (o.cancelled_at) { total.push(" · " + gettext("cancelled") + " ", timeOf(o.cancelled_at)); }
  const status = [interpolate(gettext("Payment: %(status)s"), { status: statusWords(o.financial_status) || gettext("unknown") }),
    interpolate(gettext("Fulfilment: %(status)s"), { status: statusWords(o.fulfillment_status) || gettext("unfulfilled") })];
  if (o.shipment_status) { status.push(interpolate(gettext("Shipment: %(status)s"), { status: statusWords(o.shipment_status) })); }
  const children = [
    el("p", { class: "order-head" }, head),
    el("ul", { class: "order-items", "aria-label": interpolate(gettext("Items of order #%(number)s"), { number: o.number }) }, (o.items || []).map((i) => el("li", { text: i.title + " × " + i.quantity + " · " + money(i.price, o.currency) }))),
    el("p", {}, total),
    el("p", { class: "muted", text: status.join(" · ") }),
  ];
  // A link only for http(s): a provider's or an import's URL could be javascript: or data:.
  if (o.tracking_number || isSafeUrl(o.tracking_url)) {
    const tracking = isSafeUrl(o.tracking_url)
      ? el("a", { href: o.tracking_url, target: "_blank", rel: "noopener noreferrer", text: o.tracking_number || gettext("Track the parcel") })
      : el("span", { text: o.tracking_number });
    children.push(el("p", { class: "tracking" }, [gettext("Tracking:") + " ", tracking]));
  }
  const insert = el("button", { type: "button", class: "insert-order", text: gettext("Insert into reply"), "aria-describedby": headId });
  insert.addEventListener("click", () => insertIntoReply(o.summary));
  children.push(insert);
  return el("li", { class: "order", "data-order": o.number, "data-order-id": o.id }, children);
}

function consentTable(consent) {
  const channels = Object.keys(CHANNEL_NAMES).filter((c) => c in consent);
  Object.keys(consent).forEach((c) => { if (channels.indexOf(c) < 0) { channels.push(c); } });
  const head = el("tr", {}, [el("th", { scope: "col", text: gettext("Channel") }), ...PURPOSES.map((p) => el("th", { scope: "col", text: PURPOSE_NAMES[p] }))]);
  const rows = channels.map((channel) => el("tr", {}, [el("th", { scope: "row", text: CHANNEL_NAMES[channel] || channel }), ...PURPOSES.map((p) => {
    const v = (consent[channel] || {})[p];
    const cell = el("td", { class: !v ? "muted" : v.granted ? "consent-yes" : "consent-no", text: !v ? gettext("not asked") : v.granted ? gettext("granted") : gettext("withdrawn") });
    if (v) { cell.title = (v.source ? interpolate(gettext("by %(source)s, "), { source: v.source }) : "") + absolute(v.at); }
    return cell;
  })]));
  return el("table", { class: "consent", "aria-label": gettext("Consent") }, [el("thead", {}, [head]), el("tbody", {}, rows)]);
}

function select(id, label, options) {
  const node = el("select", { id }, options.map((o) => el("option", { value: o[0], text: o[1] })));
  return el("label", { htmlFor: id }, [label + " ", node]);
}

function consentForm(cu) {
  const form = el("form", { class: "consent-form", "aria-label": gettext("Record a consent change") }, [
    select("consent-channel", gettext("Consent channel"), Object.keys(CHANNEL_NAMES).map((c) => [c, CHANNEL_NAMES[c]])),
    select("consent-purpose", gettext("Consent purpose"), PURPOSES.map((p) => [p, PURPOSE_NAMES[p]])),
    select("consent-granted", gettext("Consent decision"), [["false", gettext("Withdrawn")], ["true", gettext("Granted")]]),
    el("button", { type: "submit", text: gettext("Record consent") }),
  ]);
  const channel = form.querySelector("#consent-channel");
  if (state.current && CHANNEL_NAMES[state.current.channel]) { channel.value = state.current.channel; }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = { channel: channel.value, purpose: form.querySelector("#consent-purpose").value, granted: form.querySelector("#consent-granted").value === "true", source: "agent" };
    post("customers/" + cu.id + "/consents/", body).then((updated) => {
      if (shown && shown.id === updated.id) {
        renderCustomer(updated, interpolate(body.granted ? gettext("Recorded: %(channel)s %(purpose)s granted.") : gettext("Recorded: %(channel)s %(purpose)s withdrawn."),
          { channel: CHANNEL_NAMES[body.channel], purpose: PURPOSE_NAMES[body.purpose].toLowerCase() }));
      }
    }).catch((err) => customerStatus(interpolate(gettext("Not recorded: %(reason)s"), { reason: err.message }), true));
  });
  return form;
}

function loadMergeSuggestions(id) {
  get("customers/" + id + "/merge-suggestions/").then((data) => {
    const box = $("merge-suggestions");
    if (!shown || shown.id !== id || !box) { return; }
    const found = data.results || [];
    if (!found.length) { box.replaceChildren(); return; }
    box.replaceChildren(el("h3", { text: gettext("Possible duplicates") }), el("ul", { "aria-label": gettext("Possible duplicates") }, found.map((s) => suggestionRow(shown, s))));
  }).catch(() => { /* suggestions are a convenience: the panel works without them */ });
}

function suggestionRow(cu, s) {
  const other = s.customer;
  const nameId = "duplicate-" + other.id;
  const contact = [other.email, other.phone].filter(Boolean).join(" · ");
  const merge = el("button", { type: "button", text: gettext("Merge into this customer"), "aria-describedby": nameId });
  merge.addEventListener("click", () => {
    const name = other.name || interpolate(gettext("customer #%(id)s"), { id: other.id });
    const ok = window.confirm(interpolate(gettext("Merge %(other)s into %(customer)s? Their conversations, orders, identities and consent move here. This cannot be undone."),
      { other: name, customer: cu.name || gettext("this customer") }));
    if (!ok) { return; }
    merge.disabled = true;
    post("customers/" + cu.id + "/merge/", { other: other.id }).then((merged) => {
      if (shown && shown.id === cu.id) { renderCustomer(merged, interpolate(gettext("Merged %(other)s into this customer."), { other: name })); }
      loadMergeSuggestions(cu.id);
      loadList(false, { quiet: true });
      refreshTimeline();
    }).catch((err) => { merge.disabled = false; customerStatus(interpolate(gettext("Not merged: %(reason)s"), { reason: err.message }), true); });
  });
  return el("li", { class: "duplicate" }, [
    el("strong", { id: nameId, text: other.name || interpolate(gettext("Customer #%(id)s"), { id: other.id }) }),
    contact ? el("span", { class: "muted", text: " · " + contact }) : null,
    el("span", { class: "muted", text: " · " + (s.reasons || []).map(words).join(", ") }),
    merge,
  ]);
}
