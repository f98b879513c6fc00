"""Addresses printed on paper or sent elsewhere: built on ``PUBLIC_BASE_URL`` when it is set.

A QR code on a table sticker, the link under it and a calendar export outlive the page they
were made on: they must carry the app's public address (``https://pilots.example.com``), not
the one the lead happened to browse from (an internal host name, ``localhost`` through a
tunnel). Unset, they use the address of the current request, as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, url_for


def _public_base() -> tuple[str, str, str] | None:
    """``(scheme, host[:port], path prefix)`` of ``PUBLIC_BASE_URL``, or None when unset."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        return None
    parts = urlsplit(base)
    return parts.scheme or "https", parts.netloc, parts.path.rstrip("/")


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute address of ``endpoint`` as the public reaches it."""
    base = _public_base()
    if base is None:
        return url_for(endpoint, _external=True, **values)
    scheme, host, prefix = base
    adapter = current_app.url_map.bind(host, script_name=prefix or "/", url_scheme=scheme)
    return adapter.build(endpoint, values, force_external=True)


def public_host(default: str) -> str:
    """The public host name (for stable identifiers such as calendar UIDs), else ``default``."""
    base = _public_base()
    return base[1] if base is not None else default
