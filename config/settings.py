"""Settings for the 資格確認書 back office.

Everything a deployment changes is an environment variable (documented in README.md). The defaults run
locally with no services: an SQLite file and Celery tasks executed in-process.
"""

from pathlib import Path

import dj_database_url

from .env import env_bool, env_int, env_list, env_str, validate_insurer_number
from .storage import document_storage

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "insecure-dev-only-secret-key-do-not-use-in-production-0123456789"  # noqa: S105 (never with PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY", "" if env_bool("PRODUCTION") else _DEV_SECRET)
if env_bool("PRODUCTION"):
    # Production stops at start-up on a development setting, it does not warn (issue 12).
    from django.core.exceptions import ImproperlyConfigured

    if DEBUG:
        raise ImproperlyConfigured(
            "DEBUG=1 is not allowed when PRODUCTION=1 (debug pages leak data)"
        )
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION=1")
    if SECRET_KEY == _DEV_SECRET:
        raise ImproperlyConfigured(
            "SECRET_KEY is the development key from the repository: set a random one (PRODUCTION=1)"
        )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# The society's own data, printed on every certificate and letter.
INSURER_NUMBER = validate_insurer_number(env_str("INSURER_NUMBER", "06139018"))
INSURER_NAME = env_str("INSURER_NAME", "デモ健康保険組合")
INSURER_ADDRESS = env_str("INSURER_ADDRESS", "東京都千代田区丸の内一丁目1番1号")
INSURER_POSTAL_CODE = env_str("INSURER_POSTAL_CODE", "1000005")
INSURER_PHONE = env_str("INSURER_PHONE", "03-0000-0000")
INSURER_BANK_ACCOUNT = env_str(
    "INSURER_BANK_ACCOUNT", "デモ銀行 本店営業部 普通 1234567 デモケンコウホケンクミアイ"
)
REISSUE_FEE_YEN = env_int("REISSUE_FEE_YEN", 1000, minimum=0)
# Days after the issue date in which an expiring certificate is renewed by a bulk run (rules.md rule 2).
RENEWAL_WINDOW_DAYS = env_int("RENEWAL_WINDOW_DAYS", 60, minimum=0)
# Months after the month of an electronic certificate's expiry until its 保険証利用登録 lapses.
EC_LAPSE_MONTHS = env_int("EC_LAPSE_MONTHS", 3, minimum=0)
# Print 一部負担金の割合 on the 資格確認書 itself instead of a separate 高齢受給者証.
ELDERLY_RATIO_ON_CERTIFICATE = env_bool("ELDERLY_RATIO_ON_CERTIFICATE", False)
# The card (documents): a 家族 card shows the 被保険者氏名 (rules.md, Documents; on by default), the
# card's back carries a 臓器提供意思表示欄, and a household whose cards fit is sent on one sheet (the
# cards in a perforated area at the foot of the letter) instead of a letter and a card sheet.
CARD_INSURED_NAME_ON_FAMILY = env_bool("CARD_INSURED_NAME_ON_FAMILY", True)
CARD_ORGAN_DONATION = env_bool("CARD_ORGAN_DONATION", False)
CARDS_ON_LETTER = env_bool("CARDS_ON_LETTER", True)
# Stored PDFs are PDF/A (WeasyPrint pdf_variant) so they can be kept for the retention period; empty
# = plain PDF.
DOCUMENT_PDF_VARIANT = env_str("DOCUMENT_PDF_VARIANT", "pdf/a-2u")
# Households per PDF chunk rendered by one Celery task.
PDF_CHUNK_HOUSEHOLDS = env_int("PDF_CHUNK_HOUSEHOLDS", 100, minimum=1)
# A 実行中 run none of whose PDF chunks changed for this long has lost its task messages (Redis
# restarted without its data): its waiting chunks are enqueued again (documents.run_documents_resume).
DOCUMENT_RESUME_AFTER_SECONDS = env_int("DOCUMENT_RESUME_AFTER_SECONDS", 600, minimum=1)

