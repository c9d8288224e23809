"""Campaign templates are a small, bounded language, and the preview is for who may create campaigns."""

from __future__ import annotations

import time

import pytest

from campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def preview(client, text: str, channel: str = "email"):
    return client.post("/api/v1/campaigns/preview/", {"channel": channel, "text": text}, format="json")


def campaign_body(inbox, text: str) -> dict:
    return {"name": "Spring", "kind": "broadcast", "channel": inbox.kind, "inbox": inbox.pk, "text": text}


def test_agents_may_not_preview_campaign_texts(api, bob):
    response = preview(api(bob), "Hi {{ customer.first_name }}")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_a_manager_previews_a_personalised_text(api, alice):
    response = preview(api(alice), "Hi {{ customer.first_name|upper }}, order {{ order.number }}{% if order.number %}!{% endif %}")

    assert response.status_code == 200
    assert response.json()["text"] == "Hi JANE, order 1001!"


@pytest.mark.parametrize(
    "text",
    [
        '{{ "A"|ljust:"100000000" }}',
        '{{ "A"|center:"5000" }}',
        '{{ "A"|rjust:"1001" }}',
        '{{ "1.5"|floatformat:"100000" }}',
        '{{ customer.name|default:"' + "x" * 101 + '" }}',
        '{% if order.missing %}{{ "A"|ljust:"99999" }}{% endif %}',  # even in a branch not taken
    ],
)
def test_filter_arguments_over_the_caps_are_refused(api, alice, text):
    started = time.monotonic()
    response = preview(api(alice), text)

    assert time.monotonic() - started < 2
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and response.json()["detail"]


@pytest.mark.parametrize(
    "text",
    [
        '{% include "campaigns/index.html" %}',
        "{% load static %}{% static 'x' %}",
        '{% extends "base.html" %}',
        "{% debug %}",
        "{% lorem 100000 w %}",
        "{% url 'workspace' %}",
        "{% ssi '/etc/passwd' %}",
        "{{ customer.name|safe }}",
        "{{ customer.name|pprint }}",
    ],
)
def test_tags_and_filters_outside_the_language_are_refused(api, alice, text):
    response = preview(api(alice), text)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_loops_and_output_are_bounded_in_time_and_size(api, alice):
    many = "x" * 60
    nested = "{% for a in '" + many + "' %}{% for b in '" + many + "' %}{% for c in '" + many + "' %}.{% endfor %}{% endfor %}{% endfor %}"
    wide = "{% for a in '" + many + "' %}{{ customer.name|ljust:'1000' }}{% endfor %}"

    for text in (nested, wide):
        started = time.monotonic()
        response = preview(api(alice), text)
        assert time.monotonic() - started < 2
        assert response.status_code == 400, text
        assert response.json()["code"] == "invalid"


def test_a_campaign_saved_with_a_text_outside_the_language_is_refused(api, alice, sms_inbox):
    client = api(alice)
    for text in ('{{ "A"|ljust:"100000000" }}', '{% include "base.html" %}', "{% load i18n %}"):
        response = client.post("/api/v1/campaigns/", campaign_body(sms_inbox, text), format="json")
        assert response.status_code == 400, text
        assert response.json()["code"] == "invalid" and response.json()["detail"]
    assert not Campaign.objects.exists()
    ok = client.post("/api/v1/campaigns/", campaign_body(sms_inbox, "Hi {{ customer.first_name|default:'there' }}"), format="json")
    assert ok.status_code == 201
