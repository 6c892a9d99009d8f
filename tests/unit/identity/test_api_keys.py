"""API keys for /v1: shown once, stored hashed, listed without the secret, revocable (API.md API keys)."""

from __future__ import annotations

import pytest

from application.identity.guards import require_verified_email
from domain.identity.errors import EmailNotVerified, Unauthenticated
from domain.identity.secrets import API_KEY_PREFIX, hash_secret
from domain.shared.errors import InvalidInput, NotFound
from tests.support.identity import IdentityKit

ALICE = "alice@example.com"
BOB = "bob@example.com"


async def test_a_new_key_is_returned_once_with_its_prefix_and_stored_only_as_a_hash(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)

    created = await kit.create_api_key(alice, "  laptop   script ")

    assert created.api_key.name == "laptop script"
    assert created.key.startswith(API_KEY_PREFIX)
    assert created.api_key.prefix.startswith(API_KEY_PREFIX)
    assert created.key.startswith(created.api_key.prefix)
    assert len(created.api_key.prefix) < len(created.key) - 32
    [stored] = kit.db.table("api_keys").values()
    assert stored.id == created.api_key.id
    assert stored.key_hash == hash_secret(created.key)
    assert created.key not in repr(kit.db.tables)


async def test_a_key_authenticates_its_owner(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    created = await kit.create_api_key(await kit.principal(ALICE), "ci")

    principal = await kit.authenticate(created.key)

    assert principal.user.email == ALICE
    assert principal.api_key_id == created.api_key.id
    assert principal.session_id is None


async def test_a_key_with_one_character_changed_is_refused(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    created = await kit.create_api_key(await kit.principal(ALICE), "ci")
    tampered = created.key[:-1] + ("A" if created.key[-1] != "A" else "B")

    with pytest.raises(Unauthenticated):
        await kit.authenticate(tampered)


async def test_the_list_hides_secrets_and_revoked_keys(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)
    kept = await kit.create_api_key(alice, "kept")
    dropped = await kit.create_api_key(alice, "dropped")
    await kit.revoke_api_key(alice, dropped.api_key.id)

    listed = await kit.list_api_keys(alice)

    assert [(key.id, key.name, key.prefix) for key in listed] == [(kept.api_key.id, "kept", kept.api_key.prefix)]
    assert kept.key not in repr(listed)


async def test_the_list_shows_only_the_callers_keys(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    await kit.signed_up_and_verified(BOB)
    await kit.create_api_key(await kit.principal(ALICE), "alice's")
    bob = await kit.principal(BOB)

    assert await kit.list_api_keys(bob) == []


async def test_a_revoked_key_no_longer_authenticates(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)
    created = await kit.create_api_key(alice, "ci")

    await kit.revoke_api_key(alice, created.api_key.id)

    with pytest.raises(Unauthenticated):
        await kit.authenticate(created.key)
    with pytest.raises(NotFound):
        await kit.revoke_api_key(alice, created.api_key.id)


async def test_revoking_another_users_key_is_not_found_and_leaves_it_working(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    await kit.signed_up_and_verified(BOB)
    created = await kit.create_api_key(await kit.principal(ALICE), "ci")

    with pytest.raises(NotFound):
        await kit.revoke_api_key(await kit.principal(BOB), created.api_key.id)

    assert (await kit.authenticate(created.key)).user.email == ALICE


@pytest.mark.parametrize("name", ["", "   ", "k" * 101])
async def test_a_key_needs_a_name_of_1_to_100_characters(kit: IdentityKit, name: str) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)

    with pytest.raises(InvalidInput) as refused:
        await kit.create_api_key(alice, name)

    assert refused.value.field == "name"
    assert not kit.db.table("api_keys")


async def test_an_unverified_user_may_create_a_key_but_it_is_held_to_verification(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    created = await kit.create_api_key(await kit.principal(ALICE), "ci")

    principal = await kit.authenticate(created.key)

    with pytest.raises(EmailNotVerified):
        require_verified_email(principal)
    require_verified_email(principal, required=False)


async def test_the_list_is_newest_first(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)
    names = [f"key {n}" for n in range(10)]
    for name in names:
        await kit.create_api_key(alice, name)

    listed = await kit.list_api_keys(alice)

    assert [key.name for key in listed] == names[::-1]
