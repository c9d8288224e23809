"""Writes on the directory: inboxes, teams and agents (what admins set up).

Each raises django ValidationError on bad input (the API answers 400 `invalid`) and writes in one
transaction, so nothing is half-made.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from customers import language
from inbox.audit import audit_record, current_request
from inbox.conversations.window import MAX_LENGTH
from inbox.csat.config import csat_clean
from inbox.models import META_CHANNELS, Agent, Availability, Inbox, Role, Team
from inbox.team import business_hours
from inbox.team.roles import user_groups_sync

# Inbox.settings keys the API accepts, and the booleans among them.
AUTOMATION_KEYS = ("greeting", "away", "business_hours", "holidays", "bot")
FLAG_KEYS = ("auto_assign", "reassign_on_away", "unassign_on_resolve")
SETTINGS_KEYS = AUTOMATION_KEYS + FLAG_KEYS + ("read_receipt", "csat", "language")


def _message_setting(name: str, value, *, kind: str) -> dict:
    """{enabled, text, translations?}: `text` in the inbox's default language, `translations` the
    same message per language ({"fr": "...", "el": "..."}) for customers of that language."""
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be an object {{enabled, text, translations}}.")
    unknown = set(value) - {"enabled", "text", "translations"}
    if unknown:
        raise ValidationError(f"{name}: unknown keys {', '.join(sorted(unknown))}.")
    enabled = value.get("enabled", False)
    text = value.get("text", "")
    if not isinstance(enabled, bool):
        raise ValidationError(f"{name}.enabled must be true or false.")
    text = _channel_text(f"{name}.text", text, kind=kind, required=enabled, required_when=f"{name} is enabled")
    cleaned = {"enabled": enabled, "text": text}
    translations = language.translations_clean(
        f"{name}.translations", value.get("translations"),
        check=lambda field, t: _channel_text(field, t, kind=kind, required=False, required_when=""),
    )
    if translations:
        cleaned["translations"] = translations
    return cleaned


# Meta's limits on quick replies: at most 13, titles of 20 characters, payloads of 1000.
BOT_MAX_OPTIONS, BOT_TITLE_LENGTH, BOT_PAYLOAD_LENGTH = 13, 20, 1000


def _bot_text(name: str, value, *, kind: str, required: bool) -> str:
    return _channel_text(name, value, kind=kind, required=required, required_when="the bot is enabled")


def _channel_text(name: str, value, *, kind: str, required: bool, required_when: str) -> str:
    """A text the app will send on this inbox's channel: a string, within the channel's limit."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string.")
    if required and not value.strip():
        raise ValidationError(f"{name} is required when {required_when}.")
    limit = MAX_LENGTH.get(kind)
    if limit and len(value) > limit:
        raise ValidationError(f"{name} is longer than the {limit} characters this channel allows.")
    if "\x00" in value:
        raise ValidationError(f"{name} may not contain NUL characters.")
    return value


def _bot_setting(value, *, kind: str) -> dict:
    """The quick-reply bot (campaigns.bot); Messenger and Instagram only."""
    if not isinstance(value, dict):
        raise ValidationError("bot must be an object {enabled, intro, options, handover_text}.")
    unknown = set(value) - {"enabled", "intro", "options", "handover_text"}
    if unknown:
        raise ValidationError(f"bot: unknown keys {', '.join(sorted(unknown))}.")
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ValidationError("bot.enabled must be true or false.")
    if enabled and kind not in META_CHANNELS:
        raise ValidationError("The bot works on Messenger and Instagram inboxes only.")
    intro = _bot_text("bot.intro", value.get("intro", ""), kind=kind, required=enabled)
    handover = _bot_text("bot.handover_text", value.get("handover_text", ""), kind=kind, required=enabled)
    options = value.get("options", [])
    if not isinstance(options, list) or len(options) > BOT_MAX_OPTIONS:
        raise ValidationError(f"bot.options must be a list of at most {BOT_MAX_OPTIONS} options.")
    cleaned, payloads = [], set()
    for i, option in enumerate(options):
        name = f"bot.options[{i}]"
        if not isinstance(option, dict) or set(option) - {"title", "payload", "answer"}:
            raise ValidationError(f"{name} must be an object {{title, payload, answer}}.")
        title, payload = option.get("title"), option.get("payload")
        if not isinstance(title, str) or not title.strip() or len(title) > BOT_TITLE_LENGTH:
            raise ValidationError(f"{name}.title must be 1 to {BOT_TITLE_LENGTH} characters.")
        if not isinstance(payload, str) or not payload.strip() or len(payload) > BOT_PAYLOAD_LENGTH:
            raise ValidationError(f"{name}.payload must be 1 to {BOT_PAYLOAD_LENGTH} characters.")
        if payload in payloads:
            raise ValidationError(f"{name}.payload repeats another option's.")
        payloads.add(payload)
        answer = _bot_text(f"{name}.answer", option.get("answer", ""), kind=kind, required=True)
        cleaned.append({"title": title, "payload": payload, "answer": answer})
    return {"enabled": enabled, "intro": intro, "options": cleaned, "handover_text": handover}


