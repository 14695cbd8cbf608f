"""The call bus on a real Redis (127.0.0.1:6379): two buses with their own registries stand
in for two replicas; each test names its replicas uniquely, so runs never hear each other
(pub/sub channels are not per Redis database)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest

from realtime2.accounts.metering import SessionMeter
from realtime2.calls.base import Call, CallBase
from realtime2.calls.bus import MAX_MESSAGE_BYTES, SIDEBAND, CallBus, Handler
from realtime2.calls.registry import CallRegistry
from realtime2.calls.relay import CALL_ENDED, PEER_CLOSED, PEER_LOST, TOO_SLOW
from realtime2.errors import ApiError
from tests.support.call_bus import REDIS_URL, redis_answers, relayed_sideband, vanish
from tests.support.server import free_port
from tests.support.waiting import until


class FakeCall(CallBase):
    """A running call with no media: its events are what the test publishes."""

    def __init__(self, call_id: str, user_id: int) -> None:
        super().__init__(
            call_id=call_id,
            user_id=user_id,
            tier="realtime-mini",
            meter=cast(SessionMeter, None),
            ledger=cast(Any, None),
            on_end=None,
        )
        self.received: list[str | bytes] = []

    def emit(self, event: dict[str, Any]) -> None:
        self._publish(event)

    async def end(self) -> None:
        self._end("hangup")
        await self._close_out()

    async def send_client_event(self, message: str | bytes) -> None:
        self.received.append(message)


async def _echo(call: Call, args: Mapping[str, Any]) -> dict[str, Any]:
    if args.get("fail"):
        raise ApiError(409, "call_not_answered", "Only an answered call can be transferred.")
    if args.get("slow"):
        await asyncio.sleep(5)
    return {"call": call.id, "args": dict(args)}


HANDLERS: dict[str, Handler] = {"echo": _echo}


@pytest.fixture
async def pair() -> AsyncIterator[tuple[CallBus, CallBus, FakeCall]]:
    """Bus `a` owns a call of user 7; bus `b` asks."""
    if not redis_answers():
        pytest.skip("no Redis answers on 127.0.0.1:6379")
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_timeout=2.0)
    run = secrets.token_hex(6)
    registry = CallRegistry()
    call = FakeCall(f"rtc_{run}", user_id=7)
    registry.add(call)
    a = CallBus(client, f"test-a-{run}", registry, HANDLERS, ping_seconds=0.1, lost_seconds=0.5)
    b = CallBus(
        client, f"test-b-{run}", CallRegistry(), HANDLERS, ping_seconds=0.1, lost_seconds=0.5
    )
    for bus in (a, b):
        bus.start()
        async with asyncio.timeout(5):
            await bus.subscribed.wait()
    try:
        yield a, b, call
    finally:
        await b.close()
        await a.close()
        await client.aclose()


async def test_a_command_runs_on_the_owner_and_answers(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    body = await b.request(a.replica, "echo", call.id, 7, {"x": 1}, within=2)
    assert body == {"call": call.id, "args": {"x": 1}}
    # The owner's API error comes back as it was raised there.
    with pytest.raises(ApiError) as raised:
        await b.request(a.replica, "echo", call.id, 7, {"fail": True}, within=2)
    assert (raised.value.status, raised.value.code) == (409, "call_not_answered")
    with pytest.raises(ApiError) as raised:
        await b.request(a.replica, "nope", call.id, 7, {}, within=2)
    assert raised.value.code == "unknown_command"


async def test_the_owner_checks_the_user_again(pair: tuple[CallBus, CallBus, FakeCall]) -> None:
    a, b, call = pair
    for call_id, user in ((call.id, 8), ("rtc_unknown", 7)):
        with pytest.raises(ApiError) as raised:
            await b.request(a.replica, "echo", call_id, user, {}, within=2)
        assert (raised.value.status, raised.value.code) == (404, "call_not_found")


async def test_an_owner_that_is_gone_or_silent_is_answered_504(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    started = time.monotonic()
    with pytest.raises(ApiError) as raised:  # nobody listens: known at once
        await b.request("test-nobody", "echo", call.id, 7, {}, within=5)
    assert (raised.value.status, raised.value.code) == (504, "call_owner_unavailable")
    assert time.monotonic() - started < 1
    with pytest.raises(ApiError) as raised:  # listening, but no answer in time
        await b.request(a.replica, "echo", call.id, 7, {"slow": True}, within=0.3)
    assert raised.value.status == 504 and "did not answer" in raised.value.message
    assert not b._waiting  # nothing left waiting


async def test_oversized_and_malformed_messages_are_dropped(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    with pytest.raises(ApiError) as raised:
        await b.request(a.replica, "echo", call.id, 7, {"x": "y" * MAX_MESSAGE_BYTES}, within=1)
    assert raised.value.code == "message_too_large"
    # Garbage on the owner's channel is ignored; the bus goes on answering.
    await b.redis.publish(a.channel(a.replica), b"not json")
    await b.redis.publish(a.channel(a.replica), json.dumps([1, 2]))
    await b.redis.publish(a.channel(a.replica), b"x" * (MAX_MESSAGE_BYTES + 1))
    assert (await b.request(a.replica, "echo", call.id, 7, {}, within=2))["call"] == call.id


async def test_a_relayed_sideband_carries_events_both_ways(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    end = await relayed_sideband(b, a, call.id, 7)
    assert len(call._sidebands) == 1  # the owner subscribed to the call's events
    call.emit({"type": "response.done", "n": 1})
    call.emit({"type": "response.done", "n": 2})
    async with asyncio.timeout(2):
        first, second = await end.receive(), await end.receive()
    assert [json.loads(cast(str, p))["n"] for p in (first, second)] == [1, 2]  # in order
    assert await end.send('{"type":"session.update"}') and await end.send(b"\x00\x01")
    async with asyncio.timeout(2):
        await until(lambda: len(call.received) == 2)
    assert call.received == ['{"type":"session.update"}', b"\x00\x01"]
    # The call ending closes the relay on the asking side, saying why.
    await call.end()
    async with asyncio.timeout(2):
        assert await end.receive() is None
    assert end.reason == CALL_ENDED
    assert not a._relays and not b._relays


async def test_closing_the_asking_side_unsubscribes_the_owner(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    end = await relayed_sideband(b, a, call.id, 7)
    await end.close(PEER_CLOSED)
    async with asyncio.timeout(2):
        await until(lambda: not call._sidebands and not a._relays)
    assert not call.ended.is_set()  # leaving does not end the call


async def test_an_owner_that_dies_closes_the_relay_as_lost(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    end = await relayed_sideband(b, a, call.id, 7)
    await vanish(a)
    started = time.monotonic()
    async with asyncio.timeout(3):
        assert await end.receive() is None
    assert end.reason == PEER_LOST
    assert time.monotonic() - started < 1.5  # lost_seconds 0.5, pings every 0.1 s


async def test_an_asking_side_that_stops_reading_is_cut_off(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    end = await relayed_sideband(b, a, call.id, 7)
    for n in range(400):  # nobody reads `end`: it holds at most RELAY_QUEUE, then closes
        call.emit({"type": "x", "n": n})
    async with asyncio.timeout(3):
        await until(lambda: not call._sidebands)  # the owner is told, and lets go
    assert end.reason == TOO_SLOW


async def test_relays_are_bounded_and_need_a_running_call(
    pair: tuple[CallBus, CallBus, FakeCall],
) -> None:
    a, b, call = pair
    await call.end()
    end = b.open_relay(a.replica)
    with pytest.raises(ApiError) as raised:
        await b.request(a.replica, SIDEBAND, call.id, 7, {"relay": end.id}, within=2)
    assert raised.value.code == "call_not_found"
    await end.close(PEER_CLOSED)
    with pytest.raises(ApiError) as raised:
        await b.request(a.replica, SIDEBAND, call.id, 7, {}, within=2)
    assert raised.value.status == 400


async def test_without_a_redis_requests_are_answered_504_and_the_bus_keeps_trying() -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1.0, socket_connect_timeout=1.0
    )
    bus = CallBus(client, "test-alone", CallRegistry(), HANDLERS)
    bus.start()
    try:
        await asyncio.sleep(0.3)
        assert not bus.subscribed.is_set()
        with pytest.raises(ApiError) as raised:
            await bus.request("test-other", "echo", "rtc_x", 7, {}, within=1)
        assert (raised.value.status, raised.value.code) == (504, "call_owner_unavailable")
        assert bus._listener is not None and not bus._listener.done()  # still retrying
    finally:
        await bus.close()
        await client.aclose()
