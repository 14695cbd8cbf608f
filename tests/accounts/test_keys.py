"""API keys: format and entropy, hashed storage, listing and revocation."""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import text

from realtime2.accounts.keys import InvalidApiKeyError, KeyNotFoundError
from realtime2.state import Services
from tests.support.accounts import new_account


async def test_key_format_entropy_and_storage(services: Services) -> None:
    acct = await new_account(services)
    assert re.fullmatch(r"sk-gptr2-[A-Za-z0-9_-]{43}", acct.key)
    assert 43 * math.log2(64) >= 128  # 258 bits of alphabet capacity, 256 random
    async with services.db.sessions() as session:
        rows = (await session.execute(text("SELECT prefix, key_hash FROM api_keys"))).all()
    ((prefix, key_hash),) = rows
    assert acct.key.startswith(prefix) and len(prefix) == len("sk-gptr2-") + 6
    assert acct.key not in key_hash and len(key_hash) == 64


async def test_distinct_keys(services: Services) -> None:
    acct = await new_account(services)
    keys = {(await services.keys.create(acct.user_id, f"k{i}"))[1] for i in range(20)}
    assert len(keys) == 20


async def test_authenticate_and_revoke_by_each_reference(services: Services) -> None:
    acct = await new_account(services)
    owner = await services.keys.authenticate(acct.key)
    assert (owner.user_id, owner.key_id) == (acct.user_id, acct.key_id)
    listed = await services.keys.list(acct.user_id)
    assert listed[0].last_used_at is not None

    _, by_prefix = await services.keys.create(acct.user_id, "p")
    _, whole = await services.keys.create(acct.user_id, "w")
    await services.keys.revoke(acct.key_id)
    await services.keys.revoke(by_prefix[: len("sk-gptr2-") + 6])
    await services.keys.revoke(whole)
    for raw in (acct.key, by_prefix, whole):
        with pytest.raises(InvalidApiKeyError, match="revoked"):
            await services.keys.authenticate(raw)
    with pytest.raises(KeyNotFoundError):
        await services.keys.revoke("key_doesnotexist")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "sk-gptr2-",
        "sk-gptr2-short",
        "sk-other-" + "a" * 43,
        "sk-gptr2-" + "a" * 42 + "!",
        "sk-gptr2-" + "a" * 44,
    ],
)
async def test_malformed_keys(services: Services, raw: str) -> None:
    with pytest.raises(InvalidApiKeyError, match="malformed"):
        await services.keys.authenticate(raw)


async def test_unknown_key(services: Services) -> None:
    with pytest.raises(InvalidApiKeyError, match="unknown"):
        await services.keys.authenticate("sk-gptr2-" + "A" * 43)


async def test_other_users_key_cannot_be_revoked_by_scoped_call(services: Services) -> None:
    alice = await new_account(services)
    bob = await new_account(services)
    with pytest.raises(KeyNotFoundError):
        await services.keys.revoke(alice.key_id, user_id=bob.user_id)
    await services.keys.authenticate(alice.key)