def inbox_settings_clean(*, inbox_kind: str, current: dict, changes: dict) -> dict:
    """The inbox's settings with `changes` applied, validated; unknown keys are refused."""
    unknown = set(changes) - set(SETTINGS_KEYS)
    if unknown:
        raise ValidationError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    merged = dict(current or {})
    for key, value in changes.items():
        if key in ("greeting", "away"):
            merged[key] = _message_setting(key, value, kind=inbox_kind)
        elif key == "bot":
            merged[key] = _bot_setting(value, kind=inbox_kind)
        elif key == "csat":
            merged[key] = csat_clean(value, current=merged.get("csat"), inbox_kind=inbox_kind)
        elif key == "language":
            # The language of customers whose own is unknown: which `text` their automated messages use.
            if value is None or value == "":
                merged.pop(key, None)
                continue
            if language.language_normalize(value) != value:
                raise ValidationError(f"language must be one of {', '.join(language.LANGUAGE_CODES)}.")
            merged[key] = value
        elif key in FLAG_KEYS:
            if not isinstance(value, bool):
                raise ValidationError(f"{key} must be true or false.")
            merged[key] = value
        elif key == "read_receipt":
            from inbox.conversations.timeline import READ_RECEIPT_CHOICES

            if value not in READ_RECEIPT_CHOICES:
                raise ValidationError(f"read_receipt must be one of {', '.join(READ_RECEIPT_CHOICES)}.")
            merged[key] = value
        elif value is None:  # business_hours/holidays: null clears (always open / no holidays)
            merged.pop(key, None)
        else:
            merged[key] = value
    if "business_hours" in merged or "holidays" in merged:
        holidays = merged.get("holidays", [])
        business_hours.validate(merged.get("business_hours", {"timezone": "UTC", "hours": {}}), holidays)
        if "holidays" in merged:
            merged["holidays"] = sorted(set(map(str, holidays)))
    return merged


def inbox_create(
    *, kind: str, name: str, external_id: str, credentials: dict | None = None, team: Team | None = None,
    settings: dict | None = None,
) -> Inbox:
    try:
        with transaction.atomic():
            return Inbox.objects.create(
                kind=kind,
                name=name,
                external_id=external_id,
                credentials=credentials or {},
                team=team,
                settings=inbox_settings_clean(inbox_kind=kind, current={}, changes=settings or {}),
            )
    except IntegrityError:
        raise ValidationError(f"An inbox for {kind} {external_id} already exists.") from None


