// Order actions in the customer panel: refund, cancel, change the shipping address, resend a
// notification, create a one-time discount code. Each goes through a dialog that first asks the
// server for the plan (preview) and shows its exact effect in words; only "Confirm" acts, sending
// the preview's confirmation back so what is done is what was shown. What the server says is not
// possible (no Shopify store, an imported order, already shipped...) gets no button, one line why.
import { get, post, patch } from "../../app/api.js";
import { el } from "../../app/dom.js";
import { dateTime } from "../../app/format.js";
import { gettext, interpolate } from "../../app/i18n.js";
import { refreshTimeline } from "./thread.js";

const LABELS = {
  refund: gettext("Refund…"), cancel: gettext("Cancel order…"), shipping_address: gettext("Change address…"),
  notification: gettext("Resend email…"),
};
const TITLES = {
  refund: gettext("Refund"), cancel: gettext("Cancel the order"), shipping_address: gettext("Change the shipping address"),
  notification: gettext("Resend a notification"), discount_code: gettext("Create a discount code"),
};
const STATUS_WORDS = {
  queued: gettext("waiting for Shopify"), sent: gettext("done by Shopify"), failed: gettext("refused"),
  reconciled: gettext("confirmed by Shopify"),
};
const CANCEL_REASONS = [["customer", gettext("The customer asked")], ["inventory", gettext("Items out of stock")],
  ["declined", gettext("Payment declined")], ["fraud", gettext("Suspected fraud")], ["staff", gettext("Staff error")],
  ["other", gettext("Another reason")]];
const ADDRESS = [["first_name", gettext("First name")], ["last_name", gettext("Last name")], ["company", gettext("Company")],
  ["address1", gettext("Address")], ["address2", gettext("Address line 2")], ["city", gettext("City")],
  ["province_code", gettext("State or province code")], ["zip", gettext("ZIP or postal code")],
  ["country_code", gettext("Country code (2 letters)")], ["phone", gettext("Phone")]];

let seq = 0;
const uid = (name) => "oa-" + name + "-" + (++seq);

/** GET what may be done for the customer's orders: {store, limits, discount_code, orders: {id: {...}}, recent}. */
export function loadOrderActions(customerId) {
  return get("customers/" + customerId + "/order-actions/");
}

function field(label, input) {
  input.id = input.id || uid("f");
  return el("p", { class: "oa-field" }, [el("label", { htmlFor: input.id, text: label }), " ", input]);
}

function check(label, checked) {
  const input = el("input", { type: "checkbox", id: uid("c"), checked });
  return { input, node: el("p", { class: "oa-field" }, [input, " ", el("label", { htmlFor: input.id, text: label })]) };
}

function limitLine(info) {
  const l = info.limits || {};
  return l.refund ? interpolate(gettext("Your role may refund up to %(amount)s %(currency)s per action."), { amount: l.refund, currency: l.currency || "" }) : "";
}

// --- The forms: each returns {nodes, body()} where body() is what goes to the API ---------------

function refundForm(order, option, info) {
  const scope = el("select", { id: uid("scope") }, [
    el("option", { value: "order", text: interpolate(gettext("The whole order (%(amount)s %(currency)s, with shipping)"), { amount: option.refundable, currency: order.currency }) }),
    el("option", { value: "line_items", text: gettext("Chosen items") }),
    el("option", { value: "amount", text: gettext("An amount only (no items)") }),
  ]);
  const lines = (option.line_items || []).filter((l) => l.refundable_quantity > 0).map((l) => {
    const qty = el("input", { type: "number", min: 0, max: l.refundable_quantity, step: 1, value: 0, id: uid("q") });
    return { l, qty, node: field(interpolate(gettext("%(title)s (%(price)s each, %(n)s refundable)"), { title: l.title, price: l.unit_amount, n: l.refundable_quantity }), qty) };
  });
  const items = el("fieldset", { class: "oa-items", hidden: true }, [el("legend", { text: gettext("Items to refund") }), ...lines.map((x) => x.node)]);
  const amount = el("input", { type: "text", inputmode: "decimal", placeholder: gettext("what the items cost"), id: uid("amount") });
  const restock = check(gettext("Put the items back in stock"), false);
  const notify = check(gettext("Shopify emails the customer"), true);
  const reason = el("input", { type: "text", maxlength: 255, id: uid("reason") });
  scope.addEventListener("change", () => { items.hidden = scope.value !== "line_items"; });
  return {
    nodes: [field(gettext("Refund"), scope), items, field(gettext("Amount (optional)"), amount), restock.node, notify.node,
      field(gettext("Reason (kept on the refund in Shopify)"), reason), el("p", { class: "muted", text: limitLine(info) })],
    body() {
      const body = { restock: restock.input.checked, notify: notify.input.checked, reason: reason.value.trim() };
      if (scope.value === "line_items") {
        body.line_items = lines.filter((x) => Number(x.qty.value) > 0).map((x) => ({ line_item_id: x.l.id, quantity: Number(x.qty.value) }));
      } else if (scope.value === "amount") {
        body.line_items = [];
      }
      if (amount.value.trim()) { body.amount = amount.value.trim(); }
      return body;
    },
  };
}

