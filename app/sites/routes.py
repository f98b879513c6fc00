"""Routes of the sites area."""

from app.sites import bp  # noqa: F401
