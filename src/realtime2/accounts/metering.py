"""Per-second metering of long-running work (realtime sessions, WebRTC calls).

A meter holds credit before the work starts, renews the hold ahead of use while it runs
and settles elapsed whole seconds × rate when the work ends, however it ends.

The hold also records use for the case where nothing settles it (the process was killed):
the expiry sweeper charges what it recorded. Each write records the use up to the next
scheduled renewal, starting with the hold itself, so a session that dies before its first
renewal is charged its first interval rather than nothing; a crash costs the client at most
`renew_every_seconds` beyond its real use, never the server that use. It never lets a
session run past the credit it has reserved: `deadline` says when the reserve runs out and
`renew()` reports when it cannot be extended.

A meter given a `credential_check` (the session's API key still active?) asks it at every
renewal, so a key revoked on any replica ends its live sessions within one renewal interval:
`renew()` reports False and `stop_code` says why ("api_key_revoked", else
"insufficient_credits"); the session is settled as usual. So does a hold whose
`stop_reason` an admin set (ending the session, or disabling its user): the renewal that
finds it ends the session with that code, on whichever replica runs it.

A key's budget (`accounts.key_controls`) bounds what the meter reserves as the balance
does: it starts with what both allow and, when a renewal cannot be covered, the session
runs on what it holds and then ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from realtime2.accounts.key_controls import KeyBudgetExhaustedError
from realtime2.accounts.ledger import HoldNotOpenError, InsufficientCreditsError, Ledger, Settlement

log = logging.getLogger(__name__)
MonotonicClock = Callable[[], float]
CredentialCheck = Callable[[], Awaitable[bool]]
# References of the holds meters place (sockets `rt_`, translations `tr_`, calls `rtc_`):
# counting a user's open ones counts their live sessions on every replica.
SESSION_REFERENCES = ("rt_", "tr_", "rtc_")
# Why `keep_alive` returned: the code and message of the error event the session ends with.
STOP_MESSAGES = {
    "insufficient_credits": "The credit balance ran out",
    "api_key_revoked": "The API key of this session was revoked or expired",
    "key_budget_exhausted": "The API key's credit budget ran out",
    "account_disabled": "The account was disabled",
    "session_ended": "An administrator ended this session",
}


@dataclass(frozen=True)
class MeterPolicy:
    # Seconds of credit reserved ahead of use.
    window_seconds: float = 60.0
    # The least a session must be able to reserve to start at all.
    minimum_start_seconds: float = 5.0
    # Billed at least this many seconds (the seed's WebRTC calls bill 120 s minimum).
    minimum_billed_seconds: float = 0.0
    renew_every_seconds: float = 10.0
    # A hold not renewed for this long is settled by the sweeper (its owner died).
    hold_ttl_seconds: float = 45.0


class SessionMeter:
    def __init__(
        self,
        ledger: Ledger,
        *,
        user_id: int,
        model: str,
        rate: int,
        reference: str,
        api_key_id: str | None = None,
        policy: MeterPolicy | None = None,
        clock: MonotonicClock = time.monotonic,
        credential_check: CredentialCheck | None = None,
    ) -> None:
        self.ledger = ledger
        self.credential_check = credential_check
        self.stop_code = "insufficient_credits"
        self.user_id = user_id
        self.model = model
        self.rate = rate
        self.reference = reference
        self.api_key_id = api_key_id
        self.policy = policy or MeterPolicy()
        self.clock = clock
        self.hold_id: str | None = None
        self.reserved = 0  # credit held + captured over the session's life
        self.captured = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.settlement: Settlement | None = None
        self._lock = asyncio.Lock()
        self._charges = 0
        # Extra facts for the settling ledger entry (e.g. a gateway's upstream token usage).
        self.details: dict[str, Any] = {}

    # --- reading ----------------------------------------------------------------------

    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.ended_at or self.clock()) - self.started_at

    def billable_seconds(self) -> int:
        seconds = max(self.elapsed(), self.policy.minimum_billed_seconds)
        return max(0, math.ceil(seconds - 1e-9))

    def used_credits(self) -> int:
        return self.billable_seconds() * self.rate

    def recorded_use(self) -> int:
        """What the hold records as used: the use by the next scheduled renewal."""
        seconds = max(
            self.elapsed() + self.policy.renew_every_seconds, self.policy.minimum_billed_seconds
        )
        return math.ceil(seconds - 1e-9) * self.rate

    @property
    def deadline(self) -> float:
        """Monotonic time at which the reserved credit is used up."""
        assert self.started_at is not None
        return self.started_at + self.reserved / self.rate

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Reserve credit, or raise InsufficientCreditsError (the session must not start)."""
        # ModelNotAllowedError here when the key may not use this model.
        balance, key_left = await self.ledger.spendable(self.user_id, self.api_key_id, self.model)
        wanted_seconds = max(self.policy.window_seconds, self.policy.minimum_billed_seconds)
        floor = max(self.policy.minimum_start_seconds, self.policy.minimum_billed_seconds)
        amount = min(balance.available, math.ceil(wanted_seconds) * self.rate)
        needed = math.ceil(floor) * self.rate
        if key_left is not None and key_left < needed:
            self.stop_code = "key_budget_exhausted"
            raise KeyBudgetExhaustedError(needed, key_left)
        if key_left is not None:
            amount = min(amount, key_left)
        if amount < needed:
            raise InsufficientCreditsError(needed, balance.available)
        hold = await self.ledger.place_hold(
            self.user_id,
            amount,
            model=self.model,
            reference=self.reference,
            ttl_seconds=self.policy.hold_ttl_seconds,
            api_key_id=self.api_key_id,
            idempotency_key=f"meter:{self.reference}:hold",
            used=self.recorded_use(),
        )
        self.hold_id = hold.id
        self.reserved = hold.amount
        self.started_at = self.clock()
        log.info("meter %s started: model=%s reserved=%d", self.reference, self.model, amount)

    async def renew(self) -> bool:
        """Record usage, push the hold's expiry, top the reserve up to a window ahead.

        Returns False when the reserve is used up and cannot be extended: the caller must
        end the session (with an `insufficient_credits` error)."""
        async with self._lock:
            if self.hold_id is None or self.settlement is not None:
                return False
            if not await self._credential_active():
                # A disabled user's keys fail this check too: the hold says why, if it can.
                hold = await self.ledger.get_hold(self.hold_id)
                self.stop_code = (hold and hold.stop_reason) or "api_key_revoked"
                log.info(
                    "meter %s: credential refused (%s), ending", self.reference, self.stop_code
                )
                return False
            used = self.used_credits()
            ahead = math.ceil(self.policy.window_seconds) * self.rate
            extra = max(0, used + ahead - self.reserved)
            key_limited = False
            if extra:
                balance, key_left = await self.ledger.spendable(self.user_id, self.api_key_id)
                extra = min(extra, max(0, balance.available))
                if key_left is not None and key_left < extra:
                    extra, key_limited = key_left, True
            try:
                hold = await self.ledger.extend_hold(
                    self.hold_id,
                    extra,
                    ttl_seconds=self.policy.hold_ttl_seconds,
                    used=min(self.recorded_use(), self.reserved + extra),
                )
                self.reserved += extra
            except InsufficientCreditsError as exc:
                # Spent elsewhere meanwhile: keep what is reserved, renew the expiry only.
                key_limited = isinstance(exc, KeyBudgetExhaustedError)
                hold = await self.ledger.extend_hold(
                    self.hold_id,
                    0,
                    ttl_seconds=self.policy.hold_ttl_seconds,
                    used=min(self.recorded_use(), self.reserved),
                )
            except HoldNotOpenError:
                return False
            if hold.stop_reason is not None:
                self.stop_code = hold.stop_reason
                log.info("meter %s: asked to stop (%s)", self.reference, hold.stop_reason)
                return False
            # Said if this renewal's reserve turns out to be the last.
            self.stop_code = "key_budget_exhausted" if key_limited else "insufficient_credits"
            return self.clock() < self.deadline

    @property
    def stop_message(self) -> str:
        return STOP_MESSAGES.get(self.stop_code, "The session was ended")

    async def _credential_active(self) -> bool:
        if self.credential_check is None:
            return True
        try:
            return await self.credential_check()
        except Exception:  # the database is away: the ledger write will tell; keep going
            log.warning("meter %s: credential check failed", self.reference)
            return True

    async def charge_so_far(self) -> Settlement:
        """Capture what has been used since the last charge (the `/charge` endpoint).
        Seconds already charged are never charged again."""
        async with self._lock:
            if self.settlement is not None:
                return self.settlement
            assert self.hold_id is not None
            owed = max(0, min(self.used_credits(), self.reserved) - self.captured)
            self._charges += 1
            result = await self.ledger.capture(
                self.hold_id,
                owed,
                final=False,
                idempotency_key=f"meter:{self.reference}:charge:{self._charges}",
                seconds=owed / self.rate,
            )
            self.captured += result.charged
            self.reserved = max(self.reserved, self.captured)
            return result

    async def settle(self, *, reason: str = "closed") -> Settlement | None:
        """Charge the session's whole use and release the rest. Safe to call twice."""
        async with self._lock:
            if self.settlement is not None or self.hold_id is None:
                return self.settlement
            if self.ended_at is None:
                self.ended_at = self.clock()
            total = min(self.used_credits(), self.reserved)
            owed = max(0, total - self.captured)
            try:
                self.settlement = await self.ledger.capture(
                    self.hold_id,
                    owed,
                    final=True,
                    idempotency_key=f"meter:{self.reference}:settle",
                    seconds=total / self.rate,
                    details={
                        **self.details,
                        "reason": reason,
                        "billed_seconds": total // self.rate,
                    },
                )
            except HoldNotOpenError:
                # The sweeper settled an expired hold already (e.g. a very long stall).
                log.warning("meter %s: hold was already closed", self.reference)
                return None
            self.captured += self.settlement.charged
            log.info(
                "meter %s settled: %d credits for %.1fs (%s)",
                self.reference,
                self.settlement.charged,
                self.elapsed(),
                reason,
            )
            return self.settlement

    async def keep_alive(self) -> None:
        """Renew on schedule until the reserve runs out; returns when the session must end.
        Cancel this task when the session closes (then call settle)."""
        while True:
            assert self.started_at is not None
            until_deadline = self.deadline - self.clock()
            await asyncio.sleep(max(0.0, min(self.policy.renew_every_seconds, until_deadline)))
            if not await self.renew():
                return
