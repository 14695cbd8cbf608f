"""The `realtime2` admin and serve command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from realtime2.accounts.keys import KeyNotFoundError
from realtime2.accounts.ledger import InsufficientCreditsError
from realtime2.accounts.users import UnknownUserError, UserExistsError
from realtime2.calls.sip_endpoints import InvalidEndpointError, SipEndpoints
from realtime2.config import Settings, get_settings, load_env_file
from realtime2.db.migrate import upgrade
from realtime2.db.models import User
from realtime2.state import Services


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


Command = Callable[[Services, argparse.Namespace], Awaitable[None]]


async def _with_services(settings: Settings, command: Command, args: argparse.Namespace) -> None:
    services = Services.build(settings)
    try:
        await upgrade(services.db)
        await command(services, args)
    finally:
        await services.close()


# --- users and credits --------------------------------------------------------------------


async def cmd_users_create(services: Services, args: argparse.Namespace) -> None:
    try:
        user = await services.users.create(
            args.email, args.password, role="admin" if args.admin else "user"
        )
    except (UserExistsError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"created {user.role} {user.email} (id {user.id})")


async def cmd_users_promote(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    user = await services.users.set_role(user.id, "user" if args.demote else "admin")
    print(f"{user.email} is now {'an admin' if user.role == 'admin' else 'a user'}")


async def cmd_credits_grant(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    try:
        balance = await services.ledger.top_up(
            user.id,
            args.units,
            kind="topup" if args.units > 0 else "adjustment",
            details={"source": "cli"},
        )
    except (InsufficientCreditsError, ValueError) as exc:
        raise CliError(f"cannot grant {args.units}: {exc}") from None
    print(f"{user.email}: balance {balance.available} (held {balance.held})")


async def cmd_credits_balance(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    balance = await services.ledger.balance(user.id)
    print(f"{user.email}: balance {balance.available} (held {balance.held})")


# --- keys ---------------------------------------------------------------------------------


async def cmd_keys_create(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    try:
        info, raw = await services.keys.create(user.id, args.name or "")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"created key {info.id} ({info.prefix}…) for {user.email}; it is shown only once:")
    print(raw)


async def cmd_keys_list(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    keys = await services.keys.list(user.id)
    if not keys:
        print(f"{user.email} has no keys")
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        print(
            f"{key.id}  {key.prefix}…  {key.name or '-':20}  "
            f"created {key.created_at:%Y-%m-%d %H:%M}  last used {used}  {state}"
        )


async def cmd_keys_revoke(services: Services, args: argparse.Namespace) -> None:
    try:
        info = await services.keys.revoke(args.key)
    except KeyNotFoundError as exc:
        raise CliError(str(exc)) from None
    print(f"revoked {info.id} ({info.prefix}…)")


async def cmd_limits_set(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    for value in (args.rpm, args.max_sessions):
        if value is not None and value < 0:
            raise CliError("limits must be >= 0")
    user = await services.users.set_limits(user.id, rpm=args.rpm, max_sessions=args.max_sessions)
    print(
        f"{user.email}: rpm {user.rpm_limit or 'default'}, "
        f"max sessions {user.max_sessions or 'default'}"
    )


async def cmd_migrate(services: Services, args: argparse.Namespace) -> None:
    print(f"database is at the latest schema ({services.db.url.get_backend_name()})")


async def cmd_sip_add(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    try:
        endpoint = await SipEndpoints(services.db).add(user.id, args.webhook_url, args.allow)
    except InvalidEndpointError as exc:
        raise CliError(str(exc)) from None
    sources = ", ".join(endpoint.allowed_sources) if endpoint.allowed_sources else "any"
    print(f"created SIP endpoint {endpoint.id} for {user.email}")
    print(f"SIP URI user: {endpoint.uri_user}  (sip:{endpoint.uri_user}@<this server>)")
    print(f"webhook: {endpoint.webhook_url}  sources: {sources}")
    print(endpoint.webhook_secret)


async def cmd_sip_list(services: Services, args: argparse.Namespace) -> None:
    user = await _require_user(services, args.email)
    for endpoint in await SipEndpoints(services.db).of_user(user.id):
        sources = ", ".join(endpoint.allowed_sources) if endpoint.allowed_sources else "any"
        print(f"{endpoint.id}  {endpoint.uri_user}  {endpoint.webhook_url}  sources: {sources}")


async def _require_user(services: Services, email: str) -> User:
    try:
        return await services.users.require(email)
    except UnknownUserError as exc:
        raise CliError(str(exc)) from None


# --- serve --------------------------------------------------------------------------------


async def bootstrap_demo(services: Services) -> None:
    """On first start: a demo user with demo credits and one key, printed once."""
    settings = services.settings
    kept = settings.data_dir / "demo-credentials.txt"
    if await services.users.by_email(settings.demo_email) is not None:
        print(f"demo account {settings.demo_email}: its key and password are kept in {kept}")
        return
    password = secrets.token_urlsafe(12)
    user = await services.users.create(settings.demo_email, password)
    await services.ledger.top_up(
        user.id, settings.demo_credits, idempotency_key=f"demo-grant:{user.id}"
    )
    _, raw = await services.keys.create(user.id, "demo")
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.touch(mode=0o600)
    kept.write_text(
        f"REALTIME2_DEMO_EMAIL={settings.demo_email}\n"
        f"REALTIME2_DEMO_PASSWORD={password}\nREALTIME2_DEMO_API_KEY={raw}\n"
    )
    print("=" * 72)
    print(f"Created demo user {settings.demo_email} with {settings.demo_credits} credits.")
    print(f"Dashboard login: {settings.demo_email} / {password}")
    print(f"API key (shown once here; also kept in {kept}):")
    print(f"  {raw}")
    print("=" * 72, flush=True)


def serve(settings: Settings, *, bootstrap: bool) -> None:
    import uvicorn

    from realtime2.app import create_app, drain_app
    from realtime2.logging_setup import configure_logging
    from realtime2.serving import DrainingServer, raise_file_limit, uvicorn_options

    configure_logging(settings.log_level, settings.log_format)

    async def prepare() -> None:
        services = Services.build(settings)
        try:
            await upgrade(services.db)
            if bootstrap:
                await bootstrap_demo(services)
        finally:
            await services.close()

    asyncio.run(prepare())
    tls = settings.ssl_certfile is not None and settings.ssl_keyfile is not None
    if (settings.ssl_certfile is None) != (settings.ssl_keyfile is None):
        raise SystemExit("error: --ssl-certfile and --ssl-keyfile go together")
    scheme = "https" if tls else "http"
    print(f"realtime2 serving on {scheme}://{settings.host}:{settings.port}", flush=True)
    raise_file_limit(settings)
    failures: list[str] = []

    def stop_on_engine_failure(reason: str) -> None:
        # Serving without an engine would only fail users' turns later: stop now, once, with
        # the reason (it already names the engine and the fix).
        failures.append(reason)
        os.kill(os.getpid(), signal.SIGTERM)

    app = create_app(settings, on_engine_failure=stop_on_engine_failure)
    config = uvicorn.Config(
        app,
        # Connection limits: handshake deadline, header cap, connection cap, pings.
        **uvicorn_options(settings),
        ssl_certfile=str(settings.ssl_certfile) if tls else None,
        ssl_keyfile=str(settings.ssl_keyfile) if tls else None,
    )
    # SIGTERM: refuse new sessions, end live ones with an event, settle, then stop.
    DrainingServer(config, lambda: drain_app(app)).run()
    if failures:
        raise SystemExit(f"error: {failures[0]}")


# --- argument parsing ---------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime2", description=__doc__)
    parser.add_argument(
        "--env-file",
        type=Path,
        help="read REALTIME2_* settings from this file (default: $REALTIME2_ENV_FILE, else "
        "./.env when present); variables already set in the environment win",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--bootstrap-demo",
        action="store_true",
        help="create a demo user, credits and key on first start",
    )
    p.add_argument("--ssl-certfile", help="PEM certificate (chain): serve https and wss")
    p.add_argument("--ssl-keyfile", help="PEM private key for --ssl-certfile")
    p.add_argument("--sip", metavar="HOST:PORT", help="listen for SIP phone calls (UDP and TCP)")

    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    sub.add_parser("doctor", help="check the database, Redis, engines and CPU; say what is wrong")

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="sub", required=True)
    p = users.add_parser("create", help="create a user")
    p.add_argument("email")
    p.add_argument("--password")
    p.add_argument("--admin", action="store_true", help="with the admin role (docs/admin.md)")
    p.set_defaults(run=cmd_users_create)
    p = users.add_parser("promote", help="give a user the admin role (--demote: take it)")
    p.add_argument("email")
    p.add_argument("--demote", action="store_true")
    p.set_defaults(run=cmd_users_promote)

    credits = sub.add_parser("credits", help="grant credits, show balances")
    csub = credits.add_subparsers(dest="sub", required=True)
    p = csub.add_parser("grant", help="add UNITS credits (negative: a correcting adjustment)")
    p.add_argument("email")
    p.add_argument("units", type=_positive_int)
    p.set_defaults(run=cmd_credits_grant)
    p = csub.add_parser("balance", help="show a user's balance")
    p.add_argument("email")
    p.set_defaults(run=cmd_credits_balance)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="sub", required=True)
    p = keys.add_parser("create", help="create a key; printed alone on the last line")
    p.add_argument("email")
    p.add_argument("--name", default="")
    p.set_defaults(run=cmd_keys_create)
    p = keys.add_parser("list", help="list a user's keys")
    p.add_argument("email")
    p.set_defaults(run=cmd_keys_list)
    p = keys.add_parser("revoke", help="revoke by key id, displayed prefix or whole key")
    p.add_argument("key")
    p.set_defaults(run=cmd_keys_revoke)

    sip = sub.add_parser("sip", help="SIP endpoints for phone calls").add_subparsers(
        dest="sub", required=True
    )
    p = sip.add_parser("add", help="give a user a SIP URI and a webhook (secret printed once)")
    p.add_argument("email")
    p.add_argument("--webhook-url", required=True)
    p.add_argument(
        "--allow", action="append", metavar="CIDR", help="a source address or network (repeat)"
    )
    p.set_defaults(run=cmd_sip_add)
    p = sip.add_parser("list", help="list a user's SIP endpoints")
    p.add_argument("email")
    p.set_defaults(run=cmd_sip_list)

    limits = sub.add_parser("limits", help="per-user rate limits")
    lsub = limits.add_subparsers(dest="sub", required=True)
    p = lsub.add_parser("set", help="set a user's limits")
    p.add_argument("email")
    p.add_argument("--rpm", type=_positive_int)
    p.add_argument("--max-sessions", type=_positive_int)
    p.set_defaults(run=cmd_limits_set)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        load_env_file(args.env_file)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = get_settings()
    if args.command == "serve":
        given = (
            ("host", args.host),
            ("port", args.port),
            ("ssl_certfile", args.ssl_certfile),
            ("ssl_keyfile", args.ssl_keyfile),
        )
        overrides = {k: v for k, v in given if v}
        if args.sip:  # read by the app's SipSettings (transports.sip.settings)
            os.environ["REALTIME2_SIP_LISTEN"] = args.sip
        serve(settings.model_copy(update=overrides), bootstrap=args.bootstrap_demo)
        return 0
    if args.command == "doctor":  # checks only: no migration, nothing written
        from realtime2 import doctor

        findings = asyncio.run(doctor.run(settings))
        for finding in findings:
            print(finding.line())
        return 1 if any(f.level == "FAIL" for f in findings) else 0
    try:
        asyncio.run(_with_services(settings, args.run, args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
