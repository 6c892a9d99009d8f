"""Fixtures for the smtp server (filled in by its owner)."""
