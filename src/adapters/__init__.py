"""Adapters: ports implemented with real technology, named for it."""
