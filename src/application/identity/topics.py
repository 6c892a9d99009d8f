"""Outbox topics identity writes (each is served by a handler in emails.py)."""

VERIFICATION_EMAIL = "identity.verification_email"
ACCOUNT_EXISTS_EMAIL = "identity.account_exists_email"
PASSWORD_RESET_EMAIL = "identity.password_reset_email"
PASSWORD_CHANGED_EMAIL = "identity.password_changed_email"
