"""Identity's pure rules: what counts as an address, an acceptable password, a live link, a live session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from adapters.security.argon2 import Argon2PasswordHasher
from domain.identity.errors import InvalidToken
from domain.identity.model import OneTimeToken, Session, TokenPurpose, check_password, normalize_email
from domain.identity.ports import PasswordHasher
from domain.shared.errors import InvalidInput
from domain.shared.ids import new_id
from tests.support.identity import bundled_denylist

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_an_address_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Alice.Smith+chat@Example.COM \n") == "alice.smith+chat@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "alice@.example.com",
        "alice@example.com.",
        "al ice@example.com",
        "alice@@example.com",
        "a@b@example.com",
        "a" * 243 + "@example.com",
    ],
)
def test_a_malformed_address_is_refused_on_the_email_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalize_email(raw)
    assert refused.value.field == "email"


def test_the_longest_allowed_address_is_accepted() -> None:
    address = "a" * 242 + "@example.com"
    assert len(address) == 254
    assert normalize_email(address) == address


@pytest.mark.parametrize("length", [12, 64, 128])
def test_a_password_of_12_to_128_characters_is_accepted(length: int) -> None:
    check_password(("Zq7;vLm2" * 16)[:length], bundled_denylist())


@pytest.mark.parametrize("length", [0, 11, 129, 1000])
def test_a_password_shorter_than_12_or_longer_than_128_is_refused(length: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_password(("Zq7;vLm2" * 200)[:length], bundled_denylist())
    assert refused.value.field == "password"


@pytest.mark.parametrize("password", ["qwerty123456", "password1234", "qwertyuiop123", "QWERTY123456"])
def test_a_common_password_is_refused_whatever_its_case(password: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_password(password, bundled_denylist())
    assert refused.value.field == "password"
    assert "common" in refused.value.detail


def test_no_composition_rule_applies_to_a_long_uncommon_password() -> None:
    check_password("correct horse battery staple", bundled_denylist())


def test_the_bundled_denylist_holds_at_least_ten_thousand_passwords() -> None:
    assert len(bundled_denylist()) >= 10_000


@pytest.mark.parametrize(
    "hasher",
    [Pbkdf2PasswordHasher(), Argon2PasswordHasher(time_cost=1, memory_cost=1024)],
    ids=["pbkdf2", "argon2id"],
)
async def test_every_character_of_a_128_character_password_counts(hasher: PasswordHasher) -> None:
    password = ("Zq7;vLm2" * 16)[:127] + "a"
    stored = await hasher.hash(password)
    assert await hasher.verify(stored, password)
    assert not await hasher.verify(stored, password[:-1] + "b")
    assert not await hasher.verify(stored, password[:72])


def _token(expires_in: timedelta = TokenPurpose.RESET_PASSWORD.ttl) -> OneTimeToken:
    return OneTimeToken(
        id=new_id(),
        user_id=new_id(),
        purpose=TokenPurpose.RESET_PASSWORD,
        token_hash="0" * 64,
        created_at=NOW,
        expires_at=NOW + expires_in,
    )


def test_an_emailed_token_works_once() -> None:
    token = _token()
    token.use(NOW + timedelta(minutes=5))
    assert token.used_at == NOW + timedelta(minutes=5)
    with pytest.raises(InvalidToken):
        token.use(NOW + timedelta(minutes=6))
    assert token.used_at == NOW + timedelta(minutes=5)


def test_an_emailed_token_works_until_its_expiry_and_not_from_then_on() -> None:
    token = _token()
    token.use(token.expires_at - timedelta(microseconds=1))
    late = _token()
    with pytest.raises(InvalidToken):
        late.use(late.expires_at)
    assert late.used_at is None


def _session() -> Session:
    return Session(
        id=new_id(), user_id=new_id(), refresh_token_hash="first", created_at=NOW, expires_at=NOW + timedelta(days=30)
    )


def test_a_session_is_active_until_it_expires() -> None:
    session = _session()
    assert session.is_active(NOW)
    assert session.is_active(session.expires_at - timedelta(seconds=1))
    assert not session.is_active(session.expires_at)


def test_rotating_a_session_replaces_its_refresh_token_and_keeps_it_active() -> None:
    session = _session()
    later = NOW + timedelta(minutes=20)
    session.rotate("second", later)
    assert session.refresh_token_hash == "second"
    assert session.rotated_at == later
    assert session.is_active(later)


def test_a_revoked_session_stays_revoked_from_its_first_revocation() -> None:
    session = _session()
    session.revoke(NOW + timedelta(minutes=1))
    session.revoke(NOW + timedelta(minutes=2))
    assert session.revoked_at == NOW + timedelta(minutes=1)
    assert not session.is_active(NOW + timedelta(minutes=1))
