// Saved views: the list's filters under a name, private or shared with a team, in the queue's
// navigation with a live count (GET /api/v1/views/ counts with the list's own selectors). Counts
// are refreshed when conversations change (debounced) and once a minute.
import { get, post, request } from "../../app/api.js";
import { el, $ } from "../../app/dom.js";
import { gettext, ngettext, interpolate } from "../../app/i18n.js";
import { state, DATA, ME } from "./state.js";
import { filters, loadList, setTab } from "./list.js";

const FORM_FIELDS = ["q", "status", "channel", "label", "window", "sla", "ordering"];
let views = [];
let refreshTimer = null;
let loading = null;

/** The filters on screen stop being the applied view's. */
export function viewLeft() {
  if (!state.view && !Object.keys(state.extra).length) { return; }
  state.view = null;
  state.extra = {};
  render();
}

function tabFor(f) {
  if (f.assignee === "me") { return "mine"; }
  if (f.assignee === "none") { return "unassigned"; }
  if (f.team && f.team === ME.teams.join(",") && !f.assignee) { return "team"; }
  return "all";
}

export function applyView(view) {
  const form = $("filters");
  const f = view.filters || {};
  const tab = tabFor(f);
  const extra = {};
  for (const [name, value] of Object.entries(f)) {
    if (FORM_FIELDS.indexOf(name) >= 0) { continue; }
    if (name === "assignee" && (value === "me" || value === "none")) { continue; }
    if (name === "team" && tab === "team") { continue; }
    extra[name] = value;
  }
  for (const name of FORM_FIELDS) {
    const field = form.elements[name];
    let value = f[name] || (name === "ordering" ? "waiting_since" : "");
    if (field.tagName === "SELECT" && !Array.from(field.options).some((o) => o.value === value)) {
      field.append(el("option", { value, text: value }));  // e.g. a label the page did not list
    }
    field.value = value;
  }
  form.dispatchEvent(new Event("change"));  // the "Filters" button counts what is set
  setTab(tab);
  state.view = view.id;
  state.extra = extra;
  render();
  return loadList(false);
}

function render() {
  const list = $("saved-view-list");
  if (!list) { return; }
  list.replaceChildren(...views.map((v) => {
    const button = el("button", { type: "button", class: "saved-view", "data-id": v.id, "aria-pressed": String(state.view === v.id) }, [
      el("span", { class: "saved-view-name", text: v.name }),
      v.shared_with_team ? el("span", { class: "saved-view-shared", title: interpolate(gettext("Shared with %(team)s"), { team: teamName(v.shared_with_team) }), text: gettext("team") }) : null,
      el("span", { class: "saved-view-count", "aria-label": v.count === null ? gettext("count unavailable") : interpolate(ngettext("%(n)s conversation", "%(n)s conversations", v.count), { n: v.count }),
        text: v.count === null ? "–" : String(v.count) }),
    ]);
    button.addEventListener("click", () => applyView(v));
    const children = [button];
    if (v.mine) {
      const remove = el("button", { type: "button", class: "saved-view-delete", "aria-label": interpolate(gettext("Delete view %(name)s"), { name: v.name }), text: "×" });
      remove.addEventListener("click", () => deleteView(v));
      children.push(remove);
    }
    return el("li", {}, children);
  }));
  $("saved-views-empty").hidden = views.length > 0;
}

function teamName(id) {
  const team = DATA.teams.find((t) => t.id === id);
  return team ? team.name : gettext("a team");
}

export function loadViews() {
  if (loading) { return loading; }
  loading = get("views/?page_size=100").then((page) => {
    views = page.results || [];
    $("saved-views-error").hidden = true;
    render();
  }).catch((err) => {
    const box = $("saved-views-error");
    box.textContent = interpolate(gettext("Saved views could not be loaded: %(reason)s"), { reason: err.message });
    box.hidden = false;
  }).finally(() => { loading = null; });
  return loading;
}

/** Conversations changed somewhere: recount soon, not once per frame. */
export function countsStale() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { if (!document.hidden) { loadViews(); } }, 3000);
}

function deleteView(v) {
  if (!window.confirm(interpolate(gettext("Delete the view “%(name)s”?"), { name: v.name }))) { return; }
  request("DELETE", "views/" + v.id + "/").then(() => {
    if (state.view === v.id) { state.view = null; }
    return loadViews();
  }).catch((err) => { $("saved-views-error").textContent = interpolate(gettext("Not deleted: %(reason)s"), { reason: err.message }); $("saved-views-error").hidden = false; });
}

function openForm(open) {
  const form = $("save-view-form");
  form.hidden = !open;
  $("save-view-button").setAttribute("aria-expanded", String(open));
  $("save-view-error").hidden = true;
  if (open) { $("save-view-name").focus(); }
}

export function init() {
  if (!$("saved-views")) { return; }
  const team = $("save-view-team");
  team.replaceChildren(el("option", { value: "", text: gettext("Only me") }),
    ...DATA.teams.filter((t) => ME.teams.indexOf(t.id) >= 0).map((t) => el("option", { value: String(t.id), text: interpolate(gettext("My team: %(team)s"), { team: t.name }) })));
  $("save-view-button").addEventListener("click", () => openForm($("save-view-form").hidden));
  $("save-view-cancel").addEventListener("click", () => { openForm(false); $("save-view-button").focus(); });
  $("save-view-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("save-view-name").value.trim();
    if (!name) { $("save-view-name").focus(); return; }
    const body = { name, filters: Object.fromEntries(filters().entries()) };
    if (team.value) { body.shared_with_team = Number(team.value); }
    post("views/", body).then((view) => {
      $("save-view-name").value = "";
      openForm(false);
      views = views.concat([view]).sort((a, b) => a.name.localeCompare(b.name));
      state.view = view.id;
      render();
    }).catch((err) => {
      const box = $("save-view-error");
      box.textContent = interpolate(gettext("Not saved: %(reason)s"), { reason: err.message });
      box.hidden = false;
    });
  });
  window.addEventListener("inbox:frame", (e) => {
    const type = (e.detail || {}).type || "";
    if (type.indexOf("conversation.") === 0 || type === "access.changed") { countsStale(); }
  });
  setInterval(() => { if (!document.hidden) { loadViews(); } }, 60000);
  loadViews();
}
