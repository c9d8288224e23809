// The bar follows the upload; the import itself runs in one transaction on the server, so the
// bar then waits ("Importing…") until the answer arrives.
import { gettext, ngettext, interpolate } from "../app/i18n.js";

(() => {
  const form = document.getElementById("import-form");
  const box = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  const label = document.getElementById("progress-label");
  const outcome = document.getElementById("outcome");
  function cell(text) { const td = document.createElement("td"); td.textContent = text == null ? "—" : String(text); return td; }
  form.addEventListener("submit", function (event) {
    if (!window.XMLHttpRequest || !window.FormData) return;
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    box.hidden = false; bar.value = 0; label.textContent = gettext("Uploading…"); outcome.textContent = "";
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.upload.onload = function () { bar.value = 100; bar.removeAttribute("value"); label.textContent = gettext("Importing…"); };
    xhr.onerror = function () { box.hidden = true; outcome.textContent = gettext("The upload failed; nothing was imported."); };
    xhr.onload = function () {
      box.hidden = true;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {detail: xhr.status >= 500 ? gettext("The server could not import the file just now; try again in a moment.") : gettext("The server did not accept the file.")}; }
      const div = document.createElement("div");
      if (xhr.status === 200) {
        div.className = "ok";
        div.textContent = interpolate(ngettext("Imported %(n)s row:", "Imported %(n)s rows:", body.rows), { n: body.rows }) + " " +
          interpolate(ngettext("%(n)s customer", "%(n)s customers", body.customers), { n: body.customers }) +
          (body.kind === "orders" ? ", " + interpolate(ngettext("%(n)s new order", "%(n)s new orders", body.orders_created), { n: body.orders_created }) +
            ", " + interpolate(ngettext("%(n)s updated", "%(n)s updated", body.orders_updated), { n: body.orders_updated }) : "") + ".";
      } else {
        div.className = "errors";
        const p = document.createElement("p"); const strong = document.createElement("strong"); strong.textContent = gettext("Nothing was imported."); p.append(strong, " ", body.detail || "");
        div.append(p);
        const table = document.createElement("table"); table.setAttribute("aria-label", gettext("Row errors"));
        (body.errors || []).forEach(function (e) { const tr = document.createElement("tr"); tr.append(cell(e.row), cell(e.column), cell(e.message)); table.append(tr); });
        div.append(table);
      }
      outcome.append(div);
    };
    xhr.send(new FormData(form));
  });
})();
