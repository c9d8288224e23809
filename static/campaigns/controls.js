// Launch, pause, resume and cancel, wherever a campaign's controls are (the list, its page):
// POST /api/v1/campaigns/<id>/<action>/, then show the new status and the buttons that fit it.
import { post } from "../app/api.js";

const NAMES = { draft: "Draft", running: "Running", paused: "Paused", finished: "Finished" };
const ALLOWED = { launch: ["draft"], pause: ["running"], resume: ["paused"], cancel: ["draft", "running", "paused"] };
const CONFIRM = {
  launch: "Launch this campaign now? Messages start going out within their send window.",
  cancel: "Cancel this campaign for good? Nothing planned will be sent.",
};

export function showStatus(controls, status) {
  controls.dataset.status = status;
  for (const button of controls.querySelectorAll("button[data-action]")) {
    button.hidden = !ALLOWED[button.dataset.action].includes(status);
  }
  const row = controls.closest("tr");
  const cell = row ? row.querySelector(".status") : document.getElementById("campaign-status");
  if (cell) { cell.textContent = NAMES[status] || status; cell.dataset.status = status; }
  document.dispatchEvent(new CustomEvent("campaign:status", { detail: { id: controls.dataset.campaign, status } }));
}

document.addEventListener("click", async (e) => {
  const button = e.target.closest(".controls button[data-action]");
  if (!button) { return; }
  const controls = button.closest(".controls");
  const action = button.dataset.action;
  if (CONFIRM[action] && !window.confirm(CONFIRM[action])) { return; }
  const say = document.getElementById("control-status");
  button.disabled = true;
  try {
    const campaign = await post(`campaigns/${controls.dataset.campaign}/${action}/`);
    showStatus(controls, campaign.status);
    if (say) { say.textContent = `${campaign.name}: ${NAMES[campaign.status] || campaign.status}.`; }
  } catch (err) {
    if (say) { say.textContent = `Not done: ${err.message}`; }
  } finally {
    button.disabled = false;
  }
});
