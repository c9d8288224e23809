"""A JSON field encrypted at rest (Fernet, key derived from FIELD_ENCRYPTION_KEY)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    key = base64.urlsafe_b64encode(hashlib.sha256(("inbox-credentials:" + key_material).encode()).digest())
    return Fernet(key)


def encrypt_json(value) -> str:
    return _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str):
    try:
        return json.loads(_fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token.encode()))
    except InvalidToken:
        raise ValueError("credentials cannot be decrypted: FIELD_ENCRYPTION_KEY/SECRET_KEY changed?") from None


class EncryptedJSONField(models.TextField):
    """Stores a JSON value as a Fernet token; the database never sees the plaintext."""

    # What django-stubs' plugin types the attribute as: set a dict (or list), read a dict back
    # (narrower than TextField's str, hence the ignores).
    _pyi_private_set_type: dict | list  # type: ignore[assignment]
    _pyi_private_get_type: dict  # type: ignore[assignment]

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        return decrypt_json(value)

    def to_python(self, value):
        if isinstance(value, dict | list):
            return value
        if not value:
            return {}
        return decrypt_json(value)

    def get_prep_value(self, value):
        return encrypt_json(value if value is not None else {})
