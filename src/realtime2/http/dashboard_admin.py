"""The admin page of the dashboard (`/dashboard/admin`): every user's spend over the last
30 days, and users: credits, disable/enable.

The page is a shell; `web/static/admin.js` lists users from `GET /api/admin/users` and
calls the admin API for every action (with the login's CSRF token), so each action is the
API's: checked, audited and idempotent in one place. Only admins get the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from realtime2.http.dashboard_web import PageRoute, current_login, login_redirect, render
from realtime2.http.spend import reports
from realtime2.http.spend_chart import spend_chart
from realtime2.state import services_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)
CHART_DAYS = 30


async def is_admin(request: Request, user_id: int) -> bool:
    user = await services_of(request).users.get(user_id)
    return user is not None and user.role == "admin" and user.disabled_at is None


@router.get("/dashboard/admin")
async def admin_page(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    if not await is_admin(request, login.user_id):
        message = "This page is for admins. Ask an admin to promote your account."
        return render(request, "error.html", {"message": message}, status=403, login=login)
    # Everyone's spend, as the dashboard charts a user's own.
    chart = spend_chart(await reports(request).daily(None, days=CHART_DAYS))
    context = {"active": "admin", "is_admin": True, "chart": chart}
    return render(request, "admin.html", context, login=login)
