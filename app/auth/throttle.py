"""Sign-in throttling: failed attempts counted per account and per client address.

The counters live in Flask-Limiter's storage (``RATELIMIT_STORAGE_URI``: Redis when
``REDIS_URL`` is set), so every worker process and every app server counts together.

* Per account (``LOGIN_RATELIMIT_PER_ACCOUNT``, default 10 failures per 15 minutes): guessing
  one account's password is slow however many addresses the guesser uses. The account is
  keyed by a digest of the typed address, known or not (the answer never tells which).
* Per address (``LOGIN_RATELIMIT_PER_ADDRESS``, default 100 failures per 15 minutes): one
  machine cannot try account after account. It is high, and only failures count, so an office
  behind one address is not locked out by one colleague's typos: each colleague's own
  account limit is reached long before the office's.

A successful sign-in clears its account's count. A refused attempt does not check the
password at all (no hashing work for a guesser). When the storage does not answer (Redis
down), sign-in goes on unthrottled and each attempt logs an error: an outage of the counters
must not lock everyone out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from flask_babel import ngettext
from limits import RateLimitItem, parse_many
from limits.errors import StorageError

from app.extensions import limiter
from app.models.user import sha256_hex

logger = logging.getLogger(__name__)

#: (scope, setting naming its limits)
SCOPES = (("account", "LOGIN_RATELIMIT_PER_ACCOUNT"), ("address", "LOGIN_RATELIMIT_PER_ADDRESS"))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Too many failed sign-ins: for the account or from the address, and for how long."""

    scope: str
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = max(1, -(-self.retry_after // 60))
        if self.scope == "account":
            return ngettext(
                "Too many failed sign-ins for this account. Try again in %(num)d minute.",
                "Too many failed sign-ins for this account. Try again in %(num)d minutes.",
                minutes,
            )
        return ngettext(
            "Too many failed sign-ins from your network. Try again in %(num)d minute.",
            "Too many failed sign-ins from your network. Try again in %(num)d minutes.",
            minutes,
        )


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


@contextmanager
def _storage_outage_logged() -> Iterator[None]:
    try:
        yield
    except StorageError:
        logger.error(
            "sign-in throttling skipped: the rate-limit storage does not answer", exc_info=True
        )


def _counters(email: str, address: str | None) -> list[tuple[str, list[RateLimitItem], tuple]]:
    """Each scope's limits and the identifiers of its counter in the storage."""
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or "rollwise"
    subjects = {"account": sha256_hex(email.strip().lower())[:32], "address": address or "-"}
    return [
        (scope, parse_many(current_app.config[setting]), (prefix, "login", scope, subjects[scope]))
        for scope, setting in SCOPES
    ]


def refusal(email: str, address: str | None) -> Refusal | None:
    """Why a sign-in attempt must wait, or None when it may go ahead."""
    if not _enabled():
        return None
    strategy = limiter.limiter
    with _storage_outage_logged():
        for scope, items, identifiers in _counters(email, address):
            for item in items:
                if not strategy.test(item, *identifiers):
                    reset_at = strategy.get_window_stats(item, *identifiers).reset_time
                    return Refusal(scope, retry_after=max(1, int(reset_at - time.time())))
    return None


def record_failure(email: str, address: str | None) -> None:
    """Count a failed sign-in against the account and the address."""
    if not _enabled():
        return
    strategy = limiter.limiter
    with _storage_outage_logged():
        for _scope, items, identifiers in _counters(email, address):
            for item in items:
                strategy.hit(item, *identifiers)


def record_success(email: str, address: str | None) -> None:
    """A successful sign-in clears the account's count (not the address's)."""
    if not _enabled():
        return
    with _storage_outage_logged():
        for scope, items, identifiers in _counters(email, address):
            if scope == "account":
                for item in items:
                    limiter.limiter.clear(item, *identifiers)
