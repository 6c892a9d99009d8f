"""Outbox topics identity writes (each is served by a handler in emails.py)."""

VERIFICATION_EMAIL = "identity.verification_email"
ACCOUNT_EXISTS_EMAIL = "identity.account_exists_email"
PASSWORD_RESET_EMAIL = "identity.password_reset_email"
PASSWORD_CHANGED_EMAIL = "identity.password_changed_email"
ANNOUNCEMENT_BATCH = "identity.announcement_batch"
"""Payload: announcement_id, after (the last recipient id of the previous batch, or null for the first)."""
