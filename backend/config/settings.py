"""Settings, driven by the environment (the README has the table).

With nothing set, the service runs on SQLite and the embedded Redis that `make run`
and the test suite start; with DATABASE_URL and REDIS_URL it uses real servers.
A malformed value stops the process at start with a message naming the variable.
"""

import os
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from backend.config.queues import task_queues, task_routes

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def _strict(name: str, cast: type, default: object) -> object:
    """Read NAME strictly: a value that does not parse fails the start-up loudly."""
    try:
        return env.get_value(name, cast=cast, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"{name}: cannot parse {env.str(name)!r} as {cast.__name__}"
        ) from exc


def env_int(name: str, default: int) -> int:
    return int(_strict(name, int, default))  # type: ignore[call-overload]


def env_float(name: str, default: float) -> float:
    return float(_strict(name, float, default))  # type: ignore[arg-type]


def env_bool(name: str, default: bool) -> bool:
    value = env.str(name, default="").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}: expected true/false/1/0, got {value!r}")


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and not env_bool("SAFE_INSECURE_DEV_KEY", False):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it (a long random string) in production, "
            "or DEBUG=1 for development."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute URL used in emails and SMS (links to one-tap pages).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "backend.accounts",
    "backend.social",
    "backend.incidents",
    "backend.checkins",
    "backend.notifications",
    "backend.console",
    "backend.pwa",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "backend.common.security.SecurityHeadersMiddleware",
    "backend.common.db_errors.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "backend.config.urls"
