"""Records: immutable values that validate at every boundary and round-trip through plain data."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core import records as r
from pipeline_core._model import FrozenDict
from pipeline_core.errors import PipelineCoreError, ValidationError
from pipeline_core.testing import strategies as pcst

NOW = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


def lead(**changes: Any) -> r.Lead:
    return r.Lead(id="lead-1", created_at=NOW, source="website", **changes)


@given(pcst.records())
def test_round_trip_through_plain_data_and_json(record: Any) -> None:
    cls = type(record)
    data = record.to_dict()
    assert cls.from_dict(data) == record
    assert cls.from_dict(json.loads(json.dumps(data, ensure_ascii=False))) == record


@given(pcst.records())
def test_records_are_hashable_values_and_pickle(record: Any) -> None:
    copy = pickle.loads(pickle.dumps(record))
    assert copy == record
    assert hash(copy) == hash(record)


@given(pcst.leads(), st.sampled_from(list(r.Intent)))
def test_evolve_validates_and_raises_version_by_one(record: r.Lead, intent: r.Intent) -> None:
    changed = record.evolve(intent=intent)
    assert changed.version == record.version + 1
    assert changed.intent is intent
    assert record.version == changed.version - 1  # the original is untouched
    with pytest.raises(ValidationError) as info:
        record.evolve(created_at=datetime(2025, 1, 1))
    assert info.value.fields == ("created_at",)


def test_records_cannot_be_changed_in_place() -> None:
    x = lead(custom={"region": "east"}, tags={"vip"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        x.source = "event"  # type: ignore[misc]
    with pytest.raises(TypeError):
        x.custom["region"] = "west"
    with pytest.raises(AttributeError):
        x.tags.add("other")  # type: ignore[attr-defined]
    assert isinstance(x.custom, FrozenDict)


def test_evolve_refuses_unknown_fields_and_manual_versions() -> None:
    x = lead()
    with pytest.raises(ValidationError) as info:
        x.evolve(colour="red", version=7)
    assert set(info.value.fields) == {"version"}
    with pytest.raises(ValidationError) as info:
        x.evolve(colour="red")
    assert info.value.fields == ("colour",)


def test_value_records_have_no_version() -> None:
    m = r.Money.of("10.50", "EUR")
    assert "version" not in m.to_dict()
    assert m.evolve(amount=Decimal("11")).amount == Decimal("11")


class TestHostileInput:
    """Bad input gives a ValidationError naming every bad field: never a crash, never a silent fix."""

    def test_every_bad_field_is_named_with_its_value(self) -> None:
        data = {
            "id": "has space",
            "created_at": "2025-01-06T09:00:00",  # naive
            "source": 42,
            "company_size": -5,
            "budget": {"amount": 12.5, "currency": "CNY"},
            "expected_amount": {"amount": "-1", "currency": "XYZ"},
            "intent": "burning",
            "tags": ["ok", ""],
            "surprise": True,
        }
        with pytest.raises(ValidationError) as info:
            r.Lead.from_dict(data)
        err = info.value
        assert set(err.fields) == {
            "id",
            "created_at",
            "source",
            "company_size",
            "budget.amount",
            "expected_amount.amount",
            "expected_amount.currency",
            "intent",
            "tags[1]" if "tags[1]" in err.fields else "tags",
            "surprise",
        }
        by_field = {p.field: p for p in err.problems}
        assert by_field["budget.amount"].value == 12.5
        assert "timezone" in by_field["created_at"].message
        assert isinstance(err, ValueError) and isinstance(err, PipelineCoreError)
        assert "created_at" in str(err) and "12.5" in str(err)

    def test_missing_required_fields_are_all_listed(self) -> None:
        with pytest.raises(ValidationError) as info:
            r.Opportunity.from_dict({})
        assert set(info.value.fields) == {
            "id",
            "name",
            "created_at",
            "owner_id",
            "stage",
            "stage_entered_at",
        }
        assert all(p.missing for p in info.value.problems)

    @pytest.mark.parametrize("value", [1700000000, 1.7e9, Decimal(1), True])
    def test_numbers_are_not_guessed_as_unix_times(self, value: Any) -> None:
        with pytest.raises(ValidationError) as info:
            r.Lead.from_dict({"id": "x", "created_at": value, "source": "web"})
        assert info.value.fields == ("created_at",)

    def test_naive_datetime_rejected_by_the_constructor_too(self) -> None:
        with pytest.raises(ValidationError, match="timezone is needed"):
            r.Activity(
                id="a", kind=r.ActivityKind.CALL, at=datetime(2025, 1, 1), owner_id="u", lead_id="l"
            )

    @pytest.mark.parametrize(
        ("amount", "currency", "field"),
        [
            (-1, "CNY", "amount"),
            ("1.005", "CNY", "amount"),
            ("1.5", "JPY", "amount"),
            (1.5, "USD", "amount"),
            ("NaN", "USD", "amount"),
            ("Infinity", "USD", "amount"),
            ("ten", "USD", "amount"),
            (10, "cny", "currency"),
            (10, "RMB", "currency"),
        ],
    )
    def test_bad_money(self, amount: Any, currency: str, field: str) -> None:
        with pytest.raises(ValidationError) as info:
            r.Money.from_dict({"amount": amount, "currency": currency})
        assert info.value.fields == (field,)

    def test_exact_money_survives(self) -> None:
        m = r.Money.from_dict({"amount": "0.10", "currency": "USD"})
        assert m.amount == Decimal("0.10") and str(m.amount) == "0.10"
        assert r.Money.from_dict({"amount": "12.345", "currency": "KWD"}).amount == Decimal(
            "12.345"
        )

    def test_megabyte_strings_are_refused_with_a_short_message(self) -> None:
        huge = "北" * 1_000_000
        with pytest.raises(ValidationError) as info:
            r.Lead.from_dict(
                {"id": "x", "created_at": NOW.isoformat(), "source": "w", "company": huge}
            )
        assert info.value.fields == ("company",)
        assert len(str(info.value)) < 500

    def test_long_notes_within_the_limit_are_kept_whole(self) -> None:
        notes = "跟进记录 😀 '; DROP TABLE x; --" * 3_000
        a = r.Activity.from_dict(
            {
                "id": "a",
                "kind": "visit",
                "at": NOW.isoformat(),
                "owner_id": "u",
                "lead_id": "l",
                "notes": notes,
            }
        )
        assert a.notes == notes

    def test_unicode_names_are_valid(self) -> None:
        x = r.Account(id="acc-1", name="北京某某科技有限公司", created_at=NOW)
        assert r.Account.from_dict(x.to_dict()).name == "北京某某科技有限公司"

    @pytest.mark.parametrize(
        "value", [None, 3, "x", [], ["a"], {"id": {"nested": 1}}, object()], ids=repr
    )
    def test_wrong_shapes(self, value: Any) -> None:
        with pytest.raises(ValidationError):
            r.Lead.from_dict(value)

    def test_cross_field_rules(self) -> None:
        with pytest.raises(ValidationError) as info:
            r.Activity.from_dict(
                {"id": "a", "kind": "call", "at": NOW.isoformat(), "owner_id": "u"}
            )
        assert info.value.fields == ("lead_id",)
        with pytest.raises(ValidationError) as info:
            r.Opportunity(
                id="o",
                name="n",
                created_at=NOW,
                owner_id="u",
                stage="new",
                stage_entered_at=NOW - timedelta(days=1),
                closed_at=NOW - timedelta(days=2),
            )
        assert set(info.value.fields) == {"stage_entered_at", "closed_at"}

    def test_nested_invariant_errors_carry_the_full_path(self) -> None:
        with pytest.raises(ValidationError) as info:
            r.Lead.from_dict(
                {"id": "x", "created_at": NOW.isoformat(), "source": "w",
                 "budget": {"amount": "1.5", "currency": "JPY"}}
            )  # fmt: skip
        assert info.value.fields == ("budget.amount",)

    def test_offsets_are_kept_not_converted(self) -> None:
        shanghai = timezone(timedelta(hours=8))
        x = lead(
            next_step=r.NextStep(action="call", due_at=datetime(2025, 1, 7, 9, tzinfo=shanghai))
        )
        assert x.to_dict()["next_step"]["due_at"] == "2025-01-07T09:00:00+08:00"


@pytest.mark.parametrize("cls", r.RECORD_TYPES, ids=lambda c: c.__name__)
def test_every_record_publishes_a_json_schema(cls: type[Any]) -> None:
    schema = cls.json_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {f.name for f in attrs.fields(cls)}


_HOSTILE = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.just("2025-01-06T09:00:00")
    | st.just("'; DROP TABLE x; --")
    | st.just({"amount": 1.5, "currency": "CNY"})
    | st.lists(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
)


@pytest.mark.parametrize(
    ("cls", "strategy"),
    [
        (r.Lead, pcst.leads()),
        (r.Activity, pcst.activities()),
        (r.Opportunity, pcst.opportunities()),
    ],
    ids=["Lead", "Activity", "Opportunity"],
)
def test_mutated_input_is_valid_or_blames_only_mutated_fields(
    cls: type[Any], strategy: Any
) -> None:
    @given(strategy, st.data())
    def check(record: Any, data: st.DataObject) -> None:
        plain = record.to_dict()
        mutated = data.draw(st.sets(st.sampled_from(sorted(plain)), min_size=1, max_size=4))
        for name in mutated:
            plain[name] = data.draw(_HOSTILE)
        try:
            result = cls.from_dict(plain)
        except ValidationError as exc:
            assert exc.problems
            blamed = {p.path[0] for p in exc.problems if p.path}
            # cross-field rules may blame a partner of a mutated field
            partners = {"lead_id", "stage_entered_at", "closed_at"}
            assert blamed <= mutated | partners
        else:
            assert cls.from_dict(result.to_dict()) == result

    check()


@given(
    st.dictionaries(
        st.sampled_from(["id", "created_at", "source", "budget", "tags", "x"]),
        st.none() | st.integers() | st.text() | st.floats() | st.lists(st.text()),
    )
)
def test_arbitrary_json_never_crashes(data: dict[str, Any]) -> None:
    try:
        r.Lead.from_dict(data)
    except ValidationError as exc:
        assert exc.problems
