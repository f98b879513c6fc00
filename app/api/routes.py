"""Routes of the api area."""

from app.api import bp  # noqa: F401
