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


class SettingInvalid(ValueError):
    """A setting cannot be used; the message names its environment variable and what is wrong."""


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
    # The company that issues printed documents (the header of a quote's PDF).
    COMPANY_NAME = os.environ.get("BPM_CRM_COMPANY_NAME", "示例科技有限公司")
    COMPANY_ADDRESS = os.environ.get("BPM_CRM_COMPANY_ADDRESS", "")
    COMPANY_PHONE = os.environ.get("BPM_CRM_COMPANY_PHONE", "")
    # A quote holds for this many days from its date; the PDF prints the last one.
    QUOTE_VALID_DAYS = int(os.environ.get("BPM_CRM_QUOTE_VALID_DAYS", "30"))
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
    # Task deadlines "in working time" (a user task's `calendar` = working) count these hours of each working
    # day of the Chinese calendar (statutory holidays and 调休 from chinese-calendar).
    WORKING_HOURS = os.environ.get("BPM_CRM_WORKING_HOURS", "09:00-12:00,13:00-18:00")
    # What an overdue task's escalation does unless its diagram says (`escalate_mode`): "watch" copies the
    # assignee's superior on it, "reassign" gives it to him.
    ESCALATION_MODE = os.environ.get("BPM_CRM_ESCALATION_MODE", "watch")
    # Service-level targets per service type, in working hours: response (受理) / completion (办结).
    SERVICE_SLA = os.environ.get("BPM_CRM_SERVICE_SLA", "投诉=4/40,咨询=2/8,建议=8/24")
    # Links in e-mails and webhook messages point here.
    BASE_URL = os.environ.get("BPM_CRM_BASE_URL", "http://127.0.0.1:5000")
    # Notifications by e-mail: off while BPM_CRM_SMTP_HOST is empty.
    SMTP_HOST = os.environ.get("BPM_CRM_SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("BPM_CRM_SMTP_PORT", "25"))
    SMTP_USER = os.environ.get("BPM_CRM_SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("BPM_CRM_SMTP_PASSWORD", "")
    SMTP_SECURITY = os.environ.get("BPM_CRM_SMTP_SECURITY", "none")  # none, starttls or ssl
    SMTP_SENDER = os.environ.get("BPM_CRM_SMTP_SENDER", "bpm-crm <noreply@localhost>")
    SMTP_TIMEOUT = float(os.environ.get("BPM_CRM_SMTP_TIMEOUT", "10"))
    # Notifications to a group robot (企业微信 / 钉钉) or an SMS gateway: an HTTP POST of the template, with
    # $title, $body, $link, $kind, $user, $username, $mobile and $email filled in; off while the URL is empty.
    WEBHOOK_URL = os.environ.get("BPM_CRM_WEBHOOK_URL", "")
    WEBHOOK_TEMPLATE = os.environ.get(
        "BPM_CRM_WEBHOOK_TEMPLATE", '{"msgtype": "text", "text": {"content": "$title\\n$body\\n$link"}}')
    WEBHOOK_KINDS = os.environ.get("BPM_CRM_WEBHOOK_KINDS", "")  # empty: every kind; else e.g. "transfer,escalation"
    WEBHOOK_TIMEOUT = float(os.environ.get("BPM_CRM_WEBHOOK_TIMEOUT", "5"))
    TESTING = False


class TestConfig(Config):
    """Settings for the test suite: the database URL comes from the test fixture."""

    TESTING = True
    TIMER_MODE = "off"
    WTF_CSRF_ENABLED = False
    SECRET_KEY = "test-secret"  # noqa: S105
    SERVER_NAME = None
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105  fast hashing keeps per-test user seeding cheap
