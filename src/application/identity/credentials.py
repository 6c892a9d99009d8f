"""What changing a password means, whoever changes it (a reset link, an operator, the user signed in), what
opening a session means (sign-in, and the fresh session a password change hands back), and the steps deleting
an account shares with them (proving the password, revoking the sessions, discarding the links)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from application.identity import topics
from application.identity.dto import Principal, TokenPair
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import OutboxMessage
from domain.identity.errors import Forbidden, InvalidCredentials, Unauthenticated
from domain.identity.model import Session, TokenPurpose, User
from domain.identity.ports import PasswordHasher, TokenIssuer
from domain.identity.secrets import hash_secret
from domain.shared.ids import new_id

log = logging.getLogger("parley.auth")


async def replace_password(uow: IdentityUnitOfWork, user: User, password_hash: str, now: datetime) -> int:
    """Give `user` the new password and leave nothing of the old credentials alive: every session revoked,
    every reset link still out there discarded, and the owner told by email (in the same transaction). Returns
    how many sessions were revoked. The caller updates the user and commits."""
    user.password_hash = password_hash
    revoked = await revoke_sessions(uow, user.id, now)
    await discard_links(uow, user.id, TokenPurpose.RESET_PASSWORD, now)
    payload = {"user_id": str(user.id)}
    await uow.outbox.add(OutboxMessage(topic=topics.PASSWORD_CHANGED_EMAIL, payload=payload, created_at=now))
    return revoked


async def revoke_sessions(uow: IdentityUnitOfWork, user_id: UUID, now: datetime) -> int:
    """Revoke every active session of the user (their tokens answer 401 from the commit on); returns how many."""
    sessions = await uow.sessions.list_active_for_user(user_id)
    for session in sessions:
        session.revoke(now)
        await uow.sessions.update(session)
    return len(sessions)


async def discard_links(uow: IdentityUnitOfWork, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
    """Make every emailed link of `purpose` still out there for the user unusable."""
    for link in await uow.tokens.list_unused_for_user(user_id, purpose):
        link.discard(now)
        await uow.tokens.update(link)


def require_session(principal: Principal, doing: str) -> None:
    """Only a signed-in session may `doing` (change the password, delete or export the account): Forbidden with
    an API key, so a leaked key is not enough to take the account over or carry it off."""
    if principal.session_id is None:
        raise Forbidden(f"Sign in with your password to {doing}; an API key cannot.")


async def user_proving_password(
    uow: IdentityUnitOfWork,
    hasher: PasswordHasher,
    principal: Principal,
    password: str,
    action: str,
    refusal: str = "The password is incorrect.",
) -> User:
    """The calling user as stored, if `password` is theirs: the check a signed-in user passes before `action`
    (a password change, deleting the account). A wrong password is InvalidCredentials (and a log line); a user
    gone meanwhile is Unauthenticated."""
    user = await uow.users.get(principal.user.id)
    if user is None or user.deleted:
        raise Unauthenticated()
    if not await hasher.verify(user.password_hash, password):
        log.info(f"auth.{action}.failed", extra={"user_id": str(user.id), "reason": "bad-password"})
        raise InvalidCredentials(refusal)
    return user


async def open_session(
    uow: IdentityUnitOfWork, issuer: TokenIssuer, user: User, now: datetime
) -> tuple[UUID, TokenPair]:
    """Start a new session (a refresh family) for `user` and return its id and first token pair. Only the refresh
    token's hash is stored. The caller commits; the tokens are worthless unless it does."""
    session = Session(
        id=new_id(),
        user_id=user.id,
        refresh_token_hash="",
        created_at=now,
        expires_at=now + timedelta(seconds=issuer.refresh_ttl_seconds),
    )
    refresh = issuer.issue_refresh(user.id, session.id)
    session.refresh_token_hash = hash_secret(refresh)
    await uow.sessions.add(session)
    access = issuer.issue_access(user.id, session.id, user.role)
    return session.id, TokenPair(access, refresh, issuer.access_ttl_seconds, user)