function cancelForm(order, option, info) {
  const reason = el("select", { id: uid("reason") }, CANCEL_REASONS.map(([v, t]) => el("option", { value: v, text: t })));
  const refund = check(interpolate(gettext("Refund what was paid (%(amount)s %(currency)s)"), { amount: option.refundable, currency: order.currency }), true);
  const restock = check(gettext("Put the items back in stock"), true);
  const notify = check(gettext("Shopify emails the customer"), true);
  const note = el("input", { type: "text", maxlength: 255, id: uid("note") });
  return {
    nodes: [field(gettext("Reason"), reason), refund.node, restock.node, notify.node, field(gettext("Staff note (not shown to the customer)"), note),
      el("p", { class: "muted", text: limitLine(info) })],
    body: () => ({ reason: reason.value, refund: refund.input.checked, restock: restock.input.checked,
      notify: notify.input.checked, staff_note: note.value.trim() }),
  };
}

function addressForm(order, option) {
  const current = option.current || {};
  const inputs = ADDRESS.map(([name, label]) => [name, el("input", { type: "text", id: uid(name), value: current[name] || "",
    autocomplete: "off" }), label]);
  return {
    nodes: inputs.map(([, input, label]) => field(label, input)),
    body: () => Object.fromEntries(inputs.map(([name, input]) => [name, input.value.trim()])),
  };
}

function notificationForm(order, option) {
  const names = {
    order_status: gettext("Order status (the invoice email, with the order status link)"),
    tracking: gettext("Tracking (the shipping update email)"),
  };
  const kind = el("select", { id: uid("kind") }, (option.kinds || []).map((k) => el("option", { value: k, text: names[k] || k })));
  return { nodes: [field(gettext("Email"), kind)], body: () => ({ kind: kind.value }) };
}

function discountForm(customer, info) {
  const type = el("select", { id: uid("type") }, [el("option", { value: "percentage", text: gettext("Percent off") }),
    el("option", { value: "fixed_amount", text: gettext("Amount off") })]);
  const value = el("input", { type: "text", inputmode: "decimal", value: "10", id: uid("value") });
  const days = el("input", { type: "number", min: 1, max: 365, value: 30, id: uid("days") });
  const l = info.limits || {};
  const hint = [l.discount_percent != null ? interpolate(gettext("Up to %(percent)s off"), { percent: l.discount_percent + "%" }) : "",
    l.refund ? interpolate(gettext("up to %(amount)s %(currency)s off"), { amount: l.refund, currency: l.currency || "" }) : ""]
    .filter(Boolean).join(", ");
  return {
    nodes: [field(gettext("Discount"), type), field(gettext("Value"), value), field(gettext("Valid for (days)"), days),
      hint ? el("p", { class: "muted", text: interpolate(gettext("Your role: %(limits)s."), { limits: hint }) }) : null],
    body: () => ({ value_type: type.value, value: value.value.trim(), ends_in_days: Number(days.value) || 30 }),
  };
}

// --- The dialog: form, then the server's plan, then confirm -----------------------------------------