def inbox_update(*, inbox: Inbox, settings: dict | None = None, **fields) -> Inbox:
    """Change name/team/credentials (given keys only) and merge `settings` changes."""
    with transaction.atomic():
        inbox = Inbox.objects.select_for_update().get(pk=inbox.pk)
        for attr in ("name", "team", "credentials"):
            if attr in fields:
                setattr(inbox, attr, fields[attr])
        if settings:
            inbox.settings = inbox_settings_clean(inbox_kind=inbox.kind, current=inbox.settings, changes=settings)
        inbox.save()
        if "credentials" in fields:
            audit_record(actor=None, action="inbox.credentials_change", target=inbox, request=current_request())
    if settings and (settings.get("auto_assign") is True):
        from inbox.team.assignment import unassigned_queue_drain

        transaction.on_commit(lambda: unassigned_queue_drain(inbox=inbox), robust=True)
    return inbox


def team_create(*, name: str, default_capacity: int | None = None) -> Team:
    try:
        with transaction.atomic():
            team = Team(name=name)
            if default_capacity is not None:
                team.default_capacity = default_capacity
            team.save()
            return team
    except IntegrityError:
        raise ValidationError(f"A team named {name!r} already exists.") from None


def team_update(*, team: Team, **fields) -> Team:
    """Rename (`name`) or change `default_capacity`; more room drains the team's queue."""
    try:
        with transaction.atomic():
            team = Team.objects.select_for_update().get(pk=team.pk)
            for attr in ("name", "default_capacity"):
                if attr in fields:
                    setattr(team, attr, fields[attr])
            team.save()
    except IntegrityError:
        raise ValidationError(f"A team named {fields.get('name')!r} already exists.") from None
    if "default_capacity" in fields:
        from inbox.team.assignment import queue_drain_after_commit

        queue_drain_after_commit(team_ids=[team.pk])
    return team


def agent_role_set(*, agent: Agent, role: str) -> Agent:
    """Change the role and keep the user's Django group (and staff flag) in step with it."""
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}.")
    with transaction.atomic():
        if agent.role != role:
            agent.role = role
            agent.save(update_fields=["role"])
        user_groups_sync(user=agent.user, role=role)
    return agent


def agent_create(
    *, username: str, email: str, password: str, role: str = Role.AGENT, teams: Sequence[Team] = (),
    capacity: int | None = None, availability: str = Availability.AWAY,
) -> Agent:
    """A user who can log in, with their agent profile, role group and teams."""
    User = get_user_model()
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}.")
    candidate = User(username=username, email=email)
    validate_password(password, user=candidate)
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(f"The username {username!r} is taken.")
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=username, email=email, password=password)
        except IntegrityError:
            raise ValidationError(f"The username {username!r} is taken.") from None
        agent = Agent.objects.create(user=user, role=role, capacity=capacity, availability=availability)
        agent.teams.set(teams)
        agent_role_set(agent=agent, role=role)
    return agent


def agent_update(*, agent: Agent, **fields) -> Agent:
    """Admin changes: role, teams, capacity, is_active (given keys only)."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().select_related("user").get(pk=agent.pk)
        if "capacity" in fields:
            agent.capacity = fields["capacity"]
            agent.save(update_fields=["capacity"])
        if "teams" in fields:
            agent.teams.set(fields["teams"])
        if "role" in fields:
            agent_role_set(agent=agent, role=fields["role"])
        if "is_active" in fields and agent.user.is_active != fields["is_active"]:
            agent.user.is_active = fields["is_active"]
            agent.user.save(update_fields=["is_active"])
    return agent


def agent_preferences_set(*, agent: Agent, language_code: str | None = None, time_zone: str | None = None) -> Agent:
    """The agent's own language ("" = the browser's) and time zone ("" = the browser's); None
    leaves one as it is. ValidationError for a language the shop has no catalog for or an unknown zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    fields = []
    if language_code is not None:
        if language_code and language.language_normalize(language_code) != language_code:
            raise ValidationError(f"language must be one of {', '.join(language.LANGUAGE_CODES)}, or blank for the browser's.")
        agent.language = language_code
        fields.append("language")
    if time_zone is not None:
        if time_zone:
            try:
                ZoneInfo(time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValidationError(f"time_zone: not an IANA time zone: {time_zone!r}.") from None
        agent.time_zone = time_zone
        fields.append("time_zone")
    if fields:
        with transaction.atomic():
            agent.save(update_fields=fields)
    return agent
