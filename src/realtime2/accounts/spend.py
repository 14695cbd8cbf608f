"""Spend reports, read from the ledger itself.

Spend is the credit captured: the ledger's `capture` entries, each attributed to its user,
API key and model when it was written. Holds and releases are reservations, top-ups and
adjustments are grants; none of them is spend. Every figure here is an aggregate over those
rows (SQL `SUM`/`COUNT`), never a counter kept beside them, so a report's total is exactly
what the ledger charged: `topups + adjustments − posted` for a user, to the credit.

Days are UTC calendar days. A report covers at most `MAX_DAYS` days and returns at most
`MAX_PAGE` groups a page, in group order; further pages are read with a keyset cursor
(`after`: the last group of the page before), so a page is one query whose answer is
bounded whatever the number of users or keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, cast, get_args

from sqlalchemy import ColumnElement, Connection, Table, func, select

from realtime2.db.engine import Database
from realtime2.db.models import ApiKey, LedgerEntry, User

Group = Literal["user", "key", "model", "day"]
GROUPS: tuple[Group, ...] = get_args(Group)
MAX_DAYS = 366
MAX_PAGE = 1000

_entries = cast(Table, LedgerEntry.__table__)
_keys = cast(Table, ApiKey.__table__)
_users = cast(Table, User.__table__)
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class ReportError(ValueError):
    """A report that cannot be run as asked; `param` names the field at fault."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class SpendQuery:
    """One page of a report: spend over UTC days `start`..`end` (both included), grouped by
    `group_by`, optionally narrowed to one user, API key or model."""

    group_by: Group
    start: date
    end: date
    user_id: int | None = None  # None: every user (admin reports)
    key_id: str | None = None
    model: str | None = None
    after: str | None = None  # the last group of the previous page
    limit: int = 100

    def __post_init__(self) -> None:
        if self.group_by not in GROUPS:
            raise ReportError("group_by", f"group_by must be one of {', '.join(GROUPS)}.")
        if self.end < self.start:
            raise ReportError("to", "`to` is before `from`.")
        if self.days > MAX_DAYS:
            raise ReportError("from", f"A report covers at most {MAX_DAYS} days.")
        if self.end >= date.max:
            raise ReportError("to", "`to` is out of range.")
        if not 1 <= self.limit <= MAX_PAGE:
            raise ReportError("limit", f"limit must be 1 to {MAX_PAGE}.")
        if self.after is not None:
            _cursor(self.group_by, self.after)  # refuses a malformed one now

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def next_page(self, after: str) -> SpendQuery:
        return SpendQuery(
            self.group_by,
            self.start,
            self.end,
            user_id=self.user_id,
            key_id=self.key_id,
            model=self.model,
            after=after,
            limit=self.limit,
        )


@dataclass(frozen=True)
class SpendTotal:
    credits: int
    seconds: float
    charges: int  # captures that charged something


@dataclass(frozen=True)
class SpendRow(SpendTotal):
    group: str  # the day (YYYY-MM-DD), model, key id ("" for a dashboard login), user id
    # Who the group is, for people reading the report (from users and api_keys).
    user_id: int | None = None
    email: str | None = None
    key_prefix: str | None = None
    key_name: str | None = None


@dataclass(frozen=True)
class SpendPage:
    rows: list[SpendRow]
    has_more: bool
    total: SpendTotal  # over the whole range and filters, whatever the page


@dataclass(frozen=True)
class DaySpend:
    day: date
    credits: int
    seconds: float = 0.0
    charges: int = 0


