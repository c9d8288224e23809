// Talking to the REST API (/api/v1/): JSON in and out, the CSRF token on writes, errors as
// ApiError whose message is a sentence for people: the server's `detail` when it gave one,
// else what the status means in words (never "HTTP 500").

import { gettext } from "./i18n.js";

export const API_ROOT = "/api/v1/";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", data = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (m) { return decodeURIComponent(m[1]); }
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

/** What an answer without a `detail` means, in words. */
export function statusSentence(status) {
  if (status === 0) { return gettext("Could not reach the server. Check the connection and try again."); }
  if (status === 400) { return gettext("The server did not accept this."); }
  if (status === 403) { return gettext("Your role may not do this."); }
  if (status === 404) { return gettext("Not found: it was deleted or is out of your reach."); }
  if (status === 409) { return gettext("This conflicts with a change made meanwhile. Reload and try again."); }
  if (status === 413) { return gettext("That is too large to send."); }
  if (status === 429) { return gettext("Too many requests at once. Wait a moment and try again."); }
  if (status === 502 || status === 503 || status === 504) { return gettext("The server is unavailable just now. Try again in a moment."); }
  if (status >= 500) { return gettext("Something went wrong on the server. Try again in a moment."); }
  return gettext("The request failed.");
}

function toLogin() {
  window.location.href = "/accounts/login/?next=" + encodeURIComponent(window.location.pathname);
}

/** request("GET", "conversations/?status=open", undefined, {signal}) -> parsed JSON. */
export async function request(method, path, body, { signal } = {}) {
  const headers = { Accept: "application/json" };
  const options = { method, credentials: "same-origin", headers, signal };
  if (body instanceof FormData) {
    options.body = body;  // the browser sets the multipart boundary itself
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") { headers["X-CSRFToken"] = csrfToken(); }
  const url = /^(https?:)?\//.test(path) ? path : API_ROOT + path;
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    if (err && err.name === "AbortError") { throw err; }
    throw new ApiError(statusSentence(0), { status: 0, code: "network" });
  }
  if (response.status === 401 || (response.status === 403 && response.redirected)) { toLogin(); }
  let data = {};
  try { data = await response.json(); } catch (err) {
    if (err && err.name === "AbortError") { throw err; }
    data = {};
  }
  if (data && data.code === "not_authenticated") { toLogin(); }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" && data.detail.trim() ? data.detail : statusSentence(response.status);
    throw new ApiError(detail, { status: response.status, code: (data && data.code) || "", data });
  }
  return data;
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body, opts) => request("POST", path, body === undefined ? {} : body, opts);
export const patch = (path, body, opts) => request("PATCH", path, body, opts);

export function isAbort(err) { return Boolean(err && err.name === "AbortError"); }
