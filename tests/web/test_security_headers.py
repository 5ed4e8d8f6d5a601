"""Every answer forbids framing and sniffing; pages carry a Content-Security-Policy they actually work under."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .helpers import page_text

TEMPLATES = Path(__file__).resolve().parents[2] / "bpm_crm" / "web" / "templates"
COMMON = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def policy(response) -> dict[str, str]:
    """The Content-Security-Policy as directive -> value."""
    parts = (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def nonce(response) -> str:
    found = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{16,})'", policy(response)["script-src"])
    assert found, policy(response)["script-src"]
    return found.group(1)


def test_pages_send_the_headers_and_a_strict_script_policy(client, login):
    for response in (client.get("/login"), login("manager1").get("/customers/")):
        assert response.status_code == 200
        for name, value in COMMON.items():
            assert response.headers[name] == value, name
        directives = policy(response)
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert directives["default-src"] == "'self'" and directives["base-uri"] == "'self'"
        assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in directives["script-src"]
        nonce(response)


def test_inline_scripts_carry_this_responses_nonce(login):
    browser = login("manager1")
    first, second = browser.get("/interactions/new"), browser.get("/interactions/new")
    scripts = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", page_text(first))
    assert scripts, "the page has an inline script"
    assert all(f'nonce="{nonce(first)}"' in attributes for attributes in scripts)
    assert nonce(first) != nonce(second)


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/me"])
def test_the_api_sends_the_headers(client, path):
    response = client.get(path)
    assert response.mimetype == "application/json"
    for name, value in COMMON.items():
        assert response.headers[name] == value, name
    assert policy(response) == {"default-src": "'none'", "frame-ancestors": "'none'"}


def test_downloads_keep_their_own_sandbox_policy(client):
    response = client.get("/static/app.js")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert policy(response)["default-src"] == "'none'"


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_code_the_policy_would_block(template):
    source = template.read_text()
    assert not re.search(r"\son[a-z]+\s*=", source), "inline event handler: use a data- attribute and app.js"
    assert "javascript:" not in source
    for tag in re.findall(r"<script\b[^>]*>", source):
        assert "src=" in tag or "application/json" in tag or 'nonce="{{ csp_nonce() }}"' in tag, tag
