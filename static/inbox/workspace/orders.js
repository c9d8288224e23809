// Order actions in the customer panel: refund, cancel, change the shipping address, resend a
// notification, create a one-time discount code. Each goes through a dialog that first asks the
// server for the plan (preview) and shows its exact effect in words; only "Confirm" acts, sending
// the preview's confirmation back so what is done is what was shown. What the server says is not
// possible (no Shopify store, an imported order, already shipped...) gets no button, one line why.
import { get, post, patch } from "../../app/api.js";
import { el } from "../../app/dom.js";
import { dateTime } from "../../app/format.js";
import { refreshTimeline } from "./thread.js";

const LABELS = {
  refund: "Refund…", cancel: "Cancel order…", shipping_address: "Change address…", notification: "Resend email…",
};
const TITLES = {
  refund: "Refund", cancel: "Cancel the order", shipping_address: "Change the shipping address",
  notification: "Resend a notification", discount_code: "Create a discount code",
};
const STATUS_WORDS = { queued: "waiting for Shopify", sent: "done by Shopify", failed: "refused", reconciled: "confirmed by Shopify" };
const CANCEL_REASONS = [["customer", "The customer asked"], ["inventory", "Items out of stock"], ["declined", "Payment declined"],
  ["fraud", "Suspected fraud"], ["staff", "Staff error"], ["other", "Another reason"]];
const ADDRESS = [["first_name", "First name"], ["last_name", "Last name"], ["company", "Company"], ["address1", "Address"],
  ["address2", "Address line 2"], ["city", "City"], ["province_code", "State or province code"], ["zip", "ZIP or postal code"],
  ["country_code", "Country code (2 letters)"], ["phone", "Phone"]];

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
  return l.refund ? "Your role may refund up to " + l.refund + " " + (l.currency || "") + " per action." : "";
}

// --- The forms: each returns {nodes, body()} where body() is what goes to the API ---------------

