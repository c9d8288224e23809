// Desktop notifications (opt-in from the bell): a conversation newly assigned to me.
import { ME, CHANNEL_NAMES, customerName } from "./state.js";
import { openConversation } from "./thread.js";
import { gettext } from "../../app/i18n.js";

export function notifyIfAssignedToMe(before, c, created) {
  if (!("Notification" in window) || Notification.permission !== "granted") { return; }
  if (c.assignee !== ME.id || (before && before.assignee === ME.id)) { return; }
  if (!created && before === undefined && !c.waiting_since) { return; }
  const n = new Notification(gettext("New conversation for you"), { body: customerName(c) + " · " + (CHANNEL_NAMES[c.channel] || c.channel), tag: "conversation-" + c.id });
  n.onclick = () => { window.focus(); openConversation(c.id, true); };
}
