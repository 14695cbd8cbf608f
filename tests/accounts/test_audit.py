"""The audit log keeps no secrets, whatever a caller passes in its details."""

from __future__ import annotations

from realtime2.accounts.audit import Actor, AuditLog, scrub
from realtime2.state import Services


def test_scrub_removes_secret_names_and_values() -> None:
    key = "sk-gptr2-" + "A" * 43
    details = {
        "reason": f"customer pasted {key} in a ticket",
        "password": "hunter22",
        "nested": {"webhook_secret": "whsec_abc", "note": "ek_" + "b" * 40},
        "amount": 5,
    }
    clean = scrub(details)
    assert key not in str(clean) and "hunter22" not in str(clean)
    assert "whsec_abc" not in str(clean) and "b" * 40 not in str(clean)
    assert clean["amount"] == 5 and clean["reason"].startswith("customer pasted sk-gptr2-")


async def test_entries_are_listed_newest_first_and_filtered(sqlite_services: Services) -> None:
    log = AuditLog(sqlite_services.db)
    actor = Actor(1, "ops@example.com", None, "203.0.113.9")
    for i in range(3):
        await log.record(actor, "credits.grant", f"user:{i}", {"amount": i})
    await log.record(actor, "user.disable", "user:1", {"code": "inv-secret"})
    newest = await log.list(limit=2)
    assert [e.action for e in newest] == ["user.disable", "credits.grant"]
    older = await log.list(before_id=newest[-1].id)
    assert [e.target for e in older] == ["user:1", "user:0"]
    [disabled] = await log.list(target="user:1", action="user.disable")
    assert disabled.details == {"code": "[redacted]"}
    assert disabled.client_address == "203.0.113.9"
