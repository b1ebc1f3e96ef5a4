"""Strict input, one rule per test (issue 16, input half), with properties for the time and
amount rules."""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core import storage
from pipeline_core.errors import ConfigError, PipelineCoreError, ValidationError
from pipeline_core.records import Account, JournalEntry, Money
from pipeline_core.stages import Pipeline, Stage, templates
from pipeline_core.storage.io import ImportRejectedError, import_records

WHEN = "2025-03-03T10:30:00+08:00"


def account(**changes: object) -> dict[str, object]:
    return {"id": "acct-7", "name": "Hangzhou Widgets", "created_at": WHEN, **changes}


# -- instants ------------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["45700", "1741000000", "1741000000.25", "0"])
def test_a_number_written_as_text_is_not_an_instant(digits: str) -> None:
    # 45700 would be an Excel serial day (2025-02-12), 1741000000 Unix seconds (2025-03-03):
    # guessing either is wrong for the other, so neither is guessed.
    with pytest.raises(ValidationError) as caught:
        Account.from_dict(account(created_at=digits))
    assert caught.value.fields == ("created_at",)


def test_a_csv_row_with_a_serial_date_writes_nothing() -> None:
    store = storage.open("memory://")
    body = "id,name,created_at\nacct-1,A,2025-03-03T10:30:00+08:00\nacct-2,B,45700\n"
    with pytest.raises(ImportRejectedError) as caught:
        import_records(store, "account", io.StringIO(body), format="csv")
    assert [(e.row, e.field) for e in caught.value.errors] == [(3, "created_at")]
    assert store.accounts.count() == 0


@given(st.integers(-12 * 60, 14 * 60))
def test_every_real_world_offset_round_trips(minutes: int) -> None:
    at = datetime(2025, 3, 3, 10, 30, tzinfo=timezone(timedelta(minutes=minutes)))
    back = Account.from_dict(Account.from_dict(account(created_at=at.isoformat())).to_dict())
    assert back.created_at == at and back.created_at.utcoffset() == at.utcoffset()


@given(st.one_of(st.integers(-23 * 60 - 59, -12 * 60 - 1), st.integers(14 * 60 + 1, 23 * 60 + 59)))
def test_offsets_beyond_the_real_world_range_are_refused(minutes: int) -> None:
    # PostgreSQL cannot take some of them (+16:00 and beyond); none is in use anywhere.
    at = datetime(2025, 3, 3, 10, 30, tzinfo=timezone(timedelta(minutes=minutes)))
    for given_as in (at, at.isoformat()):
        with pytest.raises(ValidationError) as caught:
            Account.from_dict(account(created_at=given_as))
        assert caught.value.fields == ("created_at",)


def test_an_instant_beyond_year_9999_in_utc_is_refused() -> None:
    # 9999-12-31T23:59:59-12:00 is 10000-01-01T11:59:59Z: no datetime can hold it.
    with pytest.raises(ValidationError):
        Account.from_dict(account(created_at="9999-12-31T23:59:59-12:00"))


# -- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["-0", "-0.00", "１２３", "1_000", " 12", "12 ", "+5", "٣", "NaN", "Infinity"]
)
def test_text_that_is_not_an_ascii_amount_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Money.of(text, "CNY")
    assert caught.value.fields == ("amount",)


def test_a_negative_zero_decimal_is_refused_too() -> None:
    with pytest.raises(ValidationError):
        Money.of(Decimal("-0"), "CNY")
    assert Money.of(Decimal("0"), "CNY").to_dict() == {"amount": "0", "currency": "CNY"}


@given(st.integers(0, 10**12), st.integers(0, 99))
def test_ascii_amounts_round_trip_exactly(units: int, cents: int) -> None:
    text = f"{units}.{cents:02d}"  # e.g. "1999.05": kept as written, cents included
    money = Money.of(text, "CNY")
    assert money.amount == Decimal(units) + Decimal(cents) / 100
    assert money.to_dict()["amount"] == text


