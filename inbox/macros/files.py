"""The stored files a macro's `attach` action sends: uploaded once, kept with the macro, named by
a signed token (so a macro can only ever point at a file uploaded for macros)."""

from __future__ import annotations

import mimetypes
import secrets
from typing import Any

from django.core import signing
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename

from inbox.conversations.attachments import clean_type, max_bytes, type_allowed
from inbox.conversations.errors import ReplyRefused

FILE_SALT = "inbox.macros.file"
DESCRIPTION_KEYS = ("stored", "content_type", "name", "size")


def macro_file_store(*, upload) -> dict[str, Any]:
    """Keep an uploaded file for macros; returns `{file: token, name, content_type, size}`."""
    content_type = clean_type(getattr(upload, "content_type", "")) or "application/octet-stream"
    if not type_allowed(content_type):
        raise ReplyRefused("type_not_allowed", f"{content_type} files cannot be sent.", 400)
    if upload.size > max_bytes():
        raise ReplyRefused("too_large", f"Files may be at most {max_bytes()} bytes.", 413)
    if upload.size == 0:
        raise ReplyRefused("empty", "The file is empty.", 400)
    try:
        name = get_valid_filename(getattr(upload, "name", "") or "")[:150] or "attachment"
    except SuspiciousFileOperation:
        name = "attachment"
    stored = default_storage.save(f"macros/{secrets.token_urlsafe(24)}{mimetypes.guess_extension(content_type) or ''}", upload)
    description = {"stored": stored, "content_type": content_type, "name": name, "size": upload.size}
    return {"file": signing.dumps(description, salt=FILE_SALT, compress=True), **{k: description[k] for k in DESCRIPTION_KEYS[1:]}}


def macro_file_read(token: Any) -> dict[str, Any]:
    """The file a token names (ValidationError if it is not one of ours)."""
    try:
        data = signing.loads(str(token), salt=FILE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise ValidationError("attach: the file token is unknown or was altered; upload the file again.") from None
    if not isinstance(data, dict) or not all(k in data for k in DESCRIPTION_KEYS):
        raise ValidationError("attach: the file token is unknown or was altered; upload the file again.")
    return {k: data[k] for k in DESCRIPTION_KEYS}
