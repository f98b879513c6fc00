"""Workflows that touch several tables. They add and flush; the caller commits once."""
