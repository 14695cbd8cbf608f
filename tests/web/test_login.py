"""Login, logout, session cookies, the login rate limit and page access without login."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
import pytest

from realtime2.app import create_app
from realtime2.http.dashboard_ratelimit import Backoff, LoginLimiter
from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.clock import FakeClock
from tests.support.pages import PASSWORD, csrf_of, log_in, post_login


def session_cookie(response: httpx.Response) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("realtime2_session="):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            return cookie
    raise AssertionError(f"no session cookie in {response.headers.get_list('set-cookie')}")


@pytest.mark.parametrize("path", ["/dashboard", "/settings/api-keys"])
async def test_pages_require_login(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + path.replace("/", "%2F")


async def test_root_redirects_by_login_state(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    assert (await client.get("/")).headers["location"] == "/login"
    acct = await new_account(sqlite_services)
    await log_in(client, acct.email)
    assert (await client.get("/")).headers["location"] == "/dashboard"


async def test_wrong_password_is_refused(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    for email, password in ((acct.email, "wrong password!"), ("nobody@example.com", PASSWORD)):
        response = await post_login(client, email, password)
        assert response.status_code == 401
        assert "Wrong email or password" in response.text
        assert "realtime2_session" not in client.cookies
    assert (await client.get("/dashboard")).status_code == 303


async def test_login_sets_session_cookie_and_goes_to_next(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    response = await post_login(client, acct.email.upper(), next_url="/settings/api-keys")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/api-keys"
    morsel = session_cookie(response)["realtime2_session"]
    assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and morsel["path"] == "/"
    # The default settings bind 127.0.0.1 and this is plain http: no Secure flag.
    assert not morsel["secure"]
    page = await client.get("/dashboard")
    assert page.status_code == 200 and acct.email in page.text


@pytest.mark.parametrize("next_url", ["//evil.example/x", "https://evil.example/", "/\\evil"])
async def test_next_cannot_leave_the_site(
    client: httpx.AsyncClient, sqlite_services: Services, next_url: str
) -> None:
    acct = await new_account(sqlite_services)
    response = await post_login(client, acct.email, next_url=next_url)
    assert response.headers["location"] == "/dashboard"


async def test_cookie_secure_setting_is_honoured(sqlite_services: Services) -> None:
    sqlite_services.settings.cookie_secure = True
    acct = await new_account(sqlite_services)
    app = create_app(sqlite_services.settings, sqlite_services)
    # https, since a client keeps Secure cookies (the login form's token) off plain http.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as c:
        response = await post_login(c, acct.email)
    assert session_cookie(response)["realtime2_session"]["secure"]


async def test_login_form_needs_its_token(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    await client.get("/login")  # sets the double-submit cookie
    data = {"email": acct.email, "password": PASSWORD, "csrf_token": "forged"}
    response = await client.post("/login", data=data)
    assert response.status_code == 403
    assert "realtime2_session" not in client.cookies


async def test_logout_ends_the_server_session(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    csrf = await log_in(client, acct.email)
    token = client.cookies["realtime2_session"]
    assert (await client.post("/logout", data={"csrf_token": "wrong"})).status_code == 403
    assert await sqlite_services.web_sessions.lookup(token) is not None
    response = await client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert await sqlite_services.web_sessions.lookup(token) is None
    # Replaying the old cookie does not get back in.
    client.cookies.set("realtime2_session", token)
    assert (await client.get("/dashboard")).status_code == 303


def _client_from(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_a_guesser_elsewhere_cannot_lock_the_user_out(sqlite_services: Services) -> None:
    clock = FakeClock()
    app = create_app(sqlite_services.settings, sqlite_services)
    app.state.login_limiter = LoginLimiter(clock=clock)
    attacker, user = _client_from(app, "203.0.113.9"), _client_from(app, "198.51.100.7")
    acct = await new_account(sqlite_services)
    for _ in range(10):  # ten wrong passwords for the victim's email, from one address
        response = await post_login(attacker, acct.email, "wrong password!")
        assert response.status_code in (401, 429)
    # The attacker's address is slowed down for this email, without checking the password...
    blocked = await post_login(attacker, acct.email)
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text
    # ...but the real user, from their own address, logs in at once.
    assert (await post_login(user, acct.email)).status_code == 303
    await attacker.aclose()
    await user.aclose()


async def test_failures_back_off_exponentially_per_email_and_address(
    sqlite_services: Services,
) -> None:
    clock = FakeClock()
    app = create_app(sqlite_services.settings, sqlite_services)
    app.state.login_limiter = LoginLimiter(clock=clock)
    client = _client_from(app, "203.0.113.9")
    acct = await new_account(sqlite_services)
    for _ in range(5):  # free failures
        assert (await post_login(client, acct.email, "wrong password!")).status_code == 401
    waits = []
    for _ in range(4):
        blocked = await post_login(client, acct.email)  # even the right password waits
        assert blocked.status_code == 429
        waits.append(int(blocked.headers["retry-after"]))
        clock.now += waits[-1]
        assert (await post_login(client, acct.email, "wrong password!")).status_code == 401
    assert waits == [1, 2, 4, 8]
    clock.now += 16
    assert (await post_login(client, acct.email)).status_code == 303
    # Success clears the pair: the next mistake is free again.
    client.cookies.clear()
    assert (await post_login(client, acct.email, "wrong password!")).status_code == 401
    assert (await post_login(client, acct.email)).status_code == 303
    await client.aclose()


async def test_one_address_spraying_many_emails_is_slowed(
    client: httpx.AsyncClient, sqlite_services: Services
) -> None:
    acct = await new_account(sqlite_services)
    for i in range(20):
        response = await post_login(client, f"guess{i}@example.com", "wrong password!")
        assert response.status_code == 401
    # A different email from the same address waits too (the address's own backoff).
    blocked = await post_login(client, acct.email)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


def test_backoff_is_capped_and_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(
        per_pair=Backoff(1, 60), per_address=Backoff(10**6, 60), max_tracked=100, clock=clock
    )
    for _ in range(200):
        limiter.record_failure("a@example.com", "192.0.2.1")
    assert limiter.retry_after("a@example.com", "192.0.2.1") == 60  # capped, no overflow
    for i in range(1000):
        limiter.record_failure(f"{i}@example.com", "192.0.2.2")
    assert limiter.tracked() == 100
    assert limiter.retry_after("a@example.com", "192.0.2.1") == 0  # forgotten, oldest first
    clock.now += 60 * 60 + 1
    assert limiter.retry_after("999@example.com", "192.0.2.2") == 0  # idle keys expire


async def test_login_page_has_no_session_needed_and_a_token(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 200 and csrf_of(page.text)
    assert client.cookies.get("realtime2_login_csrf") == csrf_of(page.text)
