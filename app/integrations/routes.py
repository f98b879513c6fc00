"""Routes of the integrations area (API tokens for point-of-sale and operations systems)."""

from app.integrations import bp  # noqa: F401
