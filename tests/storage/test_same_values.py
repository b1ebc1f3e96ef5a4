"""Every adapter gives back the same values for the same records: text that looks like a missing
value, UTC offsets from -12:00 to +14:00 with microseconds, and lookups by odd keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ValidationError
from pipeline_core.records import Account, Opportunity
from pipeline_core.storage._base import _whole_second_offset
from pipeline_core.storage.frames import opportunities_frame

T0 = datetime(2025, 5, 5, 8, tzinfo=UTC)
_OPP = pydantic.TypeAdapter(Opportunity)

# Text a CSV reader or a dataframe library may take for "missing"; to a store it is just text.
MISSING_LOOKING = ["NA", "N/A", "n/a", "NULL", "null", "None", "nan", "NaN", "-NaN", "#N/A", "<NA>"]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_store")


def _deal(i: int, **fields: Any) -> Opportunity:
    base: dict[str, Any] = {
        "id": f"deal-{i:03d}",
        "name": f"Deal {i}",
        "created_at": T0,
        "owner_id": "lin",
        "stage": "new",
        "stage_entered_at": T0,
    }
    return Opportunity(**(base | fields))


def _exactly(record: Opportunity) -> bytes:
    """The record as JSON: equal bytes = equal values, offsets and microseconds included."""
    return _OPP.dump_json(record)


def test_missing_looking_text_stays_text_in_records_and_frames(store: Any) -> None:
    deals = [
        _deal(i, name=text, team_id=text, source=text, lost_reason=text)
        for i, text in enumerate(MISSING_LOOKING)
    ]
    store.opportunities.bulk_add(deals)
    for deal in deals:
        assert _exactly(store.opportunities.get(deal.id)) == _exactly(deal)
    frame = opportunities_frame(store)
    for column in ("name", "team_id", "source"):
        assert frame.column(column).to_pylist() == MISSING_LOOKING  # ids sort like the list
    assert frame.column("lead_id").null_count == len(MISSING_LOOKING)  # real nulls stay null


def test_an_empty_string_and_a_null_stay_apart_in_frames(store: Any) -> None:
    store.opportunities.bulk_add([_deal(1, source=None, lost_reason=""), _deal(2, source=" ")])
    frame = opportunities_frame(store)
    assert frame.column("source").to_pylist() == [None, " "]


# Offsets at both ends of the range in use (-12:00, +14:00) and odd quarter hours. Offsets with
# seconds (local mean time of Kolkata, +05:53:28) or microseconds are refused by the records (ISO
# 8601 and JSON write minutes only): see test_an_offset_with_seconds_is_refused_before_any_store.
OFFSETS = [
    timedelta(hours=-12),
    timedelta(hours=-9, minutes=-30),
    timedelta(0),
    timedelta(hours=5, minutes=45),
    timedelta(hours=12, minutes=45),
    timedelta(hours=14),
]
WALL_TIMES = [
    datetime(2025, 1, 6, 9, 0, 0, 1),
    datetime(2025, 1, 6, 9, 0, 0, 999_999),
    datetime(1969, 12, 31, 23, 59, 59, 999_999),
    datetime(1, 1, 1, 0, 0),  # with -12:00 the instant is still in year 1 UTC
    datetime(9999, 12, 31, 23, 59, 59, 999_999),  # with +14:00 still in year 9999 UTC
]


def _whole_minutes(offset: timedelta) -> bool:
    return offset % timedelta(minutes=1) == timedelta(0)


def _instants() -> Iterator[datetime]:
    for wall in WALL_TIMES:
        for offset in OFFSETS:
            at = wall.replace(tzinfo=timezone(offset))
            try:
                at.astimezone(UTC)
            except OverflowError:
                continue  # outside years 1-9999 in UTC: records refuse it (see below)
            yield at


@pytest.mark.parametrize("offset", [timedelta(hours=14)])
def test_an_instant_before_year_1_utc_is_refused(offset: timedelta) -> None:
    # 0001-01-01T00:00:00+05:53:28 is 0000-12-31T18:06:32 UTC: no year 0 in Python (nor in the
    # SQL stores' readers)
    at = datetime(1, 1, 1, tzinfo=timezone(offset))
    with pytest.raises(ValidationError) as info:
        _deal(1, created_at=at, stage_entered_at=at)
    assert "datetime_range" in [p.code for p in info.value.problems]


def test_offsets_and_microseconds_round_trip_and_sort_by_instant(store: Any) -> None:
    instants = list(_instants())
    deals = [
        _deal(i, created_at=at, stage_entered_at=at, next_step={"action": "call", "due_at": at})
        for i, at in enumerate(instants)
    ]
    store.opportunities.bulk_add(deals)
    for deal in deals:
        back = store.opportunities.get(deal.id)
        assert _exactly(back) == _exactly(deal)
        assert back.created_at.utcoffset() == deal.created_at.utcoffset()
    # Due order is the order of instants (ties by id), whatever the offsets say on the wall.
    latest = max(instants)
    expected = [d.id for d in sorted(deals, key=lambda d: (d.next_step.due_at, d.id))]  # type: ignore[union-attr]
    assert [d.id for d in store.opportunities.due_by(latest)] == expected
    # The same through pages of 7: every page boundary falls on a timestamp key.
    paged: list[str] = []
    for chunk_start in range(0, len(expected), 7):
        page = list(store.opportunities.due_by(latest, limit=chunk_start + 7))[chunk_start:]
        paged += [d.id for d in page]
    assert paged == expected


def test_a_query_bound_with_a_microsecond_offset_is_an_ordinary_instant(store: Any) -> None:
    odd = timezone(timedelta(hours=3, microseconds=250_000))
    at = datetime(2025, 6, 1, 12, 0, 0, 250_000, tzinfo=odd)  # = 09:00:00 UTC exactly
    store.opportunities.add(_deal(1, next_step={"action": "call", "due_at": T0}))
    assert [d.id for d in store.opportunities.due_by(at)] == ["deal-001"]
    assert list(store.opportunities.due_by(T0 - timedelta(microseconds=1))) == []


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("deal\x00001", "nul_character"),
        ("\ud800", "text"),
        (1, "string_type"),
        (None, "string_type"),
    ],
)
def test_an_impossible_lookup_key_is_the_same_typed_error_everywhere(
    store: Any, key: Any, code: str
) -> None:
    store.opportunities.add(_deal(1))
    for lookup in (
        lambda: store.opportunities.find(key),
        lambda: store.opportunities.get(key),
        lambda: list(store.opportunities.by_owner(key)),
        lambda: list(store.opportunities.by_tag(key)),
        *([] if key is None else [lambda: list(store.opportunities.all(after=key))]),
        lambda: list(store.activities.for_subject(key)),
        lambda: list(store.journal.by_kind(key)),
    ):
        with pytest.raises(ValidationError) as info:
            lookup()
        assert [p.code for p in info.value.problems] == [code]


def test_an_unknown_but_possible_key_is_simply_not_found(store: Any) -> None:
    store.opportunities.add(_deal(1))
    for key in ("", " ", "deal-001 ", "DEAL-001", "deal-001\n", "%", "_"):
        assert store.opportunities.find(key) is None
        assert list(store.opportunities.by_owner(key)) == []


@given(
    wall=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offset_us=st.integers(min_value=-12 * 3_600_000_000, max_value=14 * 3_600_000_000),
)
def test_a_record_keeps_the_instant_whatever_the_offset(wall: datetime, offset_us: int) -> None:
    at = wall.replace(tzinfo=timezone(timedelta(microseconds=offset_us)))
    if offset_us % 60_000_000:  # not whole minutes: ISO 8601 cannot write it, so it is refused
        with pytest.raises(ValidationError) as info:
            _deal(1, created_at=at, stage_entered_at=at)
        assert "timezone_offset" in [p.code for p in info.value.problems]
        return
    deal = _deal(1, created_at=at, stage_entered_at=at)
    assert deal.created_at == at  # the same instant
    assert deal.created_at.utcoffset() == timedelta(microseconds=offset_us)
    back = Opportunity.from_dict(deal.to_dict())  # what every SQL store does
    assert back.created_at == at and back.created_at.utcoffset() == timedelta(
        microseconds=offset_us
    )


def test_an_offset_with_seconds_is_refused_before_any_store(store: Any) -> None:
    # Kolkata kept local mean time, +05:53:28, until 1906: JSON offsets have minutes only, and
    # writing +05:53 would move the instant by 28 seconds on the SQL stores only. The record refuses
    # it, so no store ever holds a different instant than another.
    lmt = datetime(1900, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=53, seconds=28)))
    with pytest.raises(ValidationError) as info:
        store.opportunities.add(_deal(1, created_at=lmt, stage_entered_at=lmt))
    assert "timezone_offset" in [p.code for p in info.value.problems]
    assert store.opportunities.count() == 0


@given(
    wall=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    offset_us=st.integers(min_value=-12 * 3_600_000_000, max_value=14 * 3_600_000_000),
)
def test_whole_second_offset_keeps_the_instant(wall: datetime, offset_us: int) -> None:
    value = wall.replace(tzinfo=timezone(timedelta(microseconds=offset_us)))
    moved = _whole_second_offset(value)
    assert moved is not None
    assert moved == value  # the same instant (aware datetimes compare as instants)
    offset = moved.utcoffset()
    assert offset is not None and offset.microseconds == 0
    # the offset moved by less than one second
    assert abs(offset - timedelta(microseconds=offset_us)) < timedelta(seconds=1)


# Ids that a linguistic collation (en_US, ICU "en") orders differently from code points:
# upper case before lower case, punctuation and digits by code point, CJK after Latin.
COLLATION_SENSITIVE_IDS = ["B-2", "a", "a-b", "a_b", "ab", "A", "b", "Z9", "z10", "z9", "é", "北京"]


def _ids_in_store_order(store: Any) -> tuple[list[str], list[str]]:
    store.accounts.bulk_add(
        Account(id=i, name=f"Account {i}", created_at=T0) for i in COLLATION_SENSITIVE_IDS
    )
    every = [a.id for a in store.accounts.all()]
    paged: list[str] = []
    after: str | None = None
    while page := [a.id for a in store.accounts.all(after=after, limit=5)]:
        paged += page
        after = page[-1]
    return every, paged


def test_ids_sort_by_code_point_on_every_adapter(store: Any) -> None:
    every, paged = _ids_in_store_order(store)
    # Python's sorted() compares code points: "A" (65) < "B" (66) < "Z" < "a" (97) ...
    assert every == paged == sorted(COLLATION_SENSITIVE_IDS)
    assert every[:3] == ["A", "B-2", "Z9"]


@pytest.mark.postgres
def test_ids_sort_by_code_point_in_a_database_with_a_linguistic_collation(
    pg_session: tuple[str, str],
) -> None:
    import uuid

    import psycopg

    from pipeline_core.storage import PostgresStore

    url, _ = pg_session
    name = f"pc_icu_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(url, autocommit=True)
    try:
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    except psycopg.Error as exc:
        admin.close()
        pytest.skip(f"cannot create a database with an ICU collation here: {exc}")
    try:
        icu_url = psycopg.conninfo.make_conninfo(url, dbname=name)
        with psycopg.connect(icu_url) as probe:  # the database really orders linguistically
            row = probe.execute(
                "SELECT string_agg(x, ' ' ORDER BY x) FROM (VALUES ('a'), ('B')) v(x)"
            ).fetchone()
            assert row is not None and row[0] == "a B"
        with PostgresStore(icu_url) as store:
            every, paged = _ids_in_store_order(store)
        assert every == paged == sorted(COLLATION_SENSITIVE_IDS)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