# The monthly life (elderly/): the yearly re-determination of the 高齢受給者's ratio takes effect on
# the 1st of this month (commonly 8: 8月1日〜7月31日), prepared in the month before; 0 = none.
ELDERLY_REDETERMINATION_MONTH = env_int("ELDERLY_REDETERMINATION_MONTH", 8, minimum=0)
# After each registration-status import, prepare the month's run as a draft (0 = off), issued this
# many days after the import, valid this many months (the 5-year cap still applies).
MONTHLY_RUN_AUTO = env_bool("MONTHLY_RUN_AUTO", True)
MONTHLY_RUN_LEAD_DAYS = env_int("MONTHLY_RUN_LEAD_DAYS", 7, minimum=0)
MONTHLY_RUN_VALIDITY_MONTHS = env_int("MONTHLY_RUN_VALIDITY_MONTHS", 24, minimum=1)
if ELDERLY_REDETERMINATION_MONTH > 12 or MONTHLY_RUN_VALIDITY_MONTHS > 60:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "ELDERLY_REDETERMINATION_MONTH must be 0–12 and MONTHLY_RUN_VALIDITY_MONTHS 1–60"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "simple_history",
    "axes",
    "django_htmx",
    "core",
    "members",
    "certificates",
    "fees",
    "documents",
    "elderly",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login; only views marked login_not_required (the admin login) are public.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (runserver, in-process tasks, commands) share the file: wait for locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: the selection of a run (certificates.selectors, one statement of many
    # CASE expressions) spent 3 of its 4 seconds compiling at 50,000 persons (issue 13); this
    # workload gains nothing from it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語")]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# No MEDIA_URL is served: documents are downloaded only through a permission-checked view.
# Stored files: MEDIA_ROOT (a volume, or a shared filesystem on every host) or an S3-compatible
# bucket, by DOCUMENT_STORAGE (config/storage.py; README "Workers on several hosts").
STORAGES = {
    "default": document_storage(),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("PRODUCTION")
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "/admin/login/"

# Admin CSV exports above this many rows are written by a background job instead of streamed.
EXPORT_STREAM_MAX_ROWS = env_int("EXPORT_STREAM_MAX_ROWS", 50_000, minimum=1)

# Security (README "Production"): sessions expire, cookies are secure behind TLS.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if env_bool("PRODUCTION"):
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'", "'unsafe-inline'"],
        # scripts only from our static files: no inline script, no event attribute (issue 12)
        "script-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Repeated failed logins are throttled (django-axes).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours
# Locked by the pair (user name, IP address): one user's wrong passwords never lock the other users
# behind the same address (an office behind one NAT address). A flat list would lock by either.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "core/lockout.html"  # in Japanese, with the wait
AXES_ENABLED = env_bool("AXES_ENABLED", True)
# The lockout page, in Japanese with the wait (templates/admin/lockout.html).
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"

# django-import-export: imports are all-or-nothing; exports escape formulae for Excel.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"
# Registry uploads larger than this (bytes) are imported by a background job (members.import_jobs).
IMPORT_BACKGROUND_BYTES = env_int("IMPORT_BACKGROUND_BYTES", 2_000_000, minimum=0)

# Celery: without a broker, tasks run in-process (the embedded default; `make demo` needs no Redis).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = (
    True  # safe: chunk tasks are idempotent, attempts counted in our tables
)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 50, minimum=1)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", 1_000_000, minimum=1
)
# A new pool process warms WeasyPrint up (documents.tasks) before it reports ready. On a busy machine
# that takes longer than Celery's default 4 s, and the parent then kills and replaces it in a loop
# (seen in the integration tests: "Timed out waiting for UP message"); processes are replaced often
# (CELERY_WORKER_MAX_TASKS_PER_CHILD, a renderer killed for memory).
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 60.0
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 900
_VISIBILITY = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _VISIBILITY}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# The nightly after-issue work (75th birthdays, expiries, registrations, overdue returns).
from certificates.schedule import BEAT_SCHEDULE  # noqa: E402 (plain data, no models)

CELERY_BEAT_SCHEDULE = dict(BEAT_SCHEDULE)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            # masks anything that looks like a My Number, tracebacks included (core/logging.py)
            "()": "core.logging.MaskingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        # runserver's access log (Django's own format and colours), masked the same way
        "server": {
            "()": "core.logging.MaskingServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "server"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
