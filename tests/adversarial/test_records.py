"""Hostile values in every kind of record field, through from_dict, the constructor and every
store adapter: refused with a typed error, or kept exactly."""

from __future__ import annotations

import math
import reprlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from hostile import OTHER, TEXT, VALUES, deep

from pipeline_core.facts import is_missing
from pipeline_core.records import JournalEntry, Lead

BASE = {"id": "lead-1", "created_at": "2025-01-06T09:00:00+08:00", "source": "website"}


def _put(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    head, _, tail = path.partition(".")
    if tail:
        inner = dict(out.get(head) or {})
        inner[tail] = value
        out[head] = inner
    else:
        out[head] = value
    return out


# Lead fields and a valid neighbourhood for the nested ones.
FIELDS: dict[str, dict[str, Any]] = {
    "id": {},
    "created_at": {},
    "source": {},
    "company": {},
    "phone": {},
    "email": {},
    "needs": {},
    "company_size": {},
    "owner_id": {},
    "status": {},
    "budget.amount": {"budget": {"currency": "CNY"}},
    "budget.currency": {"budget": {"amount": "100"}},
    "next_step.due_at": {"next_step": {"action": "call"}},
    "next_step.action": {"next_step": {"due_at": "2025-01-07T09:00:00+08:00"}},
    "custom.note": {},
    "tags": {},
}


def _same_instant(given: Any, got: str) -> str | None:
    back = datetime.fromisoformat(got)
    if isinstance(given, datetime):
        want = given
    else:
        try:
            want = datetime.fromisoformat(given)
        except (TypeError, ValueError):
            return f"{given!r} accepted as {got!r} although it is no ISO 8601 instant"
    if want != back or want.utcoffset() != back.utcoffset() or want.microsecond != back.microsecond:
        return f"{given!r} came back as {got!r}"
    return None


def _same_json(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (isinstance(a, list | tuple) and isinstance(b, list | tuple)):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _field_check(path: str, given: Any) -> Any:
    def check(lead: Lead) -> str | None:
        out = lead.to_dict()
        head, _, tail = path.partition(".")
        if head == "custom":
            got = out["custom"].get(tail)
            return None if _same_json(given, got) else f"custom {given!r} came back as {got!r}"
        if head == "tags":
            want = sorted(given) if isinstance(given, list) else None
            return None if out["tags"] == want else f"tags {given!r} came back as {out['tags']!r}"
        got = out[head] if not tail else (out[head] or {}).get(tail)
        if got is None and not isinstance(given, str) and is_missing(given):
            # documented normaliser: an optional field's NaN/NaT/NA is "no value" (facts.is_missing)
            return None
        if path in ("created_at", "next_step.due_at"):
            return _same_instant(given, got)
        if path == "budget.amount":
            # documented: an int or a Decimal becomes its decimal text
            want = (
                str(given)
                if isinstance(given, int | Decimal) and not isinstance(given, bool)
                else given
            )
            return None if got == want else f"amount {given!r} came back as {got!r}"
        if path == "status" and isinstance(given, str):
            return None if got == given else f"{given!r} came back as {got!r}"
        return None if _same_json(given, got) else f"{path} {given!r} came back as {got!r}"

    return check


def test_hostile_values_in_lead_fields_are_refused_or_kept(tally: Any) -> None:
    t = tally("records: Lead.from_dict, every field")
    for path, around in FIELDS.items():
        for value in VALUES:
            given = [value] if path == "tags" and not isinstance(value, list) else value
            data = _put({**BASE, **around}, path, given)
            t.attempt(
                f"{path}={reprlib.repr(value)}",
                lambda d=data: Lead.from_dict(d),
                _field_check(path, given),
            )


def test_the_constructor_is_the_same_boundary(tally: Any) -> None:
    t = tally("records: Lead(...) constructor")
    for value in VALUES:
        for name in ("id", "created_at", "source", "company", "company_size"):
            kw: dict[str, Any] = {**BASE, name: value}
            t.attempt(
                f"{name}={reprlib.repr(value)}", lambda kw=kw: Lead(**kw), _field_check(name, value)
            )


def _payload_check(given: dict[str, Any]) -> Any:
    def check(entry: JournalEntry) -> str | None:
        return (
            None
            if _same_json(given, entry.to_dict()["payload"])
            else (
                f"payload {reprlib.repr(given)} came back as {reprlib.repr(entry.to_dict()['payload'])}"
            )
        )

    return check


PAYLOADS: list[Any] = (
    [{"v": v} for v in VALUES]
    + [{1: "int key"}, {"": "empty key"}, {"\x00": 1}, {"a": deep(63)}, {"a": deep(64)}, deep(1000)]
    + ["not an object", ["a list"], None]
)


def test_hostile_payloads_in_every_adapter(tally: Any, store: Any) -> None:
    make = tally("payload: JournalEntry.from_dict")
    kept = tally(f"payload: stored and read back ({store.adapter_name})")
    base = {"kind": "note", "subject_id": "lead-1", "at": "2025-01-06T09:00:00+08:00", "by": "u1"}
    for i, payload in enumerate(PAYLOADS):
        data = {**base, "id": f"j-{i}", "payload": payload}
        entry = make.attempt(
            f"payload {reprlib.repr(payload)}",
            lambda d=data: JournalEntry.from_dict(d),
            _payload_check(payload) if isinstance(payload, dict) else None,
        )
        if entry is None:
            continue

        def round_trip(e: JournalEntry = entry) -> JournalEntry:
            store.journal.append(e)
            return store.journal.get(e.id)  # type: ignore[no-any-return]

        kept.attempt(
            f"store payload {reprlib.repr(payload)}",
            round_trip,
            lambda back, e=entry: (
                None
                if back == e and _same_json(e.to_dict(), back.to_dict())
                else f"{reprlib.repr(e.to_dict())} read back as {reprlib.repr(back.to_dict())}"
            ),
        )


def test_hostile_text_in_every_adapter(tally: Any, store: Any) -> None:
    t = tally(f"records: stored and read back ({store.adapter_name})")
    for i, value in enumerate(TEXT + OTHER):
        for name in ("id", "company", "needs", "source", "created_at"):
            data = {**BASE, "id": f"lead-{i}-{name}", name: value}
            try:
                lead = Lead.from_dict(data)
            except Exception:
                continue

            def round_trip(x: Lead = lead) -> Lead:
                store.leads.add(x)
                return store.leads.get(x.id)  # type: ignore[no-any-return]

            t.attempt(
                f"{name}={reprlib.repr(value)}",
                round_trip,
                lambda back, x=lead: (
                    None
                    if back == x and back.to_dict() == x.to_dict()
                    else f"{x.to_dict()!r:.80} read back as {back.to_dict()!r:.80}"
                ),
            )
