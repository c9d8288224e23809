// The app shell's behaviour on every page: the phone menu, the availability switch
// (PATCH /api/v1/agents/me/) and the notifications bell (/api/v1/agents/me/notifications/).
// Live notifications arrive as "inbox:frame" events from a page's socket (the workspace
// dispatches every frame it receives); pages without a socket poll once a minute.
import { csrfToken, get, patch, post, isAbort } from "./api.js";
import { el, $ } from "./dom.js";
import { relative, absolute, formatTimes } from "./format.js";
import { gettext, ngettext, interpolate } from "./i18n.js";

const header = $("app-header");
formatTimes();

// --- Phone menu --------------------------------------------------------------------------------
const toggle = $("nav-toggle");
if (toggle && header) {
  toggle.addEventListener("click", () => {
    const open = !header.classList.contains("nav-open");
    header.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  });
}

// --- Availability ------------------------------------------------------------------------------
const availability = $("availability");
if (availability) {
  let saved = availability.value;
  const wrap = availability.closest(".availability");
  availability.addEventListener("change", async () => {
    const wanted = availability.value;
    wrap.dataset.state = wanted;
    availability.setAttribute("aria-busy", "true");
    try {
      const me = await patch(availability.dataset.url, { availability: wanted });
      saved = me.availability || wanted;
      availability.title = "";
    } catch (err) {
      availability.value = saved;
      wrap.dataset.state = saved;
      availability.title = interpolate(gettext("Not changed: %(reason)s"), { reason: err.message });
      window.dispatchEvent(new CustomEvent("inbox:toast", { detail: { text: interpolate(gettext("Availability not changed: %(reason)s"), { reason: err.message }), error: true } }));
    } finally {
      availability.removeAttribute("aria-busy");
    }
  });
}

// --- Notifications bell ------------------------------------------------------------------------
const bell = $("bell");
if (bell) {
  const button = $("bell-button");
  const panel = $("bell-panel");
  const list = $("bell-list");
  const count = $("bell-count");
  const empty = $("bell-empty");
  const error = $("bell-error");
  let items = [];
  let loading = null;
  // The server's count of all my unread notifications (the list shows the newest page only).
  let serverUnread = null;

  const unread = () => (serverUnread === null ? items.filter((n) => !n.read_at).length : serverUnread);

  function describe(n) {
    const who = n.by ? n.by.username : gettext("Someone");
    if (n.kind === "assignment") {
      // text: the customer's name. No one "by" it: the round-robin gave it.
      if (n.by) {
        return n.text ? interpolate(gettext("%(who)s assigned you %(customer)s’s conversation"), { who, customer: n.text })
          : interpolate(gettext("%(who)s assigned you a conversation"), { who });
      }
      return n.text ? interpolate(gettext("You were given %(customer)s’s conversation automatically"), { customer: n.text })
        : gettext("You were given a conversation automatically");
    }
    // SLA warnings and breaches, and automation rules' notifications, say it all in their text.
    if ((n.kind === "sla_warning" || n.kind === "sla_breach" || n.kind === "rule") && n.text) { return n.text; }
    const what = n.kind === "mention" ? interpolate(gettext("%(who)s mentioned you"), { who }) : `${who}: ${n.kind}`;
    return n.text ? interpolate(gettext("%(what)s: “%(text)s”"), { what, text: n.text }) : what;
  }

  function render() {
    const n = unread();
    count.hidden = n === 0;
    count.textContent = n > 99 ? "99+" : String(n);
    button.setAttribute("aria-label", n ? interpolate(ngettext("Notifications, %(n)s unread", "Notifications, %(n)s unread", n), { n }) : gettext("Notifications"));
    empty.hidden = items.length > 0;
    list.replaceChildren(...items.slice(0, 30).map((item) => {
      const when = el("time", { class: "when", datetime: item.created_at, title: absolute(item.created_at), text: relative(item.created_at) });
      const body = item.conversation
        ? el("a", { href: `/conversations/${item.conversation}/`, "data-id": item.id }, [describe(item), when])
        : el("span", {}, [describe(item), when]);
      return el("li", { class: item.read_at ? "" : "unread" }, [body]);
    }));
  }

  async function load() {
    if (loading) { return loading; }
    loading = (async () => {
      try {
        const page = await get(bell.dataset.url);
        items = page.results || [];
        serverUnread = typeof page.unread === "number" ? page.unread : null;
        error.hidden = true;
      } catch (err) {
        if (!isAbort(err)) { error.hidden = false; error.textContent = interpolate(gettext("Notifications could not be loaded: %(reason)s"), { reason: err.message }); }
      } finally {
        loading = null;
        render();
      }
    })();
    return loading;
  }

  function setOpen(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) { load(); }
  }

  button.addEventListener("click", () => setOpen(panel.hidden));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) { setOpen(false); button.focus(); }
  });
  document.addEventListener("click", (e) => { if (!panel.hidden && !bell.contains(e.target)) { setOpen(false); } });

  list.addEventListener("click", (e) => {
    const link = e.target.closest("a[data-id]");
    if (!link) { return; }
    const id = Number(link.dataset.id);
    const item = items.find((n) => n.id === id);
    if (item && !item.read_at) {
      item.read_at = new Date().toISOString();
      if (serverUnread) { serverUnread -= 1; }
      render();
      // keepalive: the request outlives the navigation the link starts.
      fetch(bell.dataset.readUrl, {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ ids: [id] }),
      }).catch(() => {});
    }
  });

  $("bell-read-all").addEventListener("click", async () => {
    try {
      await post(bell.dataset.readUrl, {});
      const now = new Date().toISOString();
      items.forEach((n) => { n.read_at = n.read_at || now; });
      serverUnread = 0;
      error.hidden = true;
      render();
    } catch (err) {
      error.hidden = false;
      error.textContent = interpolate(gettext("Not marked read: %(reason)s"), { reason: err.message });
    }
  });

  // A page's socket relays frames; a mention (or, later, an assignment notification) refreshes the bell.
  let live = false;
  window.addEventListener("inbox:frame", (e) => {
    live = true;
    const frame = e.detail || {};
    if (frame.type === "mention" || frame.type === "notification") {
      items.unshift({
        id: frame.notification, kind: frame.kind || "mention", conversation: frame.conversation, message: frame.message,
        by: frame.by, text: frame.text || "", created_at: new Date().toISOString(), read_at: null,
      });
      if (serverUnread !== null) { serverUnread += 1; }
      render();
      window.dispatchEvent(new CustomEvent("inbox:notified", { detail: frame }));
    }
  });
  setInterval(() => { if (!live && document.visibilityState === "visible") { load(); } }, 60000);
  load();

  // Desktop notifications are opt-in (the browser asks once, after a click).
  const optin = $("notify-optin");
  if (optin && "Notification" in window && Notification.permission === "default") {
    optin.hidden = false;
    optin.addEventListener("click", () => { Notification.requestPermission().then(() => { optin.hidden = true; }); });
  }
}