function refundForm(order, option, info) {
  const scope = el("select", { id: uid("scope") }, [
    el("option", { value: "order", text: "The whole order (" + option.refundable + " " + order.currency + ", with shipping)" }),
    el("option", { value: "line_items", text: "Chosen items" }),
    el("option", { value: "amount", text: "An amount only (no items)" }),
  ]);
  const lines = (option.line_items || []).filter((l) => l.refundable_quantity > 0).map((l) => {
    const qty = el("input", { type: "number", min: 0, max: l.refundable_quantity, step: 1, value: 0, id: uid("q") });
    return { l, qty, node: field(l.title + " (" + l.unit_amount + " each, " + l.refundable_quantity + " refundable)", qty) };
  });
  const items = el("fieldset", { class: "oa-items", hidden: true }, [el("legend", { text: "Items to refund" }), ...lines.map((x) => x.node)]);
  const amount = el("input", { type: "text", inputmode: "decimal", placeholder: "what the items cost", id: uid("amount") });
  const restock = check("Put the items back in stock", false);
  const notify = check("Shopify emails the customer", true);
  const reason = el("input", { type: "text", maxlength: 255, id: uid("reason") });
  scope.addEventListener("change", () => { items.hidden = scope.value !== "line_items"; });
  return {
    nodes: [field("Refund", scope), items, field("Amount (optional)", amount), restock.node, notify.node,
      field("Reason (kept on the refund in Shopify)", reason), el("p", { class: "muted", text: limitLine(info) })],
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
  const refund = check("Refund what was paid (" + option.refundable + " " + order.currency + ")", true);
  const restock = check("Put the items back in stock", true);
  const notify = check("Shopify emails the customer", true);
  const note = el("input", { type: "text", maxlength: 255, id: uid("note") });
  return {
    nodes: [field("Reason", reason), refund.node, restock.node, notify.node, field("Staff note (not shown to the customer)", note),
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
  const names = { order_status: "Order status (the invoice email, with the order status link)", tracking: "Tracking (the shipping update email)" };
  const kind = el("select", { id: uid("kind") }, (option.kinds || []).map((k) => el("option", { value: k, text: names[k] || k })));
  return { nodes: [field("Email", kind)], body: () => ({ kind: kind.value }) };
}

function discountForm(customer, info) {
  const type = el("select", { id: uid("type") }, [el("option", { value: "percentage", text: "Percent off" }),
    el("option", { value: "fixed_amount", text: "Amount off" })]);
  const value = el("input", { type: "text", inputmode: "decimal", value: "10", id: uid("value") });
  const days = el("input", { type: "number", min: 1, max: 365, value: 30, id: uid("days") });
  const l = info.limits || {};
  const hint = [l.discount_percent != null ? "Up to " + l.discount_percent + "% off" : "", l.refund ? "up to " + l.refund + " " + (l.currency || "") + " off" : ""]
    .filter(Boolean).join(", ");
  return {
    nodes: [field("Discount", type), field("Value", value), field("Valid for (days)", days),
      hint ? el("p", { class: "muted", text: "Your role: " + hint + "." }) : null],
    body: () => ({ value_type: type.value, value: value.value.trim(), ends_in_days: Number(days.value) || 30 }),
  };
}

// --- The dialog: form, then the server's plan, then confirm -----------------------------------------

function openDialog({ title, form, path, method, onDone }) {
  const status = el("p", { class: "oa-status", role: "status" });
  const review = el("button", { type: "submit", text: "Review" });
  const cancel = el("button", { type: "button", text: "Close" });
  const formEl = el("form", { method: "dialog", class: "oa-form" }, [...form.nodes, el("p", { class: "oa-buttons" }, [review, " ", cancel])]);
  const headingId = uid("title");
  const dialog = el("dialog", { class: "order-action-dialog", "aria-labelledby": headingId }, [el("h2", { id: headingId, text: title }), formEl, status]);
  const send = method === "PATCH" ? patch : post;
  const close = () => { dialog.close(); dialog.remove(); };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", () => dialog.remove());

  function showPlan(plan, body) {
    const confirm = el("button", { type: "button", class: "oa-confirm", text: "Confirm: " + title.toLowerCase() });
    const back = el("button", { type: "button", text: "Change" });
    formEl.hidden = true;
    status.replaceChildren(el("strong", { text: "This will happen: " }), plan.summary, el("br"), confirm, " ", back);
    confirm.focus();
    back.addEventListener("click", () => { formEl.hidden = false; status.replaceChildren(); review.focus(); });
    confirm.addEventListener("click", () => {
      confirm.disabled = back.disabled = true;
      status.textContent = "Sending to Shopify…";
      send(path, { ...body, confirmation: plan.confirmation }).then((answer) => {
        const a = answer.action;
        const done = el("button", { type: "button", text: "Close" });
        done.addEventListener("click", close);
        const code = a.code ? " Code: " + a.code + "." : "";
        status.replaceChildren((a.status === "failed" ? "Shopify refused: " + ((a.error && a.error.detail) || a.shopify)
          : "Shopify: " + (STATUS_WORDS[a.status] || a.status) + "." + code), " ", done);
        done.focus();
        onDone();
      }).catch((err) => {
        status.replaceChildren(el("span", { class: "inline-error", text: "Not done: " + err.message }), " ", back);
        back.disabled = false;
      });
    });
  }

  formEl.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = form.body();
    review.disabled = true;
    status.textContent = "Checking…";
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
      title: TITLES[kind] + " · order #" + order.number, form: forms[kind](order, options[kind], info),
      path: "orders/" + order.id + "/" + paths[kind], method: kind === "shipping_address" ? "PATCH" : "POST", onDone,
    }));
    return button;
  });
  const notPossible = possible.length < Object.keys(LABELS).length && reasons.length
    ? el("p", { class: "muted oa-not-possible", text: (possible.length ? "Not possible here: " : "") + reasons.join(" ") }) : null;
  return el("div", { class: "order-actions", role: "group", "aria-label": "Actions on order #" + order.number }, [...buttons, notPossible]);
}

/** The customer-level part: a discount code button (or why not) and the recent actions. */
export function customerActions(customer, info, onDone) {
  const parts = [];
  if (info.discount_code && info.discount_code.possible) {
    const button = el("button", { type: "button", class: "order-action", text: "Create a discount code…" });
    button.addEventListener("click", () => openDialog({
      title: TITLES.discount_code, form: discountForm(customer, info), path: "customers/" + customer.id + "/discount-codes/",
      method: "POST", onDone,
    }));
    parts.push(button);
  } else if (info.store) {
    parts.push(el("p", { class: "muted", text: info.discount_code ? info.discount_code.reason : "" }));
  }
  if (!info.store) {
    parts.push(el("p", { class: "muted", text: "No Shopify store is connected: refunds, cancellations and discount codes are " +
      "done in the shop's own tools. You can still insert an order into a reply." }));
  }
  if ((info.recent || []).length) {
    parts.push(el("h4", { text: "Recent order actions" }));
    parts.push(el("ul", { class: "order-action-history", "aria-label": "Recent order actions" }, info.recent.map((a) => el("li", {}, [
      a.summary, " — ", a.actor || "system", ", ", dateTime(a.created_at), ". Shopify: ", a.shopify,
    ]))));
  }
  return el("div", { class: "customer-order-actions" }, parts);
}

export function afterOrderAction() { refreshTimeline(); }