function openDialog({ title, form, path, method, onDone }) {
  const status = el("p", { class: "oa-status", role: "status" });
  const review = el("button", { type: "submit", text: gettext("Review") });
  const cancel = el("button", { type: "button", text: gettext("Close") });
  const formEl = el("form", { method: "dialog", class: "oa-form" }, [...form.nodes, el("p", { class: "oa-buttons" }, [review, " ", cancel])]);
  const headingId = uid("title");
  const dialog = el("dialog", { class: "order-action-dialog", "aria-labelledby": headingId }, [el("h2", { id: headingId, text: title }), formEl, status]);
  const send = method === "PATCH" ? patch : post;
  const close = () => { dialog.close(); dialog.remove(); };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", () => dialog.remove());

  function showPlan(plan, body) {
    const confirm = el("button", { type: "button", class: "oa-confirm", text: interpolate(gettext("Confirm: %(action)s"), { action: title.toLowerCase() }) });
    const back = el("button", { type: "button", text: gettext("Change") });
    formEl.hidden = true;
    status.replaceChildren(el("strong", { text: gettext("This will happen: ") }), plan.summary, el("br"), confirm, " ", back);
    confirm.focus();
    back.addEventListener("click", () => { formEl.hidden = false; status.replaceChildren(); review.focus(); });
    confirm.addEventListener("click", () => {
      confirm.disabled = back.disabled = true;
      status.textContent = gettext("Sending to Shopify…");
      send(path, { ...body, confirmation: plan.confirmation }).then((answer) => {
        const a = answer.action;
        const done = el("button", { type: "button", text: gettext("Close") });
        done.addEventListener("click", close);
        const code = a.code ? " " + interpolate(gettext("Code: %(code)s."), { code: a.code }) : "";
        status.replaceChildren((a.status === "failed" ? interpolate(gettext("Shopify refused: %(reason)s"), { reason: (a.error && a.error.detail) || a.shopify })
          : interpolate(gettext("Shopify: %(status)s."), { status: STATUS_WORDS[a.status] || a.status }) + code), " ", done);
        done.focus();
        onDone();
      }).catch((err) => {
        status.replaceChildren(el("span", { class: "inline-error", text: interpolate(gettext("Not done: %(reason)s"), { reason: err.message }) }), " ", back);
        back.disabled = false;
      });
    });
  }

  formEl.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = form.body();
    review.disabled = true;
    status.textContent = gettext("Checking…");
    send(path, { ...body, preview: true }).then((plan) => showPlan(plan, body))
      .catch((err) => { status.replaceChildren(el("span", { class: "inline-error", text: err.message })); })
      .finally(() => { review.disabled = false; });
  });
  document.body.appendChild(dialog);
  dialog.showModal();
}

/** The action buttons of one order (and one line saying what is not possible, and why). */
export function orderActionsFor(order, info, onDone) {
  const options = (info.orders || {})[String(order.id)];
  if (!options) { return null; }
  const possible = Object.keys(LABELS).filter((k) => options[k] && options[k].possible);
  const reasons = [...new Set(Object.keys(LABELS).filter((k) => options[k] && !options[k].possible).map((k) => options[k].reason))];
  const forms = { refund: refundForm, cancel: cancelForm, shipping_address: addressForm, notification: notificationForm };
  const paths = { refund: "refunds/", cancel: "cancel/", shipping_address: "shipping-address/", notification: "notifications/" };
  const buttons = possible.map((kind) => {
    const button = el("button", { type: "button", class: "order-action", text: LABELS[kind], "aria-describedby": "order-" + order.id });
    button.addEventListener("click", () => openDialog({
      title: interpolate(gettext("%(action)s · order #%(number)s"), { action: TITLES[kind], number: order.number }), form: forms[kind](order, options[kind], info),
      path: "orders/" + order.id + "/" + paths[kind], method: kind === "shipping_address" ? "PATCH" : "POST", onDone,
    }));
    return button;
  });
  const notPossible = possible.length < Object.keys(LABELS).length && reasons.length
    ? el("p", { class: "muted oa-not-possible", text: (possible.length ? gettext("Not possible here: ") : "") + reasons.join(" ") }) : null;
  return el("div", { class: "order-actions", role: "group", "aria-label": interpolate(gettext("Actions on order #%(number)s"), { number: order.number }) }, [...buttons, notPossible]);
}

/** The customer-level part: a discount code button (or why not) and the recent actions. */
export function customerActions(customer, info, onDone) {
  const parts = [];
  if (info.discount_code && info.discount_code.possible) {
    const button = el("button", { type: "button", class: "order-action", text: gettext("Create a discount code…") });
    button.addEventListener("click", () => openDialog({
      title: TITLES.discount_code, form: discountForm(customer, info), path: "customers/" + customer.id + "/discount-codes/",
      method: "POST", onDone,
    }));
    parts.push(button);
  } else if (info.store) {
    parts.push(el("p", { class: "muted", text: info.discount_code ? info.discount_code.reason : "" }));
  }
  if (!info.store) {
    parts.push(el("p", { class: "muted", text: gettext("No Shopify store is connected: refunds, cancellations and discount codes are done in the shop's own tools. You can still insert an order into a reply.") }));
  }
  if ((info.recent || []).length) {
    parts.push(el("h4", { text: gettext("Recent order actions") }));
    parts.push(el("ul", { class: "order-action-history", "aria-label": gettext("Recent order actions") }, info.recent.map((a) => el("li", {}, [
      a.summary, " — ", a.actor || gettext("system"), ", ", dateTime(a.created_at), ". " + gettext("Shopify:") + " ", a.shopify,
    ]))));
  }
  return el("div", { class: "customer-order-actions" }, parts);
}

export function afterOrderAction() { refreshTimeline(); }
