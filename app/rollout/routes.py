"""Routes of the rollout area."""

from app.rollout import bp  # noqa: F401
