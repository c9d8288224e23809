// Bulk actions: tick rows of the list, then assign, move to a team, label, snooze or resolve them
// all through POST /api/v1/conversations/bulk/. The server changes each conversation on its own
// and answers per row; what it refused stays ticked, with its reason in words.
import { post } from "../../app/api.js";
import { el, $ } from "../../app/dom.js";
import { gettext, ngettext, interpolate } from "../../app/i18n.js";
import { state, DATA, ME, MAY_ASSIGN_OTHERS, customerName } from "./state.js";
import { removeConversation, renderList } from "./list.js";
import { conversationChanged } from "./thread.js";
import { snoozePresets } from "./snooze.js";

// "Assigned 3 of 4.": each action's sentence, the counts in words of the language.
const ACTION_DONE = {
  assign: gettext("Assigned %(done)s of %(n)s."), move_team: gettext("Moved %(done)s of %(n)s."),
  label: gettext("Labelled %(done)s of %(n)s."), snooze: gettext("Snoozed %(done)s of %(n)s."),
  resolve: gettext("Resolved %(done)s of %(n)s."), macro: gettext("Ran the macro on %(done)s of %(n)s."),
};

/** The checkbox in front of a row of the list. */
export function rowCheckbox(c) {
  const box = el("input", { type: "checkbox", class: "row-select", "data-id": c.id, "aria-label": interpolate(gettext("Select %(customer)s"), { customer: customerName(c) }) });
  box.checked = state.selected.has(c.id);
  return el("label", { class: "row-check" }, [box]);
}

/** After the list re-rendered: forget rows that left it, show or hide the bar. */
export function selectionChanged() {
  const bar = $("bulk-bar");
  if (!bar) { return; }
  for (const id of Array.from(state.selected)) { if (!state.conversations.has(id)) { state.selected.delete(id); } }
  const n = state.selected.size;
  bar.hidden = n === 0 && !$("bulk-result").textContent;
  $("bulk-count").textContent = interpolate(ngettext("%(n)s selected", "%(n)s selected", n), { n });
  const all = $("bulk-select-all");
  all.checked = n > 0 && n === state.order.length;
  all.indeterminate = n > 0 && n < state.order.length;
  bar.querySelectorAll("[data-needs-selection]").forEach((control) => { control.disabled = n === 0; });
}

function result(text, failures) {
  const box = $("bulk-result");
  box.replaceChildren(el("span", { text }));
  if (failures.length) {
    box.append(el("ul", { class: "bulk-failures" }, failures.map((f) => el("li", { text: f }))));
  }
}

export function runBulk(action, extra) {
  const ids = state.order.filter((id) => state.selected.has(id));
  if (!ids.length) { return Promise.resolve(); }
  const bar = $("bulk-bar");
  bar.setAttribute("aria-busy", "true");
  return post("conversations/bulk/", { ids, action, ...extra }).then((answer) => {
    const failures = [];
    for (const row of answer.results) {
      if (row.ok) {
        state.selected.delete(row.id);
        if (row.conversation) { conversationChanged(row.conversation); } else { removeConversation(row.id); }
      } else {
        const c = state.conversations.get(row.id);
        failures.push((c ? customerName(c) : interpolate(gettext("Conversation #%(id)s"), { id: row.id })) + ": " + row.error.detail);
      }
    }
    const done = interpolate(ACTION_DONE[action], { done: answer.succeeded, n: ids.length });
    result(failures.length ? done + " " + gettext("Not changed:") : done, failures);
  }).catch((err) => {
    result(interpolate(gettext("Nothing changed: %(reason)s"), { reason: err.message }), []);
  }).finally(() => {
    bar.removeAttribute("aria-busy");
    renderList();
  });
}

function fillMenus() {
  const assignee = $("bulk-assignee");
  const wanted = MAY_ASSIGN_OTHERS ? DATA.agents : DATA.agents.filter((a) => a.id === ME.id);
  assignee.replaceChildren(
    el("option", { value: "", text: gettext("Assign to…") }),
    ...wanted.map((a) => el("option", { value: String(a.id), text: a.id === ME.id ? interpolate(gettext("%(name)s (me)"), { name: a.name }) : a.name })),
    el("option", { value: "none", text: gettext("Nobody (unassign)") }),
  );
  // Agents route only among their own teams (the server says the same).
  const teams = MAY_ASSIGN_OTHERS ? DATA.teams : DATA.teams.filter((t) => ME.teams.indexOf(t.id) >= 0);
  $("bulk-team").replaceChildren(el("option", { value: "", text: gettext("Move to team…") }),
    ...teams.map((t) => el("option", { value: String(t.id), text: t.name })));
  $("bulk-snooze").replaceChildren(el("option", { value: "", text: gettext("Snooze until…") }),
    ...snoozePresets().map((p) => el("option", { value: p.until.toISOString(), text: p.label })));
}

export function init() {
  const list = $("conversation-list");
  if (!$("bulk-bar")) { return; }
  fillMenus();
  list.addEventListener("change", (e) => {
    const box = e.target.closest("input.row-select");
    if (!box) { return; }
    const id = Number(box.dataset.id);
    if (box.checked) { state.selected.add(id); } else { state.selected.delete(id); }
    $("bulk-result").replaceChildren();
    selectionChanged();
  });
  $("bulk-select-all").addEventListener("change", (e) => {
    state.selected = new Set(e.target.checked ? state.order : []);
    $("bulk-result").replaceChildren();
    renderList();
  });
  $("bulk-clear").addEventListener("click", () => { state.selected.clear(); $("bulk-result").replaceChildren(); renderList(); });
  $("bulk-assign-me").addEventListener("click", () => runBulk("assign", { assignee: ME.id }));
  $("bulk-resolve").addEventListener("click", () => runBulk("resolve", {}));
  $("bulk-assignee").addEventListener("change", (e) => {
    const value = e.target.value;
    e.target.value = "";
    if (value) { runBulk("assign", { assignee: value === "none" ? null : Number(value) }); }
  });
  $("bulk-team").addEventListener("change", (e) => {
    const value = e.target.value;
    e.target.value = "";
    if (value) { runBulk("move_team", { team: Number(value) }); }
  });
  $("bulk-snooze").addEventListener("focus", fillMenus);  // presets are relative to now
  $("bulk-snooze").addEventListener("change", (e) => {
    const value = e.target.value;
    e.target.value = "";
    if (value) { runBulk("snooze", { snoozed_until: value }); }
  });
  $("bulk-label-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const labels = $("bulk-label").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (!labels.length) { $("bulk-label").focus(); return; }
    runBulk("label", { labels }).then(() => { $("bulk-label").value = ""; });
  });
}