// --- Language and time zone (the user menu) -----------------------------------------------------
// Saved on the agent (PATCH /api/v1/agents/me/); the page then reloads in that language and zone.
// The language cookie keeps the login page in it after logging out (blank: the browser's again).
const uiLanguage = $("ui-language");
const uiZone = $("ui-time-zone");
if (uiLanguage && uiZone) {
  const prefsError = $("prefs-error");
  const save = async (select, body, cookie) => {
    select.setAttribute("aria-busy", "true");
    try {
      await patch(select.dataset.url, body);
      if (cookie !== undefined) {
        document.cookie = cookie ? `inbox_language=${cookie}; path=/; max-age=31536000; samesite=lax`
          : "inbox_language=; path=/; max-age=0; samesite=lax";
      }
      window.location.reload();
    } catch (err) {
      prefsError.hidden = false;
      prefsError.textContent = interpolate(gettext("Not changed: %(reason)s"), { reason: err.message });
      select.removeAttribute("aria-busy");
    }
  };
  uiLanguage.addEventListener("change", () => save(uiLanguage, { language: uiLanguage.value }, uiLanguage.value));
  // The zones the browser knows, listed when the menu is first used (a long list, not in the page).
  const fillZones = () => {
    if (uiZone.dataset.filled || typeof Intl.supportedValuesOf !== "function") { return; }
    uiZone.dataset.filled = "1";
    const current = uiZone.dataset.current;
    const zones = Intl.supportedValuesOf("timeZone").filter((z) => z !== current);
    uiZone.append(...zones.map((z) => el("option", { value: z, text: z.replace(/_/g, " ") })));
  };
  uiZone.addEventListener("focus", fillZones);
  uiZone.addEventListener("pointerdown", fillZones);
  uiZone.addEventListener("change", () => save(uiZone, { time_zone: uiZone.value }));
}
