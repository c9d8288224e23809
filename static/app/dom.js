// The one DOM helper the pages share: el("a", {href, class, text}, [children]). Text always goes
// in as text nodes (never HTML): what customers write is untrusted.

import { gettext } from "./i18n.js";

const PROPERTIES = new Set(["value", "checked", "disabled", "htmlFor", "type", "name", "id", "rows", "placeholder",
  "target", "rel", "loading", "hidden", "tabIndex", "noValidate", "min", "max", "step", "autocomplete", "multiple"]);

export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) { continue; }
    if (key === "class") { node.className = value; }
    else if (key === "text") { node.textContent = value; }
    else if (PROPERTIES.has(key)) { node[key] = value; }
    else { node.setAttribute(key, value === true ? "" : String(value)); }
  }
  for (const child of children || []) {
    if (child === null || child === undefined || child === false) { continue; }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

/** An error sentence with a Retry button, placed where the failure happened. */
export function errorWithRetry(message, retry, extra) {
  const button = el("button", { type: "button", class: "retry", text: gettext("Retry") });
  button.addEventListener("click", retry);
  return el("p", { class: "inline-error", role: "alert" }, [el("span", { text: message }), retry ? button : null, extra || null]);
}
