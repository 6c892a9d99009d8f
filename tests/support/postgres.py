"""Fixtures for the postgres server (filled in by its owner)."""