@given(
    st.text(
        alphabet=st.characters(categories=["Nd"], exclude_characters="0123456789"),
        min_size=1,
        max_size=5,
    )
)
def test_digits_of_other_scripts_are_not_amounts(digits: str) -> None:
    with pytest.raises(ValidationError):
        Money.of(digits, "CNY")


def test_a_byte_order_mark_in_a_body_cell_rejects_the_row() -> None:
    store = storage.open("memory://")
    body = "\ufeffid,name,created_at\nacct-1,A," + WHEN + "\n\ufeffacct-2,B," + WHEN + "\n"
    with pytest.raises(ImportRejectedError) as caught:  # the file's own mark (row 1) is fine
        import_records(store, "account", io.StringIO(body), format="csv")
    assert [(e.row, e.field, e.code) for e in caught.value.errors] == [(3, "id", "bom")]


# -- ids, labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["acct\x1b[31m", "acct\x07", "ac\u200bct", "\ufeffacct", "acct\u202e", "a\u2028b"]
)
def test_ids_refuse_control_and_invisible_characters(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Account.from_dict(account(id=bad))
    assert caught.value.fields == ("id",)


def test_ids_in_any_script_are_fine() -> None:
    assert Account.from_dict(account(id="客户-０７")).id == "客户-０７"


def test_a_label_cannot_add_lines_to_a_diagram() -> None:
    pipeline = Pipeline(
        "p",
        "P",
        [
            Stage("open", "Open\nstate evil", "开\r\n[*] --> done"),
            Stage("done", "Done", "完成", kind="won"),
            Stage("gone", "Gone\u2028x", "丢", kind="lost"),
        ],
    )
    mermaid = pipeline.to_mermaid().splitlines()
    # 2 header lines + 3 states + start + 2 moves + 2 ends + 2 classDef + 2 class lines = 14
    assert len(mermaid) == 14
    assert not any(line.strip().startswith(("state evil", "[*] --> done", "x")) for line in mermaid)
    dot = pipeline.to_dot()
    assert "\r" not in dot and "\u2028" not in dot
    assert '"open" [label="Open\\nstate evil\\n开\\n[*] --> done"];' in dot


# -- payloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", [float("inf"), float("nan"), b"x", {"a"}, object(), Decimal("1"), "a\x00"]
)
def test_payload_values_are_json_only(bad: object) -> None:
    fields = {"id": "j-9", "kind": "transfer", "subject_id": "acct-7", "at": WHEN, "by": "u2"}
    for build in (
        lambda: JournalEntry.from_dict({**fields, "payload": {"to": [bad]}}),
        lambda: JournalEntry(
            **{**fields, "at": datetime(2025, 1, 1, tzinfo=UTC)},  # type: ignore[arg-type]
            payload={"to": [bad]},
        ),
    ):
        with pytest.raises(ValidationError) as caught:
            build()
        assert caught.value.fields[0].startswith("payload")


def test_a_payload_deeper_than_64_levels_is_refused_where_it_gets_too_deep() -> None:
    fields = {"id": "j-9", "kind": "transfer", "subject_id": "acct-7", "at": WHEN, "by": "u2"}
    value: object = "leaf"
    for _ in range(63):  # payload itself is level 1: 1 + 63 = 64 levels, the most allowed
        value = [value]
    assert JournalEntry.from_dict({**fields, "payload": {"x": value}}).payload["x"]
    with pytest.raises(ValidationError) as caught:
        JournalEntry.from_dict({**fields, "payload": {"x": [value]}})
    assert "deeper than 64" in str(caught.value)


def test_definitions_nested_2000_deep_name_the_key() -> None:
    nested: object = 0
    for _ in range(2000):
        nested = [nested]
    with pytest.raises(ConfigError) as caught:
        Pipeline.from_dict({**templates.data("small_team"), "notes": nested})
    assert caught.value.problems[0].path[0] == "notes"


def test_a_jsonl_line_too_deep_to_parse_is_a_row_error() -> None:
    line = '{"id": "j", "payload": ' + "{" * 3000 + "}" * 3000 + "}\n"
    with pytest.raises(ImportRejectedError) as caught:
        import_records(
            storage.open("memory://"), "journal_entry", io.StringIO("\n" + line), format="jsonl"
        )
    assert [(e.row, e.field) for e in caught.value.errors] == [(2, "payload")]


