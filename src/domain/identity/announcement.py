"""Announcements: one email from the team to every verified, enabled account of an audience that has not
unsubscribed, sent in batches by the worker. Each recipient gets it at most once: a delivery row per
(announcement, user) is claimed before the email goes (a unique key), whatever is retried or run twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from domain.shared.errors import InvalidInput

SUBJECT_MAX_LENGTH = 200
BODY_MAX_LENGTH = 50_000


class Audience(StrEnum):
    ALL = "all"
    FREE = "free"
    PLUS = "plus"
    PRO = "pro"

    @property
    def plan(self) -> str | None:
        """The plan its accounts are on (None: any plan)."""
        return None if self is Audience.ALL else self.value


class AnnouncementStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"


@dataclass(kw_only=True)
class Announcement:
    id: UUID
    subject: str
    body_markdown: str
    body_html: str
    """The Markdown rendered to HTML, raw HTML in it escaped."""
    body_text: str
    """The Markdown rendered to plain text."""
    audience: Audience
    status: AnnouncementStatus
    recipients: int
    """How many accounts were in the audience when it was queued."""
    created_by: UUID
    created_at: datetime
    finished_at: datetime | None = None
    sent: int = 0
    """Emails sent so far (read from the deliveries; never written)."""


def check_announcement(subject: str, body_markdown: str) -> None:
    if not 1 <= len(subject.strip()) <= SUBJECT_MAX_LENGTH:
        raise InvalidInput("subject", f"Use a subject of 1 to {SUBJECT_MAX_LENGTH} characters.")
    if "\r" in subject or "\n" in subject:
        raise InvalidInput("subject", "A subject is one line.")
    if not 1 <= len(body_markdown.strip()) <= BODY_MAX_LENGTH:
        raise InvalidInput("body_markdown", f"Use a body of 1 to {BODY_MAX_LENGTH:,} characters.")
