"""The translation catalogs as the tests need them: compiled (as `make compilemessages` does, with the
repository's own pure-Python compiler, so no GNU gettext is needed) and read back entry by entry."""

from __future__ import annotations

import gettext
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale"
LANGUAGES = ("fr", "el")
DOMAINS = ("django", "djangojs")

sys.path.insert(0, str(ROOT / "scripts"))
import msgfmt  # noqa: E402  (scripts/msgfmt.py, standard library only)


def compiled() -> None:
    """Build every .mo older than its .po, then make Django read the catalogs afresh."""
    changed = False
    for po in LOCALE.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            msgfmt.compile_file(po, mo)
            changed = True
    if changed:
        from django.utils.translation import trans_real

        trans_real._translations = {}
        trans_real.check_for_language.cache_clear()


def entries(language: str, domain: str) -> dict[str, str]:
    """{key: translation} of a catalog as compiled: keys `msgid`, `ctx\\x04msgid`, `msgid\\x00plural`."""
    return msgfmt.parse((LOCALE / language / "LC_MESSAGES" / f"{domain}.po").read_text(encoding="utf-8"))


def translator(language: str, domain: str) -> gettext.GNUTranslations:
    compiled()
    return gettext.translation(domain, localedir=str(LOCALE), languages=[language])


_PLACEHOLDER = re.compile(r"%\([A-Za-z_]+\)[sdr]|%s")


def untranslated_patterns(language: str) -> list[tuple[str, re.Pattern]]:
    """The English source texts that must not show on a page in `language`: every msgid (both
    domains, plural forms too) whose translation differs from it, as a pattern matching a whole
    text with any value in its placeholders. Identical translations ("SLA", "Email" in Greek) and
    texts under four letters ("on", "Mon") are left out: they prove nothing."""
    patterns: dict[str, re.Pattern] = {}
    for domain in DOMAINS:
        for key, value in entries(language, domain).items():
            if not key:
                continue
            sources = key.split("\x04")[-1].split("\x00")
            targets = value.split("\x00")
            for source in sources:
                source = source.replace("%%", "%")
                if source in targets or len(re.sub(r"[^A-Za-z]", "", _PLACEHOLDER.sub("", source))) < 4:
                    continue
                parts = [re.escape(p) for p in _PLACEHOLDER.split(source)]
                patterns[source] = re.compile(r"\s*" + r".+?".join(parts) + r"\s*", re.S)
    return sorted(patterns.items())
