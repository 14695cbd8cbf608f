"""The call bus: call control from any replica, over Redis pub/sub.

A call lives in the process that runs its media (`CallRegistry`), and its record in the
database names that process (`records.REPLICA`). When `/charge`, `/hangup`, SIP `/refer` or a
sideband socket reaches another replica, that replica checks the record (the caller's own,
still active) and sends the command to the owner's channel, `realtime2:calls:<replica>`;
the owner looks the call up in its registry, checks again that it belongs to the user the
command names, runs it, and publishes the answer (a JSON body, or an API error) to the
asker's channel under the request's id. Every replica subscribes to its own channel only.

Why Redis rather than NATS: Redis is already the shared store of the rate limits
(`REALTIME2_REDIS_URL`) and a declared dependency, so replicas need one shared service fewer.
Pub/sub fits: a command is for a replica that is running now, or for nobody (a publish that
reaches no subscriber says the owner is gone at once), and nothing is kept in Redis.

Bounded: messages over `MAX_MESSAGE_BYTES` are neither sent nor read, at most `MAX_WAITING`
requests of this replica await answers and `MAX_RUNNING` commands of others run here at
once, at most `MAX_RELAYS` sideband relays; every request has a timeout. An owner that does
not answer (it died, or lost Redis) is answered `504 call_owner_unavailable`; once the
dead replica's holds expire the sweep ends its calls' records, and requests get the final
figures again. Redis is trusted infrastructure: anyone who may publish on it may send
commands, as anyone who may write the database may move credit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Final

from starlette.requests import HTTPConnection

from realtime2.calls.base import Call, call_not_found
from realtime2.calls.registry import CallRegistry
from realtime2.calls.relay import SHUTDOWN, Message, RelayEnd, serve_owner_end
from realtime2.errors import ApiError

log = logging.getLogger(__name__)

PREFIX: Final = "realtime2:calls:"
MAX_MESSAGE_BYTES: Final = 1024 * 1024
MAX_WAITING: Final = 256
MAX_RUNNING: Final = 64
MAX_RELAYS: Final = 512
RECONNECT_SECONDS: Final = 1.0
SIDEBAND: Final = "sideband"  # the command that opens a relayed sideband on the owner

# A command run on the owner: the call (the asker's user, checked) and the command's
# arguments in, the JSON answer out; an ApiError is sent back and raised on the asker.
Handler = Callable[[Call, Mapping[str, Any]], Awaitable[dict[str, Any]]]


def owner_unavailable(detail: str) -> ApiError:
    return ApiError(
        504,
        "call_owner_unavailable",
        f"The server replica running this call {detail}. If it has stopped, the call ends "
        "within about a minute and its final charge is then served; retry.",
        headers={"Retry-After": "15"},
    )


def bus_busy() -> ApiError:
    return ApiError(
        503,
        "server_busy",
        "Too many calls are being controlled at once; retry.",
        headers={"Retry-After": "1"},
    )


def bus_of(conn: HTTPConnection) -> CallBus | None:
    """The app's call bus when it runs (Redis configured), else None."""
    bus: CallBus | None = getattr(conn.app.state, "call_bus", None)
    return bus