WSGI_APPLICATION = "backend.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    try:
        DATABASES = {"default": env.db("DATABASE_URL")}
    except (ValueError, environ.ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from exc
    if not DATABASES["default"]["ENGINE"].startswith("django.db.backends."):
        raise ImproperlyConfigured(
            "DATABASE_URL: unsupported scheme; use postgres://user@host:port/name"
        )
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    # The embedded default needs no set-up: a fresh clone has no var/ yet.
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "db.sqlite3")),
            # A test database on disk, so a Celery worker process can share it; one per
            # test run, so concurrent runs do not trample each other.
            "TEST": {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")},
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis and Celery -----------------------------------------------------------------
# The embedded Redis (see backend/devtools/embedded_redis.py) exports REDIS_URL for its children.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# One queue per kind of work (backend/config/queues.py), named after this base. Tests give
# each run its own base so runs sharing one Redis never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="safe")
CELERY_TASK_QUEUES = task_queues(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = task_routes(CELERY_TASK_DEFAULT_QUEUE)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task unacknowledged this long (its worker died) is delivered again; every task is
# idempotent, so that is safe. It must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900),
    # Every interval * throttle seconds a worker puts back tasks left unacknowledged past the
    # visibility timeout by a dead worker (kombu's defaults; the fault tests shorten them).
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_RESTORE_THROTTLE", 10),
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "retry-due-deliveries": {"task": "backend.notifications.tasks.retry_due", "schedule": 30.0},
    "sweep-reminders": {"task": "backend.notifications.tasks.sweep_reminders", "schedule": 30.0},
    "sweep-friend-alerts": {
        "task": "backend.notifications.tasks.sweep_friend_alerts",
        "schedule": 30.0,
    },
    "purge-expired-checkins": {
        "task": "backend.checkins.tasks.purge_expired",
        "schedule": 3600.0,
    },
}

# --- Email ----------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Safe & Sound <noreply@localhost>")

# --- SMS ------------------------------------------------------------------------------
# `console` prints texts (development); `http` posts a Twilio-compatible form to SMS_HTTP_URL.
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
if SMS_BACKEND not in {"console", "http"}:
    raise ImproperlyConfigured(f"SMS_BACKEND: expected console or http, got {SMS_BACKEND!r}")
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_ACCOUNT = env.str("SMS_HTTP_ACCOUNT", default="")
SMS_HTTP_TOKEN = env.str("SMS_HTTP_TOKEN", default="")
# A phone number, so that people can reply (an alphanumeric sender cannot receive).
SMS_SENDER_ID = env.str("SMS_SENDER_ID", default="")
SMS_HTTP_TIMEOUT = env_float("SMS_HTTP_TIMEOUT", 10.0)
if SMS_BACKEND == "http":
    _missing = [
        name
        for name in ("SMS_HTTP_URL", "SMS_HTTP_ACCOUNT", "SMS_HTTP_TOKEN", "SMS_SENDER_ID")
        if not globals()[name]
    ]
    if _missing:
        raise ImproperlyConfigured(f"SMS_BACKEND=http needs {', '.join(_missing)}")
# Key of the inbound webhook's HMAC signature; empty turns the webhook off (403 to all).
SMS_INBOUND_SECRET = env.str("SMS_INBOUND_SECRET", default="")

# --- Product limits -------------------------------------------------------------------
SAFE_MAX_REGION_AREA_KM2 = env_float("SAFE_MAX_REGION_AREA_KM2", 50_000.0)
SAFE_MAX_RADIUS_M = env_float("SAFE_MAX_RADIUS_M", 100_000.0)
SAFE_MAX_VERTICES = 10_000
SAFE_MAX_REGIONS = 50
SAFE_FANOUT_BATCH = env_int("SAFE_FANOUT_BATCH", 1000)
SAFE_COUNTER_SHARDS = 16

# --- Notification channels -------------------------------------------------------------
# Web Push: `manage.py vapid_keygen` prints both. Unset with DEBUG on, a demo key is kept in
# var/vapid.json; unset in production, Web Push is off (logged at start).
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="")
SAFE_PUSH_ALLOW_HTTP_LOOPBACK = env_bool("SAFE_PUSH_ALLOW_HTTP_LOOPBACK", DEBUG)
# Pushes started and not yet recorded per worker process (the send window: at most this many
# can go out twice if the worker is killed, each under the first one's Topic and tag), and
# requests in flight per push service (one connection each). A push service answers in tens
# of milliseconds, so these bound a process's rate: 8 connections at 50 ms is 160 pushes/s
# (tests/bench/bench_push_channel.py --latency-ms 50; docs/scaling.md).
SAFE_PUSH_IN_FLIGHT = env_int("SAFE_PUSH_IN_FLIGHT", 256)
SAFE_PUSH_ORIGIN_CONCURRENCY = env_int("SAFE_PUSH_ORIGIN_CONCURRENCY", 64)
SAFE_PUSH_MAX_SUBSCRIPTIONS = env_int("SAFE_PUSH_MAX_SUBSCRIPTIONS", 20)
# Emails in flight per worker process, each on its own connection to the mail server: at most
# this many go out twice if the worker is killed, each under the first one's Message-ID.
SAFE_EMAIL_IN_FLIGHT = env_int("SAFE_EMAIL_IN_FLIGHT", 16)
SAFE_ESCALATION_MINUTES = env_int("SAFE_ESCALATION_MINUTES", 10)
SAFE_FRIEND_ALERT_WINDOW_SECONDS = env_int("SAFE_FRIEND_ALERT_WINDOW_SECONDS", 300)
SAFE_NUDGE_INTERVAL_SECONDS = env_int("SAFE_NUDGE_INTERVAL_SECONDS", 1800)

# --- Operator console -----------------------------------------------------------------
SAFE_TWO_OPERATOR_RULE = env_bool("SAFE_TWO_OPERATOR_RULE", False)
SAFE_TILE_URL = env.str("SAFE_TILE_URL", default="")
SAFE_CAP_MAX_BYTES = env_int("SAFE_CAP_MAX_BYTES", 1_000_000)
try:
    # {"valueName": {"value": region}}: CAP geocodes that become regions.
    SAFE_CAP_GEOCODES: dict[str, dict[str, Any]] = env.json("SAFE_CAP_GEOCODES", default={})
