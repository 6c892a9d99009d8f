"""Audit entries: by default the command line promoting someone."""

from __future__ import annotations

from datetime import UTC, datetime

from polyfactory import Use
from polyfactory.factories import DataclassFactory

from application.shared import audit
from application.shared.audit import AuditEntry
from domain.shared.ids import new_id


class AuditEntryFactory(DataclassFactory[AuditEntry]):
    id = Use(new_id)
    actor = audit.ACTOR_CLI
    actor_id = None
    action = audit.USER_PROMOTED
    target_id = Use(new_id)
    details = Use(lambda: {"previous_role": "user"})
    created_at = datetime(2026, 1, 1, tzinfo=UTC)
