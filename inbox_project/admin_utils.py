"""A sensible default admin for models without a hand-written one.

Each app's admin.py registers its main models by hand and then calls `register_remaining(app)`,
so a model added later still shows up in /admin/ with searchable, filterable, cheap list pages
(foreign keys as raw ids: a select box over a million messages would hang the page). Encrypted
fields are never shown or put in a form.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.db import models

_HIDDEN_IN_LISTS = (models.TextField, models.JSONField, models.BinaryField)


def _is_secret(field: models.Field) -> bool:
    # By name, so customers' admin need not import the inbox app (customers knows nothing of it).
    return any(cls.__name__.startswith("Encrypted") for cls in type(field).__mro__)


def auto_admin_class(model: type[models.Model]) -> type[admin.ModelAdmin]:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    listable = [f for f in fields if not isinstance(f, _HIDDEN_IN_LISTS) and not _is_secret(f)]
    relations = [f.name for f in fields if isinstance(f, models.ForeignKey)]
    attrs = {
        "list_display": ["__str__", *[f.name for f in listable][:6]],
        "list_filter": [f.name for f in listable if f.choices or isinstance(f, models.BooleanField)][:4],
        "search_fields": [
            f.name for f in listable if isinstance(f, models.CharField) and not f.choices and not f.is_relation
        ][:3],
        "raw_id_fields": relations,
        "list_select_related": [f.name for f in listable if isinstance(f, models.ForeignKey)][:3],
        "exclude": [f.name for f in fields if _is_secret(f)],
        "show_full_result_count": False,
    }
    return type(f"{model.__name__}AutoAdmin", (admin.ModelAdmin,), attrs)


def register_remaining(app_label: str, site: admin.AdminSite = admin.site) -> None:
    """Register every model of the app that has no admin yet."""
    for model in apps.get_app_config(app_label).get_models():
        if not site.is_registered(model):
            site.register(model, auto_admin_class(model))
