#!/usr/bin/env python3
"""Compile a gettext catalog (.po) into the binary form Django reads (.mo), without GNU gettext.

The Makefile's fallback when `msgfmt` is missing and cannot be installed: standard library only,
so it runs before any package is installed. It reads what `makemessages` writes — comments,
flags, `msgctxt`, `msgid`, `msgid_plural`, `msgstr` / `msgstr[n]`, strings continued over several
lines, C escapes — leaves out fuzzy and untranslated entries as msgfmt does (the header is kept),
and writes the GNU .mo layout: magic, the sorted original and translated string tables, no hash
table (readers, Python's gettext included, then search the sorted table).

    python3 scripts/msgfmt.py -o locale/fr/LC_MESSAGES/django.mo locale/fr/LC_MESSAGES/django.po
"""

from __future__ import annotations

import argparse
import ast
import struct
import sys
from pathlib import Path

MAGIC = 0x950412DE


class PoError(ValueError):
    pass


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoError(f"{where}: expected a quoted string, got {text[:40]!r}")
    # PO strings use C escapes (\n \t \" \\ and octal), which a Python string literal reads the same.
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError) as exc:
        raise PoError(f"{where}: bad string {text[:40]!r}") from exc


def parse(source: str, name: str = "<po>") -> dict[str, str]:
    """{key: translation} of the catalog's usable entries, keys and values as the .mo holds them:
    `context\\x04msgid`, `msgid\\x00msgid_plural` and plural forms joined by NUL."""
    entries: dict[str, str] = {}
    entry: dict[str, object] = {}
    section: tuple[str, int | None] | None = None
    fuzzy = False

    def finish() -> None:
        nonlocal entry, fuzzy, section
        if "msgid" in entry:
            msgid = str(entry["msgid"])
            forms = entry.get("msgstr", {})
            assert isinstance(forms, dict)
            values = [forms[i] for i in sorted(forms)]
            usable = bool(values) and all(values) and (not fuzzy or msgid == "")
            if usable:
                if msgid == "" and values:
                    # As GNU msgfmt does: the template's creation date is no part of the compiled header.
                    values[0] = "".join(line + "\n" for line in values[0].split("\n")
                                        if line and not line.startswith("POT-Creation-Date:"))
                key = msgid
                if "msgid_plural" in entry:
                    key = f"{msgid}\x00{entry['msgid_plural']}"
                if "msgctxt" in entry:
                    key = f"{entry['msgctxt']}\x04{key}"
                entries[key] = "\x00".join(values)
        entry, fuzzy, section = {}, False, None

    for number, raw in enumerate(source.splitlines(), 1):
        where = f"{name}:{number}"
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if "msgid" in entry and section is not None and section[0] == "msgstr":
                finish()
            if line.startswith("#,") and "fuzzy" in (flag.strip() for flag in line[2:].split(",")):
                fuzzy = True
            continue  # obsolete entries (#~) are comments too
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            if section is None:
                raise PoError(f"{where}: a string outside any msgid or msgstr")
            kind, index = section
            text = _unquote(line, where)
            if kind == "msgstr":
                forms = entry["msgstr"]
                assert isinstance(forms, dict)
                forms[index] += text
            else:
                entry[kind] = str(entry[kind]) + text
            continue
        if keyword in ("msgctxt", "msgid") and section is not None and section[0] == "msgstr":
            finish()
        if keyword == "msgctxt":
            entry["msgctxt"] = _unquote(rest, where)
            section = ("msgctxt", None)
        elif keyword == "msgid":
            entry["msgid"] = _unquote(rest, where)
            section = ("msgid", None)
        elif keyword == "msgid_plural":
            entry["msgid_plural"] = _unquote(rest, where)
            section = ("msgid_plural", None)
        elif keyword == "msgstr" or keyword.startswith("msgstr["):
            index = 0 if keyword == "msgstr" else int(keyword[len("msgstr["):-1])
            forms = entry.setdefault("msgstr", {})
            assert isinstance(forms, dict)
            forms[index] = _unquote(rest, where)
            section = ("msgstr", index)
        else:
            raise PoError(f"{where}: unexpected {keyword!r}")
    finish()
    return entries


def mo_bytes(entries: dict[str, str]) -> bytes:
    """The .mo file of `entries` (UTF-8), originals sorted as the format requires."""
    keys = sorted(entries, key=lambda k: k.encode("utf-8"))
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    count = len(keys)
    header_size = 7 * 4
    originals_at = header_size
    translations_at = originals_at + count * 8
    data_at = translations_at + count * 8
    tables: list[int] = []
    data = bytearray()
    for blob_list in (ids, strs):
        for blob in blob_list:
            tables += [len(blob), data_at + len(data)]
            data += blob + b"\x00"
    header = struct.pack("<7I", MAGIC, 0, count, originals_at, translations_at, 0, data_at)
    originals = struct.pack(f"<{2 * count}I", *tables[: 2 * count])
    translations = struct.pack(f"<{2 * count}I", *tables[2 * count:])
    return header + originals + translations + bytes(data)


def compile_file(po: Path, mo: Path) -> int:
    entries = parse(po.read_text(encoding="utf-8"), str(po))
    mo.parent.mkdir(parents=True, exist_ok=True)
    mo.write_bytes(mo_bytes(entries))
    return len(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("po", type=Path, nargs="+", help=".po files")
    parser.add_argument("-o", "--output", type=Path, help="the .mo file (one .po only); default: beside the .po")
    args = parser.parse_args(argv)
    if args.output and len(args.po) > 1:
        parser.error("-o takes one .po file")
    for po in args.po:
        mo = args.output or po.with_suffix(".mo")
        try:
            count = compile_file(po, mo)
        except (OSError, PoError) as exc:
            print(f"msgfmt.py: {exc}", file=sys.stderr)
            return 1
        print(f"{po} -> {mo}: {count} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
