"""Outbox topics one context writes and another serves: the names are the contract between them."""

QUOTA_THRESHOLD = "conversation.quota_threshold"
"""Written by conversation when a reply crosses 80% or 100% of the period's quota; billing sends the notice.
Payload: user_id, threshold, plan, limit, period_start, period_end."""
OVERAGE = "conversation.overage"
"""Written by conversation when a reply goes beyond the quota on a plan that bills overage; billing reports it to
the payment gateway. Payload: user_id, tokens, usage_id (the key that makes the report happen once)."""
ACCOUNT_DELETED = "identity.account_deleted"
"""Written by identity when a user deletes their account (the user row is already erased); conversation erases
the user's conversations and messages, billing cancels an active paid subscription at once. Payload: user_id."""
