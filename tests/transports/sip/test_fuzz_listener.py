"""Mutated INVITEs (bounded: 1,000 datagrams) against the running listener: each is
dropped or answered, none is announced (the URI user exists in none of them after a
mutation that keeps it parseable, or it is refused), and the listener keeps answering."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.server import build_services
from tests.support.sip import add_endpoint, phone, sip_server, webhook_receiver


async def test_mutated_invites_leave_the_listener_serving(tmp_path: Path) -> None:
    svc = await build_services(tmp_path, fake_engines())
    account = await new_account(svc, credits=10_000)
    rng = random.Random(1919)
    async with (
        webhook_receiver() as hooks,
        sip_server(svc, requests_per_minute=100_000) as (_, sip),
    ):
        fenced = await add_endpoint(svc, account.user_id, hooks.url, ["10.0.0.0/8"])
        async with phone(sip) as caller:
            base = caller._request("INVITE", fenced.uri_user, caller.offer())
            for _ in range(1000):
                data = bytearray(base)
                for _ in range(rng.randint(1, 6)):
                    at = rng.randrange(len(data))
                    if rng.random() < 0.5:
                        data[at] = rng.randrange(256)
                    else:
                        del data[at : at + rng.randint(1, 12)]
                caller.send(bytes(data))
            caller.call_id = "after-the-fuzz"
            ping = caller._request("OPTIONS", fenced.uri_user)
            response = None
            for _ in range(30):  # the burst may overflow the socket buffer: ask again
                caller.send(ping)
                try:
                    while True:  # the fuzz's own answers come first
                        response = await asyncio.wait_for(caller.responses.get(), 1.0)
                        if response.headers.get("call-id") == "after-the-fuzz":
                            break
                    break
                except TimeoutError:
                    continue
            assert response is not None and response.headers.get("call-id") == "after-the-fuzz"
            assert response.status == 200
        assert hooks.received.empty()  # the endpoint only takes 10.0.0.0/8
        assert sip.dropped > 0
