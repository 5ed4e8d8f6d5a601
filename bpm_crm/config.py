"""Configuration read from the environment."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

INSTANCE_DIR = Path(os.environ.get("BPM_CRM_INSTANCE_DIR", Path.cwd() / "instance"))


def _default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'bpm-crm.sqlite3'}"


def _secret_key() -> str:
    """BPM_CRM_SECRET_KEY, else a random key kept in the instance directory (embedded default)."""
    if key := os.environ.get("BPM_CRM_SECRET_KEY"):
        return key
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _flag(name: str) -> bool:
    """An on/off environment variable: 1, true, yes or on mean on."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Config:
    """Settings for a running product; every value can be overridden by an environment variable."""

    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = os.environ.get("BPM_CRM_DATABASE_URL", _default_database_url())
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    REDIS_URL = os.environ.get("BPM_CRM_REDIS_URL", "redis://127.0.0.1:6379/0")
    CELERY_QUEUE = os.environ.get("BPM_CRM_CELERY_QUEUE", "bpm-crm")
    # "inprocess": a thread in the web process advances due timers (embedded default);
    # "celery": Celery beat enqueues the scan, workers fire the timers (production);
    # "off": nothing fires timers (tests drive them by hand).
    TIMER_MODE = os.environ.get("BPM_CRM_TIMER_MODE", "inprocess")
    ATTACHMENTS_DIR = os.environ.get("BPM_CRM_ATTACHMENTS_DIR") or None  # default: <instance>/attachments
    SALES_SYSTEM = os.environ.get("BPM_CRM_SALES_SYSTEM", "builtin")
    TIMER_POLL_SECONDS = float(os.environ.get("BPM_CRM_TIMER_POLL_SECONDS", "15"))
    PROCESSES_DIR = os.environ.get("BPM_CRM_PROCESSES_DIR", str(Path(__file__).resolve().parent.parent / "processes"))
    API_TOKEN_TTL_HOURS = int(os.environ.get("BPM_CRM_API_TOKEN_TTL_HOURS", "720"))
    BABEL_DEFAULT_LOCALE = os.environ.get("BPM_CRM_DEFAULT_LOCALE", "zh_CN")
    BABEL_DEFAULT_TIMEZONE = os.environ.get("BPM_CRM_TIMEZONE", "Asia/Shanghai")
    LANGUAGES = ("zh_CN", "en")
    PAGE_SIZE = 20
    WTF_CSRF_TIME_LIMIT = None
    # Session and remember-me cookies only over https (web.register sets both *_COOKIE_SECURE from it).
    # Off by default because the embedded server speaks plain http.
    SECURE_COOKIES = _flag("BPM_CRM_SECURE_COOKIES")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Sign-in throttling: this many failed guesses within LOGIN_LOCK_MINUTES lock the user name (or the
    # client address) for LOGIN_LOCK_MINUTES; 0 turns a limit off.
    LOGIN_MAX_FAILURES_PER_USER = int(os.environ.get("BPM_CRM_LOGIN_MAX_FAILURES_PER_USER", "5"))
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("BPM_CRM_LOGIN_MAX_FAILURES_PER_ADDRESS", "20"))
    LOGIN_LOCK_MINUTES = int(os.environ.get("BPM_CRM_LOGIN_LOCK_MINUTES", "15"))
    SCRIPT_TIMEOUT_SECONDS = float(os.environ.get("BPM_CRM_SCRIPT_TIMEOUT_SECONDS", "1.0"))
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105  (a hash method's name, not a password)
    TESTING = False


class TestConfig(Config):
    """Settings for the test suite: the database URL comes from the test fixture."""

    TESTING = True
    TIMER_MODE = "off"
    WTF_CSRF_ENABLED = False
    SECRET_KEY = "test-secret"  # noqa: S105
    SERVER_NAME = None
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105  fast hashing keeps per-test user seeding cheap
