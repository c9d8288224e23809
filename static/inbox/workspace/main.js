// The agent workspace: queue, thread, composer and customer panel, live over /ws/inbox/.
// ES modules, no build step, no framework: each file is one concern (list, thread, composer,
// customer panel, socket, shortcuts, snooze, panes); format and API helpers are the app's own
// (static/app/), shared with every page.
import { root, state } from "./state.js";
import { init as initList, loadList, setTab } from "./list.js";
import { init as initThread, openConversation, closeThread } from "./thread.js";
import { init as initComposer, stopTyping } from "./composer.js";
import { init as initMacros } from "./macros.js";
import { connect, send } from "./socket.js";
import { init as initShortcuts } from "./shortcuts.js";
import { init as initSnooze } from "./snooze.js";
import { init as initPanes, showPane } from "./panes.js";
import { init as initBulk } from "./bulk.js";
import { init as initViews } from "./views.js";
import { init as initMentions } from "./mentions.js";

if (root) {
  initPanes();
  initList();
  initThread();
  initComposer();
  initMacros();
  initSnooze();
  initShortcuts();
  initBulk();
  initViews();
  initMentions();

  window.addEventListener("popstate", () => {
    const m = window.location.pathname.match(/^\/conversations\/(\d+)\/$/);
    if (m) { openConversation(Number(m[1]), false); } else { closeThread(); }
  });
  window.addEventListener("beforeunload", () => { stopTyping(); if (state.current) { send({ type: "leave", conversation: state.current.id }); } });

  // Deep link: /conversations/<id>/ opens that thread; the queue still starts on "Mine" or "All".
  const initial = Number(root.dataset.conversationId) || null;
  if (initial) { setTab("all"); }
  showPane(initial ? "thread" : "list");
  loadList(false);
  connect();
  if (initial) { openConversation(initial, false); }
  root.dataset.ready = "1";
}
