// The bar follows the upload; the import itself runs in one transaction on the server, so the
// bar then waits ("Importing…") until the answer arrives.
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
    box.hidden = false; bar.value = 0; label.textContent = "Uploading…"; outcome.textContent = "";
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.upload.onload = function () { bar.value = 100; bar.removeAttribute("value"); label.textContent = "Importing…"; };
    xhr.onerror = function () { box.hidden = true; outcome.textContent = "The upload failed; nothing was imported."; };
    xhr.onload = function () {
      box.hidden = true;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {detail: xhr.status >= 500 ? "The server could not import the file just now; try again in a moment." : "The server did not accept the file."}; }
      const div = document.createElement("div");
      if (xhr.status === 200) {
        div.className = "ok";
        div.textContent = "Imported " + body.rows + " rows: " + body.customers + " customers" +
          (body.kind === "orders" ? ", " + body.orders_created + " new orders, " + body.orders_updated + " updated" : "") + ".";
      } else {
        div.className = "errors";
        const p = document.createElement("p"); const strong = document.createElement("strong"); strong.textContent = "Nothing was imported."; p.append(strong, " ", body.detail || "");
        div.append(p);
        const table = document.createElement("table"); table.setAttribute("aria-label", "Row errors");
        (body.errors || []).forEach(function (e) { const tr = document.createElement("tr"); tr.append(cell(e.row), cell(e.column), cell(e.message)); table.append(tr); });
        div.append(table);
      }
      outcome.append(div);
    };
    xhr.send(new FormData(form));
  });
})();
