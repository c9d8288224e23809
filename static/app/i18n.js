// The page's language and the scripts' translations. Every page loads Django's JavaScript catalog
// (/jsi18n/?lang=…, a script file: templates/base.html) before its modules; these wrappers read it,
// and fall back to the English source text where no catalog was loaded. Mark strings with these
// names so `make makemessages` finds them (locale/<lang>/LC_MESSAGES/djangojs.po):
//   gettext("Send"), ngettext("%(n)s conversation", "%(n)s conversations", n), pgettext("verb", "Snooze"),
//   interpolate(gettext("Not sent: %(reason)s"), { reason }).

const catalog = globalThis.django && typeof globalThis.django.gettext === "function" ? globalThis.django : null;

/** The page's language ("en", "fr", "el"): <html lang>, which the server set from the agent's choice. */
export const LANG = document.documentElement.lang || "en";

export function gettext(msgid) { return catalog ? catalog.gettext(msgid) : msgid; }

export function ngettext(singular, plural, count) {
  return catalog ? catalog.ngettext(singular, plural, count) : (count === 1 ? singular : plural);
}

export function pgettext(context, msgid) { return catalog ? catalog.pgettext(context, msgid) : msgid; }

/** "%(name)s" from an object, or "%s" in order from an array, as Django's interpolate does. */
export function interpolate(format, values) {
  if (Array.isArray(values)) {
    let i = 0;
    return String(format).replace(/%s/g, () => String(values[i++]));
  }
  return String(format).replace(/%\(([A-Za-z_][A-Za-z0-9_]*)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