def _day_expr(dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of an entry as 'YYYY-MM-DD' (SQLite stores UTC text; PostgreSQL
    a timestamptz, read in UTC whatever the connection's time zone)."""
    created = _entries.c.created_at
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d", created)
    return func.to_char(func.timezone("UTC", created), "YYYY-MM-DD")


def _group_expr(group_by: Group, dialect: str) -> ColumnElement[Any]:
    c = _entries.c
    if group_by == "user":
        return c.user_id
    if group_by == "key":
        return func.coalesce(c.api_key_id, "")
    if group_by == "model":
        return func.coalesce(c.model, "")
    return _day_expr(dialect)


def _cursor(group_by: Group, after: str) -> int | str:
    if len(after) > 200:
        raise ReportError("after", "`after` is too long.")
    if group_by == "user":
        if not after.isdigit() or len(after) > 18:
            raise ReportError("after", "`after` must be a user id when grouping by user.")
        return int(after)
    if group_by == "day":
        try:
            date.fromisoformat(after)
        except ValueError:
            raise ReportError("after", "`after` must be a day (YYYY-MM-DD).") from None
    return after


def _where(query: SpendQuery) -> list[ColumnElement[bool]]:
    c = _entries.c
    start = datetime.combine(query.start, time.min, UTC)
    end = datetime.combine(query.end + timedelta(days=1), time.min, UTC)
    # A zero capture is how a hold is released unused: it charged nothing.
    clauses = [c.kind == "capture", c.amount != 0, c.created_at >= start, c.created_at < end]
    if query.user_id is not None:
        clauses.append(c.user_id == query.user_id)
    if query.key_id is not None:
        clauses.append(c.api_key_id == query.key_id)
    if query.model is not None:
        clauses.append(c.model == query.model)
    return clauses


def _total(row: Any) -> tuple[int, float, int]:
    credits, seconds, charges = row
    return int(credits or 0), round(float(seconds or 0.0), 3), int(charges or 0)


_SUMS = (
    func.coalesce(func.sum(_entries.c.amount), 0),
    func.coalesce(func.sum(_entries.c.seconds), 0.0),
    func.count(),
)


class SpendReports:
    def __init__(self, db: Database, *, clock: Clock = _now) -> None:
        self.db = db
        self.clock = clock

    @property
    def _dialect(self) -> str:
        return "sqlite" if self.db.is_sqlite else "postgresql"

    def today(self) -> date:
        return self.clock().astimezone(UTC).date()

    async def report(self, query: SpendQuery) -> SpendPage:
        group = _group_expr(query.group_by, self._dialect).label("grp")
        where = _where(query)
        page = select(group, *_SUMS).where(*where)
        if query.after is not None:
            page = page.where(group > _cursor(query.group_by, query.after))
        # One row more than the page says whether another page follows.
        page = page.group_by(group).order_by(group).limit(query.limit + 1)
        totals = select(*_SUMS).where(*where)

        def read(conn: Connection) -> SpendPage:
            found = conn.execute(page).all()
            has_more = len(found) > query.limit
            rows = [SpendRow(*_total(row[1:]), group=str(row[0])) for row in found[: query.limit]]
            rows = _describe(conn, query.group_by, rows)
            return SpendPage(rows, has_more, SpendTotal(*_total(conn.execute(totals).one())))

        return await self.db.run(read, write=False)

    async def pages(self, query: SpendQuery) -> AsyncIterator[SpendPage]:
        """Every page of `query` from its cursor on, one bounded query each (CSV export)."""
        while True:
            page = await self.report(query)
            yield page
            if not page.has_more or not page.rows:
                return
            query = query.next_page(page.rows[-1].group)

    async def daily(self, user_id: int | None, *, days: int = 30) -> list[DaySpend]:
        """The last `days` UTC days up to today, oldest first, days without spend as 0."""
        end = self.today()
        start = end - timedelta(days=days - 1)
        page = await self.report(
            SpendQuery("day", start, end, user_id=user_id, limit=min(days, MAX_PAGE))
        )
        by_day = {row.group: row for row in page.rows}
        series = []
        for offset in range(days):
            day = start + timedelta(days=offset)
            row = by_day.get(day.isoformat())
            series.append(
                DaySpend(day, row.credits, row.seconds, row.charges) if row else DaySpend(day, 0)
            )
        return series


def _describe(conn: Connection, group_by: Group, rows: list[SpendRow]) -> list[SpendRow]:
    """Name each user or key group (email; key prefix, name and owner) in one query."""
    if group_by == "user" and rows:
        user_ids = [int(row.group) for row in rows]
        emails = dict(
            conn.execute(select(_users.c.id, _users.c.email).where(_users.c.id.in_(user_ids))).all()
        )
        return [
            _with(row, user_id=int(row.group), email=emails.get(int(row.group))) for row in rows
        ]
    if group_by == "key" and rows:
        key_ids = [row.group for row in rows if row.group]
        k = _keys.c
        found = {
            key_id: (prefix, name, owner, email)
            for key_id, prefix, name, owner, email in conn.execute(
                select(k.id, k.prefix, k.name, k.user_id, _users.c.email)
                .join(_users, _users.c.id == k.user_id)
                .where(k.id.in_(key_ids))
            )
        }
        described = []
        for row in rows:
            prefix, name, owner, email = found.get(row.group, (None, None, None, None))
            described.append(
                _with(row, key_prefix=prefix, key_name=name, user_id=owner, email=email)
            )
        return described
    return rows


def _with(row: SpendRow, **names: Any) -> SpendRow:
    return SpendRow(row.credits, row.seconds, row.charges, group=row.group, **names)


__all__ = [
    "GROUPS",
    "MAX_DAYS",
    "MAX_PAGE",
    "DaySpend",
    "Group",
    "ReportError",
    "SpendPage",
    "SpendQuery",
    "SpendReports",
    "SpendRow",
    "SpendTotal",
]