class CallBus:
    def __init__(
        self,
        redis: Any,
        replica: str,
        registry: CallRegistry,
        handlers: Mapping[str, Handler],
        *,
        prefix: str = PREFIX,
        ping_seconds: float = 5.0,
        lost_seconds: float = 15.0,
    ) -> None:
        self.redis = redis  # redis.asyncio.Redis
        self.replica = replica
        self.registry = registry
        self.handlers = dict(handlers)
        self.prefix = prefix
        self.ping_seconds = ping_seconds
        self.lost_seconds = lost_seconds
        self.subscribed = asyncio.Event()  # set while this replica hears its channel
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._relays: dict[str, RelayEnd] = {}
        self._listener: asyncio.Task[None] | None = None

    def channel(self, replica: str) -> str:
        return f"{self.prefix}{replica}"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening (in the background: a Redis that is away is retried)."""
        self._listener = asyncio.get_running_loop().create_task(self._listen(), name="call-bus")

    async def close(self) -> None:
        for end in list(self._relays.values()):
            await end.close(SHUTDOWN)
        tasks = [t for t in (self._listener, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for future in self._waiting.values():
            future.cancel()
        self.subscribed.clear()

    # --- asking another replica ------------------------------------------------------------

    async def request(
        self,
        replica: str,
        op: str,
        call_id: str,
        user_id: int,
        args: Mapping[str, Any],
        *,
        within: float,
    ) -> dict[str, Any]:
        """Run `op` on the replica that owns the call; its JSON answer, or its ApiError
        raised here; 504 if it does not answer within `within` seconds."""
        if not self.subscribed.is_set():
            raise owner_unavailable("cannot be reached: this replica has no connection to Redis")
        if len(self._waiting) >= MAX_WAITING:
            raise bus_busy()
        request_id = secrets.token_hex(12)
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        command: Message = {"k": "cmd", "id": request_id, "from": self.replica, "op": op}
        command.update({"call": call_id, "user": user_id, "args": dict(args)})
        try:
            if not await self.publish(replica, command):
                raise owner_unavailable("is not running (nobody listens on its channel)")
            async with asyncio.timeout(within):
                reply = await answer
        except TimeoutError:
            raise owner_unavailable(f"did not answer within {within:g} s") from None
        finally:
            self._waiting.pop(request_id, None)
        error = reply.get("error")
        if isinstance(error, dict):
            raise _error_from(error)
        body = reply.get("body")
        return body if isinstance(body, dict) else {}

    def open_relay(self, peer: str) -> RelayEnd:
        """This replica's end of a new sideband relay to the owner `peer` (then ask the
        owner with `request(peer, SIDEBAND, …, {"relay": end.id})`)."""
        if len(self._relays) >= MAX_RELAYS:
            raise bus_busy()
        return self._relay_end(secrets.token_hex(12), peer)

    async def publish(self, replica: str, message: Message) -> bool:
        """Send a message to a replica's channel; False when nobody heard it. Raises
        ApiError when Redis is away or the message is too large."""
        data = json.dumps(message, separators=(",", ":"))
        if len(data) > MAX_MESSAGE_BYTES:
            raise ApiError(
                413, "message_too_large", f"A call bus message is over {MAX_MESSAGE_BYTES} bytes."
            )
        try:
            receivers = await self.redis.publish(self.channel(replica), data)
        except Exception as exc:  # redis' own errors, OSError: Redis is away
            log.warning("call bus: publish failed: %s", type(exc).__name__)
            raise owner_unavailable("cannot be reached: Redis does not answer") from None
        return bool(receivers)

    # --- hearing ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel(self.replica))
                self.subscribed.set()
                log.info("call bus: listening on %s", self.channel(self.replica))
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._heard(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away or the connection broke: retry
                if self.subscribed.is_set():
                    log.warning("call bus: lost Redis (%s); retrying", type(exc).__name__)
                self.subscribed.clear()
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())

    def _heard(self, data: bytes | str) -> None:
        if len(data) > MAX_MESSAGE_BYTES:
            log.warning("call bus: dropped a %d-byte message", len(data))
            return
        try:
            message = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("call bus: dropped a message that is not JSON")
            return
        if not isinstance(message, dict):
            return
        kind = message.get("k")
        if kind == "cmd":
            self._command(message)
        elif kind == "reply":
            answer = self._waiting.pop(str(message.get("id")), None)
            if answer is not None and not answer.done():
                answer.set_result(message)
        elif kind == "relay":
            end = self._relays.get(str(message.get("relay")))
            if end is not None:
                end.deliver(message)

    # --- answering -------------------------------------------------------------------------

    def _command(self, message: Message) -> None:
        asker, request_id = message.get("from"), message.get("id")
        if not isinstance(asker, str) or not isinstance(request_id, str):
            return
        if len(self._running) >= MAX_RUNNING:
            self._track(self._reply(asker, request_id, error=bus_busy()))
            return
        self._track(self._run(asker, request_id, message))

    def _track(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, asker: str, request_id: str, message: Message) -> None:
        try:
            body = await self._execute(asker, message)
        except ApiError as error:
            await self._reply(asker, request_id, error=error)
        except Exception:
            log.exception("call bus: command %s failed", str(message.get("op"))[:32])
            await self._reply(asker, request_id, error=ApiError(500, "server_error", "failed"))
        else:
            await self._reply(asker, request_id, body=body)

    async def _execute(self, asker: str, message: Message) -> dict[str, Any]:
        op, call_id, user_id = message.get("op"), message.get("call"), message.get("user")
        args = message.get("args")
        if not isinstance(call_id, str) or not isinstance(args, dict):
            raise ApiError(400, "invalid_request_error", "A malformed call bus command.")
        call = self.registry.get(call_id)
        # The owner checks the user again: the asker checked the record, this is the call.
        if call is None or call.user_id != user_id or isinstance(user_id, bool):
            raise call_not_found(call_id)
        if op == SIDEBAND:
            return self._serve_relay(asker, call, args)
        handler = self.handlers.get(str(op))
        if handler is None:
            raise ApiError(400, "unknown_command", f"No call command '{str(op)[:32]}'.")
        return await handler(call, args)

    def _serve_relay(self, asker: str, call: Call, args: Mapping[str, Any]) -> dict[str, Any]:
        relay_id = args.get("relay")
        if not isinstance(relay_id, str) or not 0 < len(relay_id) <= 64:
            raise ApiError(400, "invalid_request_error", "A sideband relay needs an id.")
        if call.ended.is_set():
            raise call_not_found(call.id)
        if len(self._relays) >= MAX_RELAYS or relay_id in self._relays:
            raise bus_busy()
        end = self._relay_end(relay_id, asker)
        self._track(serve_owner_end(end, call, call.subscribe()))
        return {}

    async def _reply(
        self,
        asker: str,
        request_id: str,
        *,
        body: dict[str, Any] | None = None,
        error: ApiError | None = None,
    ) -> None:
        reply: Message = {"k": "reply", "id": request_id}
        if error is not None:
            reply["error"] = {
                "status": error.status,
                "code": error.code,
                "message": error.message,
                "param": error.param,
            }
        else:
            reply["body"] = body or {}
        with contextlib.suppress(ApiError):  # the asker times out on its own
            await self.publish(asker, reply)

    def _relay_end(self, relay_id: str, peer: str) -> RelayEnd:
        end = RelayEnd(
            relay_id,
            peer,
            self.publish_quietly,
            on_close=self._forget_relay,
            ping_seconds=self.ping_seconds,
            lost_seconds=self.lost_seconds,
        )
        self._relays[relay_id] = end
        end.start()
        return end

    def _forget_relay(self, end: RelayEnd) -> None:
        self._relays.pop(end.id, None)

    async def publish_quietly(self, replica: str, message: Message) -> bool:
        """`publish`, with Redis away or an oversized message counted as not heard."""
        try:
            return await self.publish(replica, message)
        except ApiError:
            return False


def _error_from(error: Mapping[str, Any]) -> ApiError:
    status = error.get("status")
    if not isinstance(status, int) or not 400 <= status <= 599:
        status = 502
    param = error.get("param")
    return ApiError(
        status,
        str(error.get("code") or "server_error")[:64],
        str(error.get("message") or "")[:1000],
        param=param if isinstance(param, str) else None,
    )
