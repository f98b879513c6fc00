"""Deterministic demo data: a restaurant chain piloting QR-code self-ordering."""
