"""SQL adapters (SQLAlchemy 2 async): the same code on SQLite (embedded default) and PostgreSQL (production)."""