except ValueError as exc:
    raise ImproperlyConfigured(f"SAFE_CAP_GEOCODES: not valid JSON ({exc})") from exc
# A delivery claimed (pending → sending) longer ago than this is taken to belong to a worker
# that died mid-send and is tried again by `retry_due`; it must exceed one batch's send time.
SAFE_CLAIM_LEASE_SECONDS = env_int("SAFE_CLAIM_LEASE_SECONDS", 300)
# A fan-out holds its Web Push first asks with one claim per batch (`FanOutClaim`), saving
# two writes per message. A claim no worker has renewed within this long is taken to belong
# to a dead worker; a live one renews a claim older than a fifth of it before it starts its
# messages (`_take` in notifications/services.py). Four fifths must exceed the longest a
# taken chunk waits to be started, sent and recorded: ~80 s against a push service that
# answers nothing.
SAFE_INSERT_CLAIM_SECONDS = env_int("SAFE_INSERT_CLAIM_SECONDS", 150)

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "backend" / "locale", BASE_DIR / "frontend" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["backend.common.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.common.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Safe & Sound API",
    "DESCRIPTION": "Crisis safety check-in: incidents, audiences, one-tap answers, friends.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # backend/common/converters.py: ids in paths are 64-bit, positive.
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    },
    "ENUM_NAME_OVERRIDES": {
        "FriendRequestStatusEnum": "backend.social.models.FriendRequest.Status",
        "CheckInStatusEnum": "backend.checkins.models.CheckIn.Status",
        "IncidentStatusEnum": "backend.incidents.models.Incident.Status",
        "AnswerEnum": "backend.checkins.models.Answer",
        "TriageStatusEnum": "backend.console.models.Triage.Status",
    },
}
# Bodies beyond this are refused before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("SAFE_MAX_BODY_BYTES", 2_000_000)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Production hardening (DEBUG off) ---------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("SECURE_COOKIES", not DEBUG):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
if env_bool("SECURE_HSTS", False):
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP

# --- Security ---------------------------------------------------------------------------
# Rate limits: scope -> (requests, window in seconds), counted in Redis per IP or person.
# Off under pytest unless a test turns it on: the whole suite comes from 127.0.0.1 and
# would trip the limits (tests/security and tests/faults switch it on).
SAFE_RATE_LIMIT_ENABLED = env_bool("SAFE_RATE_LIMIT_ENABLED", True)
SAFE_RATE_LIMIT_REDIS_URL = env.str("SAFE_RATE_LIMIT_REDIS_URL", default="")
# Answers the write-behind may hold before the web records them itself again (~200 bytes
# each in Redis: 500,000 is about 100 MB). Reached only if the drainer is stuck or starved.
SAFE_ANSWERS_MAX_BACKLOG = env_int("SAFE_ANSWERS_MAX_BACKLOG", 500_000)
# Only behind a reverse proxy that sets X-Forwarded-For (else clients could forge it).
SAFE_TRUST_X_FORWARDED_FOR = env_bool("SAFE_TRUST_X_FORWARDED_FOR", False)
SAFE_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "signin": (env_int("SAFE_RATE_SIGNIN", 10), 60),
    "signup": (env_int("SAFE_RATE_SIGNUP", 5), 3600),
    "magic_link": (env_int("SAFE_RATE_MAGIC_LINK", 5), 900),
    "one_time_code": (env_int("SAFE_RATE_ONE_TIME_CODE", 5), 900),
    # Many people may answer from one NAT'd address (a shelter's Wi-Fi): generous.
    "one_tap": (env_int("SAFE_RATE_ONE_TAP", 60), 60),
    "sms_send": (env_int("SAFE_RATE_SMS_SEND", 3), 3600),
    "nudge": (env_int("SAFE_RATE_NUDGE", 20), 3600),
}
# Check-ins, answers and deliveries of incidents resolved longer ago than this are deleted.
SAFE_RETENTION_DAYS = env_int("SAFE_RETENTION_DAYS", 40)