# -- bounded errors ------------------------------------------------------------------------------


def test_a_file_of_bad_rows_gives_a_bounded_error_with_the_full_count() -> None:
    rows = 30_000
    body = "id,name,created_at\n" + "".join(f"a-{i},N,yesterday\n" for i in range(rows))
    tracemalloc.start()
    try:
        with pytest.raises(ImportRejectedError) as caught:
            import_records(storage.open("memory://"), "account", io.StringIO(body), format="csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    error = caught.value
    assert len(error.errors) == 1_000 and len(error.problems) == 1_000
    assert error.total == rows and error.bad_rows == rows
    assert "30000 problems" in str(error) and len(str(error).encode()) < 300_000
    assert peak < 60_000_000  # the kept errors, not 30,000 of them (the text itself is ~0.8 MB)


def test_an_unclosed_quote_is_reported_at_the_row_that_opens_it() -> None:
    body = (
        "id,name,created_at\nacct-1,A," + WHEN + '\nacct-2,"B,' + WHEN + "\nacct-3,C," + WHEN + "\n"
    )
    store = storage.open("memory://")
    with pytest.raises(ImportRejectedError) as caught:
        import_records(store, "account", io.StringIO(body), format="csv")
    assert [(e.row, e.code) for e in caught.value.errors] == [(3, "csv_structure")]
    assert store.accounts.count() == 0


def test_a_short_row_is_a_ragged_row() -> None:
    with pytest.raises(ImportRejectedError) as caught:
        import_records(
            storage.open("memory://"),
            "account",
            io.StringIO("id,name,created_at\nacct-1,A\n"),
            format="csv",
        )
    assert [(e.row, e.code) for e in caught.value.errors] == [(2, "too_few_cells")]


def test_values_in_errors_are_cut_to_200_characters() -> None:
    with pytest.raises(ValidationError) as caught:
        Account.from_dict(account(created_at="x" * 100_000))
    assert len(str(caught.value)) < 600


# -- typed errors for bad values -----------------------------------------------------------------


def test_bad_values_raise_typed_errors_naming_the_field() -> None:
    from pipeline_core.scoring import BANT, Criterion, Decay, ScoreModel

    with pytest.raises(ValidationError, match="budget"):
        BANT.default().score({"budget": "lots"})
    model = ScoreModel.of("touch", [Criterion("recent", "tags", [Decay(10, timedelta(days=3))])])
    with pytest.raises(ValidationError, match="tags"):
        model.score({"tags": ["a"]}, as_of=datetime(2025, 3, 3, tzinfo=UTC))
    with pytest.raises(ConfigError, match="ftp"):
        storage.open("ftp://example")
    with pytest.raises(PipelineCoreError):
        storage.open("ftp://example")


@pytest.mark.parametrize("text", ["１０００", "1_000", " 1000", "NaN"])
def test_a_guard_compares_money_with_ascii_numbers_only(text: str) -> None:
    from pipeline_core.stages.guards import Condition, guard_field_problems

    problems = guard_field_problems(Condition("expected_amount", "ge", text), ("guards", 0))
    assert [p.field for p in problems] == ["guards[0].value"]
    assert guard_field_problems(Condition("expected_amount", "ge", "-5.5"), ("g",)) == []


@given(
    st.text(st.characters(exclude_categories=["Cs"]))
    | st.sampled_from(["\u0600\u06dd\u070f", "\U000110bd\U0001d173", "\U000e0041\ufff9"])
)
def test_cli_escaping_leaves_nothing_a_terminal_acts_on_and_keeps_json_exact(text: str) -> None:
    import json
    import unicodedata

    from pipeline_core.cli._common import escape_text

    shown = escape_text(text)
    acting = [
        c for c in shown if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\n\t"
    ]
    assert acting == []
    assert json.loads(escape_text(json.dumps({"v": text}, ensure_ascii=False))) == {"v": text}
