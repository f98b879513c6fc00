"""Routes of the retros area."""

from app.retros import bp  # noqa: F401
