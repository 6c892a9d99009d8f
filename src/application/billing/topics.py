"""Outbox topics billing writes or serves."""

from application.conversation.send_chat import OVERAGE_TOPIC, QUOTA_THRESHOLD_TOPIC

EMAIL = "billing.email"
"""Payload: template, user_id and the template's fields (already formatted, never secrets)."""
GATEWAY_EVENT = "billing.gateway_event"
"""Payload: event_id of a stored, verified webhook event to apply."""
QUOTA_THRESHOLD = QUOTA_THRESHOLD_TOPIC
"""Written by conversation when a reply crosses 80% or 100% of the period's quota."""
OVERAGE = OVERAGE_TOPIC
"""Written by conversation when a reply goes beyond the quota on a plan that bills overage."""
