"""The ASGI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import Depends, FastAPI

from realtime2 import __version__
from realtime2.calls.bus import CallBus
from realtime2.calls.records import REPLICA
from realtime2.calls.registry import CallRegistry
from realtime2.config import Settings, get_settings
from realtime2.edge.admission import SessionSlots
from realtime2.edge.drain import Drain
from realtime2.errors import install_error_handlers
from realtime2.gateway.pipeline import engine_settings
from realtime2.gateway.upstream import Upstream
from realtime2.http import (
    account,
    admin,
    admin_ops,
    admin_signup,
    calls,
    charge,
    client_secrets,
    dashboard,
    dashboard_admin,
    health,
    openai_audio,
    openai_chat,
    pipeline,
    playground,
    sip_calls,
    spend,
    spend_admin,
)
from realtime2.http.admin_webhooks import run_notifications
from realtime2.http.body_limit import BodyLimitMiddleware
from realtime2.http.exposure import docs_exposed, metrics_exposed, metrics_guard
from realtime2.observability import metrics
from realtime2.observability.middleware import ObservabilityMiddleware
from realtime2.state import Services
from realtime2.transports import translation_ws, websocket
from realtime2.transports.sip.server import start_sip
from realtime2.transports.sip.settings import SipSettings

log = logging.getLogger(__name__)
HOLD_SWEEP_SECONDS = 30.0


async def _sweep_expired_holds(services: Services) -> None:
    """Settle holds left open by a process that died (they stop being renewed); one replica
    at a time (`Ledger.sweep_expired`: the others skip this round)."""
    while True:
        try:
            closed = await services.ledger.sweep_expired()
            if closed:
                log.info("settled %d expired holds", closed)
        except Exception:
            log.exception("hold sweep failed")
        await asyncio.sleep(HOLD_SWEEP_SECONDS)


async def drain_app(app: FastAPI) -> int:
    """Before the server stops (SIGTERM): end every session cleanly and let it settle.
    Returns how many were still running at `REALTIME2_DRAIN_TIMEOUT_S`."""
    drain: Drain = app.state.drain
    return await drain.run(
        app.state.session_slots,
        hang_up_calls=lambda seconds: app.state.calls.close_all(wait_seconds=seconds),
        seconds=app.state.services.settings.drain_timeout_s,
    )


def _start_call_bus(app: FastAPI) -> CallBus | None:
    """Call control from any replica (`calls.bus`), when the replicas share a Redis."""
    svc: Services = app.state.services
    if svc.redis is None:
        return None
    commands = {**calls.CALL_COMMANDS, **charge.CALL_COMMANDS, **sip_calls.CALL_COMMANDS}
    bus = CallBus(svc.redis, app.state.replica, app.state.calls, commands)
    bus.start()
    return bus


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    on_engine_failure: Callable[[str], None] | None = None,
) -> FastAPI:
    """The app. `on_engine_failure` hears (from the loader thread) a one-line reason when an
    engine fails to load or warm up; `realtime2 serve` stops the server on it."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc: Services = app.state.services
        if svc.engines is None and svc.settings.load_engines:
            from realtime2.engine.registry import EngineHost

            svc.engines = EngineHost(
                engine_settings(app.state.gateway), on_failure=on_engine_failure
            )
            svc.engines.start()
        sweeper = asyncio.create_task(_sweep_expired_holds(svc))
        notifier = asyncio.create_task(run_notifications(svc))  # docs/admin.md
        app.state.sip = await start_sip(app)  # None unless REALTIME2_SIP_LISTEN is set
        app.state.call_bus = _start_call_bus(app)  # None without Redis
        try:
            yield
        finally:
            await app.state.calls.close_all()
            if app.state.call_bus is not None:
                await app.state.call_bus.close()
            if app.state.sip is not None:
                await app.state.sip.close()
            for task in (sweeper, notifier):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await svc.close()

    docs = docs_exposed(settings)
    app = FastAPI(
        title="realtime2",
        version=__version__,
        description="Self-hostable realtime voice API (OpenAI Realtime compatible).",
        lifespan=lifespan,
        # Served or not at all (realtime2.http.exposure).
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.services = services or Services.build(settings)
    app.state.session_slots = SessionSlots(settings.max_sessions, settings.max_sessions_per_user)
    app.state.calls = CallRegistry()
    app.state.call_bus = None  # started with the app when Redis is configured
    app.state.replica = REPLICA  # its channel on the call bus (tests name two in one process)
    app.state.drain = Drain()
    app.state.gateway = Upstream.from_settings(settings)  # gateway mode, or None
    app.state.sip_settings = SipSettings()  # telephony (transports.sip), off by default
    install_error_handlers(app)
    # The last added wraps the others: observability sees every answer, body-limit refusals too.
    app.add_middleware(BodyLimitMiddleware, limits=settings.body_limits)
    app.add_middleware(ObservabilityMiddleware)
    if metrics_exposed(settings):
        app.include_router(metrics.router, dependencies=[Depends(metrics_guard(settings))])
    for module in (
        health,
        account,
        dashboard,
        playground,
        pipeline,
        openai_audio,
        openai_chat,
        websocket,
        translation_ws,
        calls,
        sip_calls,
        charge,
        client_secrets,
        admin,
        admin_ops,
        admin_signup,
        spend,
        spend_admin,
        dashboard_admin,
    ):
        app.include_router(module.router)
    return app
