"""Outbox topics billing writes or serves."""

from application.shared import topics as shared

EMAIL = "billing.email"
"""Payload: template, user_id and the template's fields (already formatted, never secrets)."""
GATEWAY_EVENT = "billing.gateway_event"
"""Payload: event_id of a stored, verified webhook event to apply."""
GRANT = "billing.grant"
"""Payload: grant_id of a stored grant to count on the quota ledger (done at once as well; this retries it)."""
QUOTA_THRESHOLD = shared.QUOTA_THRESHOLD
"""Served here: conversation writes it when a reply crosses 80% or 100% of the period's quota."""
OVERAGE = shared.OVERAGE
"""Served here: conversation writes it when a reply goes beyond the quota on a plan that bills overage."""
