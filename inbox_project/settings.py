"""Settings for the social inbox: one file, read from the environment (see README, Configuration)."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str, env_url, port_open

BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = "pytest" in sys.modules or env_bool("TESTING", False)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if (DEBUG or TESTING) else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")

PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", "http://127.0.0.1:8000", ("http", "https"))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL])

# Key for credentials encrypted at rest; derived from SECRET_KEY unless given.
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY") or SECRET_KEY

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files: no CDN
    "channels",
    "django_celery_beat",
    "anymail",
    "axes",
    "customers",
    "inbox",
    "campaigns",
]

MIDDLEWARE = [
    "inbox_project.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "inbox_project.middleware.ContentSecurityPolicyMiddleware",
    # A NUL in a query parameter: 400 {code, detail} for every route, before any view.
    "inbox_project.middleware.QueryStringMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The agent's language and time zone, else the browser's Accept-Language (Django's LocaleMiddleware,
    # reading the user: so after authentication).
    "inbox_project.middleware.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "inbox_project.urls"
ASGI_APPLICATION = "inbox_project.asgi.application"
WSGI_APPLICATION = "inbox_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",  # LANGUAGE_CODE: <html lang> and /jsi18n/
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "inbox_project.context_processors.shell",  # the app shell of templates/base.html
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
# INBOX_EMBEDDED=1 forces the embedded mode without probing: SQLite (DATABASE_URL may name the file),
# an in-memory channel layer and in-process tasks.
EMBEDDED_FORCED = env_bool("INBOX_EMBEDDED", False)
EMBEDDED = EMBEDDED_FORCED
if EMBEDDED_FORCED and _database_url and not _database_url.startswith("sqlite:"):
    raise ImproperlyConfigured("INBOX_EMBEDDED=1 runs on SQLite: DATABASE_URL must be a sqlite:/// URL or unset")
if not _database_url:
    if not EMBEDDED_FORCED and port_open("127.0.0.1", 5432):
        _database_url = "postgres://postgres@127.0.0.1:5432/inbox"
    else:
        _database_url = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
        EMBEDDED = True
try:
    _db = dj_database_url.parse(_database_url)
except Exception as exc:  # dj_database_url raises several types for bad URLs
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI, persistent connections leak across threads; the psycopg pool is the
    # supported way to reuse connections. Stale connections (after a PostgreSQL restart)
    # are checked and discarded before they are handed out.
    if env_bool("DB_POOL", True):
        _db["CONN_MAX_AGE"] = 0
        _db["CONN_HEALTH_CHECKS"] = True  # makes Django give the pool its connection check
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 1),
            "max_size": env_int("DB_POOL_MAX", 20),
            "timeout": env_int("DB_POOL_TIMEOUT", 10),
        }
    _db["OPTIONS"]["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
    _db["TEST"] = {"NAME": env_str("TEST_DB_NAME", "test_inbox")}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend with index definitions SQLite accepts (inbox_project/db/sqlite3/base.py).
    _db["ENGINE"] = "inbox_project.db.sqlite3"
else:
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:/// URL")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker --------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")  # empty counts as unset
if EMBEDDED_FORCED and REDIS_URL:
    raise ImproperlyConfigured("INBOX_EMBEDDED=1 runs without Redis: unset REDIS_URL")
if not REDIS_URL and not EMBEDDED_FORCED and port_open("127.0.0.1", 6379):
    REDIS_URL = "redis://127.0.0.1:6379/0"
if REDIS_URL:
    if urlparse(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {REDIS_URL!r}")
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis, with the Redis calls of one event loop bounded (inbox_project/channel_layer.py).
            "BACKEND": "inbox_project.channel_layer.BoundedRedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "max_in_flight": 50,  # below redis-py's pool of 100 connections per loop
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "inbox"),
                "capacity": 1000,
                "expiry": 30,
                # A member joined longer ago than this is dropped: open sockets renew theirs four
                # times per expiry (inbox/consumers.py), so only dead processes' members age out.
                "group_expiry": 3600,
            },
        }
    }
else:
    EMBEDDED = True
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Cache: API throttling counters (nothing durable) -------------------------------------------------
# The key prefix keeps apart processes sharing one Redis (test runs of different people, staging).
_cache_prefix = env_str("CACHE_KEY_PREFIX") or (
    f"test-{env_str('CHANNEL_LAYER_PREFIX', 'inbox')}-{os.getpid()}" if TESTING else "inbox"
)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": _cache_prefix,
            "TIMEOUT": 300,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": _cache_prefix}}

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL or TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection around each task, and with Django's
# connection pool under prefork it closes the whole pool: a new PostgreSQL connection per task.
# It does that only every 2 × this many tasks instead; in between, inbox_project/celery.py hands
# the connection back to the pool around each task as Django does around a request, and the
# pool's health check drops connections broken by a PostgreSQL restart.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
# A pool process past this resident size (KiB) is replaced after its current task. A safety net:
# a worker retrying hundreds of failing provider calls was seen to plateau near 300 MiB per process
# (about 130 MiB normally) — in Celery's retry path, not in the task code.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", 256 * 1024)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# A few dispatcher tasks, never one periodic task per campaign or recipient.
# The sweeper re-dispatches what a dead worker or a down broker left behind.
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 30)
SWEEP_STUCK_AFTER_SECONDS = env_int("SWEEP_STUCK_AFTER_SECONDS", 60)
# How a stored webhook event reaches the worker (inbox/dispatch.py): "notify" — the webhook's INSERT
# notifies PostgreSQL listeners and a listener in the Celery worker publishes the task; "direct" —
# the webhook publishes the task itself after commit. notify needs PostgreSQL and a real worker.
INBOUND_DISPATCH = env_str("INBOUND_DISPATCH") or (
    "notify" if _db["ENGINE"] == "django.db.backends.postgresql" and not CELERY_TASK_ALWAYS_EAGER else "direct")
if INBOUND_DISPATCH not in ("notify", "direct"):
    raise ImproperlyConfigured(f"INBOUND_DISPATCH must be notify or direct, got {INBOUND_DISPATCH!r}")
if INBOUND_DISPATCH == "notify" and _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("INBOUND_DISPATCH=notify needs PostgreSQL (LISTEN/NOTIFY)")
# Seconds a standby listener waits between tries to take over, and a leader before reconnecting.
INBOUND_DISPATCH_RETRY_SECONDS = env_int("INBOUND_DISPATCH_RETRY_SECONDS", 5)
# Customer messages of one task processed in one transaction, each lookup once for all (inbox/intake/batch.py);
# off: every event alone, as before. At most INBOUND_BATCH_SIZE events per transaction.
INBOUND_BATCH = env_bool("INBOUND_BATCH", True)
INBOUND_BATCH_SIZE = env_int("INBOUND_BATCH_SIZE", 50)
# Seconds a realtime frame may take to reach the channel layer before it is dropped (inbox/realtime.py).
REALTIME_SEND_TIMEOUT = env_int("REALTIME_SEND_TIMEOUT", 3)
# Days a processed webhook event (its raw payload) is kept (inbox/intake/retention.py); 0: for ever.
# At least 7, past every provider's redeliveries: the event row is what makes a redelivery store nothing.
INBOUND_EVENT_RETENTION_DAYS = env_int("INBOUND_EVENT_RETENTION_DAYS", 30)
if 0 < INBOUND_EVENT_RETENTION_DAYS < 7 or INBOUND_EVENT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured(
        f"INBOUND_EVENT_RETENTION_DAYS must be 0 (keep) or at least 7, got {INBOUND_EVENT_RETENTION_DAYS}")
CELERY_BEAT_SCHEDULE = {
    "inbox-sweep": {"task": "inbox.tasks.sweep", "schedule": float(SWEEP_INTERVAL_SECONDS)},
    "inbox-events-prune": {"task": "inbox.tasks.inbound_events_prune", "schedule": 3600.0},
    "inbox-imap-poll": {"task": "inbox.tasks.imap_poll", "schedule": 60.0},
    "inbox-assignment-sweep": {"task": "inbox.team.assignment.assignment_sweep", "schedule": 60.0},
    "campaigns-dispatch": {"task": "campaigns.tasks.dispatch_due", "schedule": 30.0},
    "inbox-csat-dispatch": {"task": "inbox.tasks.csat_dispatch", "schedule": 60.0},
    "inbox-reports-digest": {"task": "inbox.tasks.reports_digest_dispatch", "schedule": 900.0},
    # SLA warnings and breaches (inbox/sla/alerts.py), and time-based automation rules (inbox/rules/timers.py).
    "inbox-sla-dispatch": {"task": "inbox.tasks.sla_dispatch", "schedule": 60.0},
    "inbox-rules-dispatch": {"task": "inbox.tasks.rules_dispatch", "schedule": 60.0},
}
# Automated replies one conversation may get per 24 h (inbox/rules/). The active rules and SLA
# policies are cached per process until their table's version changes (inbox/versions.py).
RULE_REPLY_CAP = env_int("RULE_REPLY_CAP", 3)

# --- Auth, i18n, static -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Login rate limiting (django-axes): the admin and /accounts/login/ both authenticate through it.
AUTHENTICATION_BACKENDS = [
    "inbox_project.auth.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
# Username and IP together: one attacker can't lock a user out from everywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password", "password1", "password2", "token"]
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For: the
# client is that many entries from the right. 0: the header is ignored and REMOTE_ADDR counts
# (inbox_project/client_ip.py; login lockout, password-reset and API throttles, the audit log).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_COUNT must be 0 or more, got {TRUSTED_PROXY_COUNT}")
AXES_CLIENT_IP_CALLABLE = "inbox_project.client_ip.client_ip"
# /accounts/password_reset/ (inbox_project/password_reset.py): per address and per client IP.
PASSWORD_RESET_LIMIT = env_int("PASSWORD_RESET_LIMIT", 5)
PASSWORD_RESET_WINDOW_MINUTES = env_int("PASSWORD_RESET_WINDOW_MINUTES", 60)
if TESTING:  # creating the cast for every test shouldn't cost a second of PBKDF2 each
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# The shop's default language: pages for a browser that asks for none of LANGUAGES, and automated
# messages to customers whose language is unknown (an inbox may set its own: settings["language"]).
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("fr", "Français"), ("el", "Ελληνικά")]
if LANGUAGE_CODE not in {code for code, _ in LANGUAGES}:
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of en, fr, el, got {LANGUAGE_CODE!r}")
# The catalogs (locale/<lang>/LC_MESSAGES/django.po, djangojs.po): `make makemessages` extracts,
# `make compilemessages` builds the .mo files (gitignored; `make run` and `make test` build them).
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "inbox_language"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if (DEBUG or TESTING)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

# Webhook bodies above this are refused with 413 before anything is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024)

def _throttle_rate(name: str, default: str) -> str:
    value = env_str(name, default)
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must look like 600/min (a count per s, min, hour or day), got {value!r}")
    return value


# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # DRF's, with the agent profile read in the token's query (one query fewer per request)
        "inbox.api.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "inbox.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "inbox.api.errors.exception_handler",
    # Anonymous throttles count clients as login lockout does (TRUSTED_PROXY_COUNT above); DRF's
    # default would believe any X-Forwarded-For a client sends.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    # Per token/user and, for anonymous callers, per IP; counters live in the cache (Redis).
    "DEFAULT_THROTTLE_CLASSES": [
        "inbox_project.throttling.UserRateThrottle",
        "inbox_project.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # The test suite makes many requests a minute from one IP; its own tests set low rates.
        "user": _throttle_rate("API_THROTTLE_RATE", "100000/min" if TESTING else "600/min"),
        "anon": _throttle_rate("API_ANON_THROTTLE_RATE", "100000/min" if TESTING else "60/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Social inbox API",
    "DESCRIPTION": "Unified inbox for Messenger, Instagram DM, SMS and email.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ and /api/redoc/ load Swagger UI and ReDoc from our static files (drf-spectacular-sidecar),
    # under the same Content-Security-Policy as every page (inbox_project/api_docs.py).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No "valid" badge: Swagger UI would load it from validator.swagger.io with our schema's URL in it.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # One name per shared choice set (an inbox's kind and a conversation's channel are both channels).
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "customers.models.Channel",
        "ConversationStatusEnum": "inbox.models.ConversationStatus",
        "PurposeEnum": "customers.models.ConsentPurpose",
        "LanguageEnum": "customers.language.LANGUAGE_CHOICES",
        "OrderActionKindEnum": "inbox.models.OrderActionKind",
    },
}

# --- Providers --------------------------------------------------------------------------------------
META_APP_SECRET = env_str("META_APP_SECRET", "")
META_VERIFY_TOKEN = env_str("META_VERIFY_TOKEN", "")
META_GRAPH_URL = env_url("META_GRAPH_URL", "https://graph.facebook.com/v24.0", ("http", "https"))
# Name new Messenger/Instagram customers from Meta's User Profile API (inbox/profiles.py).
META_PROFILE_FETCH = env_bool("META_PROFILE_FETCH", True)
# Ask Messenger's profile for the person's `locale` too (their language; needs pages_user_locale).
META_PROFILE_LOCALE = env_bool("META_PROFILE_LOCALE", True)
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_API_URL = env_url("TWILIO_API_URL", "https://api.twilio.com", ("http", "https"))
SHOPIFY_WEBHOOK_SECRET = env_str("SHOPIFY_WEBHOOK_SECRET", "")
# Shopify's GraphQL Admin API for order actions ({shop}: the store's myshopify.com domain, {version}:
# the API version inbox/providers/shopify.py is written for). Tests point it at a local fake.
SHOPIFY_ADMIN_URL_TEMPLATE = env_str("SHOPIFY_ADMIN_URL_TEMPLATE", "https://{shop}/admin/api/{version}/graphql.json")
PROVIDER_HTTP_TIMEOUT = env_int("PROVIDER_HTTP_TIMEOUT", 15)
# URLs from outside (media in a provider's payload) are fetched only from public addresses
# (inbox_project/safe_fetch.py); these `host:port` pairs may be private anyway. Empty in production.
FETCH_ALLOW_PRIVATE_HOSTS = env_list("FETCH_ALLOW_PRIVATE_HOSTS", [])
# A Meta send interrupted before its answer was recorded (a worker killed mid-send) is re-sent only
# after this long without the echo webhook that would show it went out (inbox/conversations/reply.py).
META_ECHO_GRACE_SECONDS = env_int("META_ECHO_GRACE_SECONDS", 60)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15)
# Domain used in the Message-ID of outbound mail and in reply+token addresses.
EMAIL_DOMAIN = env_str("EMAIL_DOMAIN", urlparse(PUBLIC_BASE_URL).hostname or "localhost")

ANYMAIL = {
    "WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET") or None,
    "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("MAILGUN_WEBHOOK_SIGNING_KEY") or None,
}
# The ESPs whose inbound webhooks are routed (/webhooks/anymail/<esp>/…); the others answer 404.
# Unset (None): the ESPs whose signing key is set (Mailgun with MAILGUN_WEBHOOK_SIGNING_KEY).
ANYMAIL_INBOUND_ESPS = (
    [name.lower() for name in env_list("ANYMAIL_INBOUND_ESPS", [])] if "ANYMAIL_INBOUND_ESPS" in os.environ else None
)

# --- Security in production -----------------------------------------------------------------------
if not DEBUG and not TESTING:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Served on every response by inbox_project.middleware, the API docs pages included (no page is exempt).
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
)

# --- Logging: structured enough to grep, never secrets --------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "inbox_project.logs.RequestIdFilter"},
        "mask_secrets": {"()": "inbox_project.logs.SecretMaskFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "inbox_project.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "mask_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# One line per process; scripts/run.sh sets INBOX_EMBEDDED_NOTICE=0 once it has said so itself.
if EMBEDDED and not TESTING and os.environ.get("RUN_MAIN") != "true" and env_bool("INBOX_EMBEDDED_NOTICE", True):
    _why = "INBOX_EMBEDDED=1" if EMBEDDED_FORCED else "PostgreSQL/Redis not configured or not reachable"
    _engine = "SQLite" if _db["ENGINE"].endswith("sqlite3") else "PostgreSQL"
    _layer = "Redis" if REDIS_URL else "in-memory channel layer, tasks in-process"
    print(f"embedded mode: {_engine}, {_layer} ({_why})", file=sys.stderr)
