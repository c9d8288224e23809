// What every part of the workspace shares: the page's embedded data and the live state.
// State comes from the REST API (/api/v1/) and the page's timeline endpoint; the socket only
// says what changed, and after a reconnect everything is refetched (the layer does not replay).
import { gettext, interpolate } from "../../app/i18n.js";

export const root = document.getElementById("workspace");
export const DATA = root ? JSON.parse(document.getElementById("workspace-data").textContent) : { me: {}, agents: [], teams: [], inboxes: [], labels: [], canned: [] };
export const ME = DATA.me;
// The role comes from the app shell (the same check the server makes): agents only take and release.
const header = document.getElementById("app-header");
export const ROLE = (header && header.dataset.role) || "agent";
export const MAY_ASSIGN_OTHERS = ROLE === "lead" || ROLE === "manager" || ROLE === "admin";
// Endpoints the workspace can use once the server offers them (DATA.features, set by the page view).
export const FEATURES = DATA.features || {};
export const ICONS = root ? root.dataset.icons : "";
export const STATUS_RANK = { received: 0, queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };
export const CHANNEL_NAMES = { messenger: "Messenger", instagram: "Instagram", sms: "SMS", email: gettext("Email") };
export const INBOXES = new Map(DATA.inboxes.map((i) => [i.id, i]));
export const AGENTS = new Map(DATA.agents.map((a) => [a.id, a.name]));
// Usernames (lower case) of the agents the page knows, for @mentions in notes.
export const USERNAMES = new Map(DATA.agents.filter((a) => a.username).map((a) => [a.username.toLowerCase(), a]));
export const TEAMS = new Map(DATA.teams.map((t) => [t.id, t.name]));

export const state = {
  tab: "mine",
  conversations: new Map(),  // id -> conversation object as the API serialises it
  order: [],
  next: null,
  current: null,              // the conversation open in the thread pane
  timeline: new Map(),        // item id -> timeline row of the open thread
  readSent: false,
  viewers: [],
  cursor: null,               // the row j/k point at (a conversation id)
  selected: new Set(),        // rows ticked for a bulk action (conversation ids)
  view: null,                 // the saved view applied, while its filters are on screen
  extra: {},                  // that view's filters the form has no field for (inbox, someone, a team)
  assignable: null,           // for the open thread: {agents, teams, may_unassign, assign_to_me}
};

export function customerName(c) { return (c && c.customer && c.customer.name) || gettext("Customer"); }
export function agentName(id) { return AGENTS.get(id) || interpolate(gettext("agent #%(id)s"), { id }); }
