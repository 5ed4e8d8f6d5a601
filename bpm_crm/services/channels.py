"""Sending to the outside: e-mail through SMTP and an HTTP POST to a webhook. Called by after-commit jobs only.

Both are bounded in time (a timeout per connection) and size; a failure raises, so the job is retried.
"""
from __future__ import annotations

import json
import smtplib
import ssl
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from string import Template
from typing import Any
from urllib.error import HTTPError, URLError

MAX_TEXT = 20_000
MAX_REPLY = 64_000


class DeliveryFailed(RuntimeError):
    """A channel refused or could not take a message; the job retries it later."""


def send_email(config: Mapping[str, Any], *, to: str, subject: str, text: str) -> None:
    """Send one plain-text mail through the configured SMTP server."""
    message = EmailMessage()
    message["From"] = config["SMTP_SENDER"]
    message["To"] = to
    message["Subject"] = subject[:300]
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="bpm-crm")
    message.set_content(text[:MAX_TEXT])
    security = (config.get("SMTP_SECURITY") or "none").lower()
    timeout = float(config.get("SMTP_TIMEOUT") or 10)
    host, port = config["SMTP_HOST"], int(config.get("SMTP_PORT") or 25)
    try:
        if security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USER"):
                client.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP {host}:{port}: {exc}") from exc


def _json_text(value: Any) -> str:
    """A value as it may stand inside a JSON string of the template."""
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


def render_webhook(template: str, values: Mapping[str, Any]) -> str:
    """The template with $title, $body, $link … filled in (JSON-escaped, so a JSON template stays JSON)."""
    return Template(template).safe_substitute({key: _json_text(value) for key, value in values.items()})


def post_webhook(config: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """POST the rendered template to the webhook URL; anything but a 2xx answer is a failure."""
    url = config["WEBHOOK_URL"]
    if not url.startswith(("http://", "https://")):
        raise DeliveryFailed("the webhook URL must start with http:// or https://")
    body = render_webhook(config["WEBHOOK_TEMPLATE"], values)[:MAX_TEXT]
    try:
        json.loads(body)
        content_type = "application/json; charset=utf-8"
    except ValueError:
        content_type = "text/plain; charset=utf-8"
    request = urllib.request.Request(url, data=body.encode(), method="POST",  # noqa: S310  (http(s) only, above)
                                     headers={"Content-Type": content_type, "User-Agent": "bpm-crm"})
    try:
        with urllib.request.urlopen(request, timeout=float(config.get("WEBHOOK_TIMEOUT") or 5)) as response:  # noqa: S310
            response.read(MAX_REPLY)
            if not 200 <= response.status < 300:
                raise DeliveryFailed(f"webhook answered {response.status}")
    except HTTPError as exc:
        raise DeliveryFailed(f"webhook answered {exc.code}") from exc
    except (URLError, OSError) as exc:
        raise DeliveryFailed(f"webhook: {exc}") from exc
