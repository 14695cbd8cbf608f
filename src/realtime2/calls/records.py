"""Call ownership in the database, so every replica can tell an unknown call (404) from
one that runs on another replica, and ended calls keep their final charge."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import update

from realtime2.db.engine import Database
from realtime2.db.models import RealtimeCall

# This process's name in `realtime_calls.replica`.
REPLICA: Final = f"{socket.gethostname()[:80]}:{os.getpid()}"


@dataclass(frozen=True)
class CallRecord:
    id: str
    user_id: int
    model: str
    replica: str
    status: str
    charged: int
    end_reason: str | None


class CallRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def opened(
        self, call_id: str, *, user_id: int, api_key_id: str | None, model: str
    ) -> None:
        async with self.db.transaction() as tx:
            tx.add(
                RealtimeCall(
                    id=call_id,
                    user_id=user_id,
                    api_key_id=api_key_id,
                    model=model,
                    replica=REPLICA,
                    status="active",
                    charged=0,
                )
            )

    async def ended(self, call_id: str, *, charged: int, reason: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                update(RealtimeCall)
                .where(RealtimeCall.id == call_id)
                .values(
                    status="ended",
                    charged=charged,
                    end_reason=reason[:32],
                    ended_at=datetime.now(UTC),
                )
            )

    async def get(self, call_id: str) -> CallRecord | None:
        async with self.db.sessions() as tx:
            row = await tx.get(RealtimeCall, call_id)
            if row is None:
                return None
            return CallRecord(
                row.id, row.user_id, row.model, row.replica, row.status, row.charged, row.end_reason
            )
