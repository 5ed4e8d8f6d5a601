"""Where a page may send the browser back to: the one check for `next` and for referrers."""
from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import current_app, request
from werkzeug.exceptions import HTTPException


def _plain(text: str) -> bool:
    """No whitespace, control or format characters and no backslash anywhere.

    Browsers drop tabs and newlines anywhere in a URL, trim leading and trailing spaces and controls,
    and read a backslash as a slash before they parse it: "/\\t/evil.example" and "/\\evil.example"
    both become "//evil.example". Refusing every such character makes the string we check the one the
    browser follows.
    """
    return not any(char == "\\" or char.isspace() or unicodedata.category(char)[0] == "C" for char in text)


def safe_next(target: object) -> str | None:
    """`target` when it is a path on this site ("/…", never "//…" or a URL with a scheme), else None."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or not _plain(target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def same_site_path(url: object, host: str) -> str | None:
    """The path and query of a path or of an http(s) URL on `host` (a referrer), when safe_next accepts it."""
    if not isinstance(url, str) or not _plain(url):
        return None
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return safe_next(url)  # as given: urlsplit reads "///evil.example" as a path, browsers as a host
    if parts.scheme not in ("http", "https") or parts.netloc != host:
        return None
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


def gettable_path(target: str | None) -> str | None:
    """A page of this site that answers GET, from a path or a same-host URL; else None."""
    path = same_site_path(target, request.host)
    if path is None:
        return None
    try:
        current_app.url_map.bind(request.host).match(urlsplit(path).path, method="GET")
    except HTTPException:  # a POST-only address (a page re-rendered after a failed submit) or an unknown one
        return None
    return path
