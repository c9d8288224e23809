// The survey email's rating page: the rating the link names is recorded as soon as the page opens
// (one click for the customer); the form then sends a comment or another rating. Without script,
// the Send button records it (a GET alone never does: mail scanners open every link).
import { gettext, interpolate } from "../app/i18n.js";

const form = document.getElementById("csat-form");
const status = document.getElementById("csat-status");

async function record(withComment) {
  const body = new FormData(form);
  if (!withComment) { body.delete("comment"); }
  const response = await fetch(form.action || window.location.href, {
    method: "POST", body, credentials: "same-origin", headers: { "X-Requested-With": "fetch", Accept: "application/json" },
  });
  if (!response.ok) { throw new Error(String(response.status)); }
  return response.json();
}

if (form) {
  if (form.dataset.autosubmit === "1") {
    record(false).then((data) => {
      form.dataset.autosubmit = "0";
      status.textContent = interpolate(gettext("Thank you! Your rating of %(rating)s out of 5 is saved. You can add a comment below."), { rating: data.rating });
    }).catch(() => { status.textContent = gettext("Choose your rating and press Send."); });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    record(true).then((data) => {
      status.textContent = interpolate(data.comment ? gettext("Thank you! Your rating of %(rating)s out of 5 and your comment are saved.")
        : gettext("Thank you! Your rating of %(rating)s out of 5 is saved."), { rating: data.rating });
    }).catch(() => form.submit());
  });
}
